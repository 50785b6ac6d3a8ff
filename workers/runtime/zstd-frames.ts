/**
 * zstd on every core: the input is cut into pieces of a size set by its size alone
 * ({@link framePieceFor}: a sixteenth of it in whole MiB, from {@link FRAME_PIECE_MIN}, 2 MiB,
 * to {@link FRAME_PIECE}, 32 MiB) and each piece becomes one independent zstd frame
 * (content size in its header, content checksum on), compressed by a pool of workers (Node worker threads, Web Workers)
 * or in the calling thread. The frames are concatenated in input order, so the output is
 * the same bytes whatever the number of workers, and plain `zstd -d` (or any decoder
 * reading concatenated frames) restores the input.
 *
 * Size: each frame starts without history, so whatever the previous 2 MiB (zstd -3's window)
 * would have matched costs again at every start. On mixed contents that was +0.15% against
 * native `zstd -3` with 4 MiB pieces, but data that repeats within the window throughout
 * (the bench's system workload: 5.6 GiB of binaries repeating one 64 KiB block) pays its
 * first copy once per frame: +5.5% with 4 MiB pieces. 32 MiB pieces pay it an eighth as
 * often. Memory: no piece is ever held whole: a worker is sent its piece a slice
 * ({@link FRAME_SLICE}, 1 MiB) at a time, read as it takes them, a few slices ahead (in
 * Node, a source in a host file is read by the worker itself, a slice at a time), and
 * writes its frame into a frame array (pages touched only as far as the frame goes). With
 * whole 32 MiB pieces in flight (one per worker plus one) the CLI's peak on the closure
 * workload was 342-350 MiB; fed by slices, 252-256 MiB (297 MiB with 4 MiB pieces). The
 * pool is at most {@link MAX_WORKERS} workers.
 *
 * Holes: a piece that is all zeros (a hole of the image store) is never read nor
 * compressed again: its frame, the same for every such piece of the same size and level,
 * is compressed once and reused.
 */
import type { ImageStore } from './image-store.ts';
import { instantiateZstd, ZstdError, type ZstdExports } from './zstd-stream.ts';
import { compileTool, toolGlueUrl } from './wasm-modules.ts';
import { nodeBuiltin } from '../../core/node-builtin.ts';

/** Bytes of input per frame of an input of 512 MiB or more. Changing it changes the output bytes. */
export const FRAME_PIECE = 32 * 1024 * 1024;

/** Smallest piece of an input cut into several. */
export const FRAME_PIECE_MIN = 2 * 1024 * 1024;

/**
 * Bytes of input per frame for an input of `size` bytes: a sixteenth of it in whole MiB,
 * at least {@link FRAME_PIECE_MIN} and at most {@link FRAME_PIECE}. A function of the size
 * alone: the output is the same bytes whatever the number of workers. Small images are cut
 * finely so that they are compressed on every core (a 27 MB image was one frame, compressed
 * by one worker while the others waited) and so that most of their pieces can be made ahead
 * (`frame-speculation.ts`): a piece holding a backup superblock is written again by the
 * shrink, and with quarters three of the bench's `small` image's four pieces held one. On
 * mixed contents the extra frame starts cost little: the bench's `small` image (27 MB) in
 * 2 MiB pieces was +0.06% against native `zstd -3` of the whole (+0.02% in quarters); data
 * that repeats one block throughout pays its first copy once per frame (64 KiB of random
 * bytes repeated to 32 MiB: 1.0 MB in 2 MiB pieces, 69 KB whole).
 */
export function framePieceFor(size: number): number {
  const part = Math.ceil(size / 16 / FRAME_SLICE) * FRAME_SLICE;
  return Math.min(FRAME_PIECE, Math.max(FRAME_PIECE_MIN, part));
}

/** An array's buffer that postMessage can move (not shared memory). */
function movable(b: ArrayBufferLike | undefined): b is ArrayBuffer {
  return b !== undefined && !(typeof SharedArrayBuffer === 'function' && b instanceof SharedArrayBuffer);
}

/** Largest frame of `size` bytes of input (ZSTD_COMPRESSBOUND). Self-contained: Node worker threads get it as source text. */
export function frameBound(size: number): number {
  return size + (size >>> 8) + (size < 131072 ? (131072 - size) >>> 11 : 0) + 64;
}

/** Largest frame of a full piece. */
const FRAME_BOUND = frameBound(FRAME_PIECE);

/** Most workers a pool starts: each holds a frame array and a few slices, and more do not pay off. */
const MAX_WORKERS = 4;

