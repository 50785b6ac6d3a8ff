/**
 * The read-ahead ring's two sides in one thread: the reader's reads are run (and finished, in
 * any order) from inside the consumer's waits, on small pieces and rings so that every piece
 * boundary, wrap and full ring is met. Each piece handed out is checked against the file's
 * bytes, so a piece placed over one not yet taken would show.
 */
import { describe, expect, it, vi } from 'vitest';
import {
  CONTROL_WORDS,
  Control,
  placePiece,
  ReadAheadConsumer,
  type ReadAheadItem,
  ReadAheadPlanner,
  type ReadJob,
  ringCapacity,
} from './read-ahead-ring.ts';

/** Files of the given sizes; every `perBlob` of them are consecutive ranges of one fake Blob. */
function files(sizes: number[], perBlob: number) {
  const contents = sizes.map((n, i) => Uint8Array.from({ length: n }, (_, j) => (i * 31 + j * 7 + (j >> 8)) & 255));
  const blobs = new Map<object, Uint8Array>();
  const items: ReadAheadItem[] = [];
  for (let i = 0; i < sizes.length; i += perBlob) {
    const group = contents.slice(i, i + perBlob);
    const all = new Uint8Array(group.reduce((n, c) => n + c.length, 0));
    const blob = {} as Blob;
    let offset = 0;
    for (const c of group) {
      all.set(c, offset);
      items.push({ blob, offset, size: c.length });
      offset += c.length;
    }
    blobs.set(blob, all);
  }
  const bytesOf = (job: ReadJob) => {
    const out = new Uint8Array(job.size);
    let at = 0;
    for (const p of job.parts) {
      out.set(blobs.get(p.blob)!.subarray(p.start, p.end), at);
      at += p.end - p.start;
    }
    return out;
  };
  return { contents, items, bytesOf };
}

interface Rig {
  consumer: ReadAheadConsumer;
  planner: ReadAheadPlanner;
  control: Int32Array;
  jobs: ReadJob[];
  reads: ReadJob[];
  stopped: () => boolean;
}

/**
 * A planner and a consumer over one ring; each wait of the consumer plans what fits and
 * finishes reads (`finish` picks which of those out), or stalls when `stall` says so.
 */
function rig(
  sizes: number[],
  o: {
    pieceSize: number;
    capacity: number;
    readMax?: number;
    perBlob?: number;
    lifo?: boolean;
    stall?: () => boolean;
    fails?: (job: ReadJob) => boolean;
  },
): Rig & ReturnType<typeof files> {
  const f = files(sizes, o.perBlob ?? 3);
  const ring = new Uint8Array(new SharedArrayBuffer(o.capacity));
  const control = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
  control[Control.failed] = -1;
  const planner = new ReadAheadPlanner(ring, control, o.pieceSize, o.readMax ?? 4 * o.pieceSize);
  const jobs: ReadJob[] = [];
  const reads: ReadJob[] = [];
  let stopped = false;
  const consumer = new ReadAheadConsumer({
    ring,
    control,
    pieceSize: o.pieceSize,
    count: f.items.length,
    item: (i) => f.items[i],
    post: (items) => planner.add(items),
    stop: () => {
      stopped = true;
    },
    wait: () => {
      if (o.stall?.()) return 'timed-out';
      for (let j = planner.next(); j; j = planner.next()) {
        jobs.push(j);
        reads.push(j);
      }
      // Finish the newest first when asked: later reads done before earlier ones.
      const job = o.lifo ? jobs.pop() : jobs.shift();
      if (!job) return 'timed-out';
      if (o.fails?.(job)) planner.fail(job);
      else planner.complete(job, f.bytesOf(job));
      return 'ok';
    },
    stallMs: 500,
  });
  return { ...f, consumer, planner, control, jobs, reads, stopped: () => stopped };
}

