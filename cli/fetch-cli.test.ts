/**
 * `disk-image-studio build` fetching closures from real Nix binary caches (made by
 * Debian's nix-bin, served on 127.0.0.1): from a registration, from store-paths and from
 * one store path alone, with xz, zstd, bzip2 and uncompressed NARs; checked with native
 * e2fsck, `nix-store --load-db` and `--verify --check-contents`, and byte for byte against
 * the image built from the same closure given as a `nix-store --export`. Then every
 * refusal: each with its message and no image.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../workers/test-support/native.ts';
import { main } from './main.ts';
import { makeTestCaches, serveTestCaches, type CacheServer, type TestCaches } from './test-support/binary-cache.ts';
import { runCli } from './test-support/cli.ts';
import { fsck, loadIntoFreshStore } from './test-support/native.ts';
import { buildNixClosure, type NixClosure } from './test-support/nix-closure.ts';
import { useTestWasm } from '../workers/test-support/wasm.ts';

useTestWasm();
const { dir: work, cleanup } = tempDir('cli-fetch-');
// A temporary folder of this file's own, so other tests' build folders do not count.
const privateTmp = join(work, 'tmp');
mkdirSync(privateTmp);
const savedTmp = process.env.TMPDIR;
process.env.TMPDIR = privateTmp;
let c: NixClosure;
let caches: TestCaches;
let server: CacheServer;
let exportImage: string;
afterAll(async () => {
  await server?.close();
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  cleanup();
});

beforeAll(async () => {
  c = buildNixClosure(join(work, 'nix'));
  mkdirSync(join(work, 'caches'));
  caches = makeTestCaches(c, join(work, 'caches'));
  server = await serveTestCaches(caches.root);
  exportImage = join(work, 'from-export.img');
  const r = await runCli('build', '--export', c.files.export, '-q', '-o', exportImage);
  expect(r.code, r.stderr).toBe(0);
}, 120_000);

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
let n = 0;
const out = () => join(work, `out-${++n}.img`);
/** Temporary folders of builds (the build thread's scratch folder holds its NAR spool). */
const spoolDirs = () => readdirSync(tmpdir()).filter((d) => /^disk-image-studio-(nars|build)-/.test(d));

/** The image holds the whole closure, verifies in a fresh Nix store, and equals the export's image. */
function expectGoodImage(img: string): void {
  const f = fsck(img);
  expect(f.status, f.output).toBe(0);
  const d = join(work, `fresh-${++n}`);
  mkdirSync(d);
  const fresh = loadIntoFreshStore(img, d);
  expect(fresh.loadDb.status, fresh.loadDb.stderr).toBe(0);
  expect(fresh.verify.output).not.toMatch(/modified|disappeared|error/i);
  expect(fresh.verify.status, fresh.verify.output).toBe(0);
  expect(sha256(img)).toBe(sha256(exportImage));
}

const trust = () => ['--trusted-public-key', caches.publicKey];

describe('fetching a closure', () => {
  it('from a registration, xz NARs', async () => {
    const img = out();
    const before = spoolDirs().length;
    const r = await runCli(
      'build',
      '--closure',
      c.files.registration,
      '--substituter',
      server.url('xz'),
      ...trust(),
      '-o',
      img,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/fetch +7 store paths, .* to download/);
    expect(r.stderr).toContain(`fetched  ${c.named.lib} from ${server.url('xz')}, signature by test-cache-1`);
    expectGoodImage(img);
    expect(spoolDirs().length).toBe(before); // the fetched NARs are removed
  });

  it('from store-paths, zstd NARs', async () => {
    const img = out();
    const r = await runCli(
      'build',
      '--closure',
      c.files.storePaths,
      '--substituter',
      server.url('zstd'),
      ...trust(),
      '-o',
      img,
    );
    expect(r.code, r.stderr).toBe(0);
    // References come from the narinfos, so no "registered without references" warning.
    expect(r.stderr).not.toMatch(/without references/);
    expectGoodImage(img);
  });

  it('from top-level store paths alone, bzip2 and uncompressed NARs', async () => {
    for (const cache of ['bzip2', 'none']) {
      const img = out();
      const r = await runCli(
        'build',
        '--store-path',
        c.named.env,
        '--store-path',
        c.named.chain,
        '--substituter',
        server.url(cache),
        ...trust(),
        '-o',
        img,
      );
      expect(r.code, r.stderr).toBe(0);
      expectGoodImage(img);
    }
  });

  it('from a path-info JSON, with two caches where the first lacks most paths', async () => {
    const img = out();
    const r = await runCli(
      'build',
      '--closure',
      c.files.pathInfoJson ?? c.files.registration,
      '--substituter',
      server.url('partial'),
      '--substituter',
      server.url('zstd'),
      ...trust(),
      '-o',
      img,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`fetched  ${c.named.single} from ${server.url('partial')}`);
    expect(r.stderr).toContain(`fetched  ${c.named.lib} from ${server.url('zstd')}`);
    expectGoodImage(img);
  });

  it('does not fetch paths that other inputs hold', async () => {
    const img = out();
    const nars = join(c.files.narDir, `${c.named.lib.slice(11)}.nar`);
    server.requests.length = 0;
    const r = await runCli(
      'build',
      '--store-path',
      c.named.env,
      '--store-path',
      c.named.chain,
      '--nar',
      nars,
      '--substituter',
      server.url('xz'),
      ...trust(),
      '-o',
      img,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/fetch +6 store paths.*1 given by inputs/);
    expect(server.requests.some((p) => p.includes(c.named.lib.slice(11, 43)))).toBe(false);
    expectGoodImage(img);
  });
});

