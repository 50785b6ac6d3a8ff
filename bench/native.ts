/**
 * The reference: make-ext4-fs.nix's steps with the native tools on a file on disk,
 *   mke2fs -t ext4 -d TREE IMG SIZE   (the studio's arguments, the same initial size)
 *   e2fsck -fn IMG;  resize2fs -M IMG;  e2fsck -fn IMG
 *   dumpe2fs -h IMG + truncate to the filesystem's size
 *   zstd -3 -T1 IMG,  zstd -3 -T0 IMG,  zstd -3 --single-thread IMG
 * each timed (wall) with its peak RSS. mke2fs reads the shipped mke2fs.conf of the wasm
 * build (MKE2FS_CONFIG), so both sides make the same features and layout.
 */
import { closeSync, openSync, readSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDumpe2fsHeader } from '../core/dumpe2fs-header.ts';
import { blocksPerGroup, grow, replanInodesPerGroup, type SizePlan } from '../core/size-plan.ts';
import { parseSuperblock, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE } from '../core/ext-superblock.ts';
import type { SizeEstimate } from '../core/engine-contract.ts';
import { DEFAULT_BUILD_OPTIONS } from '../core/build-options.ts';
import { classifyMkfsFailure, mkfsArgs } from '../workers/pipeline/build-image.ts';
import { findTool, runTimed, type TimedResult } from './measure.ts';

/**
 * Stages of the native pipeline, in order. `compress` is `zstd -3 -T1` (what the totals
 * use); `compressT0` (all cores) and `compressST` (`--single-thread`: no worker thread,
 * the way the studio's wasm zstd compresses) are extra references.
 */
export const NATIVE_STAGES = [
  'mkfs',
  'check',
  'shrink',
  'recheck',
  'summary',
  'compress',
  'compressT0',
  'compressST',
] as const;
export type NativeStage = (typeof NATIVE_STAGES)[number];

export interface StageFigure {
  ms: number;
  /** Peak RSS in bytes (0 when unknown). */
  peak: number;
}

export interface FsFigures {
  blockCount: number;
  blockSize: number;
  freeBlocks: number;
  inodeCount: number;
  freeInodes: number;
}

export interface NativeRun {
  stages: Record<NativeStage, StageFigure>;
  /** mkfs .. summary + zstd -T1. */
  totalMs: number;
  /** mkfs .. summary + zstd -T0. */
  totalT0Ms: number;
  /** Highest peak of the steps up to `zstd -T1` (they run one after another). */
  peak: number;
  initialBytes: number;
  mkfsAttempts: number;
  imageBytes: number;
  fs: FsFigures;
  zstdT1Bytes: number;
  zstdT0Bytes: number;
  zstdSTBytes: number;
  /** Checks that did not pass (e2fsck exit codes), for the report. */
  problems: string[];
}

export interface NativeTools {
  mke2fs: string;
  e2fsck: string;
  resize2fs: string;
  dumpe2fs: string;
  zstd: string;
}

export function nativeTools(): NativeTools | { missing: string[] } {
  const names = ['mke2fs', 'e2fsck', 'resize2fs', 'dumpe2fs', 'zstd'] as const;
  const found = Object.fromEntries(names.map((n) => [n, findTool(n)]));
  const missing = names.filter((n) => !found[n]);
  return missing.length ? { missing } : (found as unknown as NativeTools);
}

/**
 * make-ext4-fs.nix's own steps with the native tools: its size formula, `mkfs.ext4 -L -U -d`
 * with mke2fs.conf's inode ratio (no -N), `e2fsck -fn`, `resize2fs -M`; the image's size
 * after them (what the studio's image size is held against), and the time they took.
 */