/** What {@link compressFrames} compresses: random access to its bytes, and where its holes are. */
export interface FrameSource {
  /** Bytes in all. */
  readonly size: number;
  /**
   * Fills `target` (at most {@link FRAME_SLICE} bytes) with the bytes at `offset` (all of them
   * lie within `size`). The pieces in flight are read side by side, so offsets interleave.
   */
  readInto(offset: number, target: Uint8Array): void;
  /** Whether `[offset, offset + length)` reads as zeros without being read (a hole). Optional. */
  isHole?(offset: number, length: number): boolean;
  /**
   * Node: an open host file holding exactly these bytes (zeros past its end), which the
   * worker threads read themselves instead of being sent the pieces. Optional.
   */
  readonly file?: { fd: number };
}

/**
 * An image store as a {@link FrameSource}: ranges that meet no allocated extent are holes; a
 * store in a host file (Node) is read by the workers from the file. Nothing may write to the
 * store while its frames are made.
 */
export function storeSource(store: ImageStore): FrameSource {
  const extents = [...store.extents()];
  let e = 0;
  return {
    size: store.size,
    file: store.hostFile?.(),
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
  /** Frames made before the call, taken where their piece's bytes have not changed since. Default none. */
  ahead?: FramesAhead;
}

/** Frames compressed ahead of {@link compressFrames} (`frame-speculation.ts`). */
export interface FramesAhead {
  /**
   * What there is of the frame of the `length` bytes at `offset` (pieces of `piece` bytes):
   * `made` (from the bytes the image holds now: {@link read} it), `making` (a worker is on it:
   * wait for {@link settled}), or undefined (compress it; a piece queued and not started is
   * given up). Asked once per piece, in order.
   */
  claim(offset: number, length: number, piece: number): 'made' | 'making' | undefined;
  /** Settles once the piece at `offset` claimed as `making` is made or given up. */
  settled(offset: number): Promise<void>;
  /**
   * The frame of the `length` bytes at `offset` (pieces of `piece` bytes) read into `target`
   * (a view of it), or undefined when it is not made: a piece made for another cut of the
   * image never answers for one of this cut, even at the same offset.
   */
  read(offset: number, length: number, piece: number, target: Uint8Array): Uint8Array | undefined;
}

/** Bytes of a piece handed to a worker at a time: a worker holds a few, never a whole piece. */
export const FRAME_SLICE = 1 << 20;

/** A frame being compressed on a zstd instance ({@link frameStart}, {@link frameFeed}). */
export interface FrameState {
  s: number;
  src: number;
  dst: number;
  /** Bytes of input still expected. */
  left: number;
  bound: number;
  total: number;
  target: Uint8Array | undefined;
  parts: Uint8Array[];
  /** Set after {@link frameStart}: the output goes here as zstd gives it (a view, valid during the call), not into `target` or `parts`. */
  sink?: (bytes: Uint8Array) => void;
}

/**
 * Starts one zstd frame of `size` bytes of input on the instance `z` (content size recorded,
 * checksum on), written into `out` when given and large enough (its buffer from offset 0),
 * else into new arrays. Feed it with {@link frameFeed}. Self-contained but for
 * {@link frameBound} (no closures, no inner functions): Node worker threads get both as
 * source text.
 */
export function frameStart(z: ZstdExports, size: number, level: number, out?: Uint8Array): FrameState {
  // Input and output through a MiB of the instance's memory each: a buffer of the piece or
  // of the frame's bound there would grow the instance by a piece's size for good.
  const bound = frameBound(size);
  const target = out && out.byteLength >= bound ? new Uint8Array(out.buffer, out.byteOffset, bound) : undefined;
  const s = z._zs_compressor_new(level, size) >>> 0;
  const src = z._malloc(1 << 20) >>> 0;
  const dst = z._malloc(1 << 20) >>> 0;
  if (!s || !src || !dst) {
    if (s) z._zs_compressor_free(s);
    if (src) z._free(src);
    if (dst) z._free(dst);
    throw new Error('zstd: out of memory');
  }
  return { s, src, dst, left: size, bound, total: 0, target, parts: [] };
}

/**
 * Compresses the next `slice` (at most 1 MiB) of the frame `st` started by {@link frameStart}
 * (or, given a length, that many bytes the caller put at `st.src` in the instance's memory);
 * the slice that completes its input ends the frame, frees the compressor and returns the
 * frame (a view of `out`, or a new array). zstd buffers its input, so the bytes do not depend
 * on how the input is cut. Frees the compressor on failure. Self-contained but for
 * {@link frameDrop}: Node worker threads get both as source text.
 */
export function frameFeed(z: ZstdExports, st: FrameState, slice: Uint8Array | number): Uint8Array | undefined {
  if (!st.s) throw new Error('zstd: no frame started');
  try {
    // A number: that many bytes already written at `st.src` (read there straight from a file).
    const n = typeof slice === 'number' ? slice : slice.length;
    if (n > 1 << 20 || n > st.left) throw new Error('zstd: more input than the frame was started for');
    st.left -= n;
    const last = st.left === 0;
    if (typeof slice !== 'number') z.HEAPU8.set(slice, st.src);
    let pos = 0;
    for (;;) {
      // ZS_CONTINUE (0) for all but the last input, then ZS_END (2) until it returns 0.
      const r = z._zs_compress(st.s, st.src + pos, n - pos, st.dst, 1 << 20, last ? 2 : 0);
      if (z._zs_is_error(r)) throw new Error(`zstd: ${z.UTF8ToString(z._zs_error_name(r) >>> 0)}`);
      pos += z._zs_in_pos(st.s) >>> 0;
      const got = z._zs_out_pos(st.s) >>> 0;
      if (got > 0) {
        if (st.total + got > st.bound) throw new Error('zstd: frame larger than its bound');
        if (st.sink) st.sink(z.HEAPU8.subarray(st.dst, st.dst + got));
        else if (st.target) st.target.set(z.HEAPU8.subarray(st.dst, st.dst + got), st.total);
        else st.parts.push(z.HEAPU8.slice(st.dst, st.dst + got));
        st.total += got;
      }
      if (last ? r === 0 : pos >= n) break;
    }
    if (!last) return undefined;
  } catch (e) {
    frameDrop(z, st);
    throw e;
  }
  frameDrop(z, st);
  if (st.sink) return new Uint8Array(0);
  if (st.target) return st.target.subarray(0, st.total);
  if (st.parts.length === 1) return st.parts[0];
  const frame = new Uint8Array(st.total);
  let at = 0;
  for (const p of st.parts) {
    frame.set(p, at);
    at += p.length;
  }
  return frame;
}

/** Frees the compressor of a frame that is done or given up (once; then `st.s` is 0). Self-contained. */
export function frameDrop(z: ZstdExports, st: FrameState): void {
  if (!st.s) return;
  z._zs_compressor_free(st.s);
  z._free(st.src);
  z._free(st.dst);
  st.s = 0;
}

/** Something that turns pieces into frames. */
interface FrameEncoder {
  readonly workers: number;
  /**
   * The frame of a piece of `length` bytes, written into `out` when it is large enough.
   * `fill(at, target)` reads the piece's bytes at `at` into `target`, a slice at a time
   * ({@link FRAME_SLICE}), as the compressor takes them: no one holds the whole piece.
   * `file`: where a worker thread may read the piece itself (Node), a slice at a time.
   */
  encode(length: number, fill: Fill, level: number, out?: Uint8Array, file?: FileRange): Promise<Uint8Array>;
  /** Stops every worker (running work is lost). */
  terminate(): void;
  /** Lets the host end while idle (Node). */
  idle(): void;
  /**
   * At most `count` pieces compressed at once from now on (a pool started with more workers
   * than a call asks for). Optional: an encoder of one thread needs none.
   */
  use?(count: number): void;
}

type Fill = (at: number, target: Uint8Array) => void;

/** A piece's bytes in an open host file: `fd` from `offset` (zeros past the file's end). */
interface FileRange {
  fd: number;
  offset: number;
}

/** Compresses in the calling thread, on one zstd instance. */
class InThreadEncoder implements FrameEncoder {
  readonly workers = 0;
  #z: Promise<ZstdExports> | undefined;
  #slice: Uint8Array | undefined;
  async encode(length: number, fill: Fill, level: number, out?: Uint8Array): Promise<Uint8Array> {
    this.#z ??= instantiateZstd();
    const z = await this.#z;
    this.#slice ??= new Uint8Array(FRAME_SLICE);
    const st = frameStart(z, length, level, out);
    try {
      let frame: Uint8Array | undefined;
      let at = 0;
      do {
        const slice = this.#slice.subarray(0, Math.min(FRAME_SLICE, length - at));
        fill(at, slice);
        frame = frameFeed(z, st, slice);
        at += slice.length;
      } while (!frame);
      return frame;
    } finally {
      frameDrop(z, st);
    }
  }
  terminate(): void {}
  idle(): void {}
}

interface PortLike {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  terminate(): unknown;
}

/**
 * What a worker is sent: `start` begins a frame, each `slice` is its next input (the one that
 * completes it ends the frame).
 */
interface WorkerRequest {
  /** With `file`, the worker reads the piece itself and is sent no slices. */
  start?: { size: number; level: number; out?: Uint8Array; file?: FileRange };
  slice?: Uint8Array;
}

/** What a worker answers: `ready` once started, then each slice back, the last one with the frame; or an error. */
interface WorkerReply {
  ready?: boolean;
  /** A piece compressed ahead ({@link PoolEncoder.ahead}) is settled: its state says how. */
  ahead?: number;
  /** The {@link AheadJob}'s batch. */
  batch?: number;
  /** A slice, compressed, moved back for reuse. */
  slice?: Uint8Array;
  frame?: Uint8Array;
  error?: string;
}

/**
 * States of a piece compressed ahead, in a shared array the queuing thread and the worker
 * both change (see `frame-speculation.ts`). QUEUED -> RUNNING (a worker took it) -> DONE or
 * FAILED. The queuing thread turns a QUEUED piece back to IDLE (its bytes changed before a
 * worker took it), or to CANCELLED when the final compression takes it over; and a RUNNING
 * one to CANCELLED, which its worker turns to IDLE once it has stopped writing. So a piece is
 * being written to its spool region only while RUNNING or CANCELLED, and may be queued again
 * in any other state, even before the worker's answer to the first queuing reaches the
 * queuing thread (which is busy running a tool meanwhile).
 */
export const AHEAD = { IDLE: 0, QUEUED: 1, RUNNING: 2, DONE: 3, CANCELLED: 4, FAILED: 5 } as const;

/** A piece to compress ahead, from a host file into a spool file ({@link PoolEncoder.ahead}). */
export interface AheadJob {
  size: number;
  level: number;
  file: FileRange;
  ahead: {
    /** Who queued it: answers go to the callback given with the batch's pieces. */
    batch: number;
    /** The piece's index in `state` and `lengths`. */
    piece: number;
    /** {@link AHEAD} per piece, on shared memory. */
    state: Int32Array;
    /** Where the worker puts the frame's length once done, on shared memory. */
    lengths: Float64Array;
    /** Where the frame goes: a host file (kept open until every piece queued is answered) and an offset in it. */
    spool: { fd: number; offset: number };
  };
}

/** Slices a worker may have been sent and not yet compressed: one compressing, the rest ready. */
const SLICES_AHEAD = 4;

interface Run {
  resolve: (frame: Uint8Array) => void;
  reject: (e: unknown) => void;
  /** Slices that may still be sent. */
  credits: number;
  wake?: () => void;
}

/** A pool of workers, each compressing one piece at a time, fed a slice at a time. */
class PoolEncoder implements FrameEncoder {
  readonly workers: number;
  #ports: PortLike[] = [];
  #free: number[] = [];
  #waiting: { length: number; fill: Fill; level: number; out?: Uint8Array; file?: FileRange; run: Run }[] = [];
  #running = new Map<number, Run>();
  #slices: Uint8Array[] = [];
  #shared: boolean;
  #ref: (busy: boolean) => void;
  #dead: unknown;
  /** Pieces queued with {@link ahead} and not yet answered, per worker. */
  #aheadPer: number[] = [];
  /** Per batch of {@link ahead}, what to call with each piece answered. */
  #aheadAnswers = new Map<number, (piece: number) => void>();

  /** Settles once every worker has its zstd instance (rejects if one could not start). */
  readonly ready: Promise<void>;
  #readyLeft: number;
  #readyResolve!: () => void;
  #readyReject!: (e: unknown) => void;

  constructor(
    count: number,
    spawn: (index: number, onMessage: (m: WorkerReply) => void, onError: (e: unknown) => void) => PortLike,
    options: { ref?: (busy: boolean) => void; shared?: boolean } = {},
  ) {
    this.workers = count;
    this.#active = count;
    this.#ref = options.ref ?? (() => {});
    // Node's worker threads see shared memory in place: moved arrays count as new external
    // memory where they arrive (see compressFrames). Pages move plain arrays.
    this.#shared = options.shared ?? false;
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

  /** Pieces compressed at once, at most (see {@link use}). */
  #active: number;

  use(count: number): void {
    this.#active = Math.max(1, Math.min(this.workers, count));
    this.#pump();
  }

  encode(length: number, fill: Fill, level: number, out?: Uint8Array, file?: FileRange): Promise<Uint8Array> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead);
    // Only Node's worker threads read files (the same process's descriptors).
    const from = this.#shared ? file : undefined;
    return new Promise((resolve, reject) => {
      this.#waiting.push({ length, fill, level, out, file: from, run: { resolve, reject, credits: SLICES_AHEAD } });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#free.length && this.#waiting.length && this.#running.size < this.#active) {
      // Workers with no pieces compressed ahead waiting go first (a worker takes those first).
      let at = 0;
      for (let j = 1; j < this.#free.length; j++)
        if ((this.#aheadPer[this.#free[j]] ?? 0) < (this.#aheadPer[this.#free[at]] ?? 0)) at = j;
      const i = this.#free.splice(at, 1)[0];
      const w = this.#waiting.shift()!;
      this.#running.set(i, w.run);
      this.#feed(i, w).catch((e) => this.#fail(e));
    }
    this.#ref(this.#busy());
  }

  /** Whether a worker has work: a piece fed, or one queued ahead. */
  #busy(): boolean {
    return this.#running.size > 0 || this.#aheadPer.some((n) => n > 0);
  }

  /**
   * Node: queues a piece to be compressed ahead from a host file into a spool file, on the
   * least busy of {@link aheadWorkers} (see `frame-speculation.ts`). A worker takes its
   * messages in order, so this may be called while this thread is inside a tool run: the
   * workers go on meanwhile.
   * False when the pool cannot take it (stopped, or not Node's threads).
   */
  ahead(job: AheadJob, answered: (piece: number) => void): boolean {
    if (this.#dead !== undefined || !this.#shared || this.#ports.length === 0) return false;
    // The worker with the fewest such pieces waiting.
    let i = 0;
    for (let j = 1; j < this.aheadWorkers; j++) if ((this.#aheadPer[j] ?? 0) < (this.#aheadPer[i] ?? 0)) i = j;
    this.#aheadPer[i] = (this.#aheadPer[i] ?? 0) + 1;
    this.#aheadAnswers.set(job.ahead.batch, answered);
    this.#ports[i].postMessage({ start: { size: job.size, level: job.level, file: job.file, ahead: job.ahead } }, []);
    this.#ref(true);
    return true;
  }

  /** Sends worker `i` a frame's start, then its input a slice at a time, as it takes them. */
  async #feed(
    i: number,
    w: { length: number; fill: Fill; level: number; out?: Uint8Array; file?: FileRange; run: Run },
  ) {
    const { length, fill, level, out, file, run } = w;
    const post = (m: WorkerRequest, transfer: (ArrayBufferLike | undefined)[]) =>
      this.#ports[i]?.postMessage(m, transfer.filter(movable));
    // The array for the frame moves to the worker, no copy: callers hand over arrays of their own.
    post({ start: { size: length, level, out, file } }, [out?.buffer]);
    // From a file, the worker reads the piece itself: it goes on while this thread is busy
    // (the second check runs here meanwhile), and no slice crosses.
    if (file) return;
    let at = 0;
    do {
      while (run.credits === 0) await new Promise<void>((wake) => (run.wake = wake));
      if (this.#dead !== undefined || this.#running.get(i) !== run) return;
      run.credits--;
      const n = Math.min(FRAME_SLICE, length - at);
      const buffer =
        this.#slices.pop() ??
        (this.#shared ? new Uint8Array(new SharedArrayBuffer(FRAME_SLICE)) : new Uint8Array(FRAME_SLICE));
      const slice = buffer.subarray(0, n);
      fill(at, slice);
      post({ slice }, [slice.buffer]);
      at += n;
    } while (at < length);
  }

  #done(i: number, m: WorkerReply): void {
    if (m.ahead !== undefined) {
      this.#aheadPer[i]--;
      this.#ref(this.#busy());
      this.#aheadAnswers.get(m.batch!)?.(m.ahead);
      return;
    }
    if (m.ready) {
      if (--this.#readyLeft === 0) {
        this.#readyResolve();
        this.#ref(this.#busy());
      }
      return;
    }
    if (this.#readyLeft > 0) {
      this.#fail(new ZstdError(m.error ?? 'zstd worker could not start'));
      return;
    }
    const run = this.#running.get(i);
    if (!run || m.error !== undefined || (!m.slice && !m.frame)) {
      // A worker fed part of a frame cannot take another: the pool stops (a later call starts a new one).
      this.#fail(new ZstdError(m.error ?? 'zstd worker failed'));
      return;
    }
    if (m.slice) {
      this.#slices.push(new Uint8Array(m.slice.buffer));
      run.credits++;
      const wake = run.wake;
      run.wake = undefined;
      wake?.();
    }
    if (m.frame) {
      this.#running.delete(i);
      this.#free.push(i);
      run.resolve(m.frame);
      this.#pump();
    }
  }

  #fail(e: unknown): void {
    if (this.#dead !== undefined) return;
    this.#dead = e instanceof Error ? e : new ZstdError(`zstd worker failed: ${String(e)}`);
    this.#readyReject(this.#dead);
    this.#stop();
  }

  #stop(): void {
    for (const run of this.#running.values()) {
      run.reject(this.#dead);
      run.wake?.();
    }
    for (const w of this.#waiting) w.run.reject(this.#dead);
    this.#running.clear();
    this.#waiting = [];
    for (const p of this.#ports) void p.terminate();
    this.#ports = [];
    this.#free = [];
    this.#slices = [];
    if (pool === this) pool = undefined;
  }

  terminate(): void {
    this.#dead ??= new ZstdError('zstd workers stopped');
    this.#stop();
  }

  idle(): void {
    this.#ref(this.#aheadPer.some((n) => n > 0));
  }

  /**
   * Workers that take pieces compressed ahead: one core stays the calling thread's, which
   * runs a tool meanwhile (with two cores, both workers compressing ahead made mke2fs 60%
   * slower and the build no faster).
   */
  get aheadWorkers(): number {
    return Math.max(1, Math.min(this.#ports.length, availableCores() - 1));
  }

  /** Drops a batch's callback (every piece it queued was answered, or the pool stopped). */
  forgetAhead(batch: number): void {
    this.#aheadAnswers.delete(batch);
  }

  /** Whether the pool has stopped (its queued pieces will not be answered). */
  get stopped(): boolean {
    return this.#dead !== undefined;
  }
}

type NodeWorkerThreads = typeof import('node:worker_threads');
type NodeOs = typeof import('node:os');

/** Source of a Node worker thread: imports the loader, instantiates the module it is given. */
function nodeWorkerSource(): string {
  return `'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { readSync, writeSync } = require('node:fs');
const frameBound = ${frameBound.toString()};
const frameStart = ${frameStart.toString()};
const frameFeed = ${frameFeed.toString()};
const frameDrop = ${frameDrop.toString()};
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
let st;
// The next slice of a frame's piece from the file, read straight into the instance's input
// buffer (HEAPU8 afresh: memory may have grown); past the file's end, zeros.
function fillFromFile(z, st, fd, position, n) {
  const heap = z.HEAPU8;
  let got = 0;
  while (got < n) {
    const r = readSync(fd, heap, st.src + got, n - got, position + got);
    if (r === 0) break;
    got += r;
  }
  heap.fill(0, st.src + got, st.src + n);
}
// A piece compressed ahead (frame-speculation.ts): from the image file into its place in the
// spool file. Its state (shared with the thread that queued it) goes QUEUED -> RUNNING ->
// DONE, unless that thread marks it CANCELLED (its bytes changed): then it stops at the next
// slice and says so (IDLE), after which the piece may be queued again. A message whose piece
// is not QUEUED does nothing (taken by an earlier message for the same piece, or unqueued).
// The frame goes to the spool straight from the instance's memory as zstd gives it: never
// held whole, and no array made per part (a piece's parts as new arrays, collected late in a
// worker, took the build's peak 35 MiB higher).
function compressAhead(z, job) {
  const { piece, state, lengths, spool } = job.ahead;
  if (Atomics.compareExchange(state, piece, ${AHEAD.QUEUED}, ${AHEAD.RUNNING}) !== ${AHEAD.QUEUED}) return;
  const ahead = frameStart(z, job.size, job.level);
  let written = 0;
  ahead.sink = (bytes) => {
    for (let done = 0; done < bytes.length; )
      done += writeSync(spool.fd, bytes, done, bytes.length - done, spool.offset + written + done);
    written += bytes.length;
  };
  try {
    let frame;
    for (let at = 0; !frame; ) {
      if (Atomics.load(state, piece) !== ${AHEAD.RUNNING}) {
        Atomics.compareExchange(state, piece, ${AHEAD.CANCELLED}, ${AHEAD.IDLE});
        return;
      }
      const n = Math.min(${FRAME_SLICE}, job.size - at);
      fillFromFile(z, ahead, job.file.fd, job.file.offset + at, n);
      frame = frameFeed(z, ahead, n);
      at += n;
    }
    if (written !== ahead.total) throw new Error('zstd: frame written short');
    lengths[piece] = written;
    if (Atomics.compareExchange(state, piece, ${AHEAD.RUNNING}, ${AHEAD.DONE}) !== ${AHEAD.RUNNING})
      Atomics.compareExchange(state, piece, ${AHEAD.CANCELLED}, ${AHEAD.IDLE});
  } catch {
    if (Atomics.compareExchange(state, piece, ${AHEAD.RUNNING}, ${AHEAD.FAILED}) !== ${AHEAD.RUNNING})
      Atomics.compareExchange(state, piece, ${AHEAD.CANCELLED}, ${AHEAD.IDLE});
  } finally {
    frameDrop(z, ahead);
  }
}
parentPort.on('message', ({ start, slice }) => {
  ready.then((z) => {
    if (start && start.ahead) {
      try {
        compressAhead(z, start);
      } finally {
        parentPort.postMessage({ ahead: start.ahead.piece, batch: start.ahead.batch });
      }
      return;
    }
    if (start && start.file) {
      // The piece from the file, a slice at a time.
      if (st) frameDrop(z, st);
      st = frameStart(z, start.size, start.level, start.out);
      const { fd, offset } = start.file;
      let frame;
      for (let at = 0; !frame; ) {
        const n = Math.min(${FRAME_SLICE}, start.size - at);
        fillFromFile(z, st, fd, offset + at, n);
        frame = frameFeed(z, st, n);
        at += n;
      }
      parentPort.postMessage({ frame }, [frame.buffer].filter((b) => !(b instanceof SharedArrayBuffer)));
      return;
    }
    if (start) {
      if (st) frameDrop(z, st);
      st = frameStart(z, start.size, start.level, start.out);
      return;
    }
    const frame = frameFeed(z, st, slice);
    parentPort.postMessage({ slice, frame }, [slice.buffer, frame && frame.buffer].filter((b) => b && !(b instanceof SharedArrayBuffer)));
  }).catch((e) => parentPort.postMessage({ error: String((e && e.message) || e) }));
});
`;
}

/** Cores of this host. */
export function availableCores(): number {
  const os = nodeBuiltin<NodeOs>('node:os');
  if (os) return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  return Math.max(1, nav?.hardwareConcurrency ?? 1);
}

/** Why the last pool could not start (diagnostics). */
export let lastPoolError: unknown;

/** The pool kept between calls (compiled module and started workers reused). */
let pool: PoolEncoder | undefined;

/** A pool being started (the module compiling), so two callers start one pool. */
let starting: { count: number; pool: Promise<FrameEncoder> } | undefined;

function startPool(count: number): Promise<FrameEncoder> {
  // A pool of more workers serves as well (the output is the same bytes with any number): the
  // page starts one per core with its engine, before any image size is known.
  if (pool && pool.workers >= count) return Promise.resolve(pool);
  if (starting === undefined || starting.count < count) {
    const p = newPool(count);
    const entry = { count, pool: p };
    starting = entry;
    const done = () => {
      if (starting === entry) starting = undefined;
    };
    p.then(done, done);
  }
  return starting.pool;
}

/** Pools started since this module was loaded (diagnostics: a pool started ahead is the one used). */
let poolStarts = 0;

/** How many worker pools have been started (see {@link prestartFrameWorkers}). */
export function framePoolsStarted(): number {
  return poolStarts;
}

async function newPool(count: number): Promise<FrameEncoder> {
  pool?.terminate();
  poolStarts++;
  const wasmModule = await compileTool('zstd');
  const threads = nodeBuiltin<NodeWorkerThreads>('node:worker_threads');
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
      {
        // Idle workers must not keep the process alive.
        ref: (busy) => {
          for (const w of started)
            if (busy) w.ref();
            else w.unref();
        },
        shared: typeof SharedArrayBuffer === 'function',
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

function poolSize(workers: number | undefined): number {
  const count = Math.min(MAX_WORKERS, workers ?? (availableCores() > 1 ? availableCores() : 0));
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`bad worker count ${workers}`);
  return count;
}

/**
 * The workers worth starting to compress an image of about `bytes`: one per piece
 * ({@link framePieceFor}), at most `workers` (default one per core, as {@link compressFrames}).
 * A worker beyond the pieces would only start (0.1 s of CPU) and stay idle; the output is
 * the same bytes with any number. At least 1 unless `workers` is 0.
 */
export function frameWorkersFor(bytes: number, workers?: number): number {
  return Math.min(poolSize(workers), Math.max(1, Math.ceil(bytes / framePieceFor(bytes))));
}

/**
 * Starts the pool {@link compressFrames} will use with the same `workers` (kept for later
 * calls), without waiting: a worker takes about 0.1 s to start (Node's start-up in the
 * thread, the zstd module's instance), which otherwise comes before the first frame. The
 * pipeline calls it when a build starts, so the workers start while the image is made (and
 * the page's engine when it starts, one per core). A pool that cannot start is left for
 * `compressFrames` to meet (it then compresses in the calling thread). Resolves once the
 * workers are ready or could not start; never rejects.
 */
export function prestartFrameWorkers(workers?: number): Promise<void> {
  const count = poolSize(workers);
  if (count === 0) return Promise.resolve();
  return startPool(count)
    .then((p) => (p instanceof PoolEncoder ? p.ready : undefined))
    .then(
      () => {},
      () => {},
    );
}

/** What `frame-speculation.ts` needs of the worker pool. */
export interface AheadPool {
  readonly workers: number;
  readonly aheadWorkers: number;
  readonly stopped: boolean;
  ahead(job: AheadJob, answered: (piece: number) => void): boolean;
  forgetAhead(batch: number): void;
}

/**
 * Node: the pool {@link compressFrames} uses with `workers` (started if need be), for pieces
 * compressed ahead; undefined where the pool is not Node's worker threads or cannot start.
 */
export async function aheadPool(workers?: number): Promise<AheadPool | undefined> {
  const count = poolSize(workers);
  if (count === 0 || !nodeBuiltin<NodeWorkerThreads>('node:worker_threads')) return undefined;
  try {
    const p = await startPool(count);
    return p instanceof PoolEncoder && typeof SharedArrayBuffer === 'function' ? p : undefined;
  } catch {
    return undefined;
  }
}

async function encoderFor(workers: number | undefined): Promise<FrameEncoder> {
  const count = poolSize(workers);
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
 * Compresses `source` into concatenated frames of {@link framePieceFor} its size bytes of input each,
 * in order, with up to one piece per worker plus two in flight (one waiting while the
 * consumer holds a frame). Each piece is read a
 * slice at a time as its worker takes it, never whole; the slices and the frames' arrays are
 * reused (moved to a worker and back), so memory stays at a few frames whatever the size,
 * and no new array is made per piece: in Node, 2.5 MB of new arrays per
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
  // A kept pool may have more workers than asked for (the page's, started one per core).
  const using = encoder.workers > 0 ? Math.min(encoder.workers, poolSize(options.workers)) : 0;
  encoder.use?.(using);
  const zeroFrames = new Map<number, Promise<Uint8Array>>();
  const zeroFrameSet = new WeakSet<Uint8Array>();
  const freeFrames: Uint8Array[] = [];
  // Node's worker threads get the slices and frame arrays in shared memory: a moved array
  // counts as new external memory in the thread it arrives in, and with 32 MiB pieces the
  // calling thread ran a full garbage collection of its heap for nearly every piece (119
  // on the system workload, 200 MB each). Pages and the calling thread move plain arrays.
  const shared =
    encoder.workers > 0 &&
    typeof SharedArrayBuffer === 'function' &&
    nodeBuiltin<NodeWorkerThreads>('node:worker_threads') !== undefined;
  const array = (n: number): Uint8Array => (shared ? new Uint8Array(new SharedArrayBuffer(n)) : new Uint8Array(n));
  // Pieces asked for, in order: a frame being made (it counts towards the limit below), or
  // one made ahead, read when its turn comes.
  type InFlight = { frame: Promise<Uint8Array> } | { later: () => Promise<Uint8Array> };
  const inFlight: InFlight[] = [];
  const making = () => {
    let n = 0;
    for (const f of inFlight) if ('frame' in f) n++;
    return n;
  };
  const next = (): Promise<Uint8Array> => {
    const f = inFlight.shift()!;
    return 'frame' in f ? f.frame : f.later();
  };
  // With workers, two pieces beyond one per worker: while the consumer holds a frame (the
  // CLI's write to a disk that stalls, 0.1-0.15 s per 20 MB seen on a VM; the page waiting
  // for its hashing worker), a worker that finishes finds the next piece waiting instead of
  // idling until the consumer is back.
  // A frame made ahead is read into an array of its own when its turn comes: one piece
  // fewer in the making then, so that no more arrays are held than without.
  const limit = (using > 0 ? using + 2 : 2) - (options.ahead ? 1 : 0);
  const ahead = options.ahead;
  const frameAt = (offset: number, length: number, piece: number): InFlight => {
    if (source.isHole?.(offset, length)) {
      let zero = zeroFrames.get(length);
      if (!zero) {
        zero = encoder
          .encode(length, (_at, target) => target.fill(0), level)
          .then((frame) => {
            zeroFrameSet.add(frame);
            return frame;
          });
        zeroFrames.set(length, zero);
      }
      return { frame: zero };
    }
    // Read a slice at a time as the compressor takes it: the piece is never held whole.
    const fill = (at: number, target: Uint8Array) => source.readInto(offset + at, target);
    const file = source.file ? { fd: source.file.fd, offset } : undefined;
    const encode = (out = freeFrames.pop() ?? array(FRAME_BOUND)): Promise<Uint8Array> =>
      encoder.encode(length, fill, level, out, file);
    const made = ahead?.claim(offset, length, piece);
    if (!made) return { frame: encode() };
    // Made ahead (or being made): read from the spool when its turn comes, holding no worker
    // meanwhile; compressed here after all if it is not there then.
    const take = (): Promise<Uint8Array> => {
      const out = freeFrames.pop() ?? array(FRAME_BOUND);
      const frame = ahead!.read(offset, length, piece, out);
      return frame ? Promise.resolve(frame) : encode(out);
    };
    return made === 'made' ? { later: take } : { frame: ahead!.settled(offset).then(take) };
  };
  // A yielded frame's array, once the consumer asks for the next one, takes a later frame
  // (unless it is a hole's frame, or was moved away, e.g. transferred by the consumer).
  const recycle = (frame: Uint8Array): void => {
    if (frame.buffer.byteLength === FRAME_BOUND && !zeroFrameSet.has(frame))
      freeFrames.push(new Uint8Array(frame.buffer as ArrayBuffer));
  };
  let ok = false;
  try {
    const piece = framePieceFor(source.size);
    for (let offset = 0; offset < source.size; offset += piece) {
      signal?.throwIfAborted();
      const f = frameAt(offset, Math.min(piece, source.size - offset), piece);
      if ('frame' in f) f.frame.catch(() => {}); // awaited below, in order
      inFlight.push(f);
      while (inFlight.length > 0 && making() >= limit) {
        const frame = await next();
        yield frame;
        recycle(frame);
      }
    }
    while (inFlight.length) {
      signal?.throwIfAborted();
      const frame = await next();
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
  starting = undefined;
}