/** Takes every file in order as TREEFS would (whole small files, large ones piece by piece). */
function takeAll(r: Rig & ReturnType<typeof files>, pieceSize: number): (Uint8Array | undefined)[] {
  return r.items.map((item) => {
    if (item.size <= pieceSize) return copy(r.consumer.take(r.items.indexOf(item), 0, item.size));
    const out = new Uint8Array(item.size);
    for (let at = 0; at < item.size; at += pieceSize) {
      const piece = r.consumer.take(r.items.indexOf(item), at, Math.min(item.size, at + pieceSize));
      if (!piece) return undefined;
      out.set(piece, at);
    }
    return out;
  });
}

/** A copy of a piece handed out (the view is good only until the next take). */
const copy = (b: Uint8Array | undefined) => b?.slice();

const SIZES = [5, 16, 17, 1, 40, 3, 64, 2, 15, 33, 7, 7, 7, 100, 9, 16, 1, 48];

describe('read-ahead ring', () => {
  it('places a piece where it fits, or at the start of the ring', () => {
    expect(placePiece(0, 10, 32)).toBe(0);
    expect(placePiece(22, 10, 32)).toBe(22);
    expect(placePiece(23, 10, 32)).toBe(32);
    expect(placePiece(64 + 30, 16, 32)).toBe(96);
    expect(ringCapacity(1000, 1 << 20, 32 << 20)).toBe(2 << 20);
    expect(ringCapacity(500 << 20, 1 << 20, 32 << 20)).toBe(32 << 20);
    expect(ringCapacity(5 << 20, 1 << 20, 32 << 20)).toBe(5 << 20);
  });

  it.each([
    ['in order', false],
    ['reads finished newest first', true],
  ])('hands out every piece with its bytes, through wraps and a full ring (%s)', (_, lifo) => {
    const r = rig(SIZES, { pieceSize: 16, capacity: 40, lifo });
    const got = takeAll(r, 16);
    for (const [i, bytes] of got.entries()) expect(bytes, `file ${i}`).toEqual(r.contents[i]);
    expect(r.consumer.off).toBe(false);
    expect(r.consumer.taken).toBe(SIZES.reduce((n, s) => n + Math.ceil(s / 16), 0));
    // Pieces were read together (consecutive ranges of one Blob as one range), up to readMax.
    expect(r.reads.length).toBeLessThan(r.consumer.taken);
    expect(r.reads.some((j) => j.pieces.length > 1 && j.parts.length === 1)).toBe(true);
    expect(r.reads.some((j) => j.parts.length > 1)).toBe(true);
    for (const j of r.reads) {
      expect(j.size).toBeLessThanOrEqual(64);
      for (let k = 1; k < j.parts.length; k++)
        expect(j.parts[k].blob !== j.parts[k - 1].blob || j.parts[k].start !== j.parts[k - 1].end).toBe(true);
    }
  });

  it('joins at most 256 separate Blobs into one read, starting with 4 and doubling', () => {
    const sizes = Array.from({ length: 600 }, (_, i) => 1 + (i % 3));
    const r = rig(sizes, { pieceSize: 16, capacity: 4096, readMax: 4096, perBlob: 1 });
    const got = takeAll(r, 16);
    for (const [i, bytes] of got.entries()) expect(bytes, `file ${i}`).toEqual(r.contents[i]);
    // The first file comes with a small read; then larger ones, as the consumer is busy.
    expect(r.reads.map((j) => j.parts.length)).toEqual([4, 8, 16, 32, 64, 128, 256, 92]);
  });

  it('starts with a read of 64 KiB and doubles it up to the most a read may take', () => {
    // One Blob of 30 files of 16 KiB: consecutive, so joined as far as the size allows.
    const sizes = Array.from({ length: 30 }, () => 16 * 1024);
    const r = rig(sizes, { pieceSize: 16 * 1024, capacity: 1 << 20, readMax: 256 * 1024, perBlob: 30 });
    const got = takeAll(r, 16 * 1024);
    for (const [i, bytes] of got.entries()) expect(bytes, `file ${i}`).toEqual(r.contents[i]);
    expect(r.reads.map((j) => j.size / 1024)).toEqual([64, 128, 256, 32]);
  });

  it('never plans past the room the consumer gave back', () => {
    const r = rig(SIZES, { pieceSize: 16, capacity: 32 });
    // Nothing taken yet: only what fits in 32 bytes is planned.
    r.consumer.take(0, 0, 5);
    let planned = 0;
    for (const j of r.jobs) planned += j.pieces.length;
    expect(r.planner.next()).toBeUndefined();
    expect(r.planner.waitingForRoom).toBe(true);
    expect(planned).toBeLessThanOrEqual(3);
  });

  it('waits for a read of room, and is woken only when that much is free', () => {
    // Pieces of 8 bytes, reads of 16, a ring of 64: the reader waits for 16 free bytes.
    const f = files(
      Array.from({ length: 12 }, () => 8),
      12,
    );
    const ring = new Uint8Array(new SharedArrayBuffer(64));
    const control = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
    control[Control.failed] = -1;
    const planner = new ReadAheadPlanner(ring, control, 16, 16);
    const consumer = new ReadAheadConsumer({
      ring,
      control,
      pieceSize: 16,
      count: f.items.length,
      item: (i) => f.items[i],
      post: (items) => planner.add(items),
      stop: () => {},
      wait: () => 'timed-out',
    });
    consumer.start();
    const jobs: ReadJob[] = [];
    for (let j = planner.next(); j; j = planner.next()) jobs.push(j);
    expect(jobs.map((j) => j.pieces.length)).toEqual([2, 2, 2, 2]);
    expect(planner.waitingForRoom).toBe(true);
    for (const j of jobs) planner.complete(j, f.bytesOf(j));
    const word = planner.beforeWaitingForRoom();
    expect(word).toBe(0);
    expect(Atomics.load(control, Control.wantsRoom)).toBe(1);
    const spy = vi.spyOn(Atomics, 'notify');
    const notified = () => spy.mock.calls.filter((c) => c[1] === Control.released).length;
    try {
      // The piece handed out is held until the next take; then 8 bytes are free: not yet worth
      // a read, so no wake-up, and nothing planned.
      expect(copy(consumer.take(0, 0, 8))).toEqual(f.contents[0]);
      expect(Atomics.load(control, Control.released)).toBe(0);
      expect(copy(consumer.take(1, 0, 8))).toEqual(f.contents[1]);
      expect(Atomics.load(control, Control.released)).toBe(8);
      expect(notified()).toBe(0);
      expect(Atomics.load(control, Control.wantsRoom)).toBe(1);
      expect(planner.next()).toBeUndefined();
      // 16 bytes free: woken once, and the next read is planned.
      expect(copy(consumer.take(2, 0, 8))).toEqual(f.contents[2]);
      expect(notified()).toBe(1);
      expect(Atomics.load(control, Control.wantsRoom)).toBe(0);
      expect(planner.next()?.pieces.length).toBe(2);
      // Released past the wake-up point before the reader waits: it does not wait.
      expect(copy(consumer.take(3, 0, 8))).toEqual(f.contents[3]);
      expect(copy(consumer.take(4, 0, 8))).toEqual(f.contents[4]);
      expect(planner.beforeWaitingForRoom()).toBeUndefined();
    } finally {
      spy.mockRestore();
    }
  });

  it('skips to a file asked for further on, and leaves files already passed to the caller', () => {
    const r = rig(SIZES, { pieceSize: 16, capacity: 48 });
    expect(copy(r.consumer.take(5, 0, 3))).toEqual(r.contents[5]);
    // The view handed out is held (valid) until the next take, whatever that gives.
    expect(r.consumer.heldSeq).toBe(r.consumer.lastSeq);
    expect(r.consumer.take(2, 0, 16)).toBeUndefined();
    expect(r.consumer.heldSeq).toBe(-1);
    expect(r.consumer.off).toBe(false);
    // A large file's second piece first: its first piece is passed.
    expect(copy(r.consumer.take(6, 16, 32))).toEqual(r.contents[6].subarray(16, 32));
    expect(r.consumer.take(6, 0, 16)).toBeUndefined();
    expect(copy(r.consumer.take(7, 0, 2))).toEqual(r.contents[7]);
    // Not a piece of the sequence (not on a piece boundary, or not its length): the caller's.
    expect(r.consumer.take(9, 4, 20)).toBeUndefined();
    expect(r.consumer.take(9, 0, 33)).toBeUndefined();
    expect(copy(r.consumer.take(9, 0, 16))).toEqual(r.contents[9].subarray(0, 16));
    expect(r.consumer.off).toBe(false);
  });

  it('gives up when asked for a file far beyond the reader (the program reads in another order)', () => {
    const sizes = Array.from({ length: 3000 }, () => 2);
    const r = rig(sizes, { pieceSize: 16, capacity: 64 });
    expect(copy(r.consumer.take(0, 0, 2))).toEqual(r.contents[0]);
    expect(r.consumer.take(2500, 0, 2)).toBeUndefined();
    expect(r.consumer.off).toBe(true);
    expect(r.stopped()).toBe(true);
  });

  it('gives up from a failed read on, after handing out what came before it', () => {
    // Pieces of files 0-3: 1 + 1 + 2 + 1; the read holding file 4's first piece fails.
    const seqOf4 = 5;
    let failed: ReadJob | undefined;
    const r = rig(SIZES, {
      pieceSize: 16,
      capacity: 40,
      readMax: 16,
      lifo: true,
      fails: (job) => {
        if (job.first !== seqOf4) return false;
        failed = job;
        return true;
      },
    });
    const got = takeAll(r, 16);
    expect(failed).toBeDefined();
    expect(Atomics.load(r.control, Control.failed)).toBe(seqOf4);
    for (let i = 0; i < 4; i++) expect(got[i], `file ${i}`).toEqual(r.contents[i]);
    expect(got.slice(4).every((b) => b === undefined)).toBe(true);
    expect(r.consumer.off).toBe(true);
    expect(r.stopped()).toBe(true);
    expect(r.planner.next()).toBeUndefined();
  });

  it('gives up on a reader that stalls', () => {
    let stall = false;
    const r = rig(SIZES, { pieceSize: 16, capacity: 40, readMax: 16, stall: () => stall });
    expect(copy(r.consumer.take(0, 0, 5))).toEqual(r.contents[0]);
    stall = true;
    const t = Date.now();
    expect(r.consumer.take(1, 0, 16)).toBeUndefined();
    expect(Date.now() - t).toBeLessThan(5000);
    expect(r.consumer.off).toBe(true);
    expect(r.stopped()).toBe(true);
    expect(r.consumer.take(2, 0, 16)).toBeUndefined();
  });

  it('waits for real with Atomics.wait when no wait is given, and stops at the stall limit', () => {
    const ring = new Uint8Array(new SharedArrayBuffer(64));
    const control = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
    control[Control.failed] = -1;
    let stopped = false;
    const consumer = new ReadAheadConsumer({
      ring,
      control,
      pieceSize: 16,
      count: 1,
      item: () => ({ blob: {} as Blob, offset: 0, size: 8 }),
      post: () => {},
      stop: () => {
        stopped = true;
      },
      stallMs: 150,
    });
    const t = performance.now();
    expect(consumer.take(0, 0, 8)).toBeUndefined();
    expect(performance.now() - t).toBeGreaterThanOrEqual(140);
    expect(stopped).toBe(true);
  });

  it('sends the reader items ahead in bounded messages', () => {
    const sizes = Array.from({ length: 5000 }, (_, i) => 1 + (i % 5));
    const f = files(sizes, 1000);
    const posts: number[] = [];
    const ring = new Uint8Array(new SharedArrayBuffer(64));
    const control = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
    const consumer = new ReadAheadConsumer({
      ring,
      control,
      pieceSize: 16,
      count: f.items.length,
      item: (i) => f.items[i],
      post: (items) => posts.push(items.length),
      stop: () => {},
      wait: () => 'timed-out',
      stallMs: 1,
    });
    // Sent before the first piece is asked for, and not again for the first pieces.
    consumer.start();
    const before = posts.length;
    expect(before).toBeGreaterThan(0);
    consumer.take(0, 0, 1);
    expect(posts.length).toBe(before);
    expect(posts.every((n) => n <= 512)).toBe(true);
    const sent = posts.reduce((a, b) => a + b, 0);
    expect(sent).toBeGreaterThanOrEqual(2048);
    expect(sent).toBeLessThan(2048 + 512);
  });
});
