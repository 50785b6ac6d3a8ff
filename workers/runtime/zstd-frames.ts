/**
 * zstd on every core: the input is cut into pieces of a fixed size ({@link FRAME_PIECE},
 * 32 MiB) and each piece becomes one independent zstd frame (content size in its header,
 * content checksum on), compressed by a pool of workers (Node worker threads, Web Workers)
 * or in the calling thread. The frames are concatenated in input order, so the output is
 * the same bytes whatever the number of workers, and plain `zstd -d` (or any decoder
 * reading concatenated frames) restores the input.
 *
 * Size: each frame starts without history, so whatever the previous 2 MiB (zstd -3's window)
 * would have matched costs again at every start. On mixed contents that was +0.15% against
 * native `zstd -3` with 4 MiB pieces, but data that repeats within the window throughout
 * (the bench's system workload: 5.6 GiB of binaries repeating one 64 KiB block) pays its
 * first copy once per frame: +5.5% with 4 MiB pieces. 32 MiB pieces pay it an eighth as
 * often. Memory: one piece and one frame array per worker plus one, so the pool is at
 * most {@link MAX_WORKERS} workers.
 *
 * Holes: a piece that is all zeros (a hole of the image store) is never read nor
 * compressed again: its frame, the same for every such piece of the same size and level,
 * is compressed once and reused.
 */
import type { ImageStore } from './image-store.ts';
import { instantiateZstd, ZstdError, type ZstdExports } from './zstd-stream.ts';
import { compileTool, toolGlueUrl } from './wasm-modules.ts';

/** Bytes of input per frame. Fixed: changing it changes the output bytes. */
export const FRAME_PIECE = 32 * 1024 * 1024;

/** An array's buffer that postMessage can move (not shared memory). */
function movable(b: ArrayBufferLike | undefined): b is ArrayBuffer {
  return b !== undefined && !(typeof SharedArrayBuffer === 'function' && b instanceof SharedArrayBuffer);
}

/** Largest frame of a full piece (ZSTD_COMPRESSBOUND, as in {@link encodeFrame}). */
const FRAME_BOUND = FRAME_PIECE + (FRAME_PIECE >>> 8) + 64;

/** Most workers a pool starts: each holds a piece and a frame array (64 MiB), and more do not pay off. */
const MAX_WORKERS = 4;

/** What {@link compressFrames} compresses: random access to its bytes, and where its holes are. */
export interface FrameSource {
  /** Bytes in all. */
  readonly size: number;
  /** Fills `target` with the bytes at `offset` (all of them lie within `size`). */
  readInto(offset: number, target: Uint8Array): void;
  /** Whether `[offset, offset + length)` reads as zeros without being read (a hole). Optional. */
  isHole?(offset: number, length: number): boolean;
}

/** An image store as a {@link FrameSource}: ranges that meet no allocated extent are holes. */
export function storeSource(store: ImageStore): FrameSource {
  const extents = [...store.extents()];
  let e = 0;
  return {
    size: store.size,
    readInto: (offset, target) => void store.readInto(offset, target),
    isHole(offset, length) {
      // Asked in ascending order: move forward; start over when asked behind.
      if (e > 0 && extents[e - 1].offset + extents[e - 1].length > offset) e = 0;
      while (e < extents.length && extents[e].offset + extents[e].length <= offset) e++;
      return e >= extents.length || extents[e].offset >= offset + length;
    },
  };
}

/** Options of {@link compressFrames}. */
export interface FrameOptions {
  /** zstd level. Default 3. */
  level?: number;
  /**
   * Workers compressing at once: 0 compresses in the calling thread; default: one per
   * core (`os.availableParallelism()` in Node, `navigator.hardwareConcurrency` in browsers),
   * at most 4, or 0 on a single core or where workers cannot be started.
   */
  workers?: number;
  signal?: AbortSignal;
}

