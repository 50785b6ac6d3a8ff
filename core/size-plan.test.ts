import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TreeEntry } from './image-tree.ts';
import { defaultJournalBlocks, grow, mappingBlocks, nixpkgsInitialBytes, planSize, roundUpMiB } from './size-plan.ts';
import { runText, tempDir } from './test-support/nar-bytes.ts';

const MiB = 1 << 20;
const { dir, cleanup } = tempDir('dis-size-');
afterAll(cleanup);

function e(path: string, type: TreeEntry['type'], size = 0, target?: string): TreeEntry {
  return {
    path,
    type,
    mode: type === 'directory' ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    mtime: 1,
    size,
    target,
    origin: 't',
  };
}

/** The same tree on disk and as entries. */
function sample(root: string, files: number, bytes: (i: number) => number): TreeEntry[] {
  const entries: TreeEntry[] = [e('/', 'directory')];
  for (let d = 0; d < 20; d++) {
    mkdirSync(join(root, `dir${d}`), { recursive: true });
    entries.push(e(`/dir${d}`, 'directory'));
  }
  for (let i = 0; i < files; i++) {
    const p = `dir${i % 20}/file-with-a-longish-name-${i}`;
    writeFileSync(join(root, p), new Uint8Array(bytes(i)).fill(i & 0xff));
    entries.push(e('/' + p, 'file', bytes(i)));
  }
  const long = 'x'.repeat(100);
  symlinkSync(long, join(root, 'longlink'));
  entries.push(e('/longlink', 'symlink', 100, long));
  symlinkSync('short', join(root, 'short'));
  entries.push(e('/short', 'symlink', 5, 'short'));
  chmodSync(root, 0o755);
  return entries;
}

/** Builds with native mke2fs -d at the planned size, then shrinks like the pipeline. */
function nativeBuild(
  root: string,
  bytes: number,
  blockSize?: number,
): { ok: boolean; minBytes: number; blockSize: number } {
  const img = join(dir, `img-${Math.random().toString(36).slice(2)}`);
  writeFileSync(img, '');
  runText('truncate', ['-s', String(bytes), img]);
  try {
    runText('mke2fs', ['-q', '-F', '-t', 'ext4', ...(blockSize ? ['-b', String(blockSize)] : []), '-d', root, img]);
  } catch {
    return { ok: false, minBytes: 0, blockSize: 0 };
  }
  runText('e2fsck', ['-fn', img]);
  runText('resize2fs', ['-M', img]);
  const info = runText('dumpe2fs', ['-h', img]);
  const count = Number(/Block count:\s+(\d+)/.exec(info)![1]);
  const bs = Number(/Block size:\s+(\d+)/.exec(info)![1]);
  return { ok: true, minBytes: count * bs, blockSize: bs };
}

describe('size plan', () => {
  it('reproduces the make-ext4-fs.nix formula', () => {
    const entries = [
      e('/', 'directory'),
      e('/a', 'file', 10_000),
      e('/b', 'file', 1),
      e('/d', 'directory'),
      e('/h', 'hardlink', 0, '/a'),
    ];
    // apparent: 2 dirs * 4096 + 10001 = 18193 -> 5 blocks -> int(5.5) = 5; inodes 5
    expect(nixpkgsInitialBytes(entries)).toEqual({ numInodes: 5, numDataBlocks: 5, bytes: 2 * 4096 * 5 + 4096 * 5 });
  });

  it('counts mapping blocks and journal sizes as ext4/ext2 do', () => {
    expect(mappingBlocks(4 * 32768, 4096, true)).toBe(0);
    expect(mappingBlocks(5 * 32768, 4096, true)).toBe(1);
    expect(mappingBlocks(12, 4096, false)).toBe(0);
    expect(mappingBlocks(13, 4096, false)).toBe(1);
    expect(mappingBlocks(12 + 1024 + 1, 4096, false)).toBe(3);
    expect(defaultJournalBlocks(1000)).toBe(0);
    expect(defaultJournalBlocks(100_000)).toBe(4096);
  });

  it.each([
    ['many small files', 3000, (i: number) => (i * 37) % 700],
    ['mixed sizes', 300, (i: number) => (i % 10 === 0 ? 3 * MiB + i : (i * 997) % 20_000)],
  ])('plans a size native mke2fs -d fits (%s), with a realistic final size', (_n, files, bytes) => {
    const root = join(dir, `tree-${files}`);
    const entries = sample(root, files, bytes);
    const plan = planSize(entries, {});
    expect(plan.initialImageBytes % MiB).toBe(0);
    expect(plan.initialImageBytes).toBeGreaterThanOrEqual(roundUpMiB(nixpkgsInitialBytes(entries).bytes));
    expect(plan.inodes).toBe(entries.length - 1 + 11 + 0);
    const built = nativeBuild(root, plan.initialImageBytes);
    expect(built.ok).toBe(true);
    expect(built.blockSize).toBe(plan.blockSize);
    // resize2fs -M's minimum vs our estimate: same ballpark (it keeps some slack of its own).
    expect(plan.finalImageBytes).toBeGreaterThan(built.minBytes * 0.6);
    expect(plan.finalImageBytes).toBeLessThan(built.minBytes * 1.6);
  });

  it('adds headroom to the final size', () => {
    const entries = [e('/', 'directory'), e('/a', 'file', 5 * MiB)];
    expect(planSize(entries, { headroomMiB: 16 }).finalImageBytes - planSize(entries, {}).finalImageBytes).toBe(
      16 * MiB,
    );
  });

  it('grows after a no-space failure', () => {
    const p = planSize([e('/', 'directory'), e('/a', 'file', 1000)]);
    const g = grow(p);
    expect(g.initialImageBytes).toBeGreaterThanOrEqual(p.initialImageBytes + 16 * MiB);
    expect(g.initialImageBytes % MiB).toBe(0);
    expect(g.inodes).toBeGreaterThan(p.inodes);
    expect(grow(g).initialImageBytes).toBeGreaterThan(g.initialImageBytes);
  });
});
