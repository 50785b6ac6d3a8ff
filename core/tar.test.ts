import { chmodSync, mkdirSync, linkSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DecompressError, TarError } from './errors.ts';
import type { ByteSource } from './image-tree.ts';
import { openHostFile } from './io/host-file-reader.ts';
import { BlobReader, BytesReader, readChunks, readerForSource, sourceSize } from './io/random-access-reader.ts';
import { readTarArchive, type TarMember } from './tar.ts';
import { concat, run, tempDir } from './test-support/nar-bytes.ts';
import { nativeZstd } from './test-support/native.ts';

const { dir, cleanup } = tempDir('dis-tar-');
afterAll(cleanup);

const src = join(dir, 'src');
const longDir = 'd'.repeat(120);
const longName = 'n'.repeat(150);
const longTarget = 't/'.repeat(80) + 'end';
mkdirSync(join(src, 'etc', longDir), { recursive: true });
writeFileSync(join(src, 'etc/hosts'), '127.0.0.1 localhost\n');
chmodSync(join(src, 'etc/hosts'), 0o640);
writeFileSync(join(src, 'etc', longDir, longName), 'deep');
writeFileSync(join(src, 'run.sh'), '#!/bin/sh\n');
chmodSync(join(src, 'run.sh'), 0o4755);
symlinkSync('etc/hosts', join(src, 'link'));
symlinkSync(longTarget, join(src, 'longlink'));
linkSync(join(src, 'etc/hosts'), join(src, 'hosts-hard'));
writeFileSync(join(src, 'ünï'), 'x');
run('mkfifo', [join(src, 'fifo')]);
utimesSync(join(src, 'etc/hosts'), 1_600_000_000, 1_600_000_000);

function nativeTar(format: string, extra: string[] = []): Uint8Array {
  return run('tar', [
    '-C',
    src,
    `--format=${format}`,
    '--sort=name',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    ...extra,
    '-cf',
    '-',
    '.',
  ]);
}

async function text(s: ByteSource | undefined): Promise<string> {
  if (!s) return '';
  const parts: Uint8Array[] = [];
  const r = await readerForSource(s, 't', openHostFile);
  for await (const c of readChunks(r, 0, sourceSize(s))) parts.push(c.slice());
  return new TextDecoder().decode(concat(parts));
}