/**
 * Compresses `piece` into one zstd frame on the instance `z` (content size recorded,
 * checksum on), copied into `out` when given and large enough (its buffer from offset 0;
 * the result is then a view of it), else into a new array. Self-contained (no closures, no
 * inner functions): Node worker threads get it as source text.
 */
export function encodeFrame(z: ZstdExports, piece: Uint8Array, level: number, out?: Uint8Array): Uint8Array {
  const inCap = 1 << 20;
  // Output through a MiB of the instance's memory, copied out as it fills: a buffer of the
  // frame's bound there would grow the instance by a piece's size for good.
  const n0 = piece.length;
  const outCap = 1 << 20;
  const bound = n0 + (n0 >>> 8) + (n0 < 131072 ? (131072 - n0) >>> 11 : 0) + 64;
  const target = out && out.byteLength >= bound ? new Uint8Array(out.buffer, out.byteOffset, bound) : undefined;
  const parts: Uint8Array[] = [];
  const s = z._zs_compressor_new(level, n0) >>> 0;
  const src = z._malloc(inCap) >>> 0;
  const dst = z._malloc(outCap) >>> 0;
  let total = 0;
  try {
    if (!s || !src || !dst) throw new Error('zstd: out of memory');
    let off = 0;
    let done = false;
    while (!done) {
      const n = Math.min(inCap, n0 - off);
      const last = off + n >= n0;
      z.HEAPU8.set(piece.subarray(off, off + n), src);
      let pos = 0;
      for (;;) {
        // ZS_CONTINUE (0) for all but the last input, then ZS_END (2) until it returns 0.
        const r = z._zs_compress(s, src + pos, n - pos, dst, outCap, last ? 2 : 0);
        if (z._zs_is_error(r)) throw new Error(`zstd: ${z.UTF8ToString(z._zs_error_name(r) >>> 0)}`);
        pos += z._zs_in_pos(s) >>> 0;
        const got = z._zs_out_pos(s) >>> 0;
        if (got > 0) {
          if (total + got > bound) throw new Error('zstd: frame larger than its bound');
          if (target) target.set(z.HEAPU8.subarray(dst, dst + got), total);
          else parts.push(z.HEAPU8.slice(dst, dst + got));
          total += got;
        }
        if (last ? r === 0 : pos >= n) break;
      }
      off += n;
      done = last;
    }
    if (target) return target.subarray(0, total);
    if (parts.length === 1) return parts[0];
    const frame = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      frame.set(p, at);
      at += p.length;
    }
    return frame;
  } finally {
    if (s) z._zs_compressor_free(s);
    if (src) z._free(src);
    if (dst) z._free(dst);
  }
}

/** Something that turns pieces into frames. */
interface FrameEncoder {
  readonly workers: number;
  /**
   * The frame of `piece`, written into `out` when it is large enough, and `piece` itself
   * back (moved to a worker and returned), for reuse.
   */
  encode(piece: Uint8Array, level: number, out?: Uint8Array): Promise<Encoded>;
  /** Stops every worker (running work is lost). */
  terminate(): void;
  /** Lets the host end while idle (Node). */
  idle(): void;
}

interface Encoded {
  frame: Uint8Array;
  piece: Uint8Array;
}

