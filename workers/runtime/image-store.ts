/**
 * A disk image as a sparse byte store, behind one interface ({@link ImageStore}) with three
 * backends:
 *
 * - {@link MemoryImageStore}: fixed-size chunks (1 MiB by default) in a Map; for small
 *   images, tests, and where no disk storage is available.
 * - {@link BackedImageStore} over a {@link StoreBacking}: the image lives in a file (Node: a
 *   sparse host file, `node-image-file.ts`; browsers: an Origin Private File System file
 *   through a `FileSystemSyncAccessHandle`, `opfs-image-store.ts`). Only an allocation map
 *   (one entry per chunk) stays in memory, so memory does not grow with the image.
 *
 * Every backend keeps holes: chunks never written read as zeros and cost nothing, writing
 * all-zero data into a hole allocates nothing, and {@link ImageStore.extents} lists the
 * allocated runs so streaming and compression skip holes cheaply. There is no single
 * ArrayBuffer, so an image can exceed 4 GiB (the limit is `Number.MAX_SAFE_INTEGER`).
 *
 * The same store object is mounted into successive tool instances (see `image-fs.ts`);
 * nothing is copied between runs, and a truncation done by one tool (`resize2fs -M`) is
 * what the next tool sees.
 *
 * Invariant: bytes at or beyond `size` read as zero once the store grows again (truncate
 * or a write past the end exposes zeros only).
 */

import { createSha256 } from '../../core/sha256.ts';

export { createSha256, type Sha256 } from '../../core/sha256.ts';

/** Default chunk size: 1 MiB. */
export const DEFAULT_CHUNK_SIZE = 1 << 20;

/** Options of {@link ImageStore}. */
export interface ImageStoreOptions {
  /** Chunk size in bytes, a power of two between 4 KiB and 64 MiB. Default 1 MiB. */
  chunkSize?: number;
}

/** One allocated run of the image, as given by {@link ImageStore.extents}. */
export interface StoreExtent {
  /** Byte offset in the image. */
  offset: number;
  /** Length in bytes (clipped to the image size). */
  length: number;
}

/** Options of {@link ImageStore.chunks}. */
export interface ChunkStreamOptions {
  /** Bytes per yielded piece; a multiple of the store's chunk size is fastest. Default: the chunk size. */
  pieceSize?: number;
  /** Stops the iteration (rejects with the signal's reason) when aborted. */
  signal?: AbortSignal;
}

type BufferCompare = (a: Uint8Array, b: Uint8Array) => number;
/** Node's native `Buffer.compare` (memcmp), absent in browsers. */
const nativeCompare = (globalThis as { Buffer?: { compare?: BufferCompare } }).Buffer?.compare;
let zeroRef: Uint8Array | null = null;

/** True when every byte of `bytes` is zero. */
export function isAllZero(bytes: Uint8Array): boolean {
  const n = bytes.length;
  if (nativeCompare && n >= 256) {
    if (!zeroRef || zeroRef.length < n) zeroRef = new Uint8Array(Math.max(n, 1 << 20));
    return nativeCompare(bytes, zeroRef.subarray(0, n)) === 0;
  }
  let i = 0;
  // Align to 4 bytes, then compare words.
  const misalign = (4 - (bytes.byteOffset & 3)) & 3;
  for (; i < misalign && i < n; i++) if (bytes[i] !== 0) return false;
  const words = (n - i) >>> 2;
  if (words > 0) {
    const w = new Uint32Array(bytes.buffer, bytes.byteOffset + i, words);
    for (let j = 0; j < words; j++) if (w[j] !== 0) return false;
    i += words * 4;
  }
  for (; i < n; i++) if (bytes[i] !== 0) return false;
  return true;
}

let zeroPiece: Uint8Array | null = null;
/** A shared all-zero array of at least `length` bytes (never written to). */
function zeros(length: number): Uint8Array {
  if (!zeroPiece || zeroPiece.length < length) zeroPiece = new Uint8Array(Math.max(length, DEFAULT_CHUNK_SIZE));
  return zeroPiece.subarray(0, length);
}

function checkRange(offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`bad offset ${offset}`);
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`bad length ${length}`);
  if (!Number.isSafeInteger(offset + length)) throw new RangeError('offset + length exceeds 2^53');
}

/**
 * A disk image's bytes: a sparse, growable byte store. Reads and writes are synchronous
 * (the wasm tools call them from inside a filesystem callback).
 */
export interface ImageStore {
  /** Allocation granularity in bytes (a power of two): holes are tracked per chunk. */
  readonly chunkSize: number;
  /** Logical size of the image in bytes. */
  readonly size: number;
  /** Bytes of storage held by allocated chunks (memory for the memory backend, disk otherwise). */
  readonly allocatedBytes: number;
  /** Where the bytes live, for messages: `memory`, or the backing file. */
  readonly location: string;
  /**
   * Node: the open host file that holds exactly these bytes (zeros past its end), for other
   * threads of this process to read directly (compression workers); writes still queued are
   * written first. Undefined for stores not in a host file. Optional.
   */
  hostFile?(): { fd: number } | undefined;
  /** Whether the chunk holding byte `offset` is allocated (false means it reads as zeros). */
  isAllocated(offset: number): boolean;
  /**
   * Copies image bytes from `offset` into `target` (reads stop at the end of the image).
   * @returns the number of bytes copied (less than `target.length` only at the end).
   */
  readInto(offset: number, target: Uint8Array): number;
  /** A fresh copy of up to `length` bytes at `offset` (shorter at the end of the image). */
  read(offset: number, length: number): Uint8Array;
  /**
   * Writes `data` at `offset`, growing the image when writing past its end. Zero data aimed
   * at a hole allocates nothing. `data` is copied; the caller keeps it.
   */
  write(offset: number, data: Uint8Array): void;
  /** Sets the logical size: shrinking drops the data past the end, growing adds a hole. */
  truncate(newSize: number): void;
  /**
   * Makes `[offset, offset+length)` read as zeros and frees the storage of whole chunks in
   * it (like `fallocate(FALLOC_FL_PUNCH_HOLE)`). Does not change the size.
   */
  punchHole(offset: number, length: number): void;
  /** Makes `[offset, offset+length)` read as zeros (like `FALLOC_FL_ZERO_RANGE`); may free storage. */
  zeroRange(offset: number, length: number): void;
  /** Allocated runs in ascending order (adjacent chunks merged, clipped to the size). */
  extents(): IterableIterator<StoreExtent>;
  /**
   * Streams the logical image from start to end: allocated data and zeros for holes (holes
   * cost no I/O). Yielded arrays may be views into the store or a shared zero buffer: treat
   * them as read-only and consume each before the store is written again.
   */
  chunks(options?: ChunkStreamOptions): AsyncIterableIterator<Uint8Array>;
  /** Synchronous form of {@link chunks}. */
  chunksSync(options?: ChunkStreamOptions): IterableIterator<Uint8Array>;
  /** sha256 of the logical image, lowercase hex. */
  sha256(): Promise<string>;
  /**
   * An empty store of the same kind (memory, or a new temporary file next to this one),
   * for scratch data such as an undo log. The caller closes it.
   */
  createScratch(): Promise<ImageStore>;
  /** Writes out what is buffered and sets the backing file's length to {@link size}. */
  flush(): void;
  /** Releases the storage: memory, file handles; a temporary file is removed. Idempotent. */
  close(): void;
}

