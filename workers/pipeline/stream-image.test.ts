/** zstd on every core: the same bytes whatever the number of workers, readable by native zstd. */
import { closeSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { MemoryImageStore } from '../runtime/image-store.ts';
import { createTempImageStore } from '../runtime/node-image-file.ts';
import { runNative, sha256Hex, tempDir } from '../test-support/native.ts';
import { pseudoRandom } from '../test-support/tree-fixture.ts';
import { useTestWasm } from '../test-support/wasm.ts';
import {
  compressFrames,
  FRAME_PIECE,
  FRAME_SLICE,
  framePieceFor,
  framePoolsStarted,
  frameWorkersFor,
  frameWorkersStarted,
  prestartFrameWorkers,
  stopFrameWorkers,
  storeSource,
} from '../runtime/zstd-frames.ts';
import { decompressStream } from '../runtime/zstd-stream.ts';
import { setWasmDirs, wasmDirOverrides } from '../runtime/wasm-modules.ts';
import { streamImage } from './stream-image.ts';

useTestWasm();
const MiB = 1024 * 1024;

/**
 * An image-like store: text, random bytes, a 3-piece hole (never allocated), a written
 * all-zero piece, and a last piece shorter than the others.
 */
/** Where {@link sampleStore}'s data resumes after its hole: two pieces in. */
const AFTER_HOLE = 2 * FRAME_PIECE;

function sampleStore(): MemoryImageStore {
  const store = new MemoryImageStore(0);
  const text = new TextEncoder().encode('inode block /nix/store/abc-hello-2.12 ext4 superblock\n'.repeat(200_000));
  store.write(0, text.subarray(0, 10 * MiB));
  store.write(10 * MiB, pseudoRandom(6 * MiB, 7));
  // 16 MiB .. two pieces: a hole (the second piece is all hole).
  store.write(AFTER_HOLE, new Uint8Array(0)); // nothing
  store.write(AFTER_HOLE, text.subarray(0, 3 * MiB));
  store.write(AFTER_HOLE + 3 * MiB, pseudoRandom(MiB + 12345, 9));
  store.truncate(AFTER_HOLE + 4 * MiB + 12345);
  return store;
}

async function compressed(store: MemoryImageStore, workers: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const r = await streamImage(store, (c) => void parts.push(c.slice()), { compress: true, workers });
  const out = new Uint8Array(Buffer.concat(parts));
  expect(r.size).toBe(out.length);
  expect(r.sha256).toBe(sha256Hex(out));
  expect(r.imageSize).toBe(store.size);
  return out;
}

describe('zstd frames on every core', () => {
  const tmp = tempDir('zstd-frames-');
  afterAll(() => {
    stopFrameWorkers();
    tmp.cleanup();
  });

  it('starts the pool ahead once (asked twice), and compression then uses that pool', async () => {
    stopFrameWorkers();
    const before = framePoolsStarted();
    prestartFrameWorkers(2);
    prestartFrameWorkers(2);
    await vi.waitFor(() => expect(frameWorkersStarted()).toBe(2), { timeout: 20_000 });
    const pooled = await compressed(sampleStore(), 2);
    expect(framePoolsStarted()).toBe(before + 1);
    expect(sha256Hex(pooled)).toBe(sha256Hex(await compressed(sampleStore(), 0)));
  });

  it("starts the pool's threads within the calling thread's next two turns, before it blocks again", async () => {
    // A build's thread turns its event loop only between tool runs: the workers started after
    // the plan must not wait for file reads to start while mkfs holds the thread (an
    // asynchronous read took four turns). A module made from saved code (wasm-code-cache.ts)
    // comes one turn later than one compiled synchronously.
    stopFrameWorkers();
    setWasmDirs(wasmDirOverrides()); // the zstd module read and compiled anew
    prestartFrameWorkers(2);
    for (let turn = 0; turn < 2; turn++) await new Promise<void>((next) => setImmediate(next));
    expect(frameWorkersStarted()).toBe(2);
  });

  it('cuts an input into pieces by its size alone: sixteenths in whole MiB, 2 to 32 MiB', () => {
    expect(framePieceFor(0)).toBe(2 * MiB);
    expect(framePieceFor(10 * MiB)).toBe(2 * MiB);
    expect(framePieceFor(32 * MiB)).toBe(2 * MiB);
    expect(framePieceFor(32 * MiB + 1)).toBe(3 * MiB);
    expect(framePieceFor(100 * MiB)).toBe(7 * MiB);
    expect(framePieceFor(4 * FRAME_PIECE)).toBe(8 * MiB);
    expect(framePieceFor(16 * FRAME_PIECE - 1)).toBe(FRAME_PIECE);
    expect(framePieceFor(16 * FRAME_PIECE)).toBe(FRAME_PIECE);
    expect(framePieceFor(100 * FRAME_PIECE + 7)).toBe(FRAME_PIECE);
  });

  it('starts one worker per piece of the image, at most the workers asked for', () => {
    expect(frameWorkersFor(1, 4)).toBe(1);
    expect(frameWorkersFor(2 * MiB, 4)).toBe(1);
    expect(frameWorkersFor(2 * MiB + 1, 4)).toBe(2);
    expect(frameWorkersFor(6 * MiB, 4)).toBe(3);
    expect(frameWorkersFor(27 * MiB, 4)).toBe(4);
    expect(frameWorkersFor(27 * MiB, 2)).toBe(2);
    expect(frameWorkersFor(10 * FRAME_PIECE, 4)).toBe(4);
    expect(frameWorkersFor(10 * FRAME_PIECE, 0)).toBe(0);
    expect(frameWorkersFor(0, 2)).toBe(1);
    expect(() => frameWorkersFor(FRAME_PIECE, -1)).toThrow(RangeError);
  });

  it('gives the same bytes with 0, 1, 2 and 4 workers, and native zstd -d restores the image', async () => {
    const store = sampleStore();
    const image = store.read(0, store.size);
    const outs = [];
    for (const workers of [0, 1, 2, 4]) outs.push(await compressed(store, workers));
    for (const o of outs.slice(1)) expect(sha256Hex(o)).toBe(sha256Hex(outs[0]));

    const file = join(tmp.dir, 'image.zst');
    writeFileSync(file, outs[0]);
    const d = runNative('zstd', ['-q', '-d', '-f', file, '-o', join(tmp.dir, 'image')]);
    expect(d.stderr).toBe('');
    expect(d.status).toBe(0);
    expect(sha256Hex(readFileSync(join(tmp.dir, 'image')))).toBe(sha256Hex(image));

    // One frame per piece, each with its content size and checksum: `zstd -l` knows
    // the whole size without decoding.
    const l = runNative('zstd', ['-lv', file]);
    expect(l.status).toBe(0);
    expect(l.stdout).toMatch(new RegExp(`# Zstandard Frames: ${Math.ceil(store.size / framePieceFor(store.size))}\\b`));
    expect(l.stdout).toMatch(/Check: XXH64/);
    expect(l.stdout).toContain(`(${store.size} B)`);

    // Our own decoder reads the concatenated frames too.
    const back: Uint8Array[] = [];
    for await (const p of decompressStream([outs[0]])) back.push(p.slice());
    expect(sha256Hex(Buffer.concat(back))).toBe(sha256Hex(image));
  });

  it('compresses a hole as it would compress its zeros, without reading it', async () => {
    const store = sampleStore();
    const source = storeSource(store);
    // The pieces wholly inside the hole (16 MiB up to the data two pieces in) are holes.
    const holes = [];
    const expected = [];
    const piece = framePieceFor(store.size);
    for (let off = 0; off < store.size; off += piece) {
      holes.push(source.isHole!(off, Math.min(piece, store.size - off)));
      expected.push(off >= 16 * MiB && off + piece <= AFTER_HOLE);
    }
    expect(holes).toEqual(expected);
    expect(holes.filter(Boolean).length).toBeGreaterThan(0);
    const asHoles: Uint8Array[] = [];
    for await (const f of compressFrames(storeSource(store), { workers: 0 })) asHoles.push(f.slice());
    // The same store read through, holes and all.
    const asZeros: Uint8Array[] = [];
    const readAll = { size: store.size, readInto: (o: number, t: Uint8Array) => void store.readInto(o, t) };
    for await (const f of compressFrames(readAll, { workers: 2 })) asZeros.push(f.slice());
    expect(asHoles.map((f) => sha256Hex(f))).toEqual(asZeros.map((f) => sha256Hex(f)));
  });

  it('reuses its arrays: a few for the frames of many pieces, with or without workers', async () => {
    // 16 pieces of data, no holes.
    const piece = 4 * MiB;
    const store = new MemoryImageStore(0);
    for (let i = 0; i < 16; i++) store.write(i * piece, pseudoRandom(piece, 100 + i).subarray(0, i * 1000 + 5000));
    store.truncate(16 * piece);
    expect(framePieceFor(store.size)).toBe(piece);
    for (const workers of [0, 2]) {
      const buffers = new Set<ArrayBufferLike>();
      const capacities = new Set<number>();
      let frames = 0;
      for await (const f of compressFrames(storeSource(store), { workers })) {
        buffers.add(f.buffer);
        // Written into an array made for any frame of a piece, not one of its own size.
        expect(f.buffer.byteLength).toBeGreaterThan(piece);
        capacities.add(f.buffer.byteLength);
        frames++;
      }
      expect(frames).toBe(16);
      expect(capacities.size).toBe(1);
      // In the calling thread the same arrays come back (at most one per piece in flight and
      // the one being read); a worker's come back as new ArrayBuffer objects on the same memory.
      if (workers === 0) expect(buffers.size).toBeLessThanOrEqual(3);
    }
  });

  it('serves a call asking for fewer workers from a kept pool of more, compressing no more at once', async () => {
    // The page starts one worker per core with its engine; a small image's build asks for fewer.
    stopFrameWorkers();
    await prestartFrameWorkers(4);
    expect(frameWorkersStarted()).toBe(4);
    const pools = framePoolsStarted();
    const piece = 8 * MiB;
    const pieces = 16;
    expect(framePieceFor(pieces * piece)).toBe(piece);
    const read = new Map<number, number>();
    const source = {
      size: pieces * piece,
      readInto(o: number, t: Uint8Array) {
        t.fill((o >>> 20) & 0xff);
        const k = Math.floor(o / piece);
        read.set(k, (read.get(k) ?? 0) + t.length);
      },
    };
    const frames = compressFrames(source, { workers: 2 });
    const parts: Uint8Array[] = [(await frames.next()).value!.slice()];
    // While the first frame is held: two compressing and two waiting, as with a pool of two.
    const deadline = Date.now() + 20_000;
    while (!(read.get(3) === piece) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100));
    expect([...read.keys()].sort()).toEqual([0, 1, 2, 3]);
    for await (const f of { [Symbol.asyncIterator]: () => frames }) parts.push(f.slice());
    expect(framePoolsStarted()).toBe(pools);
    expect(frameWorkersStarted()).toBe(4);
    const inThread: Uint8Array[] = [];
    for await (const f of compressFrames(source, { workers: 0 })) inThread.push(f.slice());
    expect(sha256Hex(Buffer.concat(parts))).toBe(sha256Hex(Buffer.concat(inThread)));
    stopFrameWorkers();
  });

  it('keeps a piece waiting for the workers while the consumer holds a frame (a slow disk)', async () => {
    // Sixteen 8 MiB pieces of cheap bytes, two workers; the consumer holds the first frame.
    const piece = 8 * MiB;
    const pieces = 16;
    const size = pieces * piece;
    expect(framePieceFor(size)).toBe(piece);
    const read = new Map<number, number>();
    const source = {
      size,
      readInto(o: number, t: Uint8Array) {
        t.fill((o >>> 20) & 0xff);
        const k = Math.floor(o / piece);
        read.set(k, (read.get(k) ?? 0) + t.length);
      },
    };
    const done = (k: number) => read.get(k) === piece;
    const frames = compressFrames(source, { workers: 2 });
    const first = await frames.next();
    expect(first.done).toBe(false);
    // While it is held, both workers go on: the second piece, then the two queued behind it.
    const deadline = Date.now() + 20_000;
    while (!(done(1) && done(2) && done(3)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect([done(1), done(2), done(3)]).toEqual([true, true, true]);
    await new Promise((r) => setTimeout(r, 100));
    // No more than that: memory stays at a few frames however slow the consumer is.
    expect(read.has(4)).toBe(false);
    let count = 1;
    for await (const _ of { [Symbol.asyncIterator]: () => frames }) count++;
    expect(count).toBe(pieces);
    expect([...read.values()]).toEqual(Array(pieces).fill(piece));
  });

  it('stays within 1% of native zstd -3 on an image-like input', async () => {
    const store = sampleStore();
    const ours = await compressed(store, 2);
    const raw = join(tmp.dir, 'raw');
    writeFileSync(raw, store.read(0, store.size));
    const n = runNative('zstd', ['-q', '-3', '-T1', '-f', raw, '-o', `${raw}.zst`]);
    expect(n.status).toBe(0);
    const native = readFileSync(`${raw}.zst`).length;
    expect(ours.length).toBeLessThanOrEqual(native * 1.01);
  });

  it('reads each piece a slice at a time as it is compressed, never whole, to the same bytes', async () => {
    const store = sampleStore();
    const expected = sha256Hex(await compressed(store, 0));
    for (const workers of [0, 2]) {
      const reads: number[] = [];
      const source = {
        size: store.size,
        readInto(o: number, t: Uint8Array) {
          reads.push(t.length);
          store.readInto(o, t);
        },
      };
      const parts: Uint8Array[] = [];
      for await (const f of compressFrames(source, { workers })) parts.push(f.slice());
      expect(sha256Hex(Buffer.concat(parts))).toBe(expected);
      expect(Math.max(...reads)).toBe(FRAME_SLICE);
      expect(reads.reduce((n, r) => n + r, 0)).toBe(store.size);
    }
  });

  it('in Node, workers read a store in a host file themselves: same bytes, zeros past its end', async () => {
    const memory = sampleStore();
    // A written zero tail is not written to the file: the file ends before the image does.
    memory.write(memory.size, new Uint8Array(3 * MiB));
    const expected = sha256Hex(await compressed(memory, 0));
    const file = createTempImageStore(tmp.dir, 'frames');
    try {
      file.write(0, memory.read(0, memory.size));
      expect(file.size).toBe(memory.size);
      expect(file.hostFile?.()).toMatchObject({ fd: expect.any(Number) });
      expect(statSync(file.location).size).toBeLessThan(file.size);
      const reads = vi.spyOn(file, 'readInto');
      expect(sha256Hex(await compressed(file as unknown as MemoryImageStore, 2))).toBe(expected);
      // Every byte came from the file, in the workers (holes are not read at all).
      expect(reads).not.toHaveBeenCalled();
      reads.mockRestore();
      expect(sha256Hex(await compressed(file as unknown as MemoryImageStore, 0))).toBe(expected);
    } finally {
      file.close();
    }
    // A file that cannot be read fails the call with the system's error, and the next call works.
    const fd = openSync(join(tmp.dir, 'gone.img'), 'w+');
    closeSync(fd);
    const source = {
      size: 2 * FRAME_SLICE,
      readInto: () => {
        throw new Error('read in the calling thread');
      },
      file: { fd },
    };
    const frames = async () => {
      for await (const _ of compressFrames(source, { workers: 2 })) {
        // drain
      }
    };
    await expect(frames()).rejects.toThrow(/EBADF/);
    expect(sha256Hex(await compressed(memory, 2))).toBe(expected);
  });

  it('fails with the read error of a piece (not a hang), and a later call still works', async () => {
    const store = sampleStore();
    // Three slices into the fourth piece (the second and third are the hole, never read).
    const gone = 3 * framePieceFor(store.size) + 3 * FRAME_SLICE;
    for (const workers of [0, 2]) {
      let read = 0;
      const source = {
        size: store.size,
        readInto(o: number, t: Uint8Array) {
          if (o >= gone) throw new Error(`disk gone at ${o}`);
          read += t.length;
          store.readInto(o, t);
        },
      };
      const frames = async () => {
        for await (const _ of compressFrames(source, { workers })) {
          // drain
        }
      };
      await expect(frames()).rejects.toThrow(`disk gone at ${gone}`);
      expect(read).toBeGreaterThan(0);
    }
    expect(sha256Hex(await compressed(store, 2))).toBe(sha256Hex(await compressed(store, 0)));
  });

  it('stops when aborted, and a later call still works', async () => {
    const store = sampleStore();
    const controller = new AbortController();
    let frames = 0;
    await expect(
      streamImage(
        store,
        () => {
          if (++frames === 1) controller.abort(new Error('stop here'));
        },
        { compress: true, workers: 2, signal: controller.signal },
      ),
    ).rejects.toThrow('stop here');
    expect(frames).toBe(1);
    const again = await compressed(store, 2);
    expect(sha256Hex(again)).toBe(sha256Hex(await compressed(store, 0)));
  });
});
