/**
 * A real Nix closure in a private store (`nix-store --store local?root=ROOT`), made with
 * Debian's nix-bin without network or daemon, and the closure inputs Nix itself writes for
 * it: closureInfo's `registration` and `store-paths`, `nix path-info --json --recursive`,
 * a `nix-store --export` stream, per-path NARs, and the store folder `ROOT/nix/store`.
 *
 * The closure:
 * - `libdemo-1.0` (directory: files, an empty directory, relative, absolute and dangling
 *   symlinks), `tool-2.3` (executables, a deep tree), `single.txt` (a store path that is a
 *   file) and `alink` (a store path that is a symlink), added as sources;
 * - `demo-env`, a derivation built with `builtin:buildenv` whose output holds absolute
 *   symlinks into libdemo and tool, so Nix's scanner records those references (and a deriver);
 * - `run-demo` (`builtins.toFile`, references libdemo, tool, single.txt, alink) and
 *   `chain` (references run-demo): text paths with references.
 * The `.drv` files are deleted afterwards, so the store holds exactly the closure.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pseudoRandom } from '../../workers/test-support/tree-fixture.ts';

export interface NixClosure {
  /** The private store's root; its store folder is `ROOT/nix/store`. */
  root: string;
  /** `ROOT/nix/store` */
  storeDir: string;
  /** `local?root=ROOT`, for `nix-store --store`. */
  storeUri: string;
  /** Every store path of the closure, sorted. */
  paths: string[];
  /** Named paths of the closure. */
  named: { lib: string; tool: string; single: string; alink: string; env: string; runDemo: string; chain: string };
  /** Input files written in `dir`. */
  files: {
    registration: string;
    storePaths: string;
    /** `nix path-info --json --recursive` (undefined when `nix` cannot run it). */
    pathInfoJson?: string;
    export: string;
    /** The same paths exported in reverse order. */
    exportReversed: string;
    /** `<hash>-<name>.nar` per path (`nix-store --dump`). */
    narDir: string;
  };
  /** The registration text (closureInfo's format), as written to `files.registration`. */
  registrationText: string;
}

export interface NixRun {
  status: number;
  stdout: Buffer;
  stderr: string;
}

/** Nix must neither reach the network nor a daemon. */
const NIX_OPTS = ['--option', 'substituters', '', '--option', 'sandbox', 'false'];