/** The parts of {@link ImageStore} every backend shares. */
abstract class BaseImageStore implements ImageStore {
  readonly chunkSize: number;

  constructor(chunkSize: number) {
    if (
      !Number.isInteger(chunkSize) ||
      chunkSize < 4096 ||
      chunkSize > 1 << 26 ||
      (chunkSize & (chunkSize - 1)) !== 0
    ) {
      throw new RangeError(`chunkSize must be a power of two between 4 KiB and 64 MiB, got ${chunkSize}`);
    }
    this.chunkSize = chunkSize;
  }

  abstract readonly size: number;
  abstract readonly allocatedBytes: number;
  abstract readonly location: string;
  abstract isAllocated(offset: number): boolean;
  abstract readInto(offset: number, target: Uint8Array): number;
  abstract write(offset: number, data: Uint8Array): void;
  abstract truncate(newSize: number): void;
  abstract punchHole(offset: number, length: number): void;
  abstract createScratch(): Promise<ImageStore>;
  /** Allocated chunk indices in ascending order. */
  protected abstract allocatedIndices(): Iterable<number>;
  /** The bytes of chunk `index` from `inChunk` on, without a copy when possible; undefined for a hole. */
  protected abstract chunkView(index: number, inChunk: number, length: number): Uint8Array | undefined;

  zeroRange(offset: number, length: number): void {
    this.punchHole(offset, length);
  }

  flush(): void {}

  close(): void {}

  read(offset: number, length: number): Uint8Array {
    checkRange(offset, length);
    const n = Math.max(0, Math.min(length, this.size - offset));
    const out = new Uint8Array(n);
    this.readInto(offset, out);
    return out;
  }

  *extents(): IterableIterator<StoreExtent> {
    let start = -1;
    let endIndex = -1;
    for (const index of this.allocatedIndices()) {
      if (start >= 0 && index === endIndex) {
        endIndex = index + 1;
        continue;
      }
      if (start >= 0) {
        const e = this.#clipExtent(start, endIndex);
        if (e.length > 0) yield e;
      }
      start = index;
      endIndex = index + 1;
    }
    if (start >= 0) {
      const e = this.#clipExtent(start, endIndex);
      if (e.length > 0) yield e;
    }
  }

  #clipExtent(startIndex: number, endIndex: number): StoreExtent {
    const offset = startIndex * this.chunkSize;
    const end = Math.min(endIndex * this.chunkSize, this.size);
    return { offset, length: Math.max(0, end - offset) };
  }

  async *chunks(options: ChunkStreamOptions = {}): AsyncIterableIterator<Uint8Array> {
    yield* this.chunksSync(options);
  }

  *chunksSync(options: ChunkStreamOptions = {}): IterableIterator<Uint8Array> {
    const cs = this.chunkSize;
    const pieceSize = options.pieceSize ?? cs;
    if (!Number.isSafeInteger(pieceSize) || pieceSize <= 0) throw new RangeError(`bad pieceSize ${pieceSize}`);
    let pos = 0;
    while (pos < this.size) {
      options.signal?.throwIfAborted();
      const n = Math.min(pieceSize, this.size - pos);
      const index = Math.floor(pos / cs);
      const inChunk = pos - index * cs;
      if (inChunk + n <= cs) {
        // Within one chunk: a view or zeros, no copy.
        yield this.chunkView(index, inChunk, n) ?? zeros(n);
      } else if (this.#hole(pos, n)) {
        yield zeros(n);
      } else {
        const out = new Uint8Array(n);
        this.readInto(pos, out);
        yield out;
      }
      pos += n;
    }
  }

  /** True when no chunk of `[offset, offset+length)` is allocated. */
  #hole(offset: number, length: number): boolean {
    const cs = this.chunkSize;
    for (let i = Math.floor(offset / cs); i * cs < offset + length; i++) if (this.isAllocated(i * cs)) return false;
    return true;
  }

  async sha256(): Promise<string> {
    const hash = await createSha256();
    for (const piece of this.chunksSync()) hash.update(piece);
    return hash.digestHex();
  }
}

/** A sparse, chunked, growable byte store held in memory. */
export class MemoryImageStore extends BaseImageStore {
  readonly #chunks = new Map<number, Uint8Array>();
  /** Chunks shared with a snapshot: copied before their first write (copy-on-write). */
  readonly #shared = new Set<number>();
  #size: number;

  /**
   * @param size logical size in bytes; default 0 (a tool or a write grows it).
   * @param options chunk size (default 1 MiB).
   */
  constructor(size = 0, options: ImageStoreOptions = {}) {
    super(options.chunkSize ?? DEFAULT_CHUNK_SIZE);
    checkRange(size, 0);
    this.#size = size;
  }

  /**
   * A store holding a copy of `bytes` (all-zero chunks are not allocated).
   * @param options chunk size (default 1 MiB).
   */
  static fromBytes(bytes: Uint8Array, options: ImageStoreOptions = {}): MemoryImageStore {
    const store = new MemoryImageStore(0, options);
    store.write(0, bytes);
    return store;
  }

  /**
   * A store filled from a stream of bytes (e.g. a file or a decompressor), chunk by chunk.
   * @param options chunk size (default 1 MiB).
   */
  static async fromStream(
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options: ImageStoreOptions = {},
  ): Promise<MemoryImageStore> {
    const store = new MemoryImageStore(0, options);
    await fillStore(store, source);
    return store;
  }

  get location(): string {
    return 'memory';
  }

