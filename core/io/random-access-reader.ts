/**
 * Random access to an input's bytes without loading it: a Blob (browser File), an in-memory
 * array, or (Node, see `host-file-reader.ts`) a host file. Parsers hand out `ByteSource`
 * slices of the input through `sourceAt`, so file contents are never copied.
 */
import type { ByteSource, InputProblem, TreeEntry } from '../image-tree.ts';

export interface RandomAccessReader {
  /** The input's name, for messages. */
  readonly name: string;
  /** Total bytes. */
  readonly size: number;
  /** Reads `length` bytes at `offset` (fewer only at the end of the input). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** A `ByteSource` naming `size` bytes at `offset` of this input, without reading them. */
  sourceAt(offset: number, size: number): ByteSource;
}

function clampRange(total: number, offset: number, length: number): [number, number] {
  const start = Math.min(Math.max(0, offset), total);
  const end = Math.min(total, start + Math.max(0, length));
  return [start, end];
}

/** Reads a Blob/File, or the part of it starting at `base` and `size` long. */
export class BlobReader implements RandomAccessReader {
  readonly size: number;
  constructor(
    readonly blob: Blob,
    readonly name: string,
    private readonly base = 0,
    size?: number,
  ) {
    this.size = size ?? blob.size - base;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const [s, e] = clampRange(this.size, offset, length);
    if (e <= s) return new Uint8Array(0);
    return new Uint8Array(await this.blob.slice(this.base + s, this.base + e).arrayBuffer());
  }

  sourceAt(offset: number, size: number): ByteSource {
    return { kind: 'blob', blob: this.blob, offset: this.base + offset, size };
  }
}

/** Reads bytes already in memory (generated files, tests). */
export class BytesReader implements RandomAccessReader {
  readonly size: number;
  constructor(
    readonly bytes: Uint8Array,
    readonly name: string,
  ) {
    this.size = bytes.length;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const [s, e] = clampRange(this.size, offset, length);
    return this.bytes.subarray(s, e);
  }

  sourceAt(offset: number, size: number): ByteSource {
    return { kind: 'bytes', bytes: this.bytes.subarray(offset, offset + size) };
  }
}

/** Opens host files; supplied by the Node-only `host-file-reader.ts`, absent in browsers. */
export type HostFileOpener = (
  path: string,
  name: string,
  offset?: number,
  size?: number,
) => Promise<RandomAccessReader>;

/**
 * A reader over a `ByteSource`. `host-file` sources need `openHost` (Node only); without it
 * they are refused with an Error (a programming error: browsers never produce them).
 */
export async function readerForSource(
  source: ByteSource,
  name: string,
  openHost?: HostFileOpener,
): Promise<RandomAccessReader> {
  switch (source.kind) {
    case 'bytes':
      return new BytesReader(source.bytes, name);
    case 'blob':
      return new BlobReader(source.blob, name, source.offset, source.size);
    case 'host-file':
      if (!openHost)
        throw new Error(`host file ${source.path} cannot be read here (no host file access in this environment)`);
      return openHost(source.path, name, source.offset, source.size);
  }
}

/** Default chunk for streaming reads: big enough to amortize Blob/fs calls, small enough for a worker. */
export const READ_CHUNK = 1 << 20;

/** Streams `[offset, offset+length)` of a reader as chunks of at most `chunk` bytes. */
export async function* readChunks(
  reader: RandomAccessReader,
  offset = 0,
  length = reader.size - offset,
  chunk = READ_CHUNK,
): AsyncGenerator<Uint8Array> {
  let pos = offset;
  const end = Math.min(reader.size, offset + length);
  while (pos < end) {
    const bytes = await reader.read(pos, Math.min(chunk, end - pos));
    if (bytes.length === 0) throw new Error(`${reader.name}: input shrank while reading (at byte ${pos})`);
    pos += bytes.length;
    yield bytes;
  }
}

/**
 * A ReadableStream of a reader's bytes (for feeding decompressors): read `chunk` bytes at a
 * time, handed on in pieces of at most `piece` bytes. Small pieces bound what one write into
 * a decompressor can expand to (gzip: about 1000x) while reads stay large.
 */
export function readerToStream(
  reader: RandomAccessReader,
  chunk = READ_CHUNK,
  piece = DECOMPRESS_PIECE,
): ReadableStream<Uint8Array> {
  const it = readChunks(reader, 0, reader.size, chunk);
  let buf: Uint8Array = new Uint8Array(0);
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (buf.length === 0) {
          const r = await it.next();
          if (r.done) {
            controller.close();
            return;
          }
          buf = r.value;
        }
        const n = Math.min(piece, buf.length);
        controller.enqueue(buf.subarray(0, n));
        buf = buf.subarray(n);
      },
      async cancel() {
        await it.return(undefined);
      },
    },
    { highWaterMark: 0 },
  );
}

/** Largest piece written into a decompressor at once: 16 KiB (a gzip bomb piece expands to at most ~16 MiB). */
export const DECOMPRESS_PIECE = 16 * 1024;

/** Bytes a source names. */
export function sourceSize(source: ByteSource): number {
  return source.kind === 'bytes' ? source.bytes.length : source.size;
}

/** Host access `resolveInputs` needs for `host-file` sources and `store-dir` inputs. */
export interface HostAccess {
  openFile: HostFileOpener;
  /** Entries of a folder: `/` is the folder itself, children below it; names sorted. */
  /** Walks a folder; entries it must leave out (special files, names that are not UTF-8) become warnings in `problems`. */
  walk(path: string, origin: string, problems?: InputProblem[]): Promise<TreeEntry[]>;
  /** Names in a folder, sorted. */
  list(path: string): Promise<string[]>;
}
