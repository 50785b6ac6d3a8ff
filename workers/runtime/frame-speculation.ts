/**
 * Compression ahead of the image's last change (Node). The image is final only after the
 * shrink, but most of it much earlier: mke2fs -d writes file data front to back, and
 * `resize2fs -M` changes the first piece (superblock, group descriptors, bitmaps, inode
 * tables with flex_bg), the pieces that hold backup superblocks, and the tail. While the
 * build's thread runs mke2fs, the first check and the shrink, the compression workers (on
 * the other cores) compress the pieces that look final, reading the image file themselves,
 * into a spool file; `compressFrames` then takes each frame whose piece has not changed
 * since it was queued, and compresses the others as before.
 *
 * Nothing here can change the output: a frame depends only on its piece's bytes and the
 * level. The store tells of every change before it is made ({@link WriteWatch}), whatever it
 * then queues; a piece changed after it was queued is marked cancelled (its worker stops at
 * the next slice) and counts as not made, and may be queued again as soon as its worker
 * has let go, which the worker tells through the shared state: mke2fs rewrites directory
 * blocks it wrote long before (one per entry added), and its answer reaches this thread only
 * after the tool's run. Pieces are queued only after the store has written everything
 * before them to the file. A frame answers only for a piece of the same cut: the final
 * image's size may give other pieces than the plan's.
 *
 * The spool is a file beside the image, unlinked as soon as it is open: only its descriptor
 * reaches it, and nothing is left behind however the process ends. It holds the frames of
 * the pieces made ahead (each in a region of its own, the rest sparse) until the build ends:
 * never more than a quarter of the disk's free space, nor so much that the image and an
 * output as large would no longer fit.
 */
import { nodeBuiltin } from '../../core/node-builtin.ts';
import { blocksPerGroup, hasSuperBackup } from '../../core/size-plan.ts';
import { BackedImageStore, type ImageStore, type WriteWatch } from './image-store.ts';
import { AHEAD, type AheadPool, aheadPool, type FramesAhead, frameBound, framePieceFor } from './zstd-frames.ts';

type NodeFs = typeof import('node:fs');
type NodePath = typeof import('node:path');

/** Options of {@link startFrameSpeculation}. */
export interface FrameSpeculationOptions {
  /** The image's size as planned after the shrink: pieces are cut for it ({@link framePieceFor}). */
  expectedSize: number;
  /**
   * The most the image may take on its disk while it is made (mkfs's size): the spool leaves
   * room for it and for an output as large. Default `expectedSize`.
   */
  imageBytes?: number;
  /** The filesystem's block size (where its backup superblocks lie). */
  blockSize: number;
  /** zstd level. */
  level: number;
  /** The pool's workers, as given to `compressFrames` (default one per core). */
  workers?: number;
}

/** What a speculation did (diagnostics, tests). */
export interface FrameSpeculationStats {
  /** Pieces queued (a piece queued again after a change counts again). */
  queued: number;
  /** Frames taken by `compressFrames`. */
  taken: number;
}

let batches = 0;

/**
 * Starts compressing ahead for `store`, or returns undefined where it cannot be done: not
 * Node, no shared memory, a store not in a host file, a pool of no workers, or a spool file
 * that cannot be made. The caller ends it with {@link FrameSpeculation.dispose}.
 */
