/**
 * Streams an image out of its store: optionally through zstd (content size in the frame
 * header, as the zstd CLI writes it), hashed on the way, to a sink that is awaited for
 * each piece (or only hashed, without a sink). The image's bytes are never held twice.
 */
import { createSha256, type ImageStore } from '../runtime/image-store.ts';
import { compressStream } from '../runtime/zstd-stream.ts';

const MiB = 1024 * 1024;
/** Output goes to the sink in pieces of about this size: each piece may cross a worker boundary. */
const OUTPUT_PIECE = 4 * MiB;

export interface StreamImageOptions {
  /** zstd-compress. Default false. */
  compress?: boolean;
  /** zstd level. Default 3. */
  level?: number;
  signal?: AbortSignal;
  /** Image bytes consumed so far, after each piece handed to the sink. */
  onProgress?: (done: number, total: number) => void;
}

export interface StreamedImage {
  /** Bytes handed to the sink. */
  size: number;
  /** Bytes of the image. */
  imageSize: number;
  /** sha256 of what the sink got, hex. */
  sha256: string;
}

export async function streamImage(
  store: ImageStore,
  sink: ((chunk: Uint8Array) => Promise<void> | void) | undefined,
  options: StreamImageOptions = {},
): Promise<StreamedImage> {
  const { signal } = options;
  const imageSize = store.size;
  const hash = await createSha256();
  let consumed = 0;
  let produced = 0;
  const counted = async function* (): AsyncIterableIterator<Uint8Array> {
    for await (const piece of store.chunks({ signal, pieceSize: OUTPUT_PIECE })) {
      consumed += piece.length;
      yield piece;
    }
  };
  const output = options.compress
    ? coalesce(compressStream(counted(), { level: options.level ?? 3, contentSize: imageSize, signal }), OUTPUT_PIECE)
    : counted();
  for await (const chunk of output) {
    hash.update(chunk);
    produced += chunk.length;
    if (sink) await sink(chunk);
    options.onProgress?.(consumed, imageSize);
  }
  return { size: produced, imageSize, sha256: hash.digestHex() };
}

/** Joins small pieces (zstd emits ~128 KiB at a time) into pieces of at least `size` bytes. */
async function* coalesce(source: AsyncIterable<Uint8Array>, size: number): AsyncIterableIterator<Uint8Array> {
  let buf = new Uint8Array(size);
  let used = 0;
  for await (const piece of source) {
    if (used === 0 && piece.length >= size) {
      yield piece;
      continue;
    }
    if (used + piece.length > size) {
      yield buf.subarray(0, used);
      buf = new Uint8Array(Math.max(size, piece.length));
      used = 0;
    }
    buf.set(piece, used);
    used += piece.length;
  }
  if (used > 0) yield buf.subarray(0, used);
}
