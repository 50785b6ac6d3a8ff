/**
 * A Web Worker of the zstd pool (`zstd-frames.ts`): receives the compiled zstd module once,
 * then for each piece the start of its frame and its input a slice at a time, answering each
 * slice (moved back for reuse), the last one with the frame.
 */
import { type FrameState, frameDrop, frameFeed, frameStart } from './zstd-frames.ts';
import { instantiateZstd, type ZstdExports } from './zstd-stream.ts';

let ready: Promise<ZstdExports> | undefined;
let frame: FrameState | undefined;

const reply = (m: unknown, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

self.onmessage = (
  e: MessageEvent<{
    module?: WebAssembly.Module;
    start?: { size: number; level: number; out?: Uint8Array };
    slice?: Uint8Array;
  }>,
) => {
  const { module, start, slice } = e.data;
  if (module) {
    ready = instantiateZstd(module);
    ready.then(
      () => reply({ ready: true }),
      (err: unknown) => reply({ error: String((err as Error)?.message ?? err) }),
    );
    return;
  }
  // In order: every message waits on the same promise.
  (ready ??= instantiateZstd())
    .then((z) => {
      if (start) {
        if (frame) frameDrop(z, frame);
        frame = frameStart(z, start.size, start.level, start.out);
        return;
      }
      if (!slice || !frame) throw new Error('zstd worker: input without a frame started');
      const done = frameFeed(z, frame, slice);
      const transfer: Transferable[] = [slice.buffer as ArrayBuffer];
      if (done) transfer.push(done.buffer as ArrayBuffer);
      reply({ slice, frame: done }, transfer);
    })
    .catch((err: unknown) => reply({ error: String((err as Error)?.message ?? err) }));
};
