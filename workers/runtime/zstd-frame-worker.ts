/**
 * A Web Worker of the zstd pool (`zstd-frames.ts`): receives the compiled zstd module once,
 * then pieces, and answers each with its frame.
 */
import { encodeFrame } from './zstd-frames.ts';
import { instantiateZstd, type ZstdExports } from './zstd-stream.ts';

let ready: Promise<ZstdExports> | undefined;

self.onmessage = (
  e: MessageEvent<{ module?: WebAssembly.Module; piece?: Uint8Array; level?: number; out?: Uint8Array }>,
) => {
  const { module, piece, level, out } = e.data;
  if (module) {
    ready = instantiateZstd(module);
    ready.then(
      () => (self as unknown as Worker).postMessage({ ready: true }),
      (err: unknown) => (self as unknown as Worker).postMessage({ error: String((err as Error)?.message ?? err) }),
    );
    return;
  }
  if (!piece) return;
  (ready ??= instantiateZstd())
    .then((z) => {
      const frame = encodeFrame(z, piece, level ?? 3, out);
      (self as unknown as Worker).postMessage({ frame, piece }, [frame.buffer, piece.buffer as ArrayBuffer]);
    })
    .catch((err: unknown) =>
      (self as unknown as Worker).postMessage({ error: String((err as Error)?.message ?? err) }),
    );
};
