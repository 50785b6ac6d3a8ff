import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NarError } from './errors.ts';
import type { ByteSource, TreeEntry } from './image-tree.ts';
import { RandomAccessCursor } from './io/cursor.ts';
import { openHostFile } from './io/host-file-reader.ts';
import { BlobReader, BytesReader, sourceSize } from './io/random-access-reader.ts';
import {
  hashNarTree,
  narEofError,
  narTreeFromEntries,
  parseNar,
  parseNarFile,
  serializeNar,
  sourceChunks,
} from './nar.ts';
import { concat, fileNar, run, runText, tempDir, wire } from './test-support/nar-bytes.ts';

const { dir, cleanup } = tempDir();
afterAll(cleanup);

/** A directory with every kind of node, including sizes around the 8-byte padding. */
function makeSample(root: string): void {
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'share/doc/empty'), { recursive: true });
  writeFileSync(join(root, 'bin/hello'), '#!/bin/sh\necho hello\n');
  chmodSync(join(root, 'bin/hello'), 0o755);
  writeFileSync(join(root, 'eight'), '12345678');
  writeFileSync(join(root, 'nine'), '123456789');
  writeFileSync(join(root, 'empty'), '');
  writeFileSync(join(root, 'share/doc/README'), 'x'.repeat(100_000));
  writeFileSync(join(root, 'Z-upper'), 'sorted before lowercase');
  writeFileSync(join(root, 'ünïcödé'), 'utf8 name');
  symlinkSync('bin/hello', join(root, 'link'));
  symlinkSync('/nix/store/' + 'a'.repeat(200), join(root, 'longlink'));
}

const sample = join(dir, 'sample');
mkdirSync(sample);
makeSample(sample);
const nativeNar = run('nix-store', ['--dump', sample]);
const nativeHash = 'sha256:' + runText('nix-hash', ['--type', 'sha256', '--base32', sample]).trim();
writeFileSync(join(dir, 'sample.nar'), nativeNar);

async function bytesOf(s: ByteSource | undefined): Promise<string> {
  if (!s) return '';
  const chunks: Uint8Array[] = [];
  const open = async (src: ByteSource) => {
    if (src.kind !== 'host-file') throw new Error('unexpected');
    return openHostFile(src.path, 'x', src.offset, src.size);
  };
  for await (const c of sourceChunks(open)(s, sourceSize(s))) chunks.push(c.slice());
  return new TextDecoder().decode(concat(chunks));
}

async function parseBytes(b: Uint8Array) {
  return parseNarFile(new BytesReader(b, 'test.nar'));
}

describe('parseNar on native nix-store --dump output', () => {
  it('reads every node, with hash and size equal to the native ones', async () => {
    const r = await parseBytes(nativeNar);
    expect(r.narHash).toBe(nativeHash);
    expect(r.narSize).toBe(nativeNar.length);
    const byPath = new Map(r.entries.map((e) => [e.path, e]));
    expect(r.entries.map((e) => e.path)).toEqual([
      '',
      'Z-upper',
      'bin',
      'bin/hello',
      'eight',
      'empty',
      'link',
      'longlink',
      'nine',
      'share',
      'share/doc',
      'share/doc/README',
      'share/doc/empty',
      'ünïcödé',
    ]);
    expect(byPath.get('bin/hello')).toMatchObject({ type: 'file', executable: true, size: 21 });
    expect(byPath.get('eight')).toMatchObject({ type: 'file', executable: false, size: 8 });
    expect(byPath.get('link')).toMatchObject({ type: 'symlink', target: 'bin/hello', size: 9 });
    expect(byPath.get('share/doc/empty')).toMatchObject({ type: 'directory' });
    expect(await bytesOf(byPath.get('nine')!.source)).toBe('123456789');
    expect(await bytesOf(byPath.get('ünïcödé')!.source)).toBe('utf8 name');
  });

  it('hands out slices of the input, not copies (Blob and host file)', async () => {
    const blob = new Blob([nativeNar as BlobPart]);
    const r = await parseNarFile(new BlobReader(blob, 'b.nar'));
    const readme = r.entries.find((e) => e.path === 'share/doc/README')!;
    expect(readme.source).toMatchObject({ kind: 'blob', size: 100_000 });
    expect((readme.source as { blob: Blob }).blob).toBe(blob);
    expect(await bytesOf(readme.source)).toBe('x'.repeat(100_000));

    const host = await parseNarFile(await openHostFile(join(dir, 'sample.nar'), 'sample.nar'));
    expect(host.narHash).toBe(nativeHash);
    const hello = host.entries.find((e) => e.path === 'bin/hello')!;
    expect(hello.source).toMatchObject({ kind: 'host-file', path: join(dir, 'sample.nar'), size: 21 });
    const s = hello.source as { offset: number };
    expect(new TextDecoder().decode(readFileSync(join(dir, 'sample.nar')).subarray(s.offset, s.offset + 21))).toBe(
      '#!/bin/sh\necho hello\n',
    );
  });

  it('reads a single-file and a symlink NAR as native dumps them', async () => {
    writeFileSync(join(dir, 'single'), 'hi\n');
    const single = await parseBytes(run('nix-store', ['--dump', join(dir, 'single')]));
    expect(single.entries).toMatchObject([{ path: '', type: 'file', size: 3 }]);
    expect(single.narHash).toBe(
      'sha256:' + runText('nix-hash', ['--type', 'sha256', '--base32', join(dir, 'single')]).trim(),
    );
  });
});