  /** An independent copy (same size, same chunk size, its own chunks). */
  clone(): MemoryImageStore {
    const copy = new MemoryImageStore(this.#size, { chunkSize: this.chunkSize });
    for (const [index, chunk] of this.#chunks) copy.#chunks.set(index, chunk.slice());
    return copy;
  }

  /**
   * A copy that costs no bytes until one side is written: both stores share their chunks
   * and copy a chunk only before writing to it.
   */
  snapshot(): MemoryImageStore {
    const copy = new MemoryImageStore(this.#size, { chunkSize: this.chunkSize });
    for (const [index, chunk] of this.#chunks) {
      copy.#chunks.set(index, chunk);
      copy.#shared.add(index);
      this.#shared.add(index);
    }
    return copy;
  }

  async createScratch(): Promise<ImageStore> {
    return new MemoryImageStore(0, { chunkSize: this.chunkSize });
  }

  /** The chunk at `index`, made private to this store first when it is shared. */
  #writable(index: number): Uint8Array | undefined {
    const chunk = this.#chunks.get(index);
    if (!chunk || !this.#shared.has(index)) return chunk;
    const own = chunk.slice();
    this.#chunks.set(index, own);
    this.#shared.delete(index);
    return own;
  }

  get size(): number {
    return this.#size;
  }

  get allocatedBytes(): number {
    return this.#chunks.size * this.chunkSize;
  }

  /** Number of allocated chunks. */
  get allocatedChunks(): number {
    return this.#chunks.size;
  }

  isAllocated(offset: number): boolean {
    return this.#chunks.has(Math.floor(offset / this.chunkSize));
  }

  protected allocatedIndices(): Iterable<number> {
    return [...this.#chunks.keys()].sort((a, b) => a - b);
  }

  protected chunkView(index: number, inChunk: number, length: number): Uint8Array | undefined {
    return this.#chunks.get(index)?.subarray(inChunk, inChunk + length);
  }

  readInto(offset: number, target: Uint8Array): number {
    checkRange(offset, target.length);
    const end = Math.min(offset + target.length, this.#size);
    if (end <= offset) return 0;
    const cs = this.chunkSize;
    let pos = offset;
    let out = 0;
    while (pos < end) {
      const index = Math.floor(pos / cs);
      const inChunk = pos - index * cs;
      const n = Math.min(cs - inChunk, end - pos);
      const chunk = this.#chunks.get(index);
      if (chunk) target.set(chunk.subarray(inChunk, inChunk + n), out);
      else target.fill(0, out, out + n);
      pos += n;
      out += n;
    }
    return out;
  }

  write(offset: number, data: Uint8Array): void {
    checkRange(offset, data.length);
    const cs = this.chunkSize;
    const end = offset + data.length;
    let pos = offset;
    let src = 0;
    while (pos < end) {
      const index = Math.floor(pos / cs);
      const inChunk = pos - index * cs;
      const n = Math.min(cs - inChunk, end - pos);
      const piece = data.subarray(src, src + n);
      let chunk = this.#writable(index);
      if (!chunk) {
        if (!isAllZero(piece)) {
          chunk = new Uint8Array(cs);
          this.#chunks.set(index, chunk);
          chunk.set(piece, inChunk);
        }
      } else {
        chunk.set(piece, inChunk);
      }
      pos += n;
      src += n;
    }
    if (end > this.#size) this.#size = end;
  }

  /**
   * Shrinking drops whole chunks past the end and zeroes the tail of the last one; growing
   * adds a hole (reads as zeros, no memory).
   */
  truncate(newSize: number): void {
    checkRange(newSize, 0);
    if (newSize < this.#size) {
      const cs = this.chunkSize;
      const lastIndex = Math.floor(newSize / cs);
      for (const index of [...this.#chunks.keys()]) {
        if (index > lastIndex || (index === lastIndex && newSize === index * cs)) {
          this.#chunks.delete(index);
          this.#shared.delete(index);
        }
      }
      const last = this.#writable(lastIndex);
      if (last) last.fill(0, newSize - lastIndex * cs);
    }
    this.#size = newSize;
  }

  punchHole(offset: number, length: number): void {
    checkRange(offset, length);
    const end = Math.min(offset + length, this.#size);
    const cs = this.chunkSize;
    for (let pos = offset; pos < end; ) {
      const index = Math.floor(pos / cs);
      const inChunk = pos - index * cs;
      const n = Math.min(cs - inChunk, end - pos);
      if (this.#chunks.has(index)) {
        if (n === cs) {
          this.#chunks.delete(index);
          this.#shared.delete(index);
        } else {
          this.#writable(index)!.fill(0, inChunk, inChunk + n);
        }
      }
      pos += n;
    }
  }

  /**
   * Frees allocated chunks that hold only zeros (e.g. after a tool zeroed a region).
   * @returns the number of bytes freed.
   */
  compact(): number {
    let freed = 0;
    for (const [index, chunk] of this.#chunks) {
      if (isAllZero(chunk)) {
        this.#chunks.delete(index);
        this.#shared.delete(index);
        freed += this.chunkSize;
      }
    }
    return freed;
  }

  override close(): void {
    this.#chunks.clear();
    this.#shared.clear();
  }
}

/**
 * A file the image lives in, with synchronous positioned I/O: a Node file descriptor or an
 * OPFS `FileSystemSyncAccessHandle`.
 */
export interface StoreBacking {
  /** Where the file is, for messages (a path, or `opfs:<name>`). */
  readonly location: string;
  /** Node: the file's descriptor while open. Optional. */
  hostFd?(): number | undefined;
  /** Reads into `target` at `position`; returns the bytes read (short only at the end of the file). */
  read(position: number, target: Uint8Array): number;
  /** Writes all of `data` at `position`. */
  write(position: number, data: Uint8Array): void;
  /** Sets the file's length (growing leaves a hole where the file system supports it). */
  truncate(size: number): void;
  /**
   * Frees `[offset, offset+length)` so it reads as zeros (fallocate punch-hole). Returns false
   * when the platform cannot (the store then writes zeros instead). Optional.
   */
  punchHole?(offset: number, length: number): boolean;
  /** Makes `[offset, offset+length)` read as zeros (fallocate zero-range); false when it cannot. Optional. */
  zeroRange?(offset: number, length: number): boolean;
  flush(): void;
  /** Closes the file; a temporary file is also removed. */
  close(): void;
  /** A new empty temporary backing of the same kind, removed when closed. Optional. */
  createScratch?(): Promise<StoreBacking>;
}

/** Options of {@link BackedImageStore}. */
export interface BackedImageStoreOptions extends ImageStoreOptions {
  /** Logical size to start with (the file is set to it). Default 0. */
  size?: number;
  /**
   * The file already holds an image: take its current `size` and treat every chunk as
   * allocated (reads go to the file). Default false (the file is emptied).
   */
  existing?: boolean;
}

/** Most bytes of queued writes a {@link BackedImageStore} holds before writing them out. */
const PENDING_CAP = 1 << 20;

/** Bytes per page of a {@link BackedImageStore}'s page cache. */
const PAGE = 4096;

/** Most pages a {@link BackedImageStore} caches (4 MiB) before writing them out and letting them go. */
const MAX_PAGES = 1024;

/** A cached page of the file. */
interface CachedPage {
  /** The page's bytes as the image has them, in `[lo, hi)` (the whole page once read). */
  bytes: Uint8Array;
  lo: number;
  hi: number;
  /** Written and not yet in the file: `[dlo, dhi)`, within `[lo, hi)`; empty when `dlo === dhi`. */
  dlo: number;
  dhi: number;
}

/** Told of every change to a store's bytes, before it is made (see {@link BackedImageStore.writeWatch}). */
export interface WriteWatch {
  /** `[offset, offset+length)` is about to change (written, zeroed, or cut off or added by a resize). */
  touch(offset: number, length: number): void;
}

/**
 * An image stored in a file ({@link StoreBacking}). Memory use is one byte per chunk of
 * allocation map (16 KiB for a 16 GiB image), whatever the image size. Zero writes into
 * holes are skipped, so the file stays sparse; reads of holes do no I/O.
 */
export class BackedImageStore extends BaseImageStore {
  readonly #backing: StoreBacking;
  /** One byte per chunk: 1 when the chunk may hold data. */
  #map: Uint8Array = new Uint8Array(64);
  #allocated = 0;
  #size = 0;
  /** The file's length is behind `#size` (zero writes past the end were skipped). */
  #lengthStale = false;
  #closed = false;
  /**
   * Writes not yet in the file: one contiguous run, extended while writes follow each other
   * (mke2fs writes a file's blocks one by one, 1-4 KiB each), so a run of blocks costs one
   * system call instead of one per block. Written out before any read, resize or flush.
   */
  #pending: Uint8Array | undefined;
  #pendingStart = 0;
  #pendingLength = 0;
  /**
   * Small reads and writes (at most a page) by 4 KiB page of the file. mke2fs and resize2fs
   * read and rewrite the same metadata blocks (inode tables, bitmaps, directories) again and
   * again, 1 KiB at a time: on `closure` at 1/5, 12,077 reads of 1 KiB touched 1,133 pages,
   * and 5,132 writes of at most 4 KiB touched 1,176; a call to the file costs 10-50 us in an
   * OPFS access handle. A write that does not continue the pending run is applied here (a
   * gap between two writes of a page is filled from the file first) and written out later,
   * in order and joined ({@link #writeDirty}); a read of a page not held reads the whole
   * page. No page overlaps the pending run; a larger write first writes out and lets go of
   * the pages it overlaps, and a resize or a hole lets go of them all.
   */
  #pages = new Map<number, CachedPage>();
  /**
   * Pages let go, for reuse. A new object per page, let go a few thousand writes later, piles
   * up in the old generation between full collections: with whole pages of file data cached
   * as well, the system workload's build thread reached 800 MiB of heap (262 MiB live).
   */
  #freePages: CachedPage[] = [];
  /** Pages holding writes not yet in the file. */
  #dirtyPages = 0;
  /** Where neighbouring pages are joined for one write; made once, not per write. */
  #staging: Uint8Array | undefined;
  /**
   * Told of every change to the image's bytes before it is made, however the store then
   * queues it: frames compressed ahead from the file (`frame-speculation.ts`) are dropped
   * when the bytes they were made of change. Default none.
   */
  writeWatch: WriteWatch | undefined;

  constructor(backing: StoreBacking, options: BackedImageStoreOptions = {}) {
    super(options.chunkSize ?? DEFAULT_CHUNK_SIZE);
    this.#backing = backing;
    if (options.existing) {
      if (options.size === undefined) throw new RangeError('an existing backing needs its size');
      checkRange(options.size, 0);
      this.#size = options.size;
      const n = Math.ceil(options.size / this.chunkSize);
      this.#ensure(n);
      this.#map.fill(1, 0, n);
      this.#allocated = n;
    } else {
      const size = options.size ?? 0;
      checkRange(size, 0);
      backing.truncate(0);
      backing.truncate(size);
      this.#size = size;
    }
  }

  get location(): string {
    return this.#backing.location;
  }

  /**
   * The backing's file, when it has a descriptor. Its bytes are the store's: data is written
   * through, a chunk never written is a hole of the file (or past its end), and a chunk let go
   * was truncated away or punched out.
   */
  hostFile(): { fd: number } | undefined {
    this.#open();
    const fd = this.#backing.hostFd?.();
    if (fd === undefined) return undefined;
    this.#drain();
    return { fd };
  }

  get size(): number {
    return this.#size;
  }

  get allocatedBytes(): number {
    return this.#allocated * this.chunkSize;
  }

  #ensure(chunks: number): void {
    if (chunks <= this.#map.length) return;
    let n = this.#map.length;
    while (n < chunks) n *= 2;
    const grown = new Uint8Array(n);
    grown.set(this.#map);
    this.#map = grown;
  }

  #isSet(index: number): boolean {
    return index < this.#map.length && this.#map[index] === 1;
  }

  #set(index: number): void {
    this.#ensure(index + 1);
    if (this.#map[index] === 0) {
      this.#map[index] = 1;
      this.#allocated++;
    }
  }

  #clear(index: number): void {
    if (this.#isSet(index)) {
      this.#map[index] = 0;
      this.#allocated--;
    }
  }

  #open(): void {
    if (this.#closed) throw new Error(`the image store ${this.location} is closed`);
  }

  isAllocated(offset: number): boolean {
    return this.#isSet(Math.floor(offset / this.chunkSize));
  }

  protected *allocatedIndices(): Iterable<number> {
    const last = Math.min(this.#map.length, Math.ceil(this.#size / this.chunkSize));
    for (let i = 0; i < last; i++) if (this.#map[i] === 1) yield i;
  }

  protected chunkView(index: number, inChunk: number, length: number): Uint8Array | undefined {
    if (!this.#isSet(index)) return undefined;
    const out = new Uint8Array(length);
    this.#readFile(index * this.chunkSize + inChunk, out);
    return out;
  }

  /** Queues `data` for the file at `position` (see {@link #pending} and {@link #pages}). */
  #put(position: number, data: Uint8Array): void {
    const length = data.length;
    const n = this.#pendingLength;
    if (n > 0 && position === this.#pendingStart + n && n + length <= PENDING_CAP) {
      this.#dropPagesIn(position, length);
      this.#pending!.set(data, n);
      this.#pendingLength = n + length;
      return;
    }
    const index = Math.floor(position / PAGE);
    // A whole page not held is file data (mke2fs writes a file's 4 KiB blocks once): it joins
    // a run. Parts of pages, and pages held (metadata read before it is changed), are cached.
    if (
      length <= PAGE &&
      Math.floor((position + length - 1) / PAGE) === index &&
      (length < PAGE || this.#pages.has(index))
    ) {
      this.#drainRunOver(index);
      this.#cacheWrite(index, position - index * PAGE, data);
      return;
    }
    this.#drainRun();
    this.#dropPagesIn(position, length);
    if (length >= PENDING_CAP / 2) {
      this.#backing.write(position, data);
      return;
    }
    this.#pending ??= new Uint8Array(PENDING_CAP);
    this.#pending.set(data, 0);
    this.#pendingStart = position;
    this.#pendingLength = length;
  }

  /** Writes the pending run out if it overlaps page `index` (before the page is used). */
  #drainRunOver(index: number): void {
    const n = this.#pendingLength;
    if (n > 0 && this.#pendingStart < (index + 1) * PAGE && this.#pendingStart + n > index * PAGE) this.#drainRun();
  }

  /** A new cached page (all pages are written out and let go first when {@link MAX_PAGES} are held). */
  #newPage(index: number, lo: number, hi: number): CachedPage {
    if (this.#pages.size >= MAX_PAGES) this.#dropPages();
    const page = this.#freePages.pop() ?? { bytes: new Uint8Array(PAGE), lo: 0, hi: 0, dlo: 0, dhi: 0 };
    page.lo = lo;
    page.hi = hi;
    page.dlo = 0;
    page.dhi = 0;
    this.#pages.set(index, page);
    return page;
  }

  /** Applies a write of at most a page to its cached page. */
  #cacheWrite(index: number, at: number, data: Uint8Array): void {
    const end = at + data.length;
    let page = this.#pages.get(index);
    if (!page) page = this.#newPage(index, at, end);
    else if (end < page.lo || at > page.hi) {
      // Not next to what the page holds: the file's bytes between them join it.
      const from = end < page.lo ? end : page.hi;
      const to = end < page.lo ? page.lo : at;
      this.#readBacking(index * PAGE + from, page.bytes.subarray(from, to));
    }
    page.bytes.set(data, at);
    if (at < page.lo) page.lo = at;
    if (end > page.hi) page.hi = end;
    if (page.dlo === page.dhi) {
      this.#dirtyPages++;
      page.dlo = at;
      page.dhi = end;
    } else {
      if (at < page.dlo) page.dlo = at;
      if (end > page.dhi) page.dhi = end;
    }
  }

  /** Reads at most a page through its cached page (read whole from the file when not held). */
  #cacheRead(index: number, at: number, target: Uint8Array): void {
    let page = this.#pages.get(index);
    if (!page) {
      page = this.#newPage(index, 0, PAGE);
      this.#readBacking(index * PAGE, page.bytes);
    } else if (at < page.lo || at + target.length > page.hi) {
      // The page holds only what was written to it: the rest comes from the file.
      if (page.lo > 0) this.#readBacking(index * PAGE, page.bytes.subarray(0, page.lo));
      if (page.hi < PAGE) this.#readBacking(index * PAGE + page.hi, page.bytes.subarray(page.hi));
      page.lo = 0;
      page.hi = PAGE;
    }
    target.set(page.bytes.subarray(at, at + target.length));
  }

  /** Before a write of `[position, position+length)` past the pages: writes out and lets go of those it overlaps. */
  #dropPagesIn(position: number, length: number): void {
    if (this.#pages.size === 0) return;
    const hit: number[] = [];
    this.#eachPageIn(Math.floor(position / PAGE), Math.floor((position + length - 1) / PAGE), (i) => hit.push(i));
    for (const i of hit) {
      const page = this.#pages.get(i)!;
      if (page.dlo !== page.dhi) {
        // What the write does not cover must reach the file first (the write then lands on top).
        const start = i * PAGE;
        if (start + page.dlo < position || start + page.dhi > position + length)
          this.#backing.write(start + page.dlo, page.bytes.subarray(page.dlo, page.dhi));
        this.#dirtyPages--;
      }
      this.#freePages.push(page);
      this.#pages.delete(i);
    }
  }

  /** Writes out every page and lets them all go (before a resize or a hole, or when the cache is full). */
  #dropPages(): void {
    this.#writeDirty();
    for (const page of this.#pages.values()) this.#freePages.push(page);
    this.#pages.clear();
  }

  /** Writes the pages' writes to the file, in order, neighbours joined; the pages stay, clean. */
  #writeDirty(): void {
    if (this.#dirtyPages === 0) return;
    const indices: number[] = [];
    for (const [i, page] of this.#pages) if (page.dlo !== page.dhi) indices.push(i);
    indices.sort((a, b) => a - b);
    this.#dirtyPages = 0;
    // A run of neighbouring pages goes out in one write, through one buffer kept by the store.
    let runFirst = 0;
    let runPages = 0;
    let runLength = 0;
    const flushRun = () => {
      if (runPages === 1) {
        const page = this.#pages.get(runFirst)!;
        this.#backing.write(runFirst * PAGE + page.dlo, page.bytes.subarray(page.dlo, page.dhi));
      } else if (runPages > 1) {
        const staging = (this.#staging ??= new Uint8Array(PENDING_CAP));
        let at = 0;
        for (let i = runFirst; i < runFirst + runPages; i++) {
          const page = this.#pages.get(i)!;
          staging.set(page.bytes.subarray(page.dlo, page.dhi), at);
          at += page.dhi - page.dlo;
        }
        this.#backing.write(runFirst * PAGE + this.#pages.get(runFirst)!.dlo, staging.subarray(0, at));
      }
      runPages = 0;
      runLength = 0;
    };
    for (const i of indices) {
      const page = this.#pages.get(i)!;
      const length = page.dhi - page.dlo;
      const joins =
        runPages > 0 &&
        i === runFirst + runPages &&
        this.#pages.get(i - 1)!.dhi === PAGE &&
        page.dlo === 0 &&
        runLength + length <= PENDING_CAP;
      if (!joins) {
        flushRun();
        runFirst = i;
      }
      runPages++;
      runLength += length;
    }
    flushRun();
    for (const i of indices) {
      const page = this.#pages.get(i)!;
      page.dlo = 0;
      page.dhi = 0;
    }
  }

  /** Writes the pending run to the file. */
  #drainRun(): void {
    if (this.#pendingLength === 0) return;
    const n = this.#pendingLength;
    this.#pendingLength = 0;
    this.#backing.write(this.#pendingStart, this.#pending!.subarray(0, n));
  }

  /** Writes everything queued to the file: the pending run and the pages' writes (they do not overlap). */
  #drain(): void {
    this.#drainRun();
    this.#writeDirty();
  }

  /** Reads the file itself at `position`; what lies past its end reads as zeros. */
  #readBacking(position: number, target: Uint8Array): void {
    let done = 0;
    while (done < target.length) {
      const got = this.#backing.read(position + done, target.subarray(done));
      if (got <= 0) {
        target.fill(0, done);
        return;
      }
      done += got;
    }
  }

  /** Fills `target` with the image's bytes at `position`: the file, with the queued writes. */
  #readFile(position: number, target: Uint8Array): void {
    const end = position + target.length;
    const first = Math.floor(position / PAGE);
    const last = Math.floor((end - 1) / PAGE);
    if (target.length <= PAGE && first === last) {
      this.#drainRunOver(first);
      this.#cacheRead(first, position - first * PAGE, target);
      return;
    }
    if (this.#pendingLength > 0 && position < this.#pendingStart + this.#pendingLength && end > this.#pendingStart)
      this.#drainRun();
    this.#readBacking(position, target);
    if (this.#dirtyPages === 0) return;
    const overlay = (i: number, page: CachedPage) => {
      if (page.dlo === page.dhi) return;
      const from = Math.max(position, i * PAGE + page.dlo);
      const to = Math.min(end, i * PAGE + page.dhi);
      if (from < to) target.set(page.bytes.subarray(from - i * PAGE, to - i * PAGE), from - position);
    };
    this.#eachPageIn(first, last, overlay);
  }

  /** Calls `visit` for each held page from `first` to `last`, walking the range or the pages, whichever is shorter. */
  #eachPageIn(first: number, last: number, visit: (index: number, page: CachedPage) => void): void {
    if (last - first + 1 > this.#pages.size) {
      for (const [i, page] of this.#pages) if (i >= first && i <= last) visit(i, page);
    } else {
      for (let i = first; i <= last; i++) {
        const page = this.#pages.get(i);
        if (page) visit(i, page);
      }
    }
  }

  readInto(offset: number, target: Uint8Array): number {
    checkRange(offset, target.length);
    this.#open();
    const end = Math.min(offset + target.length, this.#size);
    if (end <= offset) return 0;
    const cs = this.chunkSize;
    // Runs of allocated chunks are read with one call; holes are zero-filled.
    let pos = offset;
    while (pos < end) {
      const allocated = this.#isSet(Math.floor(pos / cs));
      let runEnd = Math.min(end, (Math.floor(pos / cs) + 1) * cs);
      while (runEnd < end && this.#isSet(Math.floor(runEnd / cs)) === allocated) runEnd = Math.min(end, runEnd + cs);
      const view = target.subarray(pos - offset, runEnd - offset);
      if (allocated) this.#readFile(pos, view);
      else view.fill(0);
      pos = runEnd;
    }
    return end - offset;
  }

  write(offset: number, data: Uint8Array): void {
    checkRange(offset, data.length);
    this.#open();
    this.writeWatch?.touch(offset, data.length);
    const cs = this.chunkSize;
    const end = offset + data.length;
    // Pieces that go to the file are joined into runs; zero pieces aimed at holes are skipped.
    let runStart = -1;
    let pos = offset;
    while (pos < end) {
      const index = Math.floor(pos / cs);
      const n = Math.min((index + 1) * cs - pos, end - pos);
      const store = this.#isSet(index) || !isAllZero(data.subarray(pos - offset, pos - offset + n));
      if (store) {
        this.#set(index);
        if (runStart < 0) runStart = pos;
      } else if (runStart >= 0) {
        this.#put(runStart, data.subarray(runStart - offset, pos - offset));
        runStart = -1;
      }
      pos += n;
    }
    if (runStart >= 0) this.#put(runStart, data.subarray(runStart - offset, end - offset));
    if (end > this.#size) {
      // A skipped zero tail leaves the file shorter than the image: set its length on flush.
      if (runStart < 0) this.#lengthStale = true;
      this.#size = end;
    }
  }

  truncate(newSize: number): void {
    checkRange(newSize, 0);
    this.#open();
    if (newSize !== this.#size) this.writeWatch?.touch(Math.min(newSize, this.#size), Math.abs(newSize - this.#size));
    this.#drainRun();
    this.#dropPages();
    const holesOnly = this.#allocated === 0;
    if (newSize < this.#size) {
      const cs = this.chunkSize;
      const first = Math.ceil(newSize / cs);
      for (let i = first; i < this.#map.length; i++) this.#clear(i);
    }
    this.#size = newSize;
    if (newSize === 0 && holesOnly) {
      // Nothing but holes in the file: its length is set later (the next truncate, flush or
      // close). On ext4 a truncation to 0 marks the file, and its next close then writes
      // back every page written since (auto_da_alloc): 0.17 s for a 600 MiB image, and its
      // removal waited for that writeback (0.12 s). mkfs empties the new store so.
      this.#lengthStale = true;
      return;
    }
    this.#backing.truncate(newSize);
    this.#lengthStale = false;
  }

  punchHole(offset: number, length: number): void {
    this.#zero(offset, length, true);
  }

  override zeroRange(offset: number, length: number): void {
    this.#zero(offset, length, false);
  }

  #zero(offset: number, length: number, punch: boolean): void {
    checkRange(offset, length);
    this.#open();
    this.writeWatch?.touch(offset, length);
    this.#drainRun();
    this.#dropPages();
    const end = Math.min(offset + length, this.#size);
    const cs = this.chunkSize;
    const b = this.#backing;
    for (let pos = offset; pos < end; ) {
      const index = Math.floor(pos / cs);
      const n = Math.min((index + 1) * cs - pos, end - pos);
      if (this.#isSet(index)) {
        const done = punch ? b.punchHole?.(pos, n) : (b.zeroRange?.(pos, n) ?? b.punchHole?.(pos, n));
        if (!done) b.write(pos, zeros(n));
        if (n === cs) this.#clear(index);
      }
      pos += n;
    }
  }

  async createScratch(): Promise<ImageStore> {
    this.#open();
    this.#drain();
    if (!this.#backing.createScratch) return new MemoryImageStore(0, { chunkSize: this.chunkSize });
    return new BackedImageStore(await this.#backing.createScratch(), { chunkSize: this.chunkSize });
  }

  override flush(): void {
    this.#open();
    this.#drain();
    if (this.#lengthStale) {
      this.#backing.truncate(this.#size);
      this.#lengthStale = false;
    }
    this.#backing.flush();
  }

  /** Closes the backing (a temporary file is removed); the store cannot be used afterwards. */
  override close(): void {
    if (this.#closed) return;
    try {
      this.#drain();
      if (this.#lengthStale) this.#backing.truncate(this.#size);
    } finally {
      this.#closed = true;
      this.#backing.close();
    }
  }
}

/** Writes a byte stream into `store` from offset 0 on; returns the bytes written. */
export async function fillStore(
  store: ImageStore,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  signal?: AbortSignal,
): Promise<number> {
  let offset = 0;
  for await (const piece of source) {
    signal?.throwIfAborted();
    store.write(offset, piece);
    offset += piece.length;
  }
  return offset;
}

/**
 * A store that can be put back as it was: every chunk is copied to a scratch store
 * (same kind as the base: memory, or a temporary file) before its first change, so an
 * edit that fails is rolled back for the price of the chunks it touched. Reads go to the
 * base. Finish with {@link commit} or {@link rollback}.
 */
export class UndoableImageStore implements ImageStore {
  readonly #base: ImageStore;
  readonly #scratch: ImageStore;
  readonly #origSize: number;
  /** Chunk index -> whether it was allocated, for chunks saved to the scratch store. */
  readonly #saved = new Map<number, boolean>();
  #done = false;

  private constructor(base: ImageStore, scratch: ImageStore) {
    this.#base = base;
    this.#scratch = scratch;
    this.#origSize = base.size;
  }

  /** Starts recording changes to `base` (which must not be written to except through the result). */
  static async begin(base: ImageStore): Promise<UndoableImageStore> {
    return new UndoableImageStore(base, await base.createScratch());
  }

  get chunkSize(): number {
    return this.#base.chunkSize;
  }
  get size(): number {
    return this.#base.size;
  }
  get allocatedBytes(): number {
    return this.#base.allocatedBytes;
  }
  get location(): string {
    return this.#base.location;
  }
  /** Chunks saved so far (the price of the undo log). */
  get savedChunks(): number {
    return this.#saved.size;
  }

  #active(): void {
    if (this.#done) throw new Error('this change was already committed or rolled back');
  }

  /** Saves the chunks of `[offset, end)` that existed before the change, once each. */
  #save(offset: number, end: number, onlyAllocated: boolean): void {
    const cs = this.chunkSize;
    const stop = Math.min(end, this.#origSize);
    for (let i = Math.floor(offset / cs); i * cs < stop; i++) {
      if (this.#saved.has(i)) continue;
      const allocated = this.#base.isAllocated(i * cs);
      if (!allocated && onlyAllocated) continue;
      if (allocated) {
        const bytes = this.#base.read(i * cs, Math.min(cs, this.#origSize - i * cs));
        this.#scratch.write(i * cs, bytes);
      }
      this.#saved.set(i, allocated);
    }
  }

  isAllocated(offset: number): boolean {
    return this.#base.isAllocated(offset);
  }
  readInto(offset: number, target: Uint8Array): number {
    return this.#base.readInto(offset, target);
  }
  read(offset: number, length: number): Uint8Array {
    return this.#base.read(offset, length);
  }
  extents(): IterableIterator<StoreExtent> {
    return this.#base.extents();
  }
  chunks(options?: ChunkStreamOptions): AsyncIterableIterator<Uint8Array> {
    return this.#base.chunks(options);
  }
  chunksSync(options?: ChunkStreamOptions): IterableIterator<Uint8Array> {
    return this.#base.chunksSync(options);
  }
  sha256(): Promise<string> {
    return this.#base.sha256();
  }
  createScratch(): Promise<ImageStore> {
    return this.#base.createScratch();
  }
  flush(): void {
    this.#base.flush();
  }

  write(offset: number, data: Uint8Array): void {
    this.#active();
    checkRange(offset, data.length);
    this.#save(offset, offset + data.length, false);
    this.#base.write(offset, data);
  }

  truncate(newSize: number): void {
    this.#active();
    checkRange(newSize, 0);
    if (newSize < this.#base.size) {
      // Only allocated chunks lose data; holes read as zeros before and after.
      for (const e of this.#base.extents()) {
        if (e.offset + e.length > newSize) this.#save(Math.max(e.offset, newSize), e.offset + e.length, true);
      }
    }
    this.#base.truncate(newSize);
  }

  punchHole(offset: number, length: number): void {
    this.#active();
    checkRange(offset, length);
    this.#save(offset, offset + length, true);
    this.#base.punchHole(offset, length);
  }

  zeroRange(offset: number, length: number): void {
    this.#active();
    checkRange(offset, length);
    this.#save(offset, offset + length, true);
    this.#base.zeroRange(offset, length);
  }

  /** Keeps the changes and drops the undo data. */
  commit(): void {
    if (this.#done) return;
    this.#done = true;
    this.#scratch.close();
  }

  /** Puts the base back exactly as it was at {@link begin}. */
  rollback(): void {
    if (this.#done) return;
    this.#done = true;
    try {
      const cs = this.chunkSize;
      this.#base.truncate(Math.min(this.#base.size, this.#origSize));
      this.#base.truncate(this.#origSize);
      for (const [i, allocated] of this.#saved) {
        const n = Math.min(cs, this.#origSize - i * cs);
        if (allocated) this.#base.write(i * cs, this.#scratch.read(i * cs, n));
        else this.#base.punchHole(i * cs, n);
      }
    } finally {
      this.#scratch.close();
    }
  }

  /** Rolls back if still open (the base stays open: it belongs to the caller). */
  close(): void {
    this.rollback();
  }
}

/** Where new image stores are made: memory, temporary host files (Node), or OPFS files (browsers). */
export interface ImageStorage {
  /** What kind of storage, for messages: `memory`, `file`, `opfs`. */
  readonly kind: string;
  /**
   * A new empty store. `hint` names it (part of a temporary file's name); `expectedBytes`
   * is the size it will reach, when known (a storage may refuse what it cannot hold).
   */
  create(hint: string, expectedBytes?: number): Promise<ImageStore>;
}

/** Stores in memory ({@link MemoryImageStore}). */
export const memoryStorage: ImageStorage = {
  kind: 'memory',
  create: async () => new MemoryImageStore(),
};

/**
 * An image seen through a copy-on-write overlay: reads come from `base` (read-only, e.g.
 * the opened file itself) until a chunk is changed; the first change to a chunk copies it
 * into `overlay` (memory, a temporary file, an OPFS file), which holds it from then on.
 * Opening a large image then costs nothing up front, and the base file is never written.
 */
export class OverlayImageStore extends BaseImageStore {
  readonly #base: ImageStore;
  readonly #overlay: ImageStore;
  readonly #baseSize: number;
  /** One byte per chunk: 1 when the overlay holds the chunk (its bytes, or zeros). */
  #owned: Uint8Array = new Uint8Array(64);
  #size: number;

  /** @param overlay an empty store; its chunk size must equal the base's. */
  constructor(base: ImageStore, overlay: ImageStore) {
    super(base.chunkSize);
    if (overlay.chunkSize !== base.chunkSize) throw new RangeError('the overlay needs the base store chunk size');
    this.#base = base;
    this.#overlay = overlay;
    this.#baseSize = base.size;
    this.#size = base.size;
    overlay.truncate(base.size);
  }

  get size(): number {
    return this.#size;
  }

  get allocatedBytes(): number {
    return this.#overlay.allocatedBytes;
  }

  get location(): string {
    return `${this.#overlay.location} over ${this.#base.location}`;
  }

  /** Chunks the overlay holds (copied or written since opening). */
  get ownedChunks(): number {
    let n = 0;
    for (const b of this.#owned) n += b;
    return n;
  }

  #isOwned(index: number): boolean {
    return index < this.#owned.length && this.#owned[index] === 1;
  }

  /** Makes the overlay hold chunk `index`, copying the base's bytes unless `whole` is overwritten. */
  #own(index: number, whole: boolean): void {
    if (this.#isOwned(index)) return;
    if (index >= this.#owned.length) {
      let n = this.#owned.length;
      while (n <= index) n *= 2;
      const grown = new Uint8Array(n);
      grown.set(this.#owned);
      this.#owned = grown;
    }
    this.#owned[index] = 1;
    const cs = this.chunkSize;
    const start = index * cs;
    if (whole || start >= this.#baseSize || !this.#base.isAllocated(start)) return;
    const end = Math.min(start + cs, this.#baseSize, this.#size);
    if (end > start) this.#overlay.write(start, this.#base.read(start, end - start));
  }

  isAllocated(offset: number): boolean {
    const index = Math.floor(offset / this.chunkSize);
    if (this.#isOwned(index)) return this.#overlay.isAllocated(offset);
    return offset < this.#baseSize && offset < this.#size && this.#base.isAllocated(offset);
  }

  protected *allocatedIndices(): Iterable<number> {
    const cs = this.chunkSize;
    const last = Math.ceil(this.#size / cs);
    for (let i = 0; i < last; i++) if (this.isAllocated(i * cs)) yield i;
  }

  protected chunkView(index: number, inChunk: number, length: number): Uint8Array | undefined {
    if (!this.isAllocated(index * this.chunkSize)) return undefined;
    const out = new Uint8Array(length);
    this.readInto(index * this.chunkSize + inChunk, out);
    return out;
  }

  readInto(offset: number, target: Uint8Array): number {
    checkRange(offset, target.length);
    const end = Math.min(offset + target.length, this.#size);
    if (end <= offset) return 0;
    const cs = this.chunkSize;
    for (let pos = offset; pos < end; ) {
      const index = Math.floor(pos / cs);
      const n = Math.min((index + 1) * cs - pos, end - pos);
      const view = target.subarray(pos - offset, pos - offset + n);
      if (this.#isOwned(index)) this.#overlay.readInto(pos, view);
      else if (pos < this.#baseSize) {
        const got = this.#base.readInto(pos, view.subarray(0, Math.min(n, this.#baseSize - pos)));
        view.fill(0, got);
      } else view.fill(0);
      pos += n;
    }
    return end - offset;
  }

  write(offset: number, data: Uint8Array): void {
    checkRange(offset, data.length);
    const cs = this.chunkSize;
    const end = offset + data.length;
    for (let pos = offset; pos < end; ) {
      const index = Math.floor(pos / cs);
      const next = (index + 1) * cs;
      const n = Math.min(next - pos, end - pos);
      if (!this.#isOwned(index)) {
        // Zeros into a hole of the base need no copy.
        const piece = data.subarray(pos - offset, pos - offset + n);
        if (!(pos >= this.#baseSize || !this.#base.isAllocated(pos)) || !isAllZero(piece))
          this.#own(index, pos === index * cs && n === cs);
      }
      pos += n;
    }
    if (end > this.#size) this.#size = end;
    this.#overlay.write(offset, data);
  }

  truncate(newSize: number): void {
    checkRange(newSize, 0);
    if (newSize < this.#size) {
      // What lies past the new end must read as zeros if the image grows again: the
      // overlay takes those chunks over (as holes), and the cut one keeps its head.
      const cs = this.chunkSize;
      const first = Math.floor(newSize / cs);
      const stop = Math.ceil(Math.min(this.#size, this.#baseSize) / cs);
      if (newSize % cs !== 0) this.#own(first, false);
      for (let i = newSize % cs !== 0 ? first + 1 : first; i < stop; i++) this.#own(i, true);
    }
    this.#overlay.truncate(newSize);
    this.#size = newSize;
  }

  punchHole(offset: number, length: number): void {
    this.#zero(offset, length, true);
  }

  override zeroRange(offset: number, length: number): void {
    this.#zero(offset, length, false);
  }

  #zero(offset: number, length: number, punch: boolean): void {
    checkRange(offset, length);
    const end = Math.min(offset + length, this.#size);
    const cs = this.chunkSize;
    for (let pos = offset; pos < end; ) {
      const index = Math.floor(pos / cs);
      const n = Math.min((index + 1) * cs - pos, end - pos);
      if (!this.#isOwned(index) && pos < this.#baseSize && this.#base.isAllocated(pos))
        this.#own(index, pos === index * cs && n === cs);
      pos += n;
    }
    if (end > offset) {
      if (punch) this.#overlay.punchHole(offset, end - offset);
      else this.#overlay.zeroRange(offset, end - offset);
    }
  }

  createScratch(): Promise<ImageStore> {
    return this.#overlay.createScratch();
  }

  override flush(): void {
    this.#overlay.flush();
  }

  /** Closes the overlay and the base. */
  override close(): void {
    try {
      this.#overlay.close();
    } finally {
      this.#base.close();
    }
  }
}
