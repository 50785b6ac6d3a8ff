/**
 * Streams an image out of its store: optionally through zstd (one frame per piece of up to 32 MiB,
 * compressed on every core, see `zstd-frames.ts`), hashed on the way, to a sink that is
 * awaited for each piece (or only hashed, without a sink). The image's bytes are never held twice.
 * A piece handed to the sink is valid until the sink returns or settles (compressed frames'
 * arrays are reused, uncompressed pieces may be views of the store): copy what must be kept.
 */
import type { ImageStore } from '../runtime/image-store.ts';
import { createStreamHash } from '../runtime/sha256-off-thread.ts';
import { compressFrames, frameBound, framePieceFor, type FramesAhead, storeSource } from '../runtime/zstd-frames.ts';

const MiB = 1024 * 1024;
/** Output goes to the sink in pieces of about this size: each piece may cross a worker boundary. */
const OUTPUT_PIECE = 4 * MiB;

export interface StreamImageOptions {
  /** zstd-compress. Default false. */
  compress?: boolean;
  /** zstd level. Default 3. */
  level?: number;
  /**
   * Workers compressing at once; 0 compresses in the calling thread. The output is the
   * same bytes whatever the number. Default: one per core (see `compressFrames`).
   */
  workers?: number;
  /** Frames compressed ahead (`frame-speculation.ts`), taken where their pieces did not change. Default none. */
  ahead?: FramesAhead;
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
  // In browsers on a worker of its own, so that this thread goes on feeding the compression
  // workers; the worker starts while the first pieces are compressed. A small output is
  // kept and hashed at its end instead: the most it can be is known here.
  const piece = framePieceFor(imageSize);
  const most = options.compress ? Math.ceil(imageSize / piece) * frameBound(piece) : imageSize;
  const hashing = createStreamHash(most);
  hashing.catch(() => {});
  let consumed = 0;
  let produced = 0;
  const emit = async (chunk: Uint8Array) => {
    await (await hashing).update(chunk);
    produced += chunk.length;
    if (sink) await sink(chunk);
    options.onProgress?.(consumed, imageSize);
  };
  try {
    if (options.compress) {
      let i = 0;
      const frames = compressFrames(storeSource(store), {
        level: options.level ?? 3,
        workers: options.workers,
        ahead: options.ahead,
        signal,
      });
      for await (const frame of frames) {
        consumed = Math.min(imageSize, ++i * piece);
        await emit(frame);
      }
    } else {
      for await (const piece of store.chunks({ signal, pieceSize: OUTPUT_PIECE })) {
        consumed += piece.length;
        await emit(piece);
      }
    }
    return { size: produced, imageSize, sha256: await (await hashing).digestHex() };
  } finally {
    hashing.then((h) => h.dispose()).catch(() => {});
  }
}