describe('serializeNar / hashNarTree', () => {
  it('reproduces nix-store --dump byte for byte from parsed entries', async () => {
    const parsed = await parseBytes(nativeNar);
    const entries: TreeEntry[] = parsed.entries.map((e) => ({
      path: '/p' + (e.path ? '/' + e.path : ''),
      type: e.type,
      mode: e.type === 'directory' ? 0o555 : e.executable ? 0o555 : 0o444,
      uid: 0,
      gid: 0,
      mtime: 1,
      size: e.size,
      source: e.source,
      target: e.target,
      origin: 'test',
    }));
    const tree = narTreeFromEntries(entries, '/p');
    const out: Uint8Array[] = [];
    await serializeNar(tree, sourceChunks(), (c) => out.push(c.slice()));
    expect(concat(out)).toEqual(nativeNar);
    expect(await hashNarTree(tree, sourceChunks())).toEqual({ narHash: nativeHash, narSize: nativeNar.length });
  });

  it('hashes hard links as copies and uses only the owner-execute bit', async () => {
    const mk = (path: string, extra: Partial<TreeEntry>): TreeEntry => ({
      path,
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: 1,
      size: 0,
      origin: 't',
      ...extra,
    });
    const bytes = new TextEncoder().encode('same');
    const entries: TreeEntry[] = [
      mk('/r', { type: 'directory', mode: 0o755 }),
      mk('/r/a', { size: 4, source: { kind: 'bytes', bytes }, mode: 0o744 }),
      mk('/r/b', { type: 'hardlink', target: '/r/a' }),
    ];
    const d = join(dir, 'hl');
    mkdirSync(d);
    writeFileSync(join(d, 'a'), 'same');
    chmodSync(join(d, 'a'), 0o744);
    writeFileSync(join(d, 'b'), 'same');
    chmodSync(join(d, 'b'), 0o700);
    const want = 'sha256:' + runText('nix-hash', ['--type', 'sha256', '--base32', d]).trim();
    expect((await hashNarTree(narTreeFromEntries(entries, '/r'), sourceChunks())).narHash).toBe(want);
  });
});