function byPath(members: TarMember[]): Map<string, TarMember> {
  return new Map(members.map((m) => [m.path.replace(/^\.\//, '').replace(/\/$/, ''), m]));
}

async function checkTree(members: TarMember[]) {
  const m = byPath(members);
  expect(m.get('etc')).toMatchObject({ type: 'directory' });
  expect(m.get('etc/hosts')).toMatchObject({
    type: 'file',
    mode: 0o640,
    size: 20,
    mtime: 1_600_000_000,
    uid: 0,
    gid: 0,
  });
  expect(await text(m.get('etc/hosts')!.source)).toBe('127.0.0.1 localhost\n');
  expect(m.get(`etc/${longDir}/${longName}`)).toMatchObject({ type: 'file', size: 4 });
  expect(await text(m.get(`etc/${longDir}/${longName}`)!.source)).toBe('deep');
  expect(m.get('run.sh')).toMatchObject({ type: 'file', mode: 0o4755 });
  expect(m.get('link')).toMatchObject({ type: 'symlink', linkTarget: 'etc/hosts', size: 9 });
  expect(m.get('longlink')).toMatchObject({ type: 'symlink', linkTarget: longTarget });
  // GNU tar archives the first name it meets as the file, later ones as hard links.
  expect(m.get('hosts-hard')).toMatchObject({ type: 'hardlink', linkTarget: './etc/hosts' });
  expect(await text(m.get('ünï')!.source)).toBe('x');
  expect(m.has('fifo')).toBe(false);
}

describe('readTarArchive on native GNU tar output', () => {
  for (const format of ['pax', 'gnu'] as const) {
    it(`reads --format=${format}`, async () => {
      const r = await readTarArchive(new BytesReader(nativeTar(format), `a-${format}.tar`));
      expect(r.compression).toBe('none');
      await checkTree(r.members);
      expect(r.warnings).toMatchObject([{ code: 'tar-special-skipped', severity: 'warning', path: './fifo' }]);
    });
  }

  it('reads ustar (prefix field) for names up to 255 bytes', async () => {
    const d = join(dir, 'ustar');
    mkdirSync(join(d, 'p'.repeat(90), 'q'.repeat(60)), { recursive: true });
    writeFileSync(join(d, 'p'.repeat(90), 'q'.repeat(60), 'f'.repeat(90)), 'u');
    const bytes = run('tar', ['-C', d, '--format=ustar', '-cf', '-', '.']);
    const r = await readTarArchive(new BytesReader(bytes, 'u.tar'));
    const f = r.members.find((m) => m.type === 'file')!;
    expect(f.path).toBe(`./${'p'.repeat(90)}/${'q'.repeat(60)}/${'f'.repeat(90)}`);
    expect(await text(f.source)).toBe('u');
  });

  it('reads GNU base-256 uid/gid and pax uid/gid/mtime overrides', async () => {
    const gnu = await readTarArchive(
      new BytesReader(nativeTar('gnu', ['--owner=:3000000', '--group=:3000001']), 'big.tar'),
    );
    expect(byPath(gnu.members).get('etc/hosts')).toMatchObject({ uid: 3000000, gid: 3000001 });
    const pax = await readTarArchive(
      new BytesReader(nativeTar('pax', ['--owner=:3000000', '--group=:3000001', '--mtime=@-5']), 'pax.tar'),
    );
    expect(byPath(pax.members).get('etc/hosts')).toMatchObject({ uid: 3000000, gid: 3000001, mtime: -5 });
  });

  it('keeps uncompressed members as slices of the input Blob / host file', async () => {
    const bytes = nativeTar('pax');
    const blob = new Blob([bytes as BlobPart]);
    const r = await readTarArchive(new BlobReader(blob, 'a.tar'));
    const hosts = byPath(r.members).get('etc/hosts')!;
    expect(hosts.source).toMatchObject({ kind: 'blob', size: 20 });
    expect((hosts.source as { blob: Blob }).blob).toBe(blob);

    writeFileSync(join(dir, 'a.tar'), bytes);
    const h = await readTarArchive(await openHostFile(join(dir, 'a.tar'), 'a.tar'));
    const s = byPath(h.members).get('etc/hosts')!.source as { kind: string; path: string; offset: number };
    expect(s.kind).toBe('host-file');
    expect(new TextDecoder().decode(readFileSync(join(dir, 'a.tar')).subarray(s.offset, s.offset + 20))).toBe(
      '127.0.0.1 localhost\n',
    );
  });

  it('reads .tar.gz through DecompressionStream (members become Blobs)', async () => {
    const gz = run('gzip', ['-c', '-n'], nativeTar('pax'));
    const r = await readTarArchive(new BytesReader(gz, 'a.tar.gz'));
    expect(r.compression).toBe('gzip');
    await checkTree(r.members);
    expect(byPath(r.members).get('etc/hosts')!.source).toMatchObject({ kind: 'blob', offset: 0, size: 20 });
  });

  it('reads .tar.zst through an injected decompressor', async () => {
    const zst = run('zstd', ['-c', '-q'], nativeTar('gnu'));
    const r = await readTarArchive(new BytesReader(zst, 'a.tar.zst'), { decompressors: { zstd: nativeZstd } });
    expect(r.compression).toBe('zstd');
    await checkTree(r.members);
  });

  it('refuses zstd without a decompressor, naming what to do', async () => {
    const zst = run('zstd', ['-c', '-q'], nativeTar('gnu'));
    const err = await readTarArchive(new BytesReader(zst, 'a.tar.zst')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DecompressError);
    expect((err as DecompressError).code).toBe('compression-unsupported');
  });

  it('stops at the expansion limit with a message naming it and how to raise it', async () => {
    const d = join(dir, 'big');
    mkdirSync(d);
    writeFileSync(join(d, 'zeros'), new Uint8Array(3 << 20));
    const gz = run('gzip', ['-c', '-n'], run('tar', ['-C', d, '-cf', '-', '.']));
    expect(gz.length).toBeLessThan(100_000);
    const err = await readTarArchive(new BytesReader(gz, 'bomb.tar.gz'), { maxExpandedBytes: 2 << 20 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DecompressError);
    expect((err as DecompressError).code).toBe('expansion-limit');
    expect((err as DecompressError).message).toContain('2 MiB');
    expect((err as DecompressError).hint).toContain('maxExpandedBytes');
    const ok = await readTarArchive(new BytesReader(gz, 'bomb.tar.gz'), { maxExpandedBytes: 4 << 20 });
    expect(ok.members.find((m) => m.type === 'file')!.size).toBe(3 << 20);
  });

  it('reports corrupt gzip as a typed error', async () => {
    const gz = run('gzip', ['-c', '-n'], nativeTar('pax'));
    gz[gz.length - 30] ^= 0xff;
    const err = await readTarArchive(new BytesReader(gz.subarray(0, gz.length - 10), 'bad.tar.gz')).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(['decompress-failed', 'tar-truncated', 'tar-bad-checksum']).toContain((err as TarError).code);
  });
});

// ---- hand-built headers ------------------------------------------------------------------

function header(fields: {
  name?: string;
  type?: string;
  size?: number;
  mode?: number;
  linkname?: string;
  prefix?: string;
  magic?: 'ustar' | 'gnu';
  sizeField?: Uint8Array;
  uidField?: Uint8Array;
}): Uint8Array {
  const h = new Uint8Array(512);
  const put = (at: number, s: string) => h.set(new TextEncoder().encode(s), at);
  put(0, fields.name ?? 'f');
  put(100, (fields.mode ?? 0o644).toString(8).padStart(7, '0'));
  if (fields.uidField) h.set(fields.uidField, 108);
  else put(108, '0000000');
  put(116, '0000000');
  if (fields.sizeField) h.set(fields.sizeField, 124);
  else put(124, (fields.size ?? 0).toString(8).padStart(11, '0'));
  put(136, '00000000001');
  h[156] = (fields.type ?? '0').charCodeAt(0);
  put(157, fields.linkname ?? '');
  if (fields.magic === 'gnu') put(257, 'ustar  ');
  else {
    put(257, 'ustar');
    put(263, '00');
  }
  if (fields.prefix) put(345, fields.prefix);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  put(148, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}
function data(s: string | Uint8Array): Uint8Array {
  const b = typeof s === 'string' ? new TextEncoder().encode(s) : s;
  const out = new Uint8Array(Math.ceil(b.length / 512) * 512);
  out.set(b);
  return out;
}
function pax(records: Record<string, string>): Uint8Array {
  const enc = new TextEncoder();
  let s = '';
  for (const [k, v] of Object.entries(records)) {
    const body = ` ${k}=${v}\n`;
    const blen = enc.encode(body).length;
    let len = blen + 1;
    while (String(len).length + blen !== len) len = String(len).length + blen;
    s += len + body;
  }
  return enc.encode(s);
}
const END = new Uint8Array(1024);
const tar = (...parts: Uint8Array[]) => new BytesReader(concat(parts), 'hand.tar');

describe('hand-built archives', () => {
  it('applies global and local pax headers, local winning', async () => {
    const g = pax({ uid: '7', mtime: '1234.75' });
    const x = pax({ path: 'über/long-name', size: '3', gid: '9' });
    const r = await readTarArchive(
      tar(
        header({ type: 'g', size: g.length }),
        data(g),
        header({ type: 'x', size: x.length }),
        data(x),
        header({ name: 'short', size: 0 }),
        data('abc'),
        header({ name: 'second' }),
        END,
      ),
    );
    expect(r.members[0]).toMatchObject({ path: 'über/long-name', size: 3, uid: 7, gid: 9, mtime: 1234 });
    expect(await text(r.members[0].source)).toBe('abc');
    expect(r.members[1]).toMatchObject({ path: 'second', uid: 7, gid: 0, mtime: 1234 });
  });

  it('reads GNU L/K long names and base-256 sizes', async () => {
    const ln = 'L'.repeat(300);
    const lk = 'K'.repeat(200);
    const size256 = new Uint8Array(12);
    size256[0] = 0x80;
    size256[11] = 5;
    const r = await readTarArchive(
      tar(
        header({ name: '././@LongLink', type: 'L', size: ln.length + 1, magic: 'gnu' }),
        data(ln + '\0'),
        header({ name: 'x', sizeField: size256, magic: 'gnu' }),
        data('12345'),
        header({ name: '././@LongLink', type: 'K', size: lk.length, magic: 'gnu' }),
        data(lk),
        header({ name: 'sym', type: '2', magic: 'gnu' }),
        END,
      ),
    );
    expect(r.members[0]).toMatchObject({ path: ln, size: 5 });
    expect(r.members[1]).toMatchObject({ path: 'sym', type: 'symlink', linkTarget: lk });
  });

  it('treats V7 names ending in / as directories and skips devices with warnings', async () => {
    const r = await readTarArchive(
      tar(
        header({ name: 'dir/', type: '\0' }),
        header({ name: 'dev', type: '3' }),
        header({ name: 'blk', type: '4' }),
        END,
      ),
    );
    expect(r.members).toMatchObject([{ path: 'dir/', type: 'directory' }]);
    expect(r.warnings.map((w) => w.code)).toEqual(['tar-special-skipped', 'tar-special-skipped']);
  });

  it('accepts an archive that ends without the zero blocks', async () => {
    const r = await readTarArchive(tar(header({ name: 'a', size: 1 }), data('a')));
    expect(r.members).toHaveLength(1);
  });

  const bad: [string, () => Uint8Array[], string][] = [
    ['empty input', () => [], 'tar-not-tar'],
    ['not a tar', () => [data('hello world, this is text')], 'tar-not-tar'],
    [
      'bad checksum later',
      () => [
        header({ name: 'a' }),
        (() => {
          const h = header({ name: 'b' });
          h[0] ^= 1;
          return h;
        })(),
        END,
      ],
      'tar-bad-checksum',
    ],
    ['truncated member', () => [header({ name: 'a', size: 1000 }), data('x'.repeat(100))], 'tar-truncated'],
    ['truncated header', () => [header({ name: 'a' }), new Uint8Array(100).fill(1)], 'tar-truncated'],
    [
      'non-octal size',
      () => [header({ name: 'a', sizeField: new TextEncoder().encode('0000000009x\0') }), END],
      'tar-bad-number',
    ],
    [
      'bad base-256 marker',
      () => [header({ name: 'a', uidField: new Uint8Array([0x81, 0, 0, 0, 0, 0, 0, 1]) }), END],
      'tar-bad-number',
    ],
    [
      'pax record length wrong',
      () => {
        const p = '99 path=x\n';
        return [header({ type: 'x', size: p.length }), data(p), header({ name: 'a' }), END];
      },
      'tar-bad-pax',
    ],
    [
      'pax without =',
      () => {
        const p = '9 pathx\n\n';
        return [header({ type: 'x', size: 9 }), data(p), header({ name: 'a' }), END];
      },
      'tar-bad-pax',
    ],
    [
      'pax bad size',
      () => {
        const p = pax({ size: 'lots' });
        return [header({ type: 'x', size: p.length }), data(p), header({ name: 'a' }), END];
      },
      'tar-bad-pax',
    ],
    ['pax header too large', () => [header({ type: 'x', size: 2 << 20 })], 'tar-bad-pax'],
    ['sparse', () => [header({ name: 'a', type: 'S' }), END], 'tar-unsupported'],
    [
      'pax sparse',
      () => {
        const p = pax({ 'GNU.sparse.major': '1' });
        return [header({ type: 'x', size: p.length }), data(p), header({ name: 'a' }), END];
      },
      'tar-unsupported',
    ],
    ['symlink without target', () => [header({ name: 'a', type: '2' }), END], 'tar-bad-header'],
    ['hardlink without target', () => [header({ name: 'a', type: '1' }), END], 'tar-bad-header'],
  ];
  it.each(bad)('refuses %s with TarError', async (_n, parts, code) => {
    const err = await readTarArchive(tar(...parts())).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TarError);
    expect((err as TarError).code).toBe(code);
    expect((err as TarError).toProblem()).toMatchObject({ severity: 'error', input: 'hand.tar', code });
  });
});
