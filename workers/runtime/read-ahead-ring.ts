/**
 * The ring that carries Blob bytes read ahead by a reader worker to TREEFS, which reads them
 * synchronously inside `mke2fs -d` (see `blob-read-ahead.ts`). Pure logic, shared memory only:
 * no workers, no Blob reads, so both sides can be tested in one thread.
 *
 * The sequence: the files mke2fs will copy, in its copy order (`TreeFs`'s order list), each cut
 * into pieces of `pieceSize` (the last one shorter; a file up to `pieceSize` is one piece), the
 * way TREEFS reads them. Both sides place piece after piece in a ring of `capacity` bytes
 * ({@link placePiece}: a piece never wraps; one that would is put at the ring's start), so
 * each computes where a piece is from the sizes alone. Control words ({@link Control}):
 * the reader publishes how many pieces are in the ring, in order, and the first piece that
 * will not come (a read failed); the consumer publishes how far it is done with the ring, so
 * the reader never overwrites what was not taken. `capacity` is at least twice `pieceSize`,
 * so a piece always fits once the ring is empty.
 */

/** Indices of the control words (an `Int32Array` over a `SharedArrayBuffer`). */
export const Control = {
  /** Pieces in the ring, counted from the first, all before them too (written by the reader). */
  written: 0,
  /** Ring position (low 32 bits) up to which the consumer is done (written by the consumer). */
  released: 1,
  /** The first piece that will not come because a read failed; -1 while none did (reader). */
  failed: 2,
  /**
   * 1 while the reader waits for room (set by the reader, cleared by the consumer when it
   * wakes it): the consumer notifies only then, not for each of 20,000 small files.
   */
  wantsRoom: 3,
  /** While it waits: the released position (low 32 bits) to wake the reader at. */
  wakeAt: 4,
} as const;
/** Control words, in 32-bit integers. */
export const CONTROL_WORDS = 5;

/** A range of a Blob that mke2fs will copy as one file. */
export interface ReadAheadItem {
  blob: Blob;
  offset: number;
  size: number;
}

/**
 * Where a piece of `size` bytes goes when the ring's stream is at `position`: there, or at
 * the next multiple of `capacity` when it would cross the ring's end. Positions grow without
 * bound (JavaScript numbers); the ring index is `position % capacity`.
 */
export function placePiece(position: number, size: number, capacity: number): number {
  const at = position % capacity;
  return at + size > capacity ? position + (capacity - at) : position;
}

/** Bytes of the ring for `totalBytes` of files: at most `maxBytes`, at least two pieces, 64 KiB steps. */
export function ringCapacity(totalBytes: number, pieceSize: number, maxBytes: number): number {
  const want = Math.min(maxBytes, Math.ceil(totalBytes / 65536) * 65536);
  return Math.max(2 * pieceSize, want);
}

/** Low 32 bits of a position, as stored in a control word. */
const low32 = (n: number): number => n | 0;

/** Most Blob ranges one read joins (as TREEFS's own batches). */
const READ_PARTS = 256;

/**
 * The first read's limits, doubled at each read up to `readMax` and {@link READ_PARTS}: the
 * consumer waits for the first file until a whole read is in, and a first read of 2 MiB of
 * small files kept mke2fs waiting 30-35 ms at its first file (the bench's `small`, traced).
 */
const FIRST_READ_BYTES = 64 * 1024;
const FIRST_READ_PARTS = 4;

/**
 * One read of the reader: ranges of Blobs holding whole pieces, read as one (joined into one
 * Blob when there are several), and where each piece goes.
 */
export interface ReadJob {
  /** The ranges, in order; consecutive ranges of one Blob are one. */
  parts: { blob: Blob; start: number; end: number }[];
  /** Bytes in all. */
  size: number;
  /** Sequence number of its first piece. */
  first: number;
  /** Each piece: its offset in the read's bytes, its size, and its ring index. */
  pieces: { from: number; size: number; at: number }[];
}

/**
 * The reader's side: turns the items it is sent into reads (consecutive pieces joined, up to
 * `readMax` bytes and {@link READ_PARTS} ranges), as far as the ring has room, and puts what
 * the reads return into the ring in sequence order (reads may finish in any order).
 */