describe('parseNar refuses malformed NARs with NarError', () => {
  const dirNar = (...entries: (string | Uint8Array)[][]) =>
    wire(
      'nix-archive-1',
      '(',
      'type',
      'directory',
      ...entries.flatMap((e) => [
        'entry',
        '(',
        'name',
        e[0],
        'node',
        '(',
        'type',
        'regular',
        'contents',
        e[1] ?? '',
        ')',
        ')',
      ]),
      ')',
    );

  const cases: [string, Uint8Array, string][] = [
    ['bad magic', wire('nix-archive-2', '(', ')'), 'nar-bad-magic'],
    ['empty input', new Uint8Array(0), 'nar-truncated'],
    ['truncated contents', fileNar('hello world').subarray(0, 90), 'nar-truncated'],
    ['unknown type', wire('nix-archive-1', '(', 'type', 'fifo', ')'), 'nar-bad-type'],
    ['unsorted names', dirNar(['b'], ['a']), 'nar-unsorted'],
    ['duplicate names', dirNar(['a'], ['a']), 'nar-unsorted'],
    ['dot-dot', dirNar(['..']), 'nar-bad-name'],
    ['dot', dirNar(['.']), 'nar-bad-name'],
    ['slash', dirNar(['a/b']), 'nar-bad-name'],
    ['NUL', dirNar(['a\0b']), 'nar-bad-name'],
    ['empty name', dirNar(['']), 'nar-bad-name'],
    ['invalid utf-8 name', dirNar([new Uint8Array([0xff, 0xfe])]), 'nar-bad-name'],
    ['trailing data', concat([fileNar('x'), new Uint8Array(8)]), 'nar-trailing-data'],
    [
      'huge length',
      concat([wire('nix-archive-1', '(', 'type', 'regular', 'contents'), new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0x7f])]),
      'nar-bad-length',
    ],
    ['long token', wire('nix-archive-1', '(', 'type', 'x'.repeat(100)), 'nar-string-too-long'],
    ['missing close', wire('nix-archive-1', '(', 'type', 'regular', 'contents', 'a', 'entry'), 'nar-bad-token'],
    ['empty symlink', wire('nix-archive-1', '(', 'type', 'symlink', 'target', '', ')'), 'nar-bad-symlink'],
    [
      'executable with value',
      wire('nix-archive-1', '(', 'type', 'regular', 'executable', 'yes', 'contents', '', ')'),
      'nar-bad-token',
    ],
  ];

  it.each(cases)('%s', async (_name, bytes, code) => {
    const err = await parseBytes(bytes).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NarError);
    expect((err as NarError).code).toBe(code);
    expect((err as NarError).toProblem()).toMatchObject({ severity: 'error', input: 'test.nar', code });
    expect((err as NarError).hint.length).toBeGreaterThan(10);
  });

  it('refuses non-zero padding', async () => {
    const b = fileNar('abc');
    b[b.length - 16 - 1] = 1; // last padding byte of the contents
    const err = await parseBytes(b).catch((e: unknown) => e);
    expect((err as NarError).code).toBe('nar-bad-padding');
  });

  it('names the path of the bad entry', async () => {
    const nested = wire(
      'nix-archive-1',
      '(',
      'type',
      'directory',
      'entry',
      '(',
      'name',
      'sub',
      'node',
      '(',
      'type',
      'directory',
      'entry',
      '(',
      'name',
      '..',
      'node',
      '(',
      'type',
      'directory',
      ')',
      ')',
      ')',
      ')',
      ')',
    );
    const c = new RandomAccessCursor(new BytesReader(nested, 'n.nar'), (at) => narEofError('n.nar', at));
    const err = await parseNar(c, { pathPrefix: '/nix/store/x' }).catch((e: unknown) => e);
    expect((err as NarError).path).toBe('/nix/store/x/sub');
  });

  it('limits nesting depth', async () => {
    const depth = 40;
    const parts: string[] = ['nix-archive-1'];
    for (let i = 0; i < depth; i++) parts.push('(', 'type', 'directory', 'entry', '(', 'name', 'd', 'node');
    parts.push('(', 'type', 'directory', ')');
    for (let i = 0; i < depth; i++) parts.push(')', ')');
    const c = new RandomAccessCursor(new BytesReader(wire(...parts), 'deep'), (at) => narEofError('deep', at));
    const err = await parseNar(c, { maxDepth: 10 }).catch((e: unknown) => e);
    expect((err as NarError).code).toBe('nar-too-deep');
    const ok = await parseNar(
      new RandomAccessCursor(new BytesReader(wire(...parts), 'deep'), (at) => narEofError('deep', at)),
    );
    expect(ok).toHaveLength(depth + 1);
  });
});
