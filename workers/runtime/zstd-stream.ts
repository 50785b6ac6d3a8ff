/**
 * Streaming zstd over the wasm build of libzstd (`wasm/zstd`: ZSTD_compressStream2 and
 * ZSTD_decompressStream behind a small C wrapper). Frames match the native command line:
 * content checksum on, and the content size recorded in the frame header when the
 * caller knows it (the CLI does so for files). Each stream gets its own module instance
 * (from the cached compiled module), freed with it.
 */
import { compileTool, instantiateNow, loadToolFactory } from './wasm-modules.ts';
import type { EmModuleConfig } from './emscripten-types.ts';

/** The wrapper's exports (see wasm/zstd/zstd_stream.c). Pointers are unsigned 32-bit. */
export interface ZstdExports {
  HEAPU8: Uint8Array;
  UTF8ToString(ptr: number): string;
  _malloc(size: number): number;
  _free(ptr: number): void;
  _zs_compressor_new(level: number, pledgedSize: number): number;
  _zs_compress(s: number, src: number, srcSize: number, dst: number, dstCap: number, endOp: number): number;
  _zs_compressor_free(s: number): void;
  _zs_decompressor_new(windowLogMax: number): number;
  _zs_decompress(s: number, src: number, srcSize: number, dst: number, dstCap: number): number;
  _zs_decompressor_free(s: number): void;
  _zs_in_pos(s: number): number;
  _zs_out_pos(s: number): number;
  _zs_is_error(code: number): number;
  _zs_error_name(code: number): number;
  _zs_compress_in_size(): number;
  _zs_compress_out_size(): number;
  _zs_decompress_in_size(): number;
  _zs_decompress_out_size(): number;
  _zs_max_level(): number;
}

const ZS_CONTINUE = 0;
const ZS_END = 2;

/** Options of {@link compressStream}. */
export interface CompressOptions {
  /** zstd level, 1..19 (up to 22 accepted). Default 3. */
  level?: number;
  /**
   * Exact number of input bytes, recorded in the frame header (as `zstd` does for a file).
   * Compression fails if the input has another size. Default: unknown (not recorded).
   */
  contentSize?: number;
  /** Stops with the signal's reason between pieces of work. */
  signal?: AbortSignal;
}

/** Options of {@link decompressStream}. */
export interface DecompressOptions {
  /** Largest window accepted, as log2 (like `zstd --long=N`); 0 = zstd's default (27). Default 0. */
  windowLogMax?: number;
  signal?: AbortSignal;
}

/** A zstd failure (corrupt input, wrong pledged size, ...). */
export class ZstdError extends Error {
  override name = 'ZstdError';
}

/** A fresh zstd instance, from `wasmModule` (default: the cached compiled module). */
export async function instantiateZstd(compiled?: WebAssembly.Module): Promise<ZstdExports> {
  const [factory, wasmModule] = await Promise.all([loadToolFactory('zstd'), compiled ?? compileTool('zstd')]);
  let fail: (e: unknown) => void = () => {};
  const failed = new Promise<never>((_, reject) => (fail = reject));
  const config: EmModuleConfig = {
    noInitialRun: true,
    quit: (_status: number, toThrow: unknown): never => {
      throw toThrow;
    },
    print: () => {},
    printErr: () => {},
    instantiateWasm: (imports, receive) => instantiateNow(wasmModule, imports, receive, fail),
  };
  return (await Promise.race([factory(config), failed])) as unknown as ZstdExports;
}

function errorText(z: ZstdExports, code: number): string {
  return z.UTF8ToString(z._zs_error_name(code) >>> 0);
}

/**
 * A synchronous zstd compressor on its own wasm instance: feed bytes with
 * {@link push}, finish with {@link end}. Output arrays are fresh copies.
 */
export class ZstdCompressor {
  #z: ZstdExports;
  #s: number;
  #in: number;
  #inCap: number;
  #out: number;
  #outCap: number;
  #consumed = 0;
  #done = false;

