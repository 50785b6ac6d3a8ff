/**
 * A disk image as a sparse, chunked byte store.
 *
 * The image lives in fixed-size chunks (1 MiB by default) kept in a Map keyed by chunk
 * index. Chunks that were never written read as zeros and take no memory, and writing
 * all-zero data into a missing chunk allocates nothing, so memory follows the data, not
 * the nominal size. There is no single ArrayBuffer, so an image can exceed 4 GiB (the
 * limit is `Number.MAX_SAFE_INTEGER`).
 *
 * The same store object is mounted into successive tool instances (see `image-fs.ts`);
 * nothing is copied between runs, and a truncation done by one tool (`resize2fs -M`) is
 * what the next tool sees.
 *
 * Invariant: bytes of an allocated chunk that lie at or beyond `size` are zero, so growing
 * the store (by `truncate` or by a write past the end) exposes zeros only.
 */

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

/** A sparse, chunked, growable byte store holding one disk image. */
export class ImageStore {
  /** Chunk size in bytes. */
  readonly chunkSize: number;
  readonly #chunks = new Map<number, Uint8Array>();
  /** Chunks shared with a snapshot: copied before their first write (copy-on-write). */
  readonly #shared = new Set<number>();
  #size: number;

  /**
   * @param size logical size in bytes; default 0 (a tool or a write grows it).
   * @param options chunk size (default 1 MiB).
   */
  constructor(size = 0, options: ImageStoreOptions = {}) {
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (
      !Number.isInteger(chunkSize) ||
      chunkSize < 4096 ||
      chunkSize > 1 << 26 ||
      (chunkSize & (chunkSize - 1)) !== 0
    ) {
      throw new RangeError(`chunkSize must be a power of two between 4 KiB and 64 MiB, got ${chunkSize}`);
    }
    checkRange(size, 0);
    this.chunkSize = chunkSize;
    this.#size = size;
  }

  /**
   * A store holding a copy of `bytes` (all-zero chunks are not allocated).
   * @param options chunk size (default 1 MiB).
   */
  static fromBytes(bytes: Uint8Array, options: ImageStoreOptions = {}): ImageStore {
    const store = new ImageStore(0, options);
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
  ): Promise<ImageStore> {
    const store = new ImageStore(0, options);
    let offset = 0;
    for await (const piece of source) {
      store.write(offset, piece);
      offset += piece.length;
    }
    return store;
  }

