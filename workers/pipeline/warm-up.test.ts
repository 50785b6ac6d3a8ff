/**
 * The engine's warm-up build (`warm-up.ts`): its made-up tree builds in the plan's smallest
 * image at the first attempt, into a filesystem native e2fsck accepts, and an abort stops it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_BUILD_OPTIONS } from '../../core/build-options.ts';
import type { BuildEvent } from '../../core/engine-contract.ts';
import { runNative, tempDir } from '../test-support/native.ts';
import { useTestWasm } from '../test-support/wasm.ts';
import {
  framePoolsStarted,
  frameWorkersStarted,
  prestartFrameWorkers,
  stopFrameWorkers,
} from '../runtime/zstd-frames.ts';
import { buildImage } from './build-image.ts';
import { WARM_UP_COMPRESSED, warmUpCompression, warmUpData, warmUpTools, warmUpTree } from './warm-up.ts';

useTestWasm();
const tmp = tempDir('warm-up-');
afterAll(() => tmp.cleanup());

describe('the tools warm-up', () => {
  it('builds its tree in one mkfs of the smallest size, clean natively, with every entry', async () => {
    const entries = warmUpTree();
    const events: BuildEvent[] = [];
    const chunks: Uint8Array[] = [];
    const result = await buildImage(
      { entries, closure: [], options: { ...DEFAULT_BUILD_OPTIONS, compress: false } },
      { onEvent: (e) => events.push(e), sink: (c) => void chunks.push(c.slice()) },
    );
    const plan = events.find((e) => e.type === 'log' && e.tool === 'plan' && /starting at/.test(e.text));
    expect(plan?.type === 'log' && plan.text).toMatch(/starting at 8 MiB$/);
    expect(events.some((e) => e.type === 'log' && /retrying with/.test(e.text))).toBe(false);
    const img = join(tmp.dir, 'warm.img');
    writeFileSync(img, Buffer.concat(chunks));
    const fsck = runNative('e2fsck', ['-fn', img]);
    expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
    // Every entry but the root is an inode of its own (e2fsck counts the root and lost+found too).
    expect(result.summary.inodeCount - result.summary.freeInodes).toBeGreaterThanOrEqual(entries.length);

    await expect(warmUpTools()).resolves.toBeUndefined();
  });

  it('stops when its signal aborts, with the signal reason', async () => {
    const stop = new AbortController();
    const reason = new Error('a build of the user started');
    stop.abort(reason);
    await expect(warmUpTools(stop.signal)).rejects.toBe(reason);

    // Aborted while it runs: it ends at the next stage, not at the end.
    const midway = new AbortController();
    const run = warmUpTools(midway.signal);
    setTimeout(() => midway.abort(reason), 0);
    await expect(run).rejects.toBe(reason);
  });
});

describe('the compression warm-up', () => {
  it('makes data with matches and incompressible parts, the same for the same reads', () => {
    const a = new Uint8Array(WARM_UP_COMPRESSED);
    for (let at = 0; at < a.length; at += 1 << 20) warmUpData(at, a.subarray(at, at + (1 << 20)));
    const b = new Uint8Array(1 << 20);
    warmUpData(3 << 20, b);
    expect(Buffer.compare(b, a.subarray(3 << 20, 4 << 20))).toBe(0);
    // Text, tables and random bytes: neither all matches nor all literals.
    const ratio = deflateSync(a, { level: 1 }).length / a.length;
    expect(ratio).toBeGreaterThan(0.15);
    expect(ratio).toBeLessThan(0.6);
    const random = deflateSync(a.subarray(7 * 65536, 8 * 65536), { level: 1 }).length;
    expect(random).toBeGreaterThan(65536);
    const text = new TextDecoder().decode(a.subarray(0, 200));
    expect(text).toMatch(/^[a-z0-9_/.\- \n]+$/);
  });

  it("stops between its calls once aborted, keeping the pool's workers", async () => {
    stopFrameWorkers();
    await prestartFrameWorkers(2);
    const pools = framePoolsStarted();
    const stop = new AbortController();
    const reason = new Error('a build of the user started');
    const run = warmUpCompression(stop.signal);
    setTimeout(() => stop.abort(reason), 0);
    await expect(run).rejects.toBe(reason);
    expect(frameWorkersStarted()).toBe(2);
    await expect(warmUpCompression()).resolves.toBeUndefined();
    expect(framePoolsStarted()).toBe(pools);
    stopFrameWorkers();
  });
});
