/**
 * An image larger than 4 GiB with file data placed beyond 4 GiB: the 64-bit offset path
 * through fd_pread/fd_pwrite/ftruncate64, IMAGEFS and the sparse store, checked with
 * native e2fsck and debugfs on a sparse host copy.
 *
 * Placement: libext2fs allocates a new file's blocks from the first free block on, so
 * debugfs first `fallocate`s a filler file over the first ~4.2 GiB (uninitialized extents
 * past its end: no data is written, the store stays sparse), then `write`s files from a
 * tree mount: they land above 4 GiB.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TreeEntry } from '../../core/image-tree.ts';
import { MemoryImageStore } from './image-store.ts';
import { writeStoreToFile } from './node-image-file.ts';
import { runTool, type ToolMount, type ToolResult } from './run-tool.ts';
import { diffTree, nativeDebugfs, runNative, sameBytes, tempDir, walkHost } from '../test-support/native.ts';
import { dir, file, pseudoRandom } from '../test-support/tree-fixture.ts';
import { useTestWasm } from '../test-support/wasm.ts';

const GiB = 1024 ** 3;
const IMG = '/image/disk.img';
const UUID = '44444444-4444-4444-8888-888888888888';
const FILLER_BLOCKS = 1_100_000; // 4.2 GiB of 4 KiB blocks
const sizes = [1, 4095, 4096, 4097, 65536, 300_000, 4 << 20];
const content = (i: number): Uint8Array => pseudoRandom(sizes[i % sizes.length] + i, 500 + i);
const COUNT = 21;
const srcTree: TreeEntry[] = [
  dir('/'),
  ...Array.from({ length: COUNT }, (_, i) => file(`/f${String(i).padStart(2, '0')}`, content(i))),
];
/** The files as they end up in the image, under /high. */
const imageTree: TreeEntry[] = [
  dir('/'),
  dir('/high'),
  ...srcTree.slice(1).map((e) => ({ ...e, path: `/high${e.path}` })),
];