export async function runMakeExt4Fs(opts: {
  tools: NativeTools;
  treeDir: string;
  workDir: string;
  nixpkgsBytes: number;
  mke2fsConf: string;
  gnuTime?: string;
}): Promise<{ ok: true; imageBytes: number; blockCount: number; ms: number } | { ok: false; error: string }> {
  const { tools, treeDir, gnuTime } = opts;
  const img = join(opts.workDir, 'make-ext4-fs.img');
  const env = { ...process.env, MKE2FS_CONFIG: opts.mke2fsConf };
  rmSync(img, { force: true });
  try {
    let ms = 0;
    const step = async (tool: string, args: string[]) => {
      const r = await runTimed(tool, args, { env, gnuTime });
      ms += r.ms;
      if (r.code !== 0) throw new Error(`${tool} exited ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
      return r.stdout;
    };
    writeFileSync(img, '');
    truncateSync(img, opts.nixpkgsBytes);
    const { label, uuid } = DEFAULT_BUILD_OPTIONS;
    await step(tools.mke2fs, ['-q', '-F', '-t', 'ext4', '-L', label, '-U', uuid, '-d', treeDir, img]);
    await step(tools.e2fsck, ['-fn', img]);
    await step(tools.resize2fs, ['-M', img]);
    const fs = parseDumpe2fsHeader(await step(tools.dumpe2fs, ['-h', img]));
    return { ok: true, imageBytes: fs.blockCount * fs.blockSize, blockCount: fs.blockCount, ms };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  } finally {
    rmSync(img, { force: true });
  }
}

/** Runs the native pipeline once on `treeDir`, starting from `plan` (the studio's initial size). */
export async function runNative(opts: {
  tools: NativeTools;
  treeDir: string;
  workDir: string;
  plan: SizePlan;
  mke2fsConf: string;
  gnuTime?: string;
}): Promise<NativeRun> {
  const { tools, treeDir, workDir, gnuTime } = opts;
  const img = join(workDir, 'native.img');
  const zst = join(workDir, 'native.img.zst');
  const env = { ...process.env, MKE2FS_CONFIG: opts.mke2fsConf };
  const problems: string[] = [];
  const stages = {} as Record<NativeStage, StageFigure>;
  const add = (s: NativeStage, r: TimedResult) => {
    const prev = stages[s] ?? { ms: 0, peak: 0 };
    stages[s] = { ms: prev.ms + r.ms, peak: Math.max(prev.peak, r.peak) };
  };
  const fail = (what: string, r: TimedResult) =>
    new Error(
      `native ${what} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`,
    );

  // mkfs, growing like the studio does when the plan is too small, and made again once
  // with other inodes per group when all-zero blocks were left out (as the studio does).
  let size: SizeEstimate = opts.plan;
  let layout = { blockSize: opts.plan.blockSize, inodesPerGroup: opts.plan.inodesPerGroup };
  let replanned = false;
  let attempts = 0;
  for (;;) {
    attempts++;
    rmSync(img, { force: true });
    const args = mkfsArgs(DEFAULT_BUILD_OPTIONS, size.initialImageBytes, undefined, layout);
    const d = args.indexOf('-d');
    args.splice(d + 1, 2, treeDir, img);
    const r = await runTimed(tools.mke2fs, args, { env, gnuTime });
    add('mkfs', r);
    if (r.code === 0) {
      const fd = openSync(img, 'r');
      const head = new Uint8Array(SUPERBLOCK_OFFSET + SUPERBLOCK_SIZE);
      readSync(fd, head, 0, head.length, 0);
      closeSync(fd);
      const sb = parseSuperblock(head.subarray(SUPERBLOCK_OFFSET));
      const better = replanned
        ? undefined
        : replanInodesPerGroup(
            {
              ...layout,
              inodeSize: opts.plan.inodeSize,
              initialBytes: size.initialImageBytes,
              fsType: DEFAULT_BUILD_OPTIONS.fsType,
              blockCount: sb.blockCount,
              freeBlocks: sb.freeBlocks,
              inodeCount: sb.inodeCount,
              freeInodes: sb.freeInodes,
            },
            Math.ceil(opts.plan.inodes * 1.1),
          );
      if (!better) break;
      replanned = true;
      layout = { ...layout, inodesPerGroup: better.inodesPerGroup };
      continue;
    }
    const kind = classifyMkfsFailure(r.stderr + r.stdout);
    if (kind === 'other' || attempts >= 8) throw fail('mke2fs', r);
    size = grow(size, blocksPerGroup(opts.plan.blockSize) * opts.plan.blockSize);
  }

  const check = async (stage: 'check' | 'recheck') => {
    const r = await runTimed(tools.e2fsck, ['-fn', img], { env, gnuTime });
    add(stage, r);
    if (r.code !== 0)
      problems.push(`native e2fsck (${stage}) exited ${r.code}: ${r.stdout.trim().split('\n').slice(-2).join(' | ')}`);
  };
  await check('check');
  const shrink = await runTimed(tools.resize2fs, ['-M', img], { env, gnuTime });
  add('shrink', shrink);
  if (shrink.code !== 0) throw fail('resize2fs -M', shrink);
  await check('recheck');

  const dump = await runTimed(tools.dumpe2fs, ['-h', img], { env, gnuTime });
  if (dump.code !== 0) throw fail('dumpe2fs -h', dump);
  const t0 = performance.now();
  const s = parseDumpe2fsHeader(dump.stdout);
  truncateSync(img, s.blockCount * s.blockSize);
  add('summary', { ...dump, ms: dump.ms + (performance.now() - t0) });
  const imageBytes = statSync(img).size;

  const compress = async (stage: 'compress' | 'compressT0' | 'compressST', threads: string) => {
    rmSync(zst, { force: true });
    const r = await runTimed(tools.zstd, ['-3', threads, '-q', '-f', img, '-o', zst], { env, gnuTime });
    add(stage, r);
    if (r.code !== 0) throw fail(`zstd ${threads}`, r);
    const bytes = statSync(zst).size;
    rmSync(zst, { force: true });
    return bytes;
  };
  const zstdT1Bytes = await compress('compress', '-T1');
  const zstdT0Bytes = await compress('compressT0', '-T0');
  const zstdSTBytes = await compress('compressST', '--single-thread');
  rmSync(img, { force: true });

  const before = stages.mkfs.ms + stages.check.ms + stages.shrink.ms + stages.recheck.ms + stages.summary.ms;
  return {
    stages,
    totalMs: before + stages.compress.ms,
    totalT0Ms: before + stages.compressT0.ms,
    peak: (['mkfs', 'check', 'shrink', 'recheck', 'summary', 'compress'] as const).reduce(
      (peak, n) => Math.max(peak, stages[n].peak),
      0,
    ),
    initialBytes: size.initialImageBytes,
    mkfsAttempts: attempts,
    imageBytes,
    fs: {
      blockCount: s.blockCount,
      blockSize: s.blockSize,
      freeBlocks: s.freeBlocks,
      inodeCount: s.inodeCount,
      freeInodes: s.freeInodes,
    },
    zstdT1Bytes,
    zstdT0Bytes,
    zstdSTBytes,
    problems,
  };
}