export class ReadAheadPlanner {
  readonly #ring: Uint8Array;
  readonly #control: Int32Array;
  readonly #pieceSize: number;
  readonly #readMax: number;
  readonly #capacity: number;
  #items: ReadAheadItem[] = [];
  #head = 0;
  /** Next piece of `#items[#head]` to plan. */
  #piece = 0;
  #nextSeq = 0;
  /** End of the last planned piece (stream position). */
  #reserved = 0;
  /** Stream position the consumer is done up to. */
  #released = 0;
  #committed = 0;
  /** Finished reads not yet committed (an earlier one is still out), by first piece. */
  #finished = new Map<number, number>();
  #stopped = false;
  #blocked = false;
  /** Reads planned so far (each may be twice as large as the one before). */
  #reads = 0;
  /** Room a new read waits for (unless the ring is empty): a read's worth, or a quarter ring. */
  readonly #lowWater: number;

  constructor(ring: Uint8Array, control: Int32Array, pieceSize: number, readMax: number) {
    if (ring.length < 2 * pieceSize) throw new RangeError('the ring must hold at least two pieces');
    this.#ring = ring;
    this.#control = control;
    this.#pieceSize = pieceSize;
    this.#readMax = Math.max(readMax, pieceSize);
    this.#capacity = ring.length;
    this.#lowWater = Math.min(this.#readMax, Math.floor(ring.length / 4));
  }

