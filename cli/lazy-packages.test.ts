/**
 * The compiled command line loads the binary-cache fetcher's packages (ed25519 signatures,
 * the xz and bzip2 decoders) only for a build that fetches: a plain `--files` build loads
 * none of them in either thread, and `hash-wasm` never loads in Node (node:crypto hashes).
 * Observed through a module hook that logs every module loaded, in every thread, of the
 * real `cli/bin.mjs` (spawned, so it runs the bundle from scripts/build-cli.mjs).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../workers/test-support/native.ts';
import { useTestWasm } from '../workers/test-support/wasm.ts';
import { makeTestCaches, serveTestCaches, type CacheServer, type TestCaches } from './test-support/binary-cache.ts';
import { runCli } from './test-support/cli.ts';
import { fsck } from './test-support/native.ts';
import { buildNixClosure, type NixClosure } from './test-support/nix-closure.ts';

useTestWasm();
const { dir: work, cleanup } = tempDir('cli-lazy-packages-');
const bin = fileURLToPath(new URL('./bin.mjs', import.meta.url));
const hook = fileURLToPath(new URL('./test-support/load-log.mjs', import.meta.url));
const FETCH_PACKAGES = [
  '/node_modules/@noble/curves/',
  '/node_modules/xz-decompress/',
  '/node_modules/unbzip2-stream/',
];
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

let c: NixClosure;
let caches: TestCaches;
let server: CacheServer;
beforeAll(async () => {
  c = buildNixClosure(join(work, 'nix'));
  mkdirSync(join(work, 'caches'));
  caches = makeTestCaches(c, join(work, 'caches'));
  server = await serveTestCaches(caches.root);
}, 120_000);
afterAll(async () => {
  await server?.close();
  cleanup();
});

let n = 0;
/** Runs the command (asynchronously: the test's cache server answers in this process). */
async function runLogged(args: string[]): Promise<{ code: number; stderr: string; loaded: string[] }> {
  const log = join(work, `loads-${++n}.txt`);
  writeFileSync(log, '');
  let code = 0;
  let stderr = '';
  try {
    ({ stderr } = await promisify(execFile)(process.execPath, ['--import', hook, bin, ...args], {
      env: { ...process.env, LOAD_LOG: log },
    }));
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    code = e.code ?? -1;
    stderr = e.stderr ?? String(err);
  }
  return { code, stderr, loaded: readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}

/** How many threads loaded the compiled command line (the main thread and the build thread). */
const bundleLoads = (loaded: string[]) => loaded.filter((u) => u.endsWith('/.cache/cli/main.mjs')).length;

describe('packages the compiled command line loads', () => {
  it('a --files build loads none of the fetcher packages, in either thread, and makes a good image', async () => {
    const files = join(work, 'files');
    mkdirSync(join(files, 'etc'), { recursive: true });
    writeFileSync(join(files, 'etc/hostname'), 'studio\n');
    const img = join(work, 'files.img');
    const r = await runLogged(['build', '--files', files, '-q', '-o', img]);
    expect(r.code, r.stderr).toBe(0);
    // The hook saw both threads run the bundle, so what it did not see was not loaded.
    expect(bundleLoads(r.loaded)).toBe(2);
    for (const p of FETCH_PACKAGES) expect(r.loaded.filter((u) => u.includes(p))).toEqual([]);
    expect(r.loaded.filter((u) => u.includes('/node_modules/hash-wasm/'))).toEqual([]);
    expect(fsck(img).status).toBe(0);
  });

  it('a build that fetches loads them in the build thread and makes the same image as in-process', async () => {
    const reference = join(work, 'reference.img');
    const args = (img: string) => [
      'build',
      '--closure',
      c.files.registration,
      '--substituter',
      server.url('xz'),
      '--trusted-public-key',
      caches.publicKey,
      '-q',
      '-o',
      img,
    ];
    const inProcess = await runCli(...args(reference));
    expect(inProcess.code, inProcess.stderr).toBe(0);
    const img = join(work, 'fetched.img');
    const r = await runLogged(args(img));
    expect(r.code, r.stderr).toBe(0);
    expect(bundleLoads(r.loaded)).toBe(2);
    expect(r.loaded.some((u) => u.includes('/node_modules/@noble/curves/ed25519.js'))).toBe(true);
    expect(r.loaded.some((u) => u.includes('/node_modules/xz-decompress/'))).toBe(true);
    expect(r.loaded.filter((u) => u.includes('/node_modules/hash-wasm/'))).toEqual([]);
    expect(fsck(img).status).toBe(0);
    expect(sha256(img)).toBe(sha256(reference));
  });
});