export async function startFrameSpeculation(
  store: ImageStore,
  options: FrameSpeculationOptions,
): Promise<FrameSpeculation | undefined> {
  const fs = nodeBuiltin<NodeFs>('node:fs');
  const path = nodeBuiltin<NodePath>('node:path');
  if (!fs || !path || typeof SharedArrayBuffer !== 'function' || !(store instanceof BackedImageStore)) return undefined;
  if (!store.hostFile?.()) return undefined;
  const pool = await aheadPool(options.workers);
  if (!pool || pool.workers === 0) return undefined;
  const folder = path.dirname(store.location);
  let spool: number;
  let budget: number;
  try {
    // The spool takes at most a quarter of the disk's free space, and leaves room for the
    // image and an output as large (written while the spool still holds its frames; it is
    // freed at the end): a build that fits without it must fit with it.
    const st = fs.statfsSync(folder);
    const free = Number(st.bavail) * Number(st.bsize);
    budget = Math.floor(Math.min(free / 4, free - 2 * (options.imageBytes ?? options.expectedSize)));
    if (budget <= 0) return undefined;
    spool = unlinkedFile(fs, path.join(folder, '.spool'));
  } catch {
    return undefined;
  }
  return new FrameSpeculation(store, pool, fs, spool, budget, options);
}