  private constructor(z: ZstdExports, s: number) {
    this.#z = z;
    this.#s = s;
    this.#inCap = Math.max(z._zs_compress_in_size() >>> 0, 1 << 20);
    this.#outCap = Math.max(z._zs_compress_out_size() >>> 0, 1 << 18);
    this.#in = z._malloc(this.#inCap) >>> 0;
    this.#out = z._malloc(this.#outCap) >>> 0;
    if (!this.#in || !this.#out) throw new ZstdError('zstd: out of memory');
  }

  /** A compressor at `level` (default 3), recording `contentSize` when given. */
  static async create(options: Omit<CompressOptions, 'signal'> = {}): Promise<ZstdCompressor> {
    const level = options.level ?? 3;
    if (!Number.isInteger(level) || level < -7 || level > 22)
      throw new RangeError(`zstd level must be an integer up to 22, got ${level}`);
    const size = options.contentSize;
    if (size !== undefined && (!Number.isSafeInteger(size) || size < 0))
      throw new RangeError(`bad contentSize ${size}`);
    const z = await instantiateZstd();
    const s = z._zs_compressor_new(level, size ?? -1) >>> 0;
    if (!s) throw new ZstdError(`zstd: cannot set up a compressor (level ${level})`);
    return new ZstdCompressor(z, s);
  }

  /** Input bytes consumed so far. */
  get bytesIn(): number {
    return this.#consumed;
  }

  #run(src: number, n: number, op: number, out: Uint8Array[]): number {
    const z = this.#z;
    const r = z._zs_compress(this.#s, src, n, this.#out, this.#outCap, op);
    if (z._zs_is_error(r)) throw new ZstdError(`zstd: ${errorText(z, r)}`);
    const produced = z._zs_out_pos(this.#s) >>> 0;
    if (produced) out.push(z.HEAPU8.slice(this.#out, this.#out + produced));
    return r >>> 0;
  }

  /** Compresses `data`; returns whatever output is ready (often nothing: zstd buffers a block). */
  push(data: Uint8Array): Uint8Array[] {
    if (this.#done) throw new ZstdError('zstd: push after end');
    const out: Uint8Array[] = [];
    const z = this.#z;
    let off = 0;
    while (off < data.length) {
      const n = Math.min(this.#inCap, data.length - off);
      z.HEAPU8.set(data.subarray(off, off + n), this.#in);
      let pos = 0;
      while (pos < n) {
        this.#run(this.#in + pos, n - pos, ZS_CONTINUE, out);
        pos += z._zs_in_pos(this.#s) >>> 0;
      }
      off += n;
    }
    this.#consumed += data.length;
    return out;
  }

  /** Ends the frame (epilogue and checksum) and frees the instance's buffers. */
  end(): Uint8Array[] {
    if (this.#done) return [];
    const out: Uint8Array[] = [];
    try {
      while (this.#run(0, 0, ZS_END, out) !== 0) {
        // more to flush
      }
    } finally {
      this.free();
    }
    return out;
  }

  /** Releases the wasm memory (also after an error). */
  free(): void {
    if (this.#done) return;
    this.#done = true;
    const z = this.#z;
    z._zs_compressor_free(this.#s);
    z._free(this.#in);
    z._free(this.#out);
  }
}

/**
 * A synchronous zstd decompressor on its own wasm instance. Accepts concatenated frames
 * (and skippable frames); {@link end} fails if the input stopped inside a frame.
 */
export class ZstdDecompressor {
  #z: ZstdExports;
  #s: number;
  #in: number;
  #inCap: number;
  #out: number;
  #outCap: number;
  /** Last zstd result: 0 at a frame boundary. */
  #last = 0;
  #sawInput = false;
  #done = false;

  private constructor(z: ZstdExports, s: number) {
    this.#z = z;
    this.#s = s;
    this.#inCap = Math.max(z._zs_decompress_in_size() >>> 0, 1 << 18);
    this.#outCap = Math.max(z._zs_decompress_out_size() >>> 0, 1 << 20);
    this.#in = z._malloc(this.#inCap) >>> 0;
    this.#out = z._malloc(this.#outCap) >>> 0;
    if (!this.#in || !this.#out) throw new ZstdError('zstd: out of memory');
  }

  /** A decompressor; `windowLogMax` as for `zstd --long` (default zstd's limit). */
  static async create(options: Omit<DecompressOptions, 'signal'> = {}): Promise<ZstdDecompressor> {
    const z = await instantiateZstd();
    const s = z._zs_decompressor_new(options.windowLogMax ?? 0) >>> 0;
    if (!s) throw new ZstdError('zstd: cannot set up a decompressor');
    return new ZstdDecompressor(z, s);
  }

  #step(src: number, n: number, out: Uint8Array[]): { consumed: number; full: boolean; frameDone: boolean } {
    const z = this.#z;
    const r = z._zs_decompress(this.#s, src, n, this.#out, this.#outCap);
    if (z._zs_is_error(r)) throw new ZstdError(`zstd: ${errorText(z, r)}`);
    this.#last = r >>> 0;
    const produced = z._zs_out_pos(this.#s) >>> 0;
    if (produced) out.push(z.HEAPU8.slice(this.#out, this.#out + produced));
    return { consumed: z._zs_in_pos(this.#s) >>> 0, full: produced === this.#outCap, frameDone: this.#last === 0 };
  }

  /**
   * Decompresses `data`, yielding the output one buffer (at most 1 MiB) at a time, only as
   * the caller pulls: a few KiB of hostile input can expand to many GiB, so nothing is
   * produced ahead of the consumer. Finish iterating before the next call.
   */
  *pieces(data: Uint8Array): Generator<Uint8Array, void, undefined> {
    if (this.#done) throw new ZstdError('zstd: push after end');
    const z = this.#z;
    if (data.length) this.#sawInput = true;
    const out: Uint8Array[] = [];
    let off = 0;
    while (off < data.length) {
      const n = Math.min(this.#inCap, data.length - off);
      z.HEAPU8.set(data.subarray(off, off + n), this.#in);
      let pos = 0;
      for (;;) {
        const { consumed, full, frameDone } = this.#step(this.#in + pos, n - pos, out);
        pos += consumed;
        if (out.length) yield out.pop()!;
        // A full output buffer may hide more output: call again, unless the frame is
        // complete (another call without input would start waiting for a next frame).
        if (pos >= n && (!full || frameDone)) break;
      }
      off += n;
    }
  }

  /** Decompresses `data`; returns all the output it completes (unbounded: prefer {@link pieces}). */
  push(data: Uint8Array): Uint8Array[] {
    return [...this.pieces(data)];
  }

  /** Checks that the input ended on a frame boundary and frees the instance's buffers. */
  end(): Uint8Array[] {
    if (this.#done) return [];
    const out: Uint8Array[] = [];
    try {
      // push() drains zstd's output before it returns, so nothing is pending here (and a
      // call without input now would start expecting a next frame).
      if (!this.#sawInput) throw new ZstdError('zstd: empty input (no frame)');
      if (this.#last !== 0) throw new ZstdError('zstd: input ends inside a frame (truncated)');
    } finally {
      this.free();
    }
    return out;
  }

  /** Releases the wasm memory (also after an error). */
  free(): void {
    if (this.#done) return;
    this.#done = true;
    const z = this.#z;
    z._zs_decompressor_free(this.#s);
    z._free(this.#in);
    z._free(this.#out);
  }
}

/** Iterates a ReadableStream or an (async) iterable of bytes. */
async function* bytesOf(
  source: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): AsyncIterable<Uint8Array> {
  if (typeof (source as ReadableStream<Uint8Array>).getReader === 'function') {
    const reader = (source as ReadableStream<Uint8Array>).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  } else {
    yield* source as AsyncIterable<Uint8Array>;
  }
}

/**
 * Compresses a byte stream into one zstd frame (checksum on, content size in the header
 * when `contentSize` is given). Yields compressed pieces as zstd produces them.
 */
export async function* compressStream(
  source: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: CompressOptions = {},
): AsyncIterableIterator<Uint8Array> {
  options.signal?.throwIfAborted();
  const c = await ZstdCompressor.create(options);
  try {
    for await (const piece of bytesOf(source)) {
      options.signal?.throwIfAborted();
      yield* c.push(piece);
    }
    options.signal?.throwIfAborted();
    yield* c.end();
  } finally {
    c.free();
  }
}

/** Decompresses a zstd stream (one or more frames). Fails on corrupt or truncated input. */
export async function* decompressStream(
  source: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: DecompressOptions = {},
): AsyncIterableIterator<Uint8Array> {
  options.signal?.throwIfAborted();
  const d = await ZstdDecompressor.create(options);
  try {
    for await (const piece of bytesOf(source)) {
      options.signal?.throwIfAborted();
      for (const out of d.pieces(piece)) {
        yield out;
        options.signal?.throwIfAborted();
      }
    }
    yield* d.end();
  } finally {
    d.free();
  }
}

/** What the two transform adapters need of a codec. */
interface StreamCodec {
  push(chunk: Uint8Array): Iterable<Uint8Array>;
  end(): Iterable<Uint8Array>;
  free(): void;
}

/** A `TransformStream` over a codec, freed when the stream ends or fails. */
function codecTransform(create: () => Promise<StreamCodec>): TransformStream<Uint8Array, Uint8Array> {
  let codec: StreamCodec;
  return new TransformStream<Uint8Array, Uint8Array>({
    async start() {
      codec = await create();
    },
    transform(chunk, controller) {
      try {
        for (const out of codec.push(chunk)) controller.enqueue(out);
      } catch (e) {
        codec.free();
        throw e;
      }
    },
    flush(controller) {
      try {
        for (const out of codec.end()) controller.enqueue(out);
      } finally {
        codec.free();
      }
    },
  });
}

/** A `TransformStream` compressing its input into one zstd frame (see {@link compressStream}). */
export function createCompressionStream(
  options: Omit<CompressOptions, 'signal'> = {},
): TransformStream<Uint8Array, Uint8Array> {
  return codecTransform(() => ZstdCompressor.create(options));
}

/** A `TransformStream` decompressing zstd (see {@link decompressStream}). */
export function createDecompressionStream(
  options: Omit<DecompressOptions, 'signal'> = {},
): TransformStream<Uint8Array, Uint8Array> {
  return codecTransform(() => ZstdDecompressor.create(options));
}

/**
 * A zstd-decompressing ReadableStream that produces output only as it is read (at most one
 * buffer of up to 1 MiB ahead): unlike a TransformStream, whose `transform` must emit all
 * the output of an input chunk at once, a bomb cannot fill memory here.
 */
export function decompressReadable(
  input: ReadableStream<Uint8Array>,
  options: Omit<DecompressOptions, 'signal'> = {},
): ReadableStream<Uint8Array> {
  const it = decompressStream(input, options);
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const r = await it.next();
        if (r.done) controller.close();
        else controller.enqueue(r.value);
      },
      async cancel() {
        await it.return?.(undefined);
      },
    },
    { highWaterMark: 0 },
  );
}

/** The stream decompressors input parsing needs (`resolveInputs`' `decompressors`): zstd from this build. */
export const inputDecompressors = {
  zstd: (input: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> => decompressReadable(input),
};