  /** An independent copy (same size, same chunk size, its own chunks). */
  clone(): ImageStore {
    const copy = new ImageStore(this.#size, { chunkSize: this.chunkSize });
    for (const [index, chunk] of this.#chunks) copy.#chunks.set(index, chunk.slice());
    return copy;
  }

  /**
   * A copy that costs no bytes until one side is written: both stores share their chunks
   * and copy a chunk only before writing to it. Keeps an image's state before a change
   * (to roll back a failed edit) for the price of the chunks the change touches.
   */
  snapshot(): ImageStore {
    const copy = new ImageStore(this.#size, { chunkSize: this.chunkSize });
    for (const [index, chunk] of this.#chunks) {
      copy.#chunks.set(index, chunk);
      copy.#shared.add(index);
      this.#shared.add(index);
    }
    return copy;
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

  /** Logical size of the image in bytes. */
  get size(): number {
    return this.#size;
  }

  /** Bytes of memory held by allocated chunks. */
  get allocatedBytes(): number {
    return this.#chunks.size * this.chunkSize;
  }

  /** Number of allocated chunks. */
  get allocatedChunks(): number {
    return this.#chunks.size;
  }

  /** Whether the chunk holding byte `offset` is allocated (false means it reads as zeros). */
  isAllocated(offset: number): boolean {
    return this.#chunks.has(Math.floor(offset / this.chunkSize));
  }

  /**
   * Copies image bytes from `offset` into `target` (reads stop at the end of the image).
   * @returns the number of bytes copied (less than `target.length` only at the end).
   */
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

  /** A fresh copy of up to `length` bytes at `offset` (shorter at the end of the image). */
  read(offset: number, length: number): Uint8Array {
    checkRange(offset, length);
    const n = Math.max(0, Math.min(length, this.#size - offset));
    const out = new Uint8Array(n);
    this.readInto(offset, out);
    return out;
  }

  /**
   * Writes `data` at `offset`, growing the image when writing past its end. Zero data aimed
   * at an unallocated chunk allocates nothing. `data` is copied; the caller keeps it.
   */
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
   * Sets the logical size. Shrinking drops whole chunks past the end and zeroes the tail
   * of the last one; growing adds a hole (reads as zeros, no memory).
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

  /** Allocated runs of the image in ascending order (adjacent chunks merged, clipped to the size). */
  *extents(): IterableIterator<StoreExtent> {
    const indices = [...this.#chunks.keys()].sort((a, b) => a - b);
    let start = -1;
    let endIndex = -1;
    for (const index of indices) {
      if (start >= 0 && index === endIndex) {
        endIndex = index + 1;
        continue;
      }
      if (start >= 0) yield this.#clipExtent(start, endIndex);
      start = index;
      endIndex = index + 1;
    }
    if (start >= 0) yield this.#clipExtent(start, endIndex);
  }

  #clipExtent(startIndex: number, endIndex: number): StoreExtent {
    const offset = startIndex * this.chunkSize;
    const end = Math.min(endIndex * this.chunkSize, this.#size);
    return { offset, length: Math.max(0, end - offset) };
  }

  /**
   * Streams the logical image from start to end: allocated data and zeros for holes. Yielded
   * arrays may be views into the store or a shared zero buffer: treat them as read-only and
   * consume each before the store is written again.
   */
  async *chunks(options: ChunkStreamOptions = {}): AsyncIterableIterator<Uint8Array> {
    yield* this.chunksSync(options);
  }

  /** Synchronous form of {@link chunks}. */
  *chunksSync(options: ChunkStreamOptions = {}): IterableIterator<Uint8Array> {
    const cs = this.chunkSize;
    const pieceSize = options.pieceSize ?? cs;
    if (!Number.isSafeInteger(pieceSize) || pieceSize <= 0) throw new RangeError(`bad pieceSize ${pieceSize}`);
    let pos = 0;
    while (pos < this.#size) {
      options.signal?.throwIfAborted();
      const n = Math.min(pieceSize, this.#size - pos);
      const index = Math.floor(pos / cs);
      const inChunk = pos - index * cs;
      if (inChunk + n <= cs) {
        // Within one chunk: a view or zeros, no copy.
        const chunk = this.#chunks.get(index);
        yield chunk ? chunk.subarray(inChunk, inChunk + n) : zeros(n);
      } else {
        const out = new Uint8Array(n);
        this.readInto(pos, out);
        yield out;
      }
      pos += n;
    }
  }

  /** sha256 of the logical image, lowercase hex. Uses node:crypto when present, else a JS implementation. */
  async sha256(): Promise<string> {
    const hash = await createSha256();
    for (const piece of this.chunksSync()) hash.update(piece);
    return hash.digestHex();
  }
}

/** A streaming sha256. */
export interface Sha256 {
  update(bytes: Uint8Array): void;
  digestHex(): string;
}

type NodeCrypto = typeof import('node:crypto');

/** A streaming sha256: node:crypto in Node, `hash-wasm` elsewhere. */
export async function createSha256(): Promise<Sha256> {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const crypto = proc?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;
  if (crypto) {
    const h = crypto.createHash('sha256');
    return {
      update: (bytes) => void h.update(bytes),
      digestHex: () => h.digest('hex'),
    };
  }
  // Browsers: a WebAssembly SHA-256, about twice as fast as a JS one (the output's hash is
  // on the save path of every build).
  const { createSHA256 } = await import('hash-wasm');
  const h = await createSHA256();
  h.init();
  return {
    update: (bytes) => void h.update(bytes),
    digestHex: () => h.digest('hex'),
  };
}
