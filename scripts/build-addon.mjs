#!/usr/bin/env node
// Builds the Node addon that keeps the wasm tools' compiled code between processes
// (addon/wasm-code-cache.cc; see addon/README.md) with the machine's C++ compiler and the
// running Node's headers. Run by `npm install` (the `prepare` script) and by
// scripts/setup.mjs. Without it everything works; each process only compiles the tools'
// hot functions again (about 0.2-0.3 s of a small build).
//
// Output, ignored by git: .cache/addon/wasm-code-cache-<platform>-<arch>-abi<N>.node, where N
// is Node's module ABI version (an addon loads only into the Node it was built for).
//
// Exit status: 0 when the addon is up to date, 1 when it cannot be built (the reason on
// stderr). `--quiet-failure` makes that 0, for `prepare`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE = join(ROOT, 'addon', 'wasm-code-cache.cc');
export const ADDON = join(
  ROOT,
  '.cache',
  'addon',
  `wasm-code-cache-${process.platform}-${process.arch}-abi${process.versions.modules}.node`,
);

/** Where the running Node's headers are (`<prefix>/include/node`), or undefined. */
function nodeHeaders() {
  const candidates = [
    process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include', 'node'),
    join(dirname(dirname(process.execPath)), 'include', 'node'),
  ].filter(Boolean);
  return candidates.find((d) => existsSync(join(d, 'node.h')) && existsSync(join(d, 'v8-wasm.h')));
}

/** Builds the addon when missing or older than its source; returns why it could not, or undefined. */
export function buildAddon() {
  if (existsSync(ADDON) && statSync(ADDON).mtimeMs >= statSync(SOURCE).mtimeMs) return undefined;
  if (process.platform !== 'linux' && process.platform !== 'darwin') return `not built on ${process.platform}`;
  const headers = nodeHeaders();
  if (!headers) {
    return `no headers of Node ${process.version} (node.h) under ${join(dirname(dirname(process.execPath)), 'include', 'node')}; install them (Debian: libnode-dev for Debian's nodejs) or set npm's nodedir`;
  }
  const cxx = process.env.CXX || 'c++';
  mkdirSync(dirname(ADDON), { recursive: true });
  const tmp = `${ADDON}.${process.pid}.tmp`;
  const args = ['-std=c++17', '-O2', '-fPIC', '-shared', '-Wall', '-Wno-cast-function-type', '-I', headers];
  if (process.platform === 'darwin') args.push('-undefined', 'dynamic_lookup');
  args.push(SOURCE, '-o', tmp);
  const r = spawnSync(cxx, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    if (r.error)
      return `the C++ compiler \`${cxx}\` did not start (${r.error.code ?? r.error.message}); install one (Debian: g++) or set CXX`;
    return `\`${cxx}\` failed:\n${r.stderr.trim()}`;
  }
  renameSync(tmp, ADDON);
  return undefined;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const why = buildAddon();
  if (why) {
    console.error(`build-addon: the wasm code cache addon was not built: ${why}`);
    console.error('build-addon: everything works without it; each process compiles the wasm tools again.');
    process.exitCode = process.argv.includes('--quiet-failure') ? 0 : 1;
  }
}
