import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TreeEntry } from '../../core/image-tree.ts';
import { parseDumpe2fsHeader } from '../../core/dumpe2fs-header.ts';
import type { BuildEvent, BuildOptions, BuildResult } from '../../core/engine-contract.ts';
import { DEFAULT_BUILD_OPTIONS } from '../../core/build-options.ts';
import { nativeStat, nativeTool, runNative, sha256Hex, tempDir } from '../test-support/native.ts';
import { dir, file, pseudoRandom, symlink } from '../test-support/tree-fixture.ts';
import { useTestWasm } from '../test-support/wasm.ts';
import { buildImage, classifyMkfsFailure, estimateImage, MKFS_ENTRY_WORK, PROGRESS_STEPS } from './build-image.ts';
import { EngineFailure } from './engine-failure.ts';
import { framePieceFor, frameWorkersStarted, stopFrameWorkers } from '../runtime/zstd-frames.ts';

useTestWasm();
const tmp = tempDir('pipeline-');
afterAll(() => tmp.cleanup());

const tree: TreeEntry[] = [
  dir('/', { mode: 0o711 }),
  dir('/etc'),
  file('/etc/motd', 'hello\n'),
  file('/bin/tool', '#!/bin/sh\necho hi\n', { mode: 0o755 }),
  symlink('/bin/motd', '../etc/motd'),
  file('/data/blob.bin', pseudoRandom(3 << 20, 7)),
  dir('/empty'),
];

async function build(
  entries: TreeEntry[],
  options: Partial<BuildOptions> = {},
  extra: { startBytes?: number; signal?: AbortSignal; compressionWorkers?: number } = {},
) {
  const chunks: Uint8Array[] = [];
  const events: BuildEvent[] = [];
  const result: BuildResult = await buildImage(
    { entries, closure: [], options: { ...DEFAULT_BUILD_OPTIONS, ...options } },
    { sink: (c) => void chunks.push(c.slice()), onEvent: (e) => events.push(e), ...extra },
  );
  const bytes = Buffer.concat(chunks);
  const path = join(tmp.dir, `${result.sha256}${result.compressed ? '.img.zst' : '.img'}`);
  writeFileSync(path, bytes);
  return { result, bytes, path, events };
}

function fsckClean(img: string) {
  const r = runNative('e2fsck', ['-fn', img]);
  expect(r.status, r.stdout + r.stderr).toBe(0);
}