/** Compresses in the calling thread, on one zstd instance. */
class InThreadEncoder implements FrameEncoder {
  readonly workers = 0;
  #z: Promise<ZstdExports> | undefined;
  async encode(piece: Uint8Array, level: number, out?: Uint8Array): Promise<Encoded> {
    this.#z ??= instantiateZstd();
    return { frame: encodeFrame(await this.#z, piece, level, out), piece };
  }
  terminate(): void {}
  idle(): void {}
}

interface PortLike {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  terminate(): unknown;
}

/** What a worker answers: `ready` once started, then a frame or an error per piece. */
interface WorkerReply {
  ready?: boolean;
  frame?: Uint8Array;
  /** The piece, moved back for reuse. */
  piece?: Uint8Array;
  error?: string;
}

interface Job {
  resolve: (done: Encoded) => void;
  reject: (e: unknown) => void;
}

/** A pool of workers, each compressing one piece at a time. */
class PoolEncoder implements FrameEncoder {
  readonly workers: number;
  #ports: PortLike[] = [];
  #free: number[] = [];
  #waiting: { piece: Uint8Array; level: number; out?: Uint8Array; job: Job }[] = [];
  #running = new Map<number, Job>();
  #ref: (busy: boolean) => void;
  #dead: unknown;

  /** Settles once every worker has its zstd instance (rejects if one could not start). */
  readonly ready: Promise<void>;
  #readyLeft: number;
  #readyResolve!: () => void;
  #readyReject!: (e: unknown) => void;

  constructor(
    count: number,
    spawn: (index: number, onMessage: (m: WorkerReply) => void, onError: (e: unknown) => void) => PortLike,
    ref: (busy: boolean) => void = () => {},
  ) {
    this.workers = count;
    this.#ref = ref;
    this.#readyLeft = count;
    this.ready = new Promise((resolve, reject) => {
      this.#readyResolve = resolve;
      this.#readyReject = reject;
    });
    this.ready.catch(() => {});
    for (let i = 0; i < count; i++) {
      this.#ports.push(
        spawn(
          i,
          (m) => this.#done(i, m),
          (e) => this.#fail(e),
        ),
      );
      this.#free.push(i);
    }
  }

  encode(piece: Uint8Array, level: number, out?: Uint8Array): Promise<Encoded> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ piece, level, out, job: { resolve, reject } });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#free.length && this.#waiting.length) {
      const i = this.#free.shift()!;
      const { piece, level, out, job } = this.#waiting.shift()!;
      this.#running.set(i, job);
      // The piece (and the array for the frame) move to the worker, no copy: callers hand
      // over arrays of their own.
      // Shared memory (Node) is not moved: both threads see it.
      const transfer = [piece.buffer, out?.buffer].filter(movable);
      this.#ports[i].postMessage({ piece, level, out }, transfer);
    }
    this.#ref(this.#running.size > 0);
  }

  #done(i: number, m: WorkerReply): void {
    if (m.ready) {
      if (--this.#readyLeft === 0) {
        this.#readyResolve();
        this.#ref(this.#running.size > 0);
      }
      return;
    }
    if (this.#readyLeft > 0) {
      this.#fail(new ZstdError(m.error ?? 'zstd worker could not start'));
      return;
    }
    const job = this.#running.get(i);
    this.#running.delete(i);
    this.#free.push(i);
    if (job) {
      if (m.frame && m.piece) job.resolve({ frame: m.frame, piece: m.piece });
      else job.reject(new ZstdError(m.error ?? 'zstd worker failed'));
    }
    this.#pump();
  }

  #fail(e: unknown): void {
    this.#dead = e instanceof Error ? e : new ZstdError(`zstd worker failed: ${String(e)}`);
    this.#readyReject(this.#dead);
    for (const job of this.#running.values()) job.reject(this.#dead);
    for (const w of this.#waiting) w.job.reject(this.#dead);
    this.#running.clear();
    this.#waiting = [];
    this.terminate();
  }

  terminate(): void {
    for (const p of this.#ports) void p.terminate();
    this.#ports = [];
    this.#free = [];
    this.#dead ??= new ZstdError('zstd workers stopped');
    if (pool === this) pool = undefined;
  }

  idle(): void {
    this.#ref(false);
  }
}

type NodeWorkerThreads = typeof import('node:worker_threads');
type NodeOs = typeof import('node:os');

function nodeModule<T>(id: string): T | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return proc?.getBuiltinModule?.(id) as T | undefined;
}

