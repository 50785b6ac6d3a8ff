/**
 * The studio's Web Worker: the engine behind comlink. The page types its handle as
 * `Remote<typeof api>` from this module; failures cross as `BuildFailure` plain objects.
 * Cancelling means terminating this worker (a running wasm program cannot be interrupted
 * from outside), which frees the image with it.
 */
import * as Comlink from 'comlink';
import { resolveInputs } from '../core/resolve-inputs.ts';
import type { BuildEvent, BuildInput, BuildRequest, EngineApi } from './build-api.ts';
import { buildImage, estimateImage } from './pipeline/build-image.ts';
import { toBuildFailure } from './pipeline/engine-failure.ts';
import { createDecompressionStream } from './runtime/zstd-stream.ts';

/** zstd for `.tar.zst` and compressed closure inputs comes from our own wasm build. */
const decompressors = {
  zstd: (input: ReadableStream<Uint8Array>) => input.pipeThrough(createDecompressionStream()),
};

/** Runs `work`, turning any failure into the plain `BuildFailure` the page expects. */
async function guarded<T>(work: () => Promise<T> | T): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw toBuildFailure(err);
  }
}

/** Coalesces progress events so a fast stage does not flood the page with messages. */
function throttledEvents(onEvent: (e: BuildEvent) => void, intervalMs = 50): (e: BuildEvent) => void {
  let last = 0;
  return (e) => {
    if (e.type === 'progress' && e.done < e.total) {
      const t = performance.now();
      if (t - last < intervalMs) return;
      last = t;
    }
    onEvent(e);
  };
}

export const api = {
  resolveInputs: (inputs: BuildInput[]) => guarded(() => resolveInputs(inputs, { decompressors })),

  estimate: (request: BuildRequest) => guarded(() => estimateImage(request)),

  build: (request: BuildRequest, onEvent: (e: BuildEvent) => void, sink: (chunk: Uint8Array) => Promise<void> | void) =>
    guarded(() => buildImage(request, {
      onEvent: throttledEvents(onEvent),
      // Chunks may be views into the image store: hand over a copy, transferred, not cloned again.
      sink: (chunk) => {
        const copy = chunk.slice();
        return sink(Comlink.transfer(copy, [copy.buffer]));
      },
    })),
} satisfies EngineApi;

const scope = globalThis as unknown as { WorkerGlobalScope?: unknown; postMessage?: unknown };
if (scope.WorkerGlobalScope !== undefined) Comlink.expose(api);