/** Runs a Nix command (no throwing); `args` go after the command name. */
export function nix(cmd: string, args: string[], input?: Uint8Array | string): NixRun {
  const r = spawnSync(cmd, args, {
    input,
    maxBuffer: 1 << 28,
    env: { ...process.env, NIX_REMOTE: '', LANG: 'C', LC_ALL: 'C' },
  });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

/** Runs a Nix command and returns stdout; throws with stderr on failure. */
export function nixOk(cmd: string, args: string[], input?: Uint8Array | string): Buffer {
  const r = nix(cmd, args, input);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}

export const storeUriOf = (root: string) => `local?root=${root}`;

const lines = (b: Buffer) => b.toString('utf8').split('\n').filter(Boolean);

/** closureInfo's `registration` for `paths`, from what the store's database says. */
export function registrationOf(storeUri: string, paths: string[]): string {
  let out = '';
  for (const p of [...paths].sort()) {
    const hash = nixOk('nix-store', ['--store', storeUri, '--query', '--hash', p]).toString().trim();
    const size = nixOk('nix-store', ['--store', storeUri, '--query', '--size', p]).toString().trim();
    const refs = lines(nixOk('nix-store', ['--store', storeUri, '--query', '--references', p])).sort();
    out += `${p}\n${hash}\n${size}\n\n${refs.length}\n${refs.map((r) => r + '\n').join('')}`;
  }
  return out;
}

/** Builds the closure under `dir` (`dir/root` is the store root, inputs go to `dir`). */
export function buildNixClosure(dir: string): NixClosure {
  const src = join(dir, 'src');
  const root = join(dir, 'root');
  const storeUri = storeUriOf(root);

  // Sources.
  mkdirSync(join(src, 'lib/lib'), { recursive: true });
  mkdirSync(join(src, 'lib/share/doc'), { recursive: true });
  mkdirSync(join(src, 'lib/share/empty'), { recursive: true });
  mkdirSync(join(src, 'lib/etc'), { recursive: true });
  writeFileSync(join(src, 'lib/lib/libdemo.so'), pseudoRandom(20_000, 21));
  symlinkSync('libdemo.so', join(src, 'lib/lib/libdemo.so.1'));
  writeFileSync(join(src, 'lib/share/doc/README'), 'libdemo: a library for tests\n');
  // Identical files, which an optimised store (auto-optimise-store) hard-links together.
  writeFileSync(join(src, 'lib/share/doc/README.copy'), 'libdemo: a library for tests\n');
  writeFileSync(join(src, 'lib/share/doc/LICENSE'), 'Permission is granted.\n'.repeat(50));
  symlinkSync('/etc/hostname', join(src, 'lib/etc/hostname'));
  symlinkSync('../nowhere/at/all', join(src, 'lib/etc/dangling'));
  mkdirSync(join(src, 'tool/bin'), { recursive: true });
  mkdirSync(join(src, 'tool/libexec/deep/a/b/c'), { recursive: true });
  writeFileSync(join(src, 'tool/bin/tool'), '#!/bin/sh\necho tool "$@"\n');
  chmodSync(join(src, 'tool/bin/tool'), 0o755);
  writeFileSync(join(src, 'tool/bin/helper'), pseudoRandom(70_000, 22));
  chmodSync(join(src, 'tool/bin/helper'), 0o700);
  symlinkSync('tool', join(src, 'tool/bin/tool-alias'));
  writeFileSync(join(src, 'tool/libexec/deep/a/b/c/file'), 'deep\n');
  writeFileSync(join(src, 'tool/libexec/empty-file'), '');
  writeFileSync(join(src, 'tool/libexec/LICENSE'), 'Permission is granted.\n'.repeat(50));
  writeFileSync(join(src, 'single.txt'), 'a store path that is one file\n');
  symlinkSync('../libdemo/whatever', join(src, 'alink'));

  const expr = `
    let
      lib = builtins.path { path = ${src}/lib; name = "libdemo-1.0"; };
      tool = builtins.path { path = ${src}/tool; name = "tool-2.3"; };
      single = builtins.path { path = ${src}/single.txt; name = "single.txt"; };
      alink = builtins.path { path = ${src}/alink; name = "alink"; };
      env = derivation {
        name = "demo-env";
        system = builtins.currentSystem;
        builder = "builtin:buildenv";
        manifest = "/dev/null";
        derivations = [ true 5 1 lib true 5 1 tool ];
      };
      runDemo = builtins.toFile "run-demo" "#!/bin/sh\\nexec \${tool}/bin/tool \${lib}/lib/libdemo.so \${single} \${alink}\\n";
      chain = builtins.toFile "chain" "see \${runDemo}\\n";
      s = x: "\${x}";
    in {
      inherit env;
      paths = { lib = s lib; tool = s tool; single = s single; alink = s alink; env = s env; runDemo = s runDemo; chain = s chain; };
    }`;
  writeFileSync(join(dir, 'closure.nix'), expr);
  // Evaluating adds the sources and text files (and writes the .drv); building realises demo-env.
  const named = JSON.parse(
    nixOk('nix-instantiate', [
      '--store',
      storeUri,
      ...NIX_OPTS,
      '--eval',
      '--strict',
      '--json',
      '--read-write-mode',
      join(dir, 'closure.nix'),
      '-A',
      'paths',
    ]).toString(),
  ) as NixClosure['named'];
  const built = lines(
    nixOk('nix-build', ['--store', storeUri, ...NIX_OPTS, '--no-out-link', join(dir, 'closure.nix'), '-A', 'env']),
  );
  if (built.join() !== named.env) throw new Error(`nix-build built ${built.join(' ')}, expected ${named.env}`);
  // The derivations are build-time only: drop them so the store holds exactly the closure.
  const drvs = lines(nixOk('nix-store', ['--store', storeUri, '--query', '--deriver', named.env])).filter((p) =>
    p.endsWith('.drv'),
  );
  if (drvs.length)
    nixOk('nix-store', [
      '--store',
      storeUri,
      ...NIX_OPTS,
      '--option',
      'keep-derivations',
      'false',
      '--delete',
      ...drvs,
    ]);

  const paths = lines(
    nixOk('nix-store', ['--store', storeUri, '--query', '--requisites', named.env, named.chain]),
  ).sort();
  const storeDir = join(root, 'nix/store');

  const registrationText = registrationOf(storeUri, paths);
  const files: NixClosure['files'] = {
    registration: join(dir, 'registration'),
    storePaths: join(dir, 'store-paths'),
    export: join(dir, 'closure.export'),
    exportReversed: join(dir, 'closure-reversed.export'),
    narDir: join(dir, 'nars'),
  };
  writeFileSync(files.registration, registrationText);
  writeFileSync(files.storePaths, paths.map((p) => p + '\n').join(''));
  writeFileSync(files.export, nixOk('nix-store', ['--store', storeUri, '--export', ...paths]));
  writeFileSync(files.exportReversed, nixOk('nix-store', ['--store', storeUri, '--export', ...[...paths].reverse()]));
  mkdirSync(files.narDir);
  for (const p of paths)
    writeFileSync(
      join(files.narDir, `${p.slice('/nix/store/'.length)}.nar`),
      nixOk('nix-store', ['--dump', join(storeDir, p.slice('/nix/store/'.length))]),
    );
  const json = nix('nix', [
    '--extra-experimental-features',
    'nix-command',
    '--store',
    storeUri,
    'path-info',
    '--json',
    '--recursive',
    named.env,
    named.chain,
  ]);
  if (json.status === 0) {
    files.pathInfoJson = join(dir, 'path-info.json');
    writeFileSync(files.pathInfoJson, json.stdout);
  }
  return { root, storeDir, storeUri, paths, named, files, registrationText };
}

/** The text of a file. */
export const readText = (p: string) => readFileSync(p, 'utf8');