describe('buildImage', () => {
  it('builds, checks, shrinks and reports a filesystem native tools accept, with the root directory as given', async () => {
    const { result, bytes, path, events } = await build(tree);
    fsckClean(path);
    expect(result.size).toBe(bytes.length);
    expect(result.sha256).toBe(sha256Hex(bytes));
    expect(result.fileName).toBe('nixos.img');
    const native = parseDumpe2fsHeader(runNative('dumpe2fs', ['-h', path]).stdout);
    expect(result.summary).toEqual(native);
    expect(result.imageSize).toBe(native.blockCount * native.blockSize);
    // resize2fs -M leaves (almost) no free blocks, as make-ext4-fs.nix without headroom.
    expect(native.freeBlocks / native.blockCount).toBeLessThan(0.05);
    const stats = nativeStat(path, ['/', '/bin/tool', '/etc/motd']);
    expect(stats.get('/')!.mode & 0o7777).toBe(0o711);
    expect(stats.get('/bin/tool')!.mode & 0o7777).toBe(0o755);
    expect(stats.get('/etc/motd')!.mtime).toBe(1);
    const stages = events
      .filter((e) => e.type === 'stage' && e.state === 'done')
      .map((e) => (e as { stage: string }).stage);
    expect(stages).toEqual(['plan', 'mkfs', 'check', 'shrink', 'recheck', 'save']);
    expect(events.some((e) => e.type === 'log' && e.tool === 'e2fsck' && /Pass 5/.test(e.text))).toBe(true);
    // mkfs reports the entries it has reached and the bytes it has copied in, up to all of them.
    const mkfs = events.filter(
      (e): e is Extract<BuildEvent, { type: 'progress' }> => e.type === 'progress' && e.stage === 'mkfs',
    );
    const dataBytes = tree.reduce((n, e) => n + (e.type === 'file' ? e.size : 0), 0);
    const work = dataBytes + tree.length * MKFS_ENTRY_WORK;
    expect(mkfs.length).toBeGreaterThan(2);
    expect(mkfs.at(-1)).toMatchObject({ done: work, total: work });
  });

  it.each([
    ['small, 1 KiB blocks', {}],
    ['4 KiB blocks with headroom', { blockSize: 4096, headroomMiB: 8 }],
  ] as const)('estimates the final size closely (%s)', async (_name, options) => {
    const estimate = estimateImage({ entries: tree, closure: [], options: { ...DEFAULT_BUILD_OPTIONS, ...options } });
    const { result } = await build(tree, options);
    expect(estimate.finalImageBytes / result.imageSize).toBeGreaterThan(0.75);
    expect(estimate.finalImageBytes / result.imageSize).toBeLessThan(1.34);
  });

  it('is byte-identical for the same inputs in another order', async () => {
    const a = await build(tree);
    const b = await build([...tree].reverse());
    expect(b.result.sha256).toBe(a.result.sha256);
  });

  it('adds the headroom after shrinking (#125121)', async () => {
    const plain = await build(tree, { blockSize: 4096 });
    const roomy = await build(tree, { blockSize: 4096, headroomMiB: 16 });
    fsckClean(roomy.path);
    expect(roomy.result.summary.blockCount - plain.result.summary.blockCount).toBe((16 << 20) / 4096);
    expect(roomy.result.summary.freeBlocks).toBeGreaterThanOrEqual((16 << 20) / 4096);
  });

  it.each(['ext2', 'ext3'] as const)('makes %s', async (fsType) => {
    const { result, path } = await build(tree, { fsType, blockSize: 1024, label: 'small' });
    fsckClean(path);
    expect(result.summary.fsType).toBe(fsType);
    expect(result.summary.blockSize).toBe(1024);
    expect(result.summary.label).toBe('small');
  });

  it('compresses with zstd so native zstd restores the same image', async () => {
    const raw = await build(tree);
    const z = await build(tree, { compress: true, compressionLevel: 5 });
    expect(z.result.fileName).toBe('nixos.img.zst');
    expect(z.result.imageSize).toBe(raw.result.imageSize);
    expect(z.result.size).toBeLessThan(raw.result.size);
    const out = execFileSync(nativeTool('zstd'), ['-dc', z.path], { maxBuffer: 1 << 30 });
    expect(sha256Hex(out)).toBe(raw.result.sha256);
  });

  it('starts no more compression workers than the planned image has pieces', async () => {
    stopFrameWorkers();
    try {
      // A tree whose shrunk image is one piece (2 MiB at least): one worker, not the four asked.
      const tiny = [dir('/'), file('/hello', 'hello\n')];
      const z = await build(tiny, { compress: true }, { compressionWorkers: 4 });
      expect(z.result.imageSize).toBeLessThanOrEqual(framePieceFor(z.result.imageSize));
      expect(frameWorkersStarted()).toBe(1);
      const out = execFileSync(nativeTool('zstd'), ['-dc', z.path], { maxBuffer: 1 << 30 });
      expect(sha256Hex(out)).toBe((await build(tiny)).result.sha256);
    } finally {
      stopFrameWorkers();
    }
  });

  it('grows and retries when the first size is too small', async () => {
    const { result, path, events } = await build(tree, {}, { startBytes: 1 << 20 });
    fsckClean(path);
    expect(events.some((e) => e.type === 'log' && /retrying with/.test(e.text))).toBe(true);
    expect(result.summary.blockCount).toBeGreaterThan(0);
  });

  it('refuses bad options and closures with a message naming what is wrong', async () => {
    await expect(build(tree, { label: 'x'.repeat(17) })).rejects.toThrow(/longer than 16 bytes/);
    const missing = buildImage(
      {
        entries: tree,
        closure: [
          {
            path: '/nix/store/00000000000000000000000000000000-x',
            narHash: 'sha256:0',
            narSize: 8,
            references: [],
            deriver: '',
            contents: 'missing',
            hashChecked: false,
          },
        ],
        options: DEFAULT_BUILD_OPTIONS,
      },
      { sink: () => {} },
    );
    await expect(missing).rejects.toBeInstanceOf(EngineFailure);
    await expect(missing).rejects.toMatchObject({
      failure: { code: 'bad-input', problems: [expect.objectContaining({ code: 'closure-missing-contents' })] },
    });
  });

  it('gives a tree of many tiny files dense inode tables, so the shrunk image stays small', async () => {
    const files = 70_000;
    const entries: TreeEntry[] = [];
    for (let i = 0; i < files; i++) entries.push(file(`/d${i % 70}/f${i}`, `${i}\n`));
    const { result, events } = await build(entries, { blockSize: 4096 });
    expect(events.some((e) => e.type === 'log' && e.tool === 'mke2fs' && / -N \d+ /.test(e.text))).toBe(true);
    // One 4 KiB block per file plus metadata; mke2fs.conf's 16 KiB per inode would keep
    // about 1.1 GB after resize2fs -M, for the inode tables' sake.
    expect(result.imageSize).toBeLessThan(files * 4096 * 1.25);
    expect(result.summary.inodeCount - result.summary.freeInodes).toBeGreaterThanOrEqual(files);
  });

  it('gives mke2fs the planned inode count, and resize2fs -M ends where the plan said', async () => {
    const entries: TreeEntry[] = [dir('/', { mode: 0o755 })];
    for (let i = 0; i < 3000; i++) entries.push(file(`/d${i % 30}/f${i}`, pseudoRandom(1 + ((i * 7919) % 30_000), i)));
    const options = { ...DEFAULT_BUILD_OPTIONS, blockSize: 1024 as const };
    const estimate = estimateImage({ entries, closure: [], options });
    const { result, events, path } = await build(entries, { blockSize: 1024 });
    fsckClean(path);
    const mkfs = events.find((e) => e.type === 'log' && e.tool === 'mke2fs' && e.text.startsWith('$ mke2fs'));
    expect(mkfs && mkfs.type === 'log' ? mkfs.text : '').toMatch(/ -b 1024 (.* )?-N \d+ /);
    // The plan follows resize2fs's own arithmetic: within a few blocks, not a few percent.
    expect(Math.abs(result.imageSize - estimate.finalImageBytes)).toBeLessThan(0.005 * result.imageSize);
  });

  it('reports progress at bounded steps of work, also through many empty files and through the checks', async () => {
    const entries: TreeEntry[] = [dir('/', { mode: 0o755 })];
    for (let i = 0; i < 20_000; i++) entries.push(file(`/d${i % 50}/e${i}`, ''));
    for (let i = 0; i < 20; i++) entries.push(file(`/big/b${i}`, pseudoRandom(300_000, i)));
    const { events } = await build(entries);
    const of = (stage: string) =>
      events.filter((e): e is Extract<BuildEvent, { type: 'progress' }> => e.type === 'progress' && e.stage === stage);
    const mkfs = of('mkfs');
    const total = mkfs[0].total;
    const fileBytes = 20 * 300_000;
    expect(total).toBe(entries.length * MKFS_ENTRY_WORK + fileBytes);
    // Events often (the empty files alone are most of the work) but not for every read...
    expect(mkfs.length).toBeGreaterThan(PROGRESS_STEPS / 2);
    expect(mkfs.length).toBeLessThanOrEqual(PROGRESS_STEPS + 1);
    // ...and never more than a step apart, give or take one read (mke2fs copies 64 KiB or
    // less at a time) or one entry.
    const step = Math.floor(total / PROGRESS_STEPS);
    for (let i = 1; i < mkfs.length; i++) {
      expect(mkfs[i].done).toBeGreaterThanOrEqual(mkfs[i - 1].done);
      expect(mkfs[i].done - mkfs[i - 1].done).toBeLessThanOrEqual(step + MKFS_ENTRY_WORK + 65536);
    }
    expect(mkfs.at(-1)!.done).toBe(total);
    for (const stage of ['check', 'shrink', 'recheck']) {
      const p = of(stage);
      expect(p.length, stage).toBeGreaterThan(stage === 'shrink' ? 1 : 3);
      expect(p.at(-1), stage).toMatchObject({ done: 1000, total: 1000 });
      for (let i = 1; i < p.length; i++) expect(p[i].done).toBeGreaterThanOrEqual(p[i - 1].done);
    }
    // e2fsck's completion lines are progress, not log.
    expect(events.some((e) => e.type === 'log' && /^[1-5] \d+ \d+ \S+$/.test(e.text))).toBe(false);
    expect(events.some((e) => e.type === 'log' && /^Begin pass|XXXX/.test(e.text))).toBe(false);
  });

  it('refuses trees nested deeper than it can build in reasonable time', async () => {
    const deep = '/d'.repeat(300);
    await expect(build([...tree, file(`${deep}/x`, 'x')])).rejects.toMatchObject({
      failure: { code: 'bad-input', problems: [expect.objectContaining({ code: 'path-too-deep' })] },
    });
  });

  it('gives ext3 its journal even for a tiny tree', async () => {
    const { result, path } = await build([file('/a', 'a')], { fsType: 'ext3' });
    fsckClean(path);
    expect(result.summary.features).toContain('has_journal');
    expect(result.summary.fsType).toBe('ext3');
  });

  it('stops when aborted and reports it', async () => {
    const controller = new AbortController();
    const p = build(tree, {}, { signal: controller.signal });
    controller.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('classifyMkfsFailure', () => {
  it('tells running out of inodes or blocks from other failures', () => {
    expect(
      classifyMkfsFailure('__populate_fs: Could not allocate inode in ext2 filesystem while writing file "x"'),
    ).toBe('inodes');
    expect(
      classifyMkfsFailure('__populate_fs: Could not allocate block in ext2 filesystem while writing file "x"'),
    ).toBe('blocks');
    expect(classifyMkfsFailure('mke2fs: Bad magic number in super-block')).toBe('other');
  });
});

describe('toBuildFailure', () => {
  it('names running out of memory as too large, with what to do', async () => {
    const { toBuildFailure } = await import('./engine-failure.ts');
    expect(toBuildFailure(new RangeError('Array buffer allocation failed'))).toMatchObject({
      code: 'too-large',
      hint: expect.stringMatching(/smaller image/),
    });
    expect(toBuildFailure(new Error('boom'))).toMatchObject({ code: 'internal' });
  });
});
