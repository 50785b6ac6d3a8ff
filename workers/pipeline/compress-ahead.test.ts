/**
 * Compression ahead (Node): frames made while the image is still being written are taken
 * only where their pieces did not change since, and the output is the same bytes as without.
 */
import { mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_BUILD_OPTIONS } from '../../core/build-options.ts';
import type { BuildEvent } from '../../core/engine-contract.ts';
import { startFrameSpeculation } from '../runtime/frame-speculation.ts';
import type { ImageStore } from '../runtime/image-store.ts';
import { createTempImageStore, tempFileStorage } from '../runtime/node-image-file.ts';
import { compressFrames, storeSource } from '../runtime/zstd-frames.ts';
import { runNative, sha256Hex, tempDir } from '../test-support/native.ts';
import { dir, file, pseudoRandom } from '../test-support/tree-fixture.ts';
import { useTestWasm } from '../test-support/wasm.ts';
import { buildImage } from './build-image.ts';

useTestWasm();
const MiB = 1024 * 1024;
const tmp = tempDir('ahead-');
afterAll(() => tmp.cleanup());

const text = (n: number, seed: number) =>
  new TextEncoder()
    .encode(`block ${seed} /nix/store/abc-hello-2.12 inode superblock\n`.repeat(Math.ceil(n / 50)))
    .subarray(0, n);

/** 48 MiB of text, random bytes and text again, in a temporary file. */
function sampleStore(name: string): ImageStore {
  const store = createTempImageStore(tmp.dir, name);
  store.write(0, text(16 * MiB, 1));
  store.write(16 * MiB, pseudoRandom(16 * MiB, 2));
  store.write(32 * MiB, text(16 * MiB, 3));
  return store;
}

async function frames(store: ImageStore, options: Parameters<typeof compressFrames>[1]): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const f of compressFrames(storeSource(store), options)) parts.push(f.slice());
  return new Uint8Array(Buffer.concat(parts));
}

/** Where this process's open spool files were (readlink of /proc/self/fd). */
const spoolFds = () =>
  readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return '';
      }
    })
    .filter((target) => target.startsWith(tmp.dir) && target.includes('/.spool.'));

