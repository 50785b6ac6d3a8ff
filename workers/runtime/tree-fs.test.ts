/** TREEFS: the tree model's validation, and lazy reads from Blobs and host files under mke2fs. */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TreeEntry } from '../../core/image-tree.ts';
import { MemoryImageStore } from './image-store.ts';
import { writeStoreToFile } from './node-image-file.ts';
import { runTool, type ToolMount } from './run-tool.ts';
import { indexTree, InputChangedError, TreeError, type ReadBlobSync } from './tree-fs.ts';
import { nativeDebugfs, nativeStat, runNative, sameBytes, tempDir } from '../test-support/native.ts';
import { dir, file, hardlink, pseudoRandom, symlink } from '../test-support/tree-fixture.ts';
import { useTestWasm } from '../test-support/wasm.ts';

const IMG = '/image/disk.img';
const MKFS = [
  '-t',
  'ext4',
  '-F',
  '-b',
  '4096',
  '-U',
  '44444444-4444-4444-8888-888888888888',
  '-E',
  'hash_seed=44444444-4444-4444-8888-888888888888',
  '-d',
  '/tree',
  IMG,
  '8192',
];

describe('indexTree', () => {
  it('indexes a tree: implied parents, link counts, hard-link chains', () => {
    const m = indexTree([
      file('/x/y/z.txt', 'z'),
      file('/f', 'f'),
      hardlink('/g', '/f'),
      hardlink('/h', '/g'),
      symlink('/s', 'f'),
    ]);
    expect(m.root.children.has('x')).toBe(true);
    const f = m.root.children.get('f');
    expect(f && 'nlink' in f ? f.nlink : 0).toBe(3);
    expect(m.root.children.get('g')).toBe(f);
    expect(m.root.children.get('h')).toBe(f);
    expect(m.root.inode.nlink).toBe(3); // . and .. plus x
  });

  it.each([
    ['a duplicate', [file('/a', '1'), file('/a', '2')], /duplicate/],
    ['a file as a parent', [file('/a', '1'), file('/a/b', '2')], /not a directory/],
    ['a relative path', [file('a', '1')], /absolute/],
    ['a trailing slash', [dir('/a/')], /absolute/],
    ['a dot-dot component', [file('/a/../b', '1')], /"\.\."/],
    ['a dot component', [file('/a/./b', '1')], /"\." is reserved/],
    ['an empty component', [file('/a//b', '1')], /cannot be empty/],
    ['a NUL in a name', [file('/a\0b', '1')], /NUL/],
    ['a 256-byte name', [file('/' + 'x'.repeat(256), '1')], /255 bytes/],
    ['a 256-byte UTF-8 name', [file('/' + 'é'.repeat(128), '1')], /255 bytes/],
    ['a hard link to nothing', [hardlink('/a', '/nope')], /hard link/],
    ['a hard link to a directory', [dir('/d'), hardlink('/a', '/d')], /hard link/],
    ['a symlink without target', [{ ...symlink('/s', 'x'), target: '' }], /without target/],
    ['a size that does not match the bytes', [{ ...file('/a', 'abc'), size: 4 }], /size 4/],
    ['a non-directory root', [{ ...file('/x', 'a'), path: '/' }], /root/],
  ] as [string, TreeEntry[], RegExp][])('rejects %s', (_name, entries, message) => {
    expect(() => indexTree(entries)).toThrow(TreeError);
    expect(() => indexTree(entries)).toThrow(message);
  });
});