  /** Files to read, after those sent before. */
  add(items: readonly ReadAheadItem[]): void {
    if (this.#head > 4096) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    for (const item of items) this.#items.push(item);
  }

  /** Whether the last {@link next} found a piece to read but no room for it. */
  get waitingForRoom(): boolean {
    return this.#blocked;
  }

  /**
   * Before waiting for room: says so to the consumer, and returns the released word to wait
   * on, or undefined when room was released meanwhile (plan again instead of waiting).
   */
  beforeWaitingForRoom(): number | undefined {
    // Woken once a read's worth is free, not at every small file the consumer takes.
    const wakeAt = low32(this.#reserved + this.#lowWater - this.#capacity);
    Atomics.store(this.#control, Control.wakeAt, wakeAt);
    Atomics.store(this.#control, Control.wantsRoom, 1);
    // Seen after the flag is up: either the consumer's release is seen here, or it sees the flag.
    const word = Atomics.load(this.#control, Control.released);
    return ((word - wakeAt) | 0) >= 0 ? undefined : word;
  }

  /** The next read to start, or undefined when there is nothing to read or no room for it. */
  next(): ReadJob | undefined {
    this.#blocked = false;
    if (this.#stopped) return undefined;
    // The consumer's position only moves forward, less than 2^32 at a time.
    this.#released += (Atomics.load(this.#control, Control.released) - low32(this.#released)) >>> 0;
    const P = this.#pieceSize;
    const cap = this.#capacity;
    // Nearly full: wait for a read's worth of room rather than read a small file at a time.
    // (The consumer never waits for this: the piece it waits for is planned, or the ring is empty.)
    if (this.#reserved > this.#released && cap - (this.#reserved - this.#released) < this.#lowWater) {
      this.#blocked = this.#head < this.#items.length;
      return undefined;
    }
    let job: ReadJob | undefined;
    const ramp = Math.min(this.#reads, 12);
    const maxBytes = Math.min(this.#readMax, FIRST_READ_BYTES * 2 ** ramp);
    const maxParts = Math.min(READ_PARTS, FIRST_READ_PARTS * 2 ** ramp);
    while (this.#head < this.#items.length) {
      const item = this.#items[this.#head];
      const from = this.#piece * P;
      const size = Math.min(P, item.size - from);
      const source = item.offset + from;
      const last = job?.parts[job.parts.length - 1];
      const joins = last !== undefined && last.blob === item.blob && last.end === source;
      if (job && (job.size + size > maxBytes || (!joins && job.parts.length >= maxParts))) break;
      const at = placePiece(this.#reserved, size, cap);
      if (at + size - this.#released > cap) {
        this.#blocked = true;
        break;
      }
      job ??= { parts: [], size: 0, first: this.#nextSeq, pieces: [] };
      if (joins) last.end += size;
      else job.parts.push({ blob: item.blob, start: source, end: source + size });
      job.pieces.push({ from: job.size, size, at: at % cap });
      job.size += size;
      this.#reserved = at + size;
      this.#nextSeq++;
      if (from + size >= item.size) {
        this.#head++;
        this.#piece = 0;
      } else this.#piece++;
    }
    if (job) {
      this.#blocked = false;
      this.#reads++;
    }
    return job;
  }

  /** A read's bytes arrived: into the ring, and every piece now complete in order is published. */
  complete(job: ReadJob, bytes: Uint8Array): void {
    // Also after a later read failed (planning stopped): the pieces before the failure still
    // come, into room reserved for them, which the consumer cannot have released.
    if (bytes.length !== job.size) {
      // Shorter than the tree says: the consumer reads it itself and reports it.
      this.fail(job);
      return;
    }
    for (const p of job.pieces) this.#ring.set(bytes.subarray(p.from, p.from + p.size), p.at);
    this.#finished.set(job.first, job.pieces.length);
    let n = this.#finished.get(this.#committed);
    if (n === undefined) return;
    while (n !== undefined) {
      this.#finished.delete(this.#committed);
      this.#committed += n;
      n = this.#finished.get(this.#committed);
    }
    Atomics.store(this.#control, Control.written, this.#committed);
    Atomics.notify(this.#control, Control.written);
  }

  /** A read failed: nothing from its first piece on will come; the consumer reads those itself. */
  fail(job: ReadJob): void {
    this.stop(job.first);
  }

  /** Stops planning; pieces from `from` on (default: the first not yet published) will not come. */
  stop(from = this.#committed): void {
    this.#stopped = true;
    const was = Atomics.load(this.#control, Control.failed);
    if (was < 0 || from < was) Atomics.store(this.#control, Control.failed, from);
    Atomics.notify(this.#control, Control.written);
  }
}

/** How the consumer waits for a control word to change: `Atomics.wait`'s answer. */
export type WaitFn = (control: Int32Array, index: number, value: number, timeoutMs: number) => string;

/** Options of {@link ReadAheadConsumer}. */
export interface ConsumerOptions {
  ring: Uint8Array;
  control: Int32Array;
  pieceSize: number;
  /** Files in copy order: their count and each one's range. */
  count: number;
  item(index: number): ReadAheadItem;
  /** Sends the reader the next items (called from inside the program's reads). */
  post(items: ReadAheadItem[]): void;
  /** Ends the reader (the consumer gave up on it). */
  stop(): void;
  /** Default `Atomics.wait`. */
  wait?: WaitFn;
  /** Milliseconds without a new piece before the reader is given up. Default 15,000. */
  stallMs?: number;
}

/** Items sent to the reader per message. */
const POST_ITEMS = 512;
/** The reader is kept this many files ahead of the consumer (and at least two rings of bytes). */
const AHEAD_FILES = 2048;

/**
 * The consumer's side, inside the program's synchronous reads: hands out a piece when it is
 * the one asked for (waiting while the reader is just behind), and says `undefined` for
 * anything else (asked out of order, already passed, or the reader failed or stalled), where
 * the caller reads the bytes itself. Pieces asked for further on skip the ones between.
 */
export class ReadAheadConsumer {
  readonly #o: ConsumerOptions;
  readonly #capacity: number;
  readonly #wait: WaitFn;
  readonly #stallMs: number;
  /** The next piece expected: its file, its index in the file, its sequence number. */
  #file = 0;
  #piece = 0;
  #seq = 0;
  /** Stream position of the consumer. */
  #position = 0;
  #posted = 0;
  #postedBytes = 0;
  #takenBytes = 0;
  #off = false;
  /** The piece handed out last, still in use by the caller (-1: none). */
  #held = -1;
  /** Pieces handed out. */
  taken = 0;

  constructor(options: ConsumerOptions) {
    this.#o = options;
    this.#capacity = options.ring.length;
    this.#wait = options.wait ?? ((c, i, v, t) => Atomics.wait(c, i, v, t));
    this.#stallMs = options.stallMs ?? 15_000;
  }

  /** Whether the consumer gave up on the reader (everything is read by the caller from then on). */
  get off(): boolean {
    return this.#off;
  }

  /** Sends the reader its first items (before the first piece is asked for). */
  start(): void {
    if (!this.#off) this.#feed(0);
  }

  /** Gives up on the reader: it is stopped, and every later piece is the caller's to read. */
  giveUp(): undefined {
    if (!this.#off) {
      this.#off = true;
      this.#o.stop();
    }
    return undefined;
  }

  /**
   * Bytes `[start, end)` of file `index` (in copy order), when that is a whole piece of the
   * sequence not yet passed; otherwise undefined. A view into the ring, not a copy (copying
   * out of shared memory is slow: 1 s of the build worker for the 500 MiB of the bench's
   * closure workload): valid while {@link heldSeq} is the number {@link take} gave it
   * ({@link lastSeq}), that is until the next call.
   */
  take(index: number, start: number, end: number): Uint8Array | undefined {
    // The piece handed out last goes back to the reader now.
    this.#publish();
    this.#held = -1;
    if (this.#off || index < 0 || index >= this.#o.count) return undefined;
    const P = this.#o.pieceSize;
    const item = this.#o.item(index);
    if (start % P !== 0 || end !== Math.min(item.size, start + P) || end <= start) return undefined;
    const piece = start / P;
    if (index < this.#file || (index === this.#file && piece < this.#piece)) return undefined;
    // Far ahead: the program does not read in this order; skipping would read (and hold the
    // items of) everything between. The caller reads from here on.
    if (index - this.#file > AHEAD_FILES) return this.giveUp();
    this.#feed(index);
    while (this.#file < index || this.#piece < piece) {
      if (!this.#ready()) return this.giveUp();
      this.#advance(true);
    }
    if (!this.#ready()) return this.giveUp();
    const at = placePiece(this.#position, end - start, this.#capacity) % this.#capacity;
    const bytes = this.#o.ring.subarray(at, at + end - start);
    this.#held = this.#seq;
    this.lastSeq = this.#seq;
    // Not released yet: the caller reads from the view until it asks for another piece.
    this.#advance(false);
    this.taken++;
    return bytes;
  }

  /** The sequence number of the piece the last {@link take} handed out. */
  lastSeq = -1;

  /** The piece whose view is still valid (the last one handed out), or -1. */
  get heldSeq(): number {
    return this.#held;
  }

  /** Sends the reader items up to `index` at least, and keeps it well ahead of the consumer. */
  #feed(index: number): void {
    const { count } = this.#o;
    while (
      this.#posted < count &&
      (this.#posted <= index ||
        this.#posted - this.#file < AHEAD_FILES ||
        this.#postedBytes - this.#takenBytes < 2 * this.#capacity)
    ) {
      const items: ReadAheadItem[] = [];
      for (let i = this.#posted; i < count && items.length < POST_ITEMS; i++) {
        const item = this.#o.item(i);
        items.push(item);
        this.#postedBytes += item.size;
      }
      this.#posted += items.length;
      this.#o.post(items);
    }
  }

  /** Gives the reader back the ring up to the consumer's position; wakes it when it waits for that much. */
  #publish(): void {
    const { control } = this.#o;
    const released = low32(this.#position);
    if (Atomics.load(control, Control.released) === released) return;
    Atomics.store(control, Control.released, released);
    if (
      Atomics.load(control, Control.wantsRoom) !== 0 &&
      ((released - Atomics.load(control, Control.wakeAt)) | 0) >= 0
    ) {
      Atomics.store(control, Control.wantsRoom, 0);
      Atomics.notify(control, Control.released);
    }
  }

  /** Waits until the expected piece is in the ring; false when it will not come (or the reader stalled). */
  #ready(): boolean {
    const { control } = this.#o;
    let idle = 0;
    let seen = -1;
    for (;;) {
      const written = Atomics.load(control, Control.written);
      if (written > this.#seq) return true;
      const failed = Atomics.load(control, Control.failed);
      if (failed >= 0 && this.#seq >= failed) return false;
      if (written !== seen) {
        seen = written;
        idle = 0;
      }
      if (idle >= this.#stallMs) return false;
      const slice = Math.min(100, this.#stallMs - idle);
      if (this.#wait(control, Control.written, written, slice) === 'timed-out') idle += slice;
    }
  }

  /** Done with the expected piece: its room goes back to the reader (now, or at the next take). */
  #advance(release: boolean): void {
    const P = this.#o.pieceSize;
    const item = this.#o.item(this.#file);
    const size = Math.min(P, item.size - this.#piece * P);
    this.#position = placePiece(this.#position, size, this.#capacity) + size;
    if (release) this.#publish();
    this.#takenBytes += size;
    this.#seq++;
    if ((this.#piece + 1) * P >= item.size) {
      this.#file++;
      this.#piece = 0;
    } else this.#piece++;
  }
}