describe('refusals: a message naming path, cache and mismatch, and no image', () => {
  const refused = async (args: string[], pattern: RegExp) => {
    const img = out();
    const before = spoolDirs().length;
    const r = await runCli('build', ...args, '-o', img);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr).toMatch(/no image was written/);
    expect(existsSync(img)).toBe(false);
    expect(existsSync(`${img}.partial`)).toBe(false);
    expect(spoolDirs().length).toBe(before);
    return r.stderr;
  };
  const roots = () => ['--store-path', c.named.env, '--store-path', c.named.chain];

  it('an unsigned narinfo', async () => {
    await refused(
      [...roots(), '--substituter', server.url('unsigned'), ...trust()],
      /error: .*: \/nix\/store\/\S+: \/nix\/store\/\S+ cannot be fetched: the narinfo from http:\/\/127\.0\.0\.1:\d+\/unsigned is not signed/,
    );
  });

  it('a signature by an untrusted key', async () => {
    await refused(
      [...roots(), '--substituter', server.url('untrusted'), ...trust()],
      /signed only by keys not trusted for it \(other-cache-1\)/,
    );
  });

  it('a tampered NarHash: the signature does not match; unchecked, the NAR hash does not', async () => {
    await refused(
      ['--closure', c.files.storePaths, '--substituter', server.url('tampered-narhash'), ...trust()],
      new RegExp(
        `${c.named.lib} cannot be fetched: the signature by test-cache-1 on the narinfo from ${server.url('tampered-narhash')} does not match`,
      ),
    );
    const err = await refused(
      ['--closure', c.files.storePaths, '--substituter', server.url('tampered-narhash'), '--no-check-sigs'],
      new RegExp(
        `${c.named.lib} from ${server.url('tampered-narhash')} was refused: its NAR has hash sha256:\\w+, but its narinfo's NarHash is`,
      ),
    );
    expect(err).toMatch(/WARNING: --no-check-sigs: signatures are NOT checked/);
  });

  it('NAR bytes that do not match the signed NarHash', async () => {
    await refused(
      ['--closure', c.files.registration, '--substituter', server.url('bad-nar'), ...trust()],
      new RegExp(
        `${c.named.lib} from ${server.url('bad-nar')} was refused: its NAR (has hash|is larger than|has \\d+ bytes)`,
      ),
    );
  });

  it('a truncated download (the connection breaks off) and a truncated file', async () => {
    await refused(
      ['--closure', c.files.registration, '--substituter', server.brokenUrl, ...trust()],
      /was refused: the download broke off after \d+ of \d+ bytes \(truncated\)/,
    );
    await refused(
      ['--closure', c.files.registration, '--substituter', server.url('short-nar'), ...trust()],
      new RegExp(
        `${c.named.lib} from ${server.url('short-nar')} was refused: the download (broke off|ended) after \\d+ of \\d+ bytes`,
      ),
    );
  }, 60_000);

  it('a path missing from every cache', async () => {
    await refused(
      [...roots(), '--substituter', server.url('missing'), '--substituter', server.url('partial'), ...trust()],
      new RegExp(`${c.named.tool} is in none of the caches \\(${server.url('missing')}, ${server.url('partial')}\\)`),
    );
  });

  it('a cache that answers HTML', async () => {
    const err = await refused([...roots(), '--substituter', server.htmlUrl, ...trust()], /No binary cache can be used/);
    expect(err).toMatch(/answered its nix-cache-info with an HTML page/);
  });

  it('a redirect loop', async () => {
    const err = await refused([...roots(), '--substituter', server.loopUrl, ...trust()], /No binary cache can be used/);
    expect(err).toMatch(/redirects in a loop/);
  });

  it('a FileSize that lies', async () => {
    await refused(
      ['--closure', c.files.registration, '--substituter', server.url('filesize-lies'), ...trust()],
      new RegExp(
        `${c.named.lib} from ${server.url('filesize-lies')} was refused: the cache sent more than the \\d+ bytes its narinfo's FileSize says`,
      ),
    );
  });

  it('a manifest whose NAR hash differs from the cache', async () => {
    const reg = join(work, 'other-build.registration');
    const m = new RegExp(`^${c.named.lib}\n(sha256:\\w+)\n`, 'm').exec(c.registrationText);
    const libHash = m![1];
    writeFileSync(reg, c.registrationText.replace(m![0], `${c.named.lib}\nsha256:${'0'.repeat(52)}\n`));
    await refused(
      ['--closure', reg, '--substituter', server.url('none'), ...trust()],
      new RegExp(
        `${c.named.lib} cannot be fetched: ${server.url('none')} has NarHash ${libHash}, but the manifest says sha256:0{52} \\(another build of it\\)`,
      ),
    );
  });

  it('cancel mid-fetch leaves nothing behind', async () => {
    const img = out();
    const before = spoolDirs().length;
    const ac = new AbortController();
    let stderr = '';
    const run = main(
      ['build', '--closure', c.files.registration, '--substituter', server.slowUrl, ...trust(), '-o', img],
      { stdout: () => {}, stderr: (t) => void (stderr += t), interactive: false },
      ac.signal,
    );
    // Wait until a NAR download has started (and stalled), then cancel.
    for (let i = 0; i < 200 && !server.requests.some((p) => p.startsWith('/slow/xz/nar/')); i++)
      await new Promise((r) => setTimeout(r, 25));
    expect(spoolDirs().length).toBe(before + 1);
    ac.abort();
    expect(await run).toBe(130);
    expect(existsSync(img)).toBe(false);
    expect(spoolDirs().length).toBe(before);
  });
});