/** Source of a Node worker thread: imports the loader, instantiates the module it is given. */
function nodeWorkerSource(): string {
  return `'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const encodeFrame = ${encodeFrame.toString()};
const ready = import(workerData.glue).then((m) =>
  m.default({
    noInitialRun: true,
    print() {},
    printErr() {},
    quit(status, toThrow) { throw toThrow; },
    instantiateWasm(imports, receive) {
      WebAssembly.instantiate(workerData.module, imports).then((i) => receive(i, workerData.module));
      return {};
    },
  }),
);
ready.then(() => parentPort.postMessage({ ready: true }), (e) => parentPort.postMessage({ error: String((e && e.message) || e) }));
parentPort.on('message', ({ piece, level, out }) => {
  ready.then((z) => {
    const frame = encodeFrame(z, piece, level, out);
    parentPort.postMessage({ frame, piece }, [frame.buffer, piece.buffer].filter((b) => !(b instanceof SharedArrayBuffer)));
  }).catch((e) => parentPort.postMessage({ error: String((e && e.message) || e) }));
});
`;
}

/** Cores of this host. */
export function availableCores(): number {
  const os = nodeModule<NodeOs>('node:os');
  if (os) return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  return Math.max(1, nav?.hardwareConcurrency ?? 1);
}

/** Why the last pool could not start (diagnostics). */
export let lastPoolError: unknown;

/** The pool kept between calls (compiled module and started workers reused). */
let pool: PoolEncoder | undefined;

async function startPool(count: number): Promise<FrameEncoder> {
  if (pool && pool.workers === count) return pool;
  pool?.terminate();
  const wasmModule = await compileTool('zstd');
  const threads = nodeModule<NodeWorkerThreads>('node:worker_threads');
  if (threads) {
    const source = nodeWorkerSource();
    const glue = toolGlueUrl('zstd').href;
    const started: import('node:worker_threads').Worker[] = [];
    pool = new PoolEncoder(
      count,
      (_i, onMessage, onError) => {
        const w = new threads.Worker(source, {
          eval: true,
          workerData: { glue, module: wasmModule },
          resourceLimits: { maxYoungGenerationSizeMb: 4 },
        });
        w.on('message', onMessage);
        w.on('error', onError);
        started.push(w);
        return w;
      },
      // Idle workers must not keep the process alive.
      (busy) => {
        for (const w of started)
          if (busy) w.ref();
          else w.unref();
      },
    );
    return pool;
  }
  if (typeof (globalThis as { Worker?: unknown }).Worker !== 'function') return new InThreadEncoder();
  pool = new PoolEncoder(count, (_i, onMessage, onError) => {
    // Written out as \`new Worker(new URL(...))\` so that bundlers emit the worker's script.
    const w = new Worker(new URL('./zstd-frame-worker.ts', import.meta.url), { type: 'module' });
    w.onmessage = (e: MessageEvent) => onMessage(e.data as WorkerReply);
    w.onerror = (e) => onError(new ZstdError(`zstd worker failed: ${e.message || 'could not start'}`));
    w.postMessage({ module: wasmModule });
    return w;
  });
  return pool;
}

async function encoderFor(workers: number | undefined): Promise<FrameEncoder> {
  const count = Math.min(MAX_WORKERS, workers ?? (availableCores() > 1 ? availableCores() : 0));
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`bad worker count ${workers}`);
  if (count === 0) return new InThreadEncoder();
  try {
    const p = await startPool(count);
    if (p instanceof PoolEncoder) await p.ready;
    return p;
  } catch (e) {
    lastPoolError = e;
    // Workers cannot start here (no worker support, a blocked script): the calling thread
    // compresses, to the same bytes.
    pool?.terminate();
    return new InThreadEncoder();
  }
}

/**
 * Compresses `source` into concatenated frames of {@link FRAME_PIECE} bytes of input each,
 * in order, with up to one piece per worker (plus one) in flight. The pieces' buffers and
 * the frames' are reused (moved to a worker and back), so memory stays at a few pieces
 * whatever the size, and no new array is made per piece: in Node, 2.5 MB of new arrays per
 * frame made the calling thread collect garbage (a full collection of its heap) every few
 * frames. Yielded frames are read-only and valid until the next one is asked for (their
 * arrays take the next frames; a hole's frame is yielded again for the next hole): copy
 * what must be kept.
 */