describe('an image larger than 4 GiB', () => {
  const tmp = tempDir('rt-large-');
  const store = new MemoryImageStore(5 * GiB);
  const image: ToolMount = { type: 'image', path: IMG, store };
  let placed: ToolResult;
  const firstBlocks = new Map<string, number>();
  let hostImg: string;

  beforeAll(async () => {
    useTestWasm();
    const mk = await runTool(
      'mke2fs',
      ['-t', 'ext4', '-F', '-b', '4096', '-U', UUID, '-E', `hash_seed=${UUID}`, IMG, String((5 * GiB) / 4096)],
      { epoch: 1, mounts: [image] },
    );
    expect(mk.exitCode, mk.stderr).toBe(0);
    const cmds = [
      'write /dev/null filler',
      `fallocate filler 0 ${FILLER_BLOCKS - 1}`,
      'mkdir high',
      ...srcTree.slice(1).map((e) => `write /src${e.path} high${e.path}`),
    ];
    placed = await runTool('debugfs', ['-w', '-f', '/cmds', IMG], {
      epoch: 1,
      mounts: [
        image,
        { type: 'tree', path: '/src', entries: srcTree },
        { type: 'file', path: '/cmds', data: cmds.join('\n') + '\n' },
      ],
    });
  });
  afterAll(() => tmp.cleanup());

  it('debugfs places the files above 4 GiB in a sparse store', async () => {
    expect(placed.exitCode, placed.stdout + placed.stderr).toBe(0);
    expect(placed.stderr).not.toMatch(/error|while/i);
    expect(store.size).toBe(5 * GiB);
    expect(placed.imageStats[IMG].maxOffset).toBeGreaterThan(4.2 * GiB);
    expect(store.allocatedBytes).toBeLessThan(200 << 20);
    const cmds = imageTree.filter((e) => e.type === 'file').map((e) => `blocks ${e.path}`);
    const r = await runTool('debugfs', ['-f', '/cmds', IMG], {
      mounts: [image, { type: 'file', path: '/cmds', data: cmds.join('\n') + '\n' }],
    });
    const answers = r.stdout.split(/^debugfs: /m).slice(1);
    expect(answers.length).toBe(COUNT);
    // Each answer: the echoed command, then the block numbers.
    const files = imageTree.filter((e) => e.type === 'file');
    for (let i = 0; i < files.length; i++) {
      firstBlocks.set(files[i].path, Number(answers[i].split('\n')[1].trim().split(/\s+/)[0]));
    }
    for (const [path, block] of firstBlocks) {
      expect([path, block * 4096 >= 4 * GiB]).toEqual([path, true]);
      // Read through the store at that offset: the file's bytes, not a wrapped-around copy.
      const i = Number(path.slice(-2));
      const want = content(i);
      expect(sameBytes(store.read(block * 4096, Math.min(4096, want.length)), want.subarray(0, 4096))).toBe(true);
    }
  });

  it('wasm e2fsck -fn is clean', async () => {
    const fsck = await runTool('e2fsck', ['-fn', IMG], { epoch: 1, mounts: [image] });
    expect(fsck.exitCode, fsck.stdout + fsck.stderr).toBe(0);
    expect(fsck.imageStats[IMG].maxOffset).toBeGreaterThan(4 * GiB);
  });

  it('written out sparsely, it passes native e2fsck -fn and native debugfs reads the data back', () => {
    hostImg = join(tmp.dir, 'large.img');
    writeStoreToFile(store, hostImg);
    const st = statSync(hostImg);
    expect(st.size).toBe(5 * GiB);
    expect(st.blocks * 512).toBeLessThan(256 << 20);
    const fsck = runNative('e2fsck', ['-fn', hostImg]);
    expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
    // Every file under /high, dumped by native debugfs, and nothing else there.
    const out = join(tmp.dir, 'rdump');
    runNative('mkdir', ['-p', out]);
    nativeDebugfs(hostImg, [`rdump /high ${out}`]);
    expect(diffTree(imageTree, walkHost(out), 1)).toEqual([]); // rdump /high makes OUT/high/...
    const dumped = join(tmp.dir, 'f06.bin');
    nativeDebugfs(hostImg, [`dump /high/f06 ${dumped}`]);
    expect(sameBytes(new Uint8Array(readFileSync(dumped)), content(6))).toBe(true);
  });

  it('wasm resize2fs grows it to 6 GiB, and after removing the filler shrinks it with -M below 4 GiB', async () => {
    store.truncate(6 * GiB);
    const grow = await runTool('resize2fs', [IMG], { epoch: 1, mounts: [image] });
    expect(grow.exitCode, grow.stdout + grow.stderr).toBe(0);
    expect(grow.stdout).toMatch(/is now 1572864 \(4k\) blocks long/);
    expect((await runTool('e2fsck', ['-fn', IMG], { epoch: 1, mounts: [image] })).exitCode).toBe(0);

    const rm = await runTool('debugfs', ['-w', '-R', 'rm filler', IMG], { epoch: 1, mounts: [image] });
    expect(rm.exitCode).toBe(0);
    const shrink = await runTool('resize2fs', ['-M', IMG], { epoch: 1, mounts: [image] });
    expect(shrink.exitCode, shrink.stdout + shrink.stderr).toBe(0);
    expect(store.size).toBeLessThan(1 * GiB);
    expect(shrink.imageStats[IMG].truncates).toBeGreaterThan(0);
    const fsck = await runTool('e2fsck', ['-fn', IMG], { epoch: 1, mounts: [image] });
    expect(fsck.exitCode, fsck.stdout).toBe(0);

    const small = join(tmp.dir, 'small.img');
    writeStoreToFile(store, small);
    expect(statSync(small).size).toBe(store.size);
    expect(runNative('e2fsck', ['-fn', small]).status).toBe(0);
    const out = join(tmp.dir, 'rdump-small');
    runNative('mkdir', ['-p', out]);
    nativeDebugfs(small, [`rdump / ${out}`]);
    expect(diffTree(imageTree, walkHost(out), 1)).toEqual([]);
  });
});