describe('frames compressed ahead', () => {
  it('are taken where their piece did not change, and the output is the bytes compressed afresh give', async () => {
    const store = sampleStore('changed');
    const ahead = await startFrameSpeculation(store, { expectedSize: 48 * MiB, blockSize: 4096, level: 3, workers: 2 });
    expect(ahead).toBeDefined();
    // The spool: open, and already unlinked.
    expect(spoolFds()).toHaveLength(1);
    expect(spoolFds()[0]).toMatch(/ \(deleted\)$/);
    expect(ahead!.piece).toBe(3 * MiB);
    // The spool is a descriptor only: no file is left beside the image.
    expect(readdirSync(tmp.dir).filter((n) => n.includes('spool'))).toEqual([]);
    ahead!.queueRest();
    await ahead!.whenIdle();
    // The first piece (superblock, descriptors) is never made ahead.
    expect(ahead!.stats.queued).toBe(15);
    // The ninth piece changes after it was made: its frame must not be used.
    store.write(24 * MiB + 4321, new TextEncoder().encode('changed after it was compressed'));
    const withAhead = await frames(store, { workers: 2, ahead });
    expect(ahead!.stats.taken).toBe(14);
    const afresh = await frames(store, { workers: 0 });
    expect(sha256Hex(withAhead)).toBe(sha256Hex(afresh));
    // And it decodes to the image.
    writeFileSync(join(tmp.dir, 'changed.zst'), withAhead);
    runNative('zstd', ['-q', '-d', '-f', join(tmp.dir, 'changed.zst'), '-o', join(tmp.dir, 'changed.img')]);
    expect(sha256Hex(readFileSync(join(tmp.dir, 'changed.img')))).toBe(sha256Hex(store.read(0, store.size)));
    ahead!.dispose();
    await ahead!.whenIdle();
    // The spool's descriptor is closed.
    expect(spoolFds()).toEqual([]);
    store.close();
  });

  it('takes nothing when the image ends up cut in other pieces, or was written while they were made', async () => {
    const store = sampleStore('cut');
    const ahead = await startFrameSpeculation(store, { expectedSize: 48 * MiB, blockSize: 4096, level: 3, workers: 2 });
    ahead!.queueRest();
    await ahead!.whenIdle();
    // Shrunk to 32 MiB: pieces of 2 MiB, none of them a piece made ahead.
    store.truncate(32 * MiB);
    const withAhead = await frames(store, { workers: 2, ahead });
    expect(ahead!.stats.taken).toBe(0);
    expect(sha256Hex(withAhead)).toBe(sha256Hex(await frames(store, { workers: 0 })));
    ahead!.dispose();

    // Written again everywhere (as mke2fs does when it starts over) after being queued.
    const again = sampleStore('rewritten');
    const second = await startFrameSpeculation(again, {
      expectedSize: 48 * MiB,
      blockSize: 4096,
      level: 3,
      workers: 2,
    });
    second!.queueRest();
    const queuedBefore = second!.stats.queued;
    expect(queuedBefore).toBeGreaterThanOrEqual(1);
    again.truncate(0);
    again.write(0, pseudoRandom(48 * MiB, 5));
    await second!.whenIdle();
    const out = await frames(again, { workers: 2, ahead: second });
    // Only pieces queued after the rewrite (when fewer workers than pieces) may be taken.
    expect(second!.stats.taken).toBeLessThanOrEqual(15 - queuedBefore);
    expect(sha256Hex(out)).toBe(sha256Hex(await frames(again, { workers: 0 })));
    second!.dispose();
    store.close();
    again.close();
  });

  it('queues a piece changed while its worker had it again as soon as the worker lets go, answer or not', async () => {
    // As during a tool's run: this thread never yields, so no worker's answer reaches it.
    const store = sampleStore('busy');
    const ahead = await startFrameSpeculation(store, { expectedSize: 48 * MiB, blockSize: 4096, level: 3, workers: 2 });
    const busy = (ms: number, poke = false) => {
      const until = performance.now() + ms;
      while (performance.now() < until) if (poke) ahead!.poke();
    };
    ahead!.queueRest();
    // The worker takes the second piece (or is about to), which then changes; mke2fs ends and
    // every piece becomes a candidate again, then the check runs.
    busy(5);
    store.write(3 * MiB + 17, new TextEncoder().encode('changed while it was being compressed'));
    ahead!.queueRest();
    busy(1500, true);
    await ahead!.whenIdle();
    const withAhead = await frames(store, { workers: 2, ahead });
    // Every piece but the first was made ahead, the changed one from its new bytes.
    expect(ahead!.stats.taken).toBe(15);
    expect(sha256Hex(withAhead)).toBe(sha256Hex(await frames(store, { workers: 0 })));
    ahead!.dispose();
    store.close();
  });

  it('gives a build the same output as without, with pieces queued ahead', async () => {
    // 4 KiB blocks: the backup superblocks lie 128 MiB apart, so the middle pieces of this
    // 40 MiB image are made ahead.
    const entries = [dir('/'), dir('/data')];
    for (let i = 0; i < 24; i++)
      entries.push(file(`/data/f${i}`, i % 3 === 0 ? pseudoRandom(1536 * 1024, i) : text(1536 * 1024, i)));
    const buildDir = join(tmp.dir, 'builds');
    mkdirSync(buildDir);
    const build = async (compressAhead: boolean) => {
      const logs: string[] = [];
      const parts: Uint8Array[] = [];
      const result = await buildImage(
        { entries, closure: [], options: { ...DEFAULT_BUILD_OPTIONS, compress: true, blockSize: 4096 } },
        {
          storage: tempFileStorage(buildDir),
          compressionWorkers: 2,
          compressAhead,
          sink: (c) => void parts.push(c.slice()),
          onEvent: (e: BuildEvent) => {
            if (e.type === 'log' && e.text.startsWith('frames made ahead')) logs.push(e.text);
          },
        },
      );
      return { result, logs, out: new Uint8Array(Buffer.concat(parts)) };
    };
    const on = await build(true);
    const off = await build(false);
    expect(off.logs).toEqual([]);
    expect(on.logs).toHaveLength(1);
    const [, taken, , queued] = /^frames made ahead: (\d+) of (\d+) pieces \((\d+) queued\)$/
      .exec(on.logs[0])!
      .slice(0);
    expect(Number(queued)).toBeGreaterThanOrEqual(1);
    expect(Number(taken)).toBeLessThanOrEqual(Number(queued));
    expect(on.result.sha256).toBe(off.result.sha256);
    expect(sha256Hex(on.out)).toBe(sha256Hex(off.out));
    // Nothing is left beside the images.
    expect(readdirSync(buildDir)).toEqual([]);
  });
});
