/**
 * A Web Worker of the zstd pool (`zstd-frames.ts`): receives the compiled zstd module once,
 * then for each piece the start of its frame and its input a slice at a time, answering each
 * slice (moved back for reuse), the last one with the frame. A piece compressed ahead
 * (`frame-speculation.ts`) comes whole with its start and is answered once, with its frame
 * when it was made.
 */
import { AHEAD, type AheadJob, FRAME_SLICE, type FrameState, frameDrop, frameFeed, frameStart } from './zstd-frames.ts';
import { instantiateZstd, type ZstdExports } from './zstd-stream.ts';

let ready: Promise<ZstdExports> | undefined;
let frame: FrameState | undefined;

const reply = (m: unknown, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

/**
 * Compresses a piece ahead, unless the thread that queued it has unqueued it (its state is
 * then not QUEUED: the message does nothing) or marks it CANCELLED meanwhile (its bytes
 * changed: it stops at the next slice and says so with IDLE). The same states as Node's
 * workers (see {@link AHEAD}).
 */
function compressAhead(z: ZstdExports, size: number, level: number, bytes: Uint8Array, job: AheadJob['ahead']) {
  const { piece, state } = job;
  if (Atomics.compareExchange(state, piece, AHEAD.QUEUED, AHEAD.RUNNING) !== AHEAD.QUEUED) return undefined;
  const stop = () => void Atomics.compareExchange(state, piece, AHEAD.CANCELLED, AHEAD.IDLE);
  let st: FrameState | undefined;
  try {
    if (bytes.length !== size) throw new Error('zstd: a piece of another size than announced');
    st = frameStart(z, size, level);
    let made: Uint8Array | undefined;
    for (let at = 0; !made; at += FRAME_SLICE) {
      if (Atomics.load(state, piece) !== AHEAD.RUNNING) return stop();
      made = frameFeed(z, st, bytes.subarray(at, Math.min(size, at + FRAME_SLICE)));
    }
    job.lengths[piece] = made.length;
    if (Atomics.compareExchange(state, piece, AHEAD.RUNNING, AHEAD.DONE) !== AHEAD.RUNNING) return stop();
    return made;
  } catch {
    if (Atomics.compareExchange(state, piece, AHEAD.RUNNING, AHEAD.FAILED) !== AHEAD.RUNNING) stop();
    return undefined;
  } finally {
    if (st) frameDrop(z, st);
  }
}

self.onmessage = (
  e: MessageEvent<{
    module?: WebAssembly.Module;
    start?: { size: number; level: number; out?: Uint8Array; bytes?: Uint8Array; ahead?: AheadJob['ahead'] };
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
      if (start?.ahead) {
        const { piece, batch, gen } = start.ahead;
        let made: Uint8Array | undefined;
        try {
          made = compressAhead(z, start.size, start.level, start.bytes ?? new Uint8Array(0), start.ahead);
        } finally {
          reply({ ahead: piece, batch, gen, aheadFrame: made }, made ? [made.buffer as ArrayBuffer] : []);
        }
        return;
      }
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