describe('TREEFS under wasm mke2fs', () => {
  const tmp = tempDir('rt-tree-');
  beforeAll(() => useTestWasm());
  afterAll(() => tmp.cleanup());

  const mkfs = async (mounts: ToolMount[], extra: { onStdout?: (l: string) => void; epoch?: number } = {}) => {
    const store = new MemoryImageStore(32 << 20);
    const r = await runTool('mke2fs', MKFS, {
      epoch: 1,
      mounts: [{ type: 'image', path: IMG, store }, ...mounts],
      ...extra,
    });
    const path = join(tmp.dir, `img-${Math.random().toString(36).slice(2)}.img`);
    writeStoreToFile(store, path);
    return { r, store, path };
  };

  it('reads Blobs lazily, in bounded pieces, each byte once, only while copying', async () => {
    const big = pseudoRandom(3 * 1024 * 1024 + 77, 21);
    const container = new Blob([pseudoRandom(1000, 1), big, pseudoRandom(500, 2)]);
    const small = new Blob(['small blob file\n']);
    const bytesOf = new Map<Blob, Uint8Array>([
      [container, new Uint8Array([...pseudoRandom(1000, 1), ...big, ...pseudoRandom(500, 2)])],
      [small, new TextEncoder().encode('small blob file\n')],
    ]);
    const calls: { blob: Blob; start: number; end: number }[] = [];
    const readBlobSync: ReadBlobSync = (blob, start, end) => {
      calls.push({ blob, start, end });
      return bytesOf.get(blob)!.slice(start, end);
    };
    let callsAtFirstLine = -1;
    const entries = [
      dir('/'),
      file('/big.bin', { kind: 'blob', blob: container, offset: 1000, size: big.length }),
      file('/small.txt', { kind: 'blob', blob: small, offset: 0, size: small.size }),
    ];
    const { r, path } = await mkfs([{ type: 'tree', path: '/tree', entries, readBlobSync }], {
      onStdout: () => {
        if (callsAtFirstLine < 0) callsAtFirstLine = calls.length;
      },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(callsAtFirstLine).toBe(0);
    expect(calls.length).toBeGreaterThan(3);
    for (const c of calls) expect(c.end - c.start).toBeLessThanOrEqual(1 << 20);
    expect(calls.filter((c) => c.blob === container).every((c) => c.start >= 1000 && c.end <= 1000 + big.length)).toBe(
      true,
    );
    expect(calls.reduce((n, c) => n + c.end - c.start, 0)).toBe(big.length + small.size);
    const out = join(tmp.dir, 'big.out');
    nativeDebugfs(path, [`dump /big.bin ${out}`]);
    expect(sameBytes(new Uint8Array(readFileSync(out)), big)).toBe(true);
    expect(runNative('e2fsck', ['-fn', path]).status).toBe(0);
  });

  it('without FileReaderSync (Node) a Blob tree needs a reader', async () => {
    const entries = [dir('/'), file('/b', { kind: 'blob', blob: new Blob(['x']), offset: 0, size: 1 })];
    await expect(
      runTool('mke2fs', MKFS, {
        mounts: [
          { type: 'image', path: IMG, store: new MemoryImageStore(32 << 20) },
          { type: 'tree', path: '/tree', entries },
        ],
      }),
    ).rejects.toThrow(/FileReaderSync/);
  });

  it('reads host files at their offset and closes every descriptor, also on failure', async () => {
    const host = join(tmp.dir, 'host.bin');
    const bytes = pseudoRandom(200_000, 5);
    writeFileSync(host, bytes);
    const entries = [
      dir('/'),
      file('/a', { kind: 'host-file', path: host, offset: 100, size: 150_000 }),
      file('/b', { kind: 'host-file', path: host, offset: 0, size: 10 }),
    ];
    const { r, path } = await mkfs([{ type: 'tree', path: '/tree', entries }]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.treeStats['/tree'].hostOpens).toBe(2);
    expect(r.treeStats['/tree'].hostCloses).toBe(2);
    const out = join(tmp.dir, 'a.out');
    nativeDebugfs(path, [`dump /a ${out}`]);
    expect(sameBytes(new Uint8Array(readFileSync(out)), bytes.subarray(100, 150_100))).toBe(true);

    // A host file shorter than the tree says: the run stops with an error naming the entry
    // (not an I/O error mke2fs might survive), and no descriptor stays open.
    const bad = [dir('/'), file('/short', { kind: 'host-file', path: host, offset: 199_000, size: 5000 })];
    const failed = await mkfs([{ type: 'tree', path: '/tree', entries: bad }]).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(InputChangedError);
    expect((failed as InputChangedError).path).toBe('/short');
    expect((failed as Error).message).toMatch(/shorter than when it was scanned/);
    const fds = readdirSync('/proc/self/fd').length;
    await mkfs([{ type: 'tree', path: '/tree', entries: bad }]).catch(() => {});
    expect(readdirSync('/proc/self/fd').length).toBe(fds);
  });

  it("reports each entry's own mtime with keepTimes, and ignores entry order", async () => {
    const entries = [
      dir('/', { mtime: 7 }),
      dir('/d', { mtime: 1_600_000_000 }),
      file('/d/f', 'f\n', { mtime: 1_234_567_890 }),
      symlink('/l', 'd/f', { mtime: 99 }),
    ];
    // mke2fs 1.47.4 clamps times later than its fake "now" to it: the epoch must not be older.
    const { r, path } = await mkfs([{ type: 'tree', path: '/tree', entries, keepTimes: true }], {
      epoch: 2_000_000_000,
    });
    expect(r.exitCode).toBe(0);
    const st = nativeStat(path, ['/d', '/d/f', '/l']);
    expect(st.get('/d')!.mtime).toBe(1_600_000_000);
    expect(st.get('/d/f')!.mtime).toBe(1_234_567_890);
    expect(st.get('/d/f')!.ctime).toBe(1_234_567_890);
    expect(st.get('/l')!.mtime).toBe(99);
    const clamped = await mkfs([{ type: 'tree', path: '/tree', entries, keepTimes: true }], { epoch: 1_500_000_000 });
    const st2 = nativeStat(clamped.path, ['/d', '/d/f']);
    expect(st2.get('/d')!.mtime).toBe(1_500_000_000);
    expect(st2.get('/d/f')!.mtime).toBe(1_234_567_890);
    // Past 2038-01-19 the 32-bit time_t of the wasm build would store a wrong time: refused.
    const late = [dir('/'), file('/late', 'x', { mtime: 3_000_000_000 })];
    await expect(
      mkfs([{ type: 'tree', path: '/tree', entries: late, keepTimes: true }], { epoch: 2_000_000_000 }),
    ).rejects.toThrow(TreeError);
    const a = await mkfs([{ type: 'tree', path: '/tree', entries }]);
    const b = await mkfs([{ type: 'tree', path: '/tree', entries: [...entries].reverse() }]);
    expect(await a.store.sha256()).toBe(await b.store.sha256());
  });
});