/** A new file at `prefix` plus random characters, created exclusively (0600, no links followed) and unlinked at once. */
function unlinkedFile(fs: NodeFs, prefix: string): number {
  const { O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  for (let attempt = 0; ; attempt++) {
    const name = `${prefix}.${process.pid}.${Math.random().toString(36).slice(2, 12)}.tmp`;
    let fd: number;
    try {
      fd = fs.openSync(name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 8) throw err;
      continue;
    }
    try {
      fs.unlinkSync(name);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    return fd;
  }
}

/** How far past a piece the writes must have gone before it is queued during mke2fs: two pieces. */
const FRONTIER_LEAD = 2;

/**
 * Bytes after a backup superblock's start counted as its: the superblock, the group
 * descriptors and the descriptor blocks reserved for growth (at most a block's worth of
 * block numbers: 256 of 1 KiB, 1,024 of 4 KiB).
 */
function backupSpan(blockSize: number, size: number): number {
  const groups = Math.ceil(size / (blocksPerGroup(blockSize) * blockSize));
  const descriptorBlocks = Math.ceil((groups * 64) / blockSize);
  return (1 + descriptorBlocks + blockSize / 4) * blockSize;
}

export class FrameSpeculation implements WriteWatch, FramesAhead {
  /** Bytes per piece, as `compressFrames` will cut an image of the expected size. */
  readonly piece: number;
  readonly stats: FrameSpeculationStats = { queued: 0, taken: 0 };
  readonly #store: BackedImageStore;
  readonly #pool: AheadPool;
  readonly #fs: NodeFs;
  readonly #spool: number;
  readonly #level: number;
  readonly #batch = ++batches;
  /** Whole pieces within the expected size: the only ones made ahead. */
  readonly #count: number;
  /** Spool bytes per piece (a frame's bound). */
  readonly #region: number;
  /** Changes per piece, and the count when it was last queued. */
  readonly #gen: Uint32Array;
  readonly #queuedGen: Uint32Array;
  /** {@link AHEAD} per piece, and each frame's length: shared with the workers. */
  readonly #state: Int32Array;
  readonly #lengths: Float64Array;
  /** Queued and not yet answered, per piece (a piece is queued again only at 0). */
  readonly #inFlight: Uint16Array;
  /** Pieces never made ahead: the first, those holding backup superblocks. */
  readonly #skip: Uint8Array;
  #outstanding = 0;
  /** End of the highest write since mke2fs began reading files (-1: not yet). */
  #frontier = -1;
  /** The next piece to become a candidate as the frontier passes it. */
  #next = 1;
  /** Pieces to queue, in order, as the workers take them. */
  #candidates: number[] = [];
  /** Pieces queued that may still be waiting or running. */
  #live: number[] = [];
  /** Most pieces waiting or running at once: two per worker that compresses ahead. */
  readonly #cap: number;
  /** The final compression has begun taking frames. */
  #streaming = false;
  #waiters = new Map<number, (() => void)[]>();
  #disposed = false;
  #spoolClosed = false;
  /** Most bytes the spool may hold, and what it may hold now: per piece, its frame's length or, while unknown, its bound. */
  readonly #spoolBudget: number;
  #spoolHeld = 0;
  readonly #held: Float64Array;
  #idle: (() => void)[] = [];

  constructor(
    store: BackedImageStore,
    pool: AheadPool,
    fs: NodeFs,
    spool: number,
    spoolBudget: number,
    options: FrameSpeculationOptions,
  ) {
    this.#store = store;
    this.#pool = pool;
    this.#fs = fs;
    this.#spool = spool;
    this.#spoolBudget = spoolBudget;
    this.#level = options.level;
    this.piece = framePieceFor(options.expectedSize);
    this.#count = Math.floor(options.expectedSize / this.piece);
    this.#region = frameBound(this.piece);
    this.#gen = new Uint32Array(this.#count);
    this.#queuedGen = new Uint32Array(this.#count);
    this.#state = new Int32Array(new SharedArrayBuffer(4 * Math.max(1, this.#count)));
    this.#lengths = new Float64Array(new SharedArrayBuffer(8 * Math.max(1, this.#count)));
    this.#inFlight = new Uint16Array(this.#count);
    this.#held = new Float64Array(this.#count);
    this.#cap = 2 * pool.aheadWorkers;
    this.#skip = backupPieces(this.#count, this.piece, options.blockSize, options.expectedSize);
    store.writeWatch = this;
  }

  touch(offset: number, length: number): void {
    if (length <= 0) return;
    const end = offset + length;
    if (this.#frontier >= 0 && end > this.#frontier) this.#frontier = end;
    const last = Math.min(this.#count - 1, Math.floor((end - 1) / this.piece));
    for (let k = Math.floor(offset / this.piece); k <= last; k++) {
      this.#gen[k]++;
      // Not taken yet: unqueued (its message then does nothing). Running: its worker stops.
      if (Atomics.compareExchange(this.#state, k, AHEAD.QUEUED, AHEAD.IDLE) !== AHEAD.QUEUED)
        Atomics.compareExchange(this.#state, k, AHEAD.RUNNING, AHEAD.CANCELLED);
    }
  }

  /** Before each mke2fs attempt: the frontier waits for the attempt's first file read. */
  restart(): void {
    this.#frontier = -1;
    this.#next = 1;
    this.#candidates.length = 0;
  }

  /**
   * Often while a tool runs (cheap): during mke2fs, after each file read, the pieces the
   * writes have gone two pieces past become candidates (mke2fs writes its metadata, journal
   * and inode tables, before it reads a file, so only writes after the first read move the
   * frontier); and candidates are queued while fewer than {@link #cap} are waiting or
   * running (the workers' answers reach this thread only between tool runs).
   */
  poke(): void {
    if (this.#frontier < 0) {
      this.#frontier = 0;
      return;
    }
    while (this.#next < this.#count && (this.#next + FRONTIER_LEAD) * this.piece <= this.#frontier)
      this.#candidates.push(this.#next++);
    this.#pump();
  }

  /** After mke2fs: every piece not made, or changed since it was, becomes a candidate. */
  queueRest(): void {
    this.#candidates.length = 0;
    this.#next = this.#count;
    for (let k = 1; k < this.#count; k++) this.#candidates.push(k);
    this.#pump();
  }

  /**
   * Queues candidates while fewer than {@link #cap} pieces wait or run: a worker takes its
   * messages in order, so a piece of the final compression sent to it waits behind those
   * (a queue of ten pieces made a build 2 s slower), and a piece not started when the final
   * compression reaches it is compressed there instead.
   */
  #pump(): void {
    if (this.#streaming) return;
    let live = 0;
    for (let i = 0; i < this.#live.length; ) {
      const s = Atomics.load(this.#state, this.#live[i]);
      if (s === AHEAD.QUEUED || s === AHEAD.RUNNING) {
        live++;
        i++;
      } else this.#live.splice(i, 1);
    }
    // A piece whose worker is still stopping after a change waits for a later turn.
    const later: number[] = [];
    while (live < this.#cap && this.#candidates.length > 0) {
      const k = this.#candidates.shift()!;
      const queued = this.#queue(k);
      if (queued === 'later') later.push(k);
      else if (queued) live++;
    }
    if (later.length > 0) this.#candidates = later.concat(this.#candidates);
  }

  /**
   * Queues piece `k` unless it is made (and unchanged), under way, or not worth making;
   * 'later' while a worker is still stopping work on its earlier bytes. (A change turns a
   * queued piece back to IDLE and a running one to CANCELLED: one QUEUED or RUNNING is of its
   * present bytes.)
   */
  #queue(k: number): boolean | 'later' {
    if (this.#disposed || this.#skip[k]) return false;
    const s = Atomics.load(this.#state, k);
    if (s === AHEAD.QUEUED || s === AHEAD.RUNNING) return false;
    if (s === AHEAD.CANCELLED) return 'later';
    if (s === AHEAD.DONE && this.#queuedGen[k] === this.#gen[k]) return false;
    if (this.#spoolHeld - this.#held[k] + this.#region > this.#spoolBudget) return false;
    // Everything the store holds for the file is written first: the worker reads the file.
    const file = this.#store.hostFile?.();
    if (!file) return false;
    this.#spoolHeld += this.#region - this.#held[k];
    this.#held[k] = this.#region;
    this.#queuedGen[k] = this.#gen[k];
    Atomics.store(this.#state, k, AHEAD.QUEUED);
    const queued = this.#pool.ahead(
      {
        size: this.piece,
        level: this.#level,
        file: { fd: file.fd, offset: k * this.piece },
        ahead: {
          batch: this.#batch,
          piece: k,
          state: this.#state,
          lengths: this.#lengths,
          spool: { fd: this.#spool, offset: k * this.#region },
        },
      },
      (piece) => this.#answered(piece),
    );
    if (!queued) {
      Atomics.store(this.#state, k, AHEAD.IDLE);
      return false;
    }
    this.#inFlight[k]++;
    this.#outstanding++;
    this.#live.push(k);
    this.stats.queued++;
    return true;
  }

  #answered(k: number): void {
    if (k < 0 || k >= this.#count || this.#inFlight[k] === 0) return;
    this.#inFlight[k]--;
    this.#outstanding--;
    if (Atomics.load(this.#state, k) === AHEAD.DONE) {
      this.#spoolHeld -= this.#held[k] - this.#lengths[k];
      this.#held[k] = this.#lengths[k];
    }
    // Waiters wait for the run that is making the piece: an answer to an earlier queuing
    // that found the piece taken by another message or unqueued does not end it.
    if (this.#inFlight[k] === 0 || Atomics.load(this.#state, k) !== AHEAD.RUNNING) {
      const waiting = this.#waiters.get(k);
      this.#waiters.delete(k);
      for (const wake of waiting ?? []) wake();
    }
    if (this.#disposed && this.#outstanding === 0) this.#closeSpool();
    else this.#pump();
    if (this.#outstanding === 0) for (const wake of this.#idle.splice(0)) wake();
  }

  /** Settles once no piece is queued, running or waiting to be queued (tests, diagnostics). */
  whenIdle(): Promise<void> {
    if (this.#outstanding === 0) return Promise.resolve();
    return new Promise((wake) => this.#idle.push(wake));
  }

  claim(offset: number, length: number, piece: number): 'made' | 'making' | undefined {
    // The final compression has begun: no more pieces are queued.
    this.#streaming = true;
    const k = this.#index(offset, length, piece);
    if (k < 0 || this.#queuedGen[k] !== this.#gen[k]) return undefined;
    // Not started: the caller's workers compress it now (its worker may have a queue).
    if (Atomics.compareExchange(this.#state, k, AHEAD.QUEUED, AHEAD.CANCELLED) === AHEAD.QUEUED) return undefined;
    // Made from the bytes it has now (a change since would have counted): final, whatever
    // answers are still on their way.
    const s = Atomics.load(this.#state, k);
    if (s === AHEAD.DONE) return 'made';
    if (s === AHEAD.RUNNING && this.#inFlight[k] > 0 && !this.#pool.stopped) return 'making';
    return undefined;
  }

  settled(offset: number): Promise<void> {
    const k = Math.floor(offset / this.piece);
    if (this.#disposed || k >= this.#count || this.#inFlight[k] === 0 || this.#pool.stopped) return Promise.resolve();
    return new Promise<void>((wake) => {
      const list = this.#waiters.get(k) ?? [];
      list.push(wake);
      this.#waiters.set(k, list);
    });
  }

  read(offset: number, length: number, piece: number, target: Uint8Array): Uint8Array | undefined {
    const k = this.#index(offset, length, piece);
    if (k < 0 || this.#queuedGen[k] !== this.#gen[k]) return undefined;
    if (Atomics.load(this.#state, k) !== AHEAD.DONE) return undefined;
    const n = this.#lengths[k];
    if (!(n > 0 && n <= this.#region && n <= target.length)) return undefined;
    let done = 0;
    try {
      while (done < n) {
        const got = this.#fs.readSync(this.#spool, target, done, n - done, k * this.#region + done);
        if (got <= 0) return undefined;
        done += got;
      }
    } catch {
      return undefined;
    }
    this.stats.taken++;
    return target.subarray(0, n);
  }

  /** The piece made ahead for `[offset, offset+length)` cut in pieces of `piece` bytes, or -1. */
  #index(offset: number, length: number, piece: number): number {
    if (this.#disposed || piece !== this.piece || length !== piece || offset % piece !== 0) return -1;
    const k = offset / piece;
    return k < this.#count ? k : -1;
  }

  /**
   * Ends it: the store is no longer watched, pieces still queued are cancelled, and the spool
   * is closed once every worker has answered (at once when the pool has stopped).
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.#store.writeWatch === this) this.#store.writeWatch = undefined;
    for (let k = 0; k < this.#count; k++) {
      const s = Atomics.load(this.#state, k);
      if (s === AHEAD.QUEUED || s === AHEAD.RUNNING) Atomics.compareExchange(this.#state, k, s, AHEAD.CANCELLED);
    }
    for (const list of this.#waiters.values()) for (const wake of list) wake();
    this.#waiters.clear();
    this.#candidates.length = 0;
    if (this.#outstanding === 0 || this.#pool.stopped) this.#closeSpool();
  }

  #closeSpool(): void {
    if (this.#spoolClosed) return;
    this.#spoolClosed = true;
    this.#pool.forgetAhead(this.#batch);
    try {
      this.#fs.closeSync(this.#spool);
    } catch {
      // already gone
    }
  }
}

/**
 * Pieces not worth making ahead: the first (superblock, group descriptors, bitmaps, inode
 * tables), and those holding a backup superblock and its group descriptors (groups 1 and
 * the powers of 3, 5 and 7, with sparse_super): mke2fs writes these last, and the shrink
 * writes them again.
 */
function backupPieces(count: number, piece: number, blockSize: number, size: number): Uint8Array {
  const skip = new Uint8Array(count);
  if (count > 0) skip[0] = 1;
  const groupBytes = blocksPerGroup(blockSize) * blockSize;
  const firstByte = blockSize === 1024 ? 1024 : 0;
  for (let g = 1; firstByte + g * groupBytes < size; g++) {
    if (!hasSuperBackup(g)) continue;
    const start = firstByte + g * groupBytes;
    const last = Math.min(count - 1, Math.floor((start + backupSpan(blockSize, size) - 1) / piece));
    for (let k = Math.floor(start / piece); k <= last; k++) skip[k] = 1;
  }
  return skip;
}
