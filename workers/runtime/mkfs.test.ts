/**
 * The real wasm e2fsprogs on a TreeEntry fixture, checked with the native tools:
 * mke2fs -d, e2fsck, resize2fs -M, determinism.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TreeEntry } from '../../core/image-tree.ts';
import { MemoryImageStore, type ImageStore } from './image-store.ts';
import { writeStoreToFile } from './node-image-file.ts';
import { runTool, type ToolResult } from './run-tool.ts';
import { diffTree, nativeDebugfs, nativeStat, runNative, tempDir, walkHost } from '../test-support/native.ts';
import { fixtureTree } from '../test-support/tree-fixture.ts';
import { useTestWasm } from '../test-support/wasm.ts';

const UUID = '44444444-4444-4444-8888-888888888888';
const EPOCH = 1;
const MKFS_ARGS = [
  '-t',
  'ext4',
  '-F',
  '-b',
  '4096',
  '-L',
  'fixture',
  '-U',
  UUID,
  '-E',
  `hash_seed=${UUID}`,
  '-d',
  '/tree',
  '/image/disk.img',
  '16384',
];
const IMG = '/image/disk.img';

function mkfs(entries: TreeEntry[], store: ImageStore): Promise<ToolResult> {
  return runTool('mke2fs', MKFS_ARGS, {
    epoch: EPOCH,
    mounts: [
      { type: 'image', path: IMG, store },
      { type: 'tree', path: '/tree', entries },
    ],
  });
}

const onImage = (store: ImageStore) => ({ epoch: EPOCH, mounts: [{ type: 'image' as const, path: IMG, store }] });

describe('wasm e2fsprogs on a TreeEntry tree', () => {
  const tmp = tempDir('rt-mkfs-');
  let entries: TreeEntry[];
  let store: MemoryImageStore;
  let made: ToolResult;
  let firstSha: string;
  let img: string;

  beforeAll(async () => {
    useTestWasm();
    entries = fixtureTree(tmp.dir);
    store = new MemoryImageStore(64 << 20);
    made = await mkfs(entries, store);
    firstSha = await store.sha256();
    img = join(tmp.dir, 'fixture.img');
    writeStoreToFile(store, img);
  });

  afterAll(() => {
    tmp.cleanup();
  });

  it('mke2fs exits 0, reading every file exactly once and only when copying', () => {
    expect(made.stderr).not.toMatch(/symlink increased|while|error/i);
    expect(made.exitCode, made.stdout + made.stderr).toBe(0);
    expect(made.stdout).toMatch(/Copying files into the device: done/);
    const dataBytes = entries.filter((e) => e.type === 'file').reduce((n, e) => n + e.size, 0);
    expect(made.treeStats['/tree'].bytesRead).toBe(dataBytes);
    expect(made.treeStats['/tree'].hostOpens).toBe(1);
    expect(made.treeStats['/tree'].hostCloses).toBe(1);
    // Memory follows the data: a 64 MiB image holding ~11 MiB of files.
    expect(store.size).toBe(64 << 20);
    expect(store.allocatedBytes).toBeLessThan(40 << 20);
  });

  it('passes native e2fsck -fn', () => {
    const r = runNative('e2fsck', ['-fn', img]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it('native debugfs rdump gives back exactly the tree', () => {
    const out = join(tmp.dir, 'rdump');
    runNative('mkdir', ['-p', out]);
    nativeDebugfs(img, [`rdump / ${out}`]);
    const host = walkHost(out);
    expect(diffTree(entries, host, EPOCH)).toEqual([]);
    // The comparison can fail: a tree with one more entry is reported.
    expect(diffTree([...entries, { ...entries[2], path: '/bin/not-there' }], host, EPOCH)).toEqual([
      'missing /bin/not-there',
    ]);
  });

  it('hard links share one inode with link count 3; owners and times come from the tree and the epoch', () => {
    const paths = entries.filter((e) => e.path !== '/').map((e) => e.path);
    const stats = nativeStat(img, paths);
    const a = stats.get('/data/hl-a')!;
    expect(a.links).toBe(3);
    expect(stats.get('/hl/hl-b')!.inode).toBe(a.inode);
    expect(stats.get('/hl/hl-c')!.inode).toBe(a.inode);
    const inodes = new Set(paths.map((p) => stats.get(p)!.inode));
    expect(inodes.size).toBe(paths.length - 2);
    for (const e of entries) {
      if (e.path === '/') continue;
      const s = stats.get(e.path)!;
      const owner = e.type === 'hardlink' ? entries.find((x) => x.path === e.target)! : e;
      expect([e.path, s.uid, s.gid], s.text).toEqual([e.path, owner.uid, owner.gid]);
      expect([e.path, s.mtime, s.atime, s.ctime]).toEqual([e.path, EPOCH, EPOCH, EPOCH]);
      if (e.type === 'symlink') expect(s.size).toBe(e.size);
      if (e.type === 'file' || e.type === 'directory')
        expect([e.path, s.mode.toString(8)]).toEqual([e.path, e.mode.toString(8)]);
    }
    expect(stats.get('/data/private')!.uid).toBe(1000);
    expect(stats.get('/bin/suid')!.mode).toBe(0o4755);
    expect(stats.get('/bin/sgid')!.mode).toBe(0o2711);
    expect(stats.get('/tmp')!.mode).toBe(0o1777);
    expect(stats.get('/locked')!.mode).toBe(0o500);
    expect(stats.get('/links/long')!.text).not.toMatch(/Fast link dest/);
  });

  it('wasm e2fsck -fn is clean and reads the store in place (no writes, no allocation)', async () => {
    const before = store.allocatedBytes;
    const r = await runTool('e2fsck', ['-fn', IMG], onImage(store));
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Pass 5/);
    expect(r.imageStats[IMG].writes).toBe(0);
    expect(r.imageStats[IMG].reads).toBeGreaterThan(0);
    expect(store.allocatedBytes).toBe(before);
    expect(await store.sha256()).toBe(firstSha);
  });

  it('wasm e2fsck -fn fails on a corrupted copy (root inode cleared)', async () => {
    const bad = store.clone();
    const clri = await runTool('debugfs', ['-w', '-R', 'clri <2>', IMG], onImage(bad));
    expect(clri.exitCode, clri.stderr).toBe(0);
    const r = await runTool('e2fsck', ['-fn', IMG], onImage(bad));
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).toMatch(/Root inode is not a directory|root inode/i);
    // The original is untouched.
    expect(await store.sha256()).toBe(firstSha);
    // And zeroed group descriptors are caught as well.
    const bad2 = store.clone();
    bad2.write(4096, new Uint8Array(4096));
    const r2 = await runTool('e2fsck', ['-fn', IMG], onImage(bad2));
    expect(r2.exitCode).not.toBe(0);
  });

  it('wasm resize2fs -M shrinks the store itself; native fsck and rdump stay right', async () => {
    const sizeBefore = store.size;
    const allocBefore = store.allocatedBytes;
    const r = await runTool('resize2fs', ['-M', IMG], onImage(store));
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(store.size).toBeLessThan(sizeBefore);
    expect(r.imageStats[IMG].truncates).toBeGreaterThan(0);
    expect(store.allocatedBytes).toBeLessThanOrEqual(allocBefore);
    const m = /is now (\d+) \(4k\) blocks long/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(store.size).toBe(Number(m![1]) * 4096);

    const after = await runTool('e2fsck', ['-fn', IMG], onImage(store));
    expect(after.exitCode, after.stdout).toBe(0);

    const shrunk = join(tmp.dir, 'shrunk.img');
    writeStoreToFile(store, shrunk);
    const fsck = runNative('e2fsck', ['-fn', shrunk]);
    expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
    const out = join(tmp.dir, 'rdump-shrunk');
    runNative('mkdir', ['-p', out]);
    nativeDebugfs(shrunk, [`rdump / ${out}`]);
    expect(diffTree(entries, walkHost(out), EPOCH)).toEqual([]);
  });

  it('the same inputs and arguments give byte-identical images', async () => {
    const again = new MemoryImageStore(64 << 20);
    const r = await mkfs(entries, again);
    expect(r.exitCode).toBe(0);
    expect(await again.sha256()).toBe(firstSha);
    // A different epoch gives a different image (the check can fail).
    const other = new MemoryImageStore(64 << 20);
    await runTool('mke2fs', MKFS_ARGS, {
      epoch: 2,
      mounts: [
        { type: 'image', path: IMG, store: other },
        { type: 'tree', path: '/tree', entries },
      ],
    });
    expect(await other.sha256()).not.toBe(firstSha);
  });
});
