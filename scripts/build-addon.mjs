#!/usr/bin/env node
// Builds the project's Node addons with the machine's C++ compiler and the running Node's
// headers (see addon/README.md): the one that keeps the wasm tools' compiled code between
// processes (addon/wasm-code-cache.cc) and the one the command line ends with once its
// output is written (addon/exit-now.cc). Run by `npm install` (the `prepare` script) and by
// scripts/setup.mjs. Without them everything works; each process only compiles the tools'
// hot functions again (about 0.2-0.3 s of a small build), and the command line waits for
// its threads to tear down before it exits (about 0.1 s).
//
// Output, ignored by git: .cache/addon/<name>-<platform>-<arch>-abi<N>.node, where N is
// Node's module ABI version (an addon loads only into the Node it was built for).
//
// Exit status: 0 when the addons are up to date, 1 when one cannot be built (the reason on
// stderr). `--quiet-failure` makes that 0, for `prepare`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Where the addon built from `addon/<name>.cc` is, for this Node. */
function addonPath(name) {
  return join(
    ROOT,
    '.cache',
    'addon',
    `${name}-${process.platform}-${process.arch}-abi${process.versions.modules}.node`,
  );
}

/** Where the running Node's headers are (`<prefix>/include/node`), or undefined. */
function nodeHeaders() {
  const candidates = [
    process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include', 'node'),
    join(dirname(dirname(process.execPath)), 'include', 'node'),
  ].filter(Boolean);
  return candidates.find((d) => existsSync(join(d, 'node.h')) && existsSync(join(d, 'v8-wasm.h')));
}

/**
 * Builds every addon that is missing or older than its source; returns why one could not be
 * built, or undefined.
 */
export function buildAddon() {
  for (const name of ['wasm-code-cache', 'exit-now']) {
    const why = buildOne(join(ROOT, 'addon', `${name}.cc`), addonPath(name));
    if (why) return why;
  }
  return undefined;
}

function buildOne(source, output) {
  if (existsSync(output) && statSync(output).mtimeMs >= statSync(source).mtimeMs) return undefined;
  if (process.platform !== 'linux' && process.platform !== 'darwin') return `not built on ${process.platform}`;
  const headers = nodeHeaders();
  if (!headers) {
    return `no headers of Node ${process.version} (node.h) under ${join(dirname(dirname(process.execPath)), 'include', 'node')}; install them (Debian: libnode-dev for Debian's nodejs) or set npm's nodedir`;
  }
  const cxx = process.env.CXX || 'c++';
  mkdirSync(dirname(output), { recursive: true });
  const tmp = `${output}.${process.pid}.tmp`;
  const args = ['-std=c++17', '-O2', '-fPIC', '-shared', '-Wall', '-Wno-cast-function-type', '-I', headers];
  if (process.platform === 'darwin') args.push('-undefined', 'dynamic_lookup');
  args.push(source, '-o', tmp);
  const r = spawnSync(cxx, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    if (r.error)
      return `the C++ compiler \`${cxx}\` did not start (${r.error.code ?? r.error.message}); install one (Debian: g++) or set CXX`;
    return `\`${cxx}\` failed:\n${r.stderr.trim()}`;
  }
  renameSync(tmp, output);
  return undefined;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const why = buildAddon();
  if (why) {
    console.error(`build-addon: the addons were not built: ${why}`);
    console.error('build-addon: everything works without them; each process compiles the wasm tools again.');
    process.exitCode = process.argv.includes('--quiet-failure') ? 0 : 1;
  }
}
