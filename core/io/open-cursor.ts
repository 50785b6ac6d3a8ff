/**
 * Opens an input for parsing: sniffs gzip/zstd by magic bytes and decompresses through a
 * stream, otherwise reads in place so parsed files stay slices of the input.
 */
import { DecompressError } from '../errors.ts';
import { type ContentSpool, type Cursor, type EofErrorFactory, RandomAccessCursor, StreamCursor } from './cursor.ts';
import { type RandomAccessReader, readerToStream } from './random-access-reader.ts';

export type Compression = 'none' | 'gzip' | 'zstd' | 'xz' | 'bzip2';

/** Stream decompressors the runtime provides (zstd comes from the wasm build). */
export interface Decompressors {
  zstd?: (input: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>;
  /** Defaults to the global `DecompressionStream('gzip')`. */
  gzip?: (input: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>;
}

export interface OpenCursorOptions {
  decompressors?: Decompressors;
  /** Most bytes of a compressed input's members held in memory. Default 8 GiB. */
  maxExpandedBytes?: number;
  /** How people raise that limit where they are (a CLI flag, a setting), for the message. Default `maxExpandedBytes`. */
  limitOptionName?: string;
  /** The hint when the limit is passed, where there is no option to raise it (the page). */
  limitHint?: string;
  /** Where a compressed input's member bytes are kept. Default: Blobs. */
  spool?: ContentSpool;
}

/** Which compression the first bytes announce. */
export function sniffCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  if (
    head.length >= 6 &&
    head[0] === 0xfd &&
    head[1] === 0x37 &&
    head[2] === 0x7a &&
    head[3] === 0x58 &&
    head[4] === 0x5a &&
    head[5] === 0
  )
    return 'xz';
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return 'bzip2';
  return 'none';
}

function defaultGzip(input: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  return input.pipeThrough(new DecompressionStream('gzip') as unknown as ReadableWritablePair<Uint8Array, Uint8Array>);
}

/** A cursor over the input's (decompressed) bytes, plus the compression found. */
export async function openCursor(
  reader: RandomAccessReader,
  eof: EofErrorFactory,
  options: OpenCursorOptions = {},
): Promise<{ cursor: Cursor; compression: Compression }> {
  const compression = sniffCompression(await reader.read(0, 8));
  if (compression === 'none') return { cursor: new RandomAccessCursor(reader, eof), compression };
  let decompress: ((s: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>) | undefined;
  if (compression === 'gzip') decompress = options.decompressors?.gzip ?? defaultGzip;
  else if (compression === 'zstd') decompress = options.decompressors?.zstd;
  if (!decompress) {
    throw new DecompressError({
      code: 'compression-unsupported',
      input: reader.name,
      message: `${reader.name} is ${compression}-compressed, which cannot be read here.`,
      hint:
        compression === 'zstd'
          ? 'The zstd runtime is not loaded; retry once the engine has started, or decompress the file first.'
          : 'Recompress it with gzip or zstd, or give it uncompressed.',
    });
  }
  const stream = decompress(readerToStream(reader));
  const cursor = new StreamCursor(stream, reader.name, eof, {
    maxExpandedBytes: options.maxExpandedBytes,
    limitOptionName: options.limitOptionName,
    limitHint: options.limitHint,
    spool: options.spool,
  });
  return { cursor, compression };
}