export async function* compressFrames(
  source: FrameSource,
  options: FrameOptions = {},
): AsyncIterableIterator<Uint8Array> {
  const level = options.level ?? 3;
  if (!Number.isInteger(level) || level < -7 || level > 22)
    throw new RangeError(`zstd level must be an integer up to 22, got ${level}`);
  const { signal } = options;
  signal?.throwIfAborted();
  const encoder = await encoderFor(options.workers);
  const zeroFrames = new Map<number, Promise<Uint8Array>>();
  const zeroFrameSet = new WeakSet<Uint8Array>();
  const free: Uint8Array[] = [];
  const freeFrames: Uint8Array[] = [];
  // Node's worker threads get the pieces and frame arrays in shared memory: a moved array
  // counts as new external memory in the thread it arrives in, and with 32 MiB pieces the
  // calling thread ran a full garbage collection of its heap for nearly every piece (119
  // on the system workload, 200 MB each). Pages and the calling thread move plain arrays.
  const shared =
    encoder.workers > 0 &&
    typeof SharedArrayBuffer === 'function' &&
    nodeModule<NodeWorkerThreads>('node:worker_threads') !== undefined;
  const array = (n: number): Uint8Array => (shared ? new Uint8Array(new SharedArrayBuffer(n)) : new Uint8Array(n));
  const inFlight: Promise<Uint8Array>[] = [];
  const limit = Math.max(1, encoder.workers) + 1;
  const frameAt = (offset: number, length: number): Promise<Uint8Array> => {
    if (source.isHole?.(offset, length)) {
      let zero = zeroFrames.get(length);
      if (!zero) {
        zero = encoder.encode(new Uint8Array(length), level).then((e) => {
          zeroFrameSet.add(e.frame);
          return e.frame;
        });
        zeroFrames.set(length, zero);
      }
      return zero;
    }
    const buffer = free.pop() ?? array(FRAME_PIECE);
    const piece = length === buffer.length ? buffer : buffer.subarray(0, length);
    source.readInto(offset, piece);
    return encoder.encode(piece, level, freeFrames.pop() ?? array(FRAME_BOUND)).then(({ frame, piece: back }) => {
      free.push(new Uint8Array(back.buffer));
      return frame;
    });
  };
  // A yielded frame's array, once the consumer asks for the next one, takes a later frame
  // (unless it is a hole's frame, or was moved away, e.g. transferred by the consumer).
  const recycle = (frame: Uint8Array): void => {
    if (frame.buffer.byteLength === FRAME_BOUND && !zeroFrameSet.has(frame))
      freeFrames.push(new Uint8Array(frame.buffer as ArrayBuffer));
  };
  let ok = false;
  try {
    for (let offset = 0; offset < source.size; offset += FRAME_PIECE) {
      signal?.throwIfAborted();
      const p = frameAt(offset, Math.min(FRAME_PIECE, source.size - offset));
      p.catch(() => {}); // awaited below, in order
      inFlight.push(p);
      if (inFlight.length >= limit) {
        const frame = await inFlight.shift()!;
        yield frame;
        recycle(frame);
      }
    }
    while (inFlight.length) {
      signal?.throwIfAborted();
      const frame = await inFlight.shift()!;
      yield frame;
      recycle(frame);
    }
    ok = true;
  } finally {
    // Aborted or failed: really stop the workers' work (a later call starts new ones).
    if (!ok && inFlight.length) encoder.terminate();
    else encoder.idle();
  }
}

/** Workers of the kept pool that have started (0 when the calling thread compresses). */
export function frameWorkersStarted(): number {
  return pool?.workers ?? 0;
}

/** Stops the kept worker pool (tests; a page that wants its threads back). */
export function stopFrameWorkers(): void {
  pool?.terminate();
  pool = undefined;
}
