/**
 * Reading picked Files ahead of `mke2fs -d`, in a page that is cross-origin isolated.
 *
 * TREEFS reads Blob-backed files synchronously inside mke2fs (`FileReaderSync`), and in
 * Chromium each such read waits for the browser process: 40-50% of the build worker's time on
 * the bench's closure workload, during which mke2fs does nothing. Here a second (nested)
 * worker reads the same files in mke2fs's copy order with asynchronous reads, a few in flight,
 * into a bounded `SharedArrayBuffer` ring (`read-ahead-ring.ts`); TREEFS takes the bytes from
 * the ring when they are the ones asked for, waits (`Atomics.wait`) when the reader is just
 * behind, and reads itself (as without the reader) anything out of order, after a failed read
 * (a File changed on disk: its own read then fails and names it) or when the reader stalls. So
 * the bytes are the same either way. Memory: the ring (at most {@link MAX_RING_BYTES}) and the
 * items sent ahead of the consumer (a few thousand ranges); nothing else grows with the input.
 *
 * Shared memory and `Atomics.wait` need cross-origin isolation (COOP + COEP, see README.md);
 * without it {@link readAheadPossible} is false and TREEFS reads as before.
 */
import { CONTROL_WORDS, Control, ReadAheadConsumer, type ReadAheadItem, ringCapacity } from './read-ahead-ring.ts';

/** Most bytes of the ring. */
export const MAX_RING_BYTES = 32 << 20;

/** How long the reader may take to start before the run goes on without it. */
const START_TIMEOUT_MS = 10_000;

/** A started reader worker, before and while a program reads through it. */
export interface BlobReadAhead {
  /**
   * Gives the reader the files to read (`count` of them, `item(i)` in copy order, `totalBytes`
   * in all) and returns TREEFS's side. Once per reader.
   */
  attach(
    count: number,
    item: (index: number) => ReadAheadItem,
    totalBytes: number,
    pieceSize: number,
  ): ReadAheadConsumer;
  /** Terminates the reader (idempotent). */
  stop(): void;
  readonly stopped: boolean;
  /** The control words once attached (diagnostics and tests). */
  readonly control: Int32Array | undefined;
  /** Whether the reader still answers within `timeoutMs` (a terminated one never does). */
  alive(timeoutMs?: number): Promise<boolean>;
}

/**
 * Whether files can be read ahead here: a dedicated worker (FileReaderSync, Atomics.wait) of a
 * cross-origin isolated page (SharedArrayBuffer) that can start workers.
 */
export function readAheadPossible(): boolean {
  const g = globalThis as { crossOriginIsolated?: boolean; FileReaderSync?: unknown; Worker?: unknown };
  return (
    g.crossOriginIsolated === true &&
    typeof SharedArrayBuffer === 'function' &&
    typeof g.FileReaderSync === 'function' &&
    typeof g.Worker === 'function'
  );
}

/**
 * A reader started before it is needed ({@link prestartBlobReadAhead}), taken by the next
 * {@link startBlobReadAhead}.
 */
let spare: Promise<Launched | undefined> | undefined;

/** A started reader, and a way to tie it to the signal of the run that takes it. */
interface Launched extends BlobReadAhead {
  bind(signal: AbortSignal | undefined): void;
}

/**
 * Starts a reader worker now, for the next {@link startBlobReadAhead} to take, so that a
 * build does not wait for one to start (a module worker's start took 70-90 ms of the page's
 * `mkfs` stage on the bench's `small` workload, while the build's own worker waited). At most
 * one is kept; a no-op where files cannot be read ahead. The build worker calls it when it
 * starts (the page starts it with the first input) and when a build starts. Resolves once
 * the reader runs or could not start; never rejects.
 */
export function prestartBlobReadAhead(): Promise<void> {
  if (spare) return spare.then(() => {});
  if (!readAheadPossible()) return Promise.resolve();
  const started = launch(undefined);
  spare = started;
  // One that could not start is forgotten: the next run starts its own.
  return started.then((r) => {
    if (!r && spare === started) spare = undefined;
  });
}

/**
 * Starts a reader worker and waits until it runs (a worker started by a worker needs its
 * parent's event loop to start, so this must be done before the program runs synchronously),
 * or takes the one {@link prestartBlobReadAhead} started. Resolves undefined when it cannot
 * start; an abort of `signal` terminates it.
 */
export async function startBlobReadAhead(signal?: AbortSignal): Promise<BlobReadAhead | undefined> {
  if (!readAheadPossible() || signal?.aborted) return undefined;
  const taken = spare;
  spare = undefined;
  const ready = taken ? await taken : undefined;
  if (ready && !ready.stopped) {
    if (signal?.aborted) {
      ready.stop();
      return undefined;
    }
    ready.bind(signal);
    return ready;
  }
  return launch(signal);
}

/** Reader workers started since this module was loaded (diagnostics: a run took the one started ahead). */
let launched = 0;

/** How many reader workers this thread has started. */
export function readAheadWorkersStarted(): number {
  return launched;
}

async function launch(signal: AbortSignal | undefined): Promise<Launched | undefined> {
  if (signal?.aborted) return undefined;
  launched++;
  let worker: Worker;
  try {
    // Written out as `new Worker(new URL(...))` so that bundlers emit the worker's script.
    worker = new Worker(new URL('./blob-read-ahead-worker.ts', import.meta.url), { type: 'module' });
  } catch {
    return undefined;
  }
  // Everything after the start goes through a MessageChannel: what a worker posts to its own
  // child worker leaves only when the poster returns to its event loop (Chromium), while the
  // consumer posts from inside the program's synchronous reads; a port's messages leave at once.
  const channel = new MessageChannel();
  const port = channel.port1;
  worker.postMessage({ type: 'port', port: channel.port2 }, [channel.port2]);
  let stopped = false;
  let control: Int32Array | undefined;
  const pongs: Array<() => void> = [];
  let bound = signal;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    // The message stops its reads at once; terminate() ends it for good.
    port.postMessage({ type: 'stop' });
    worker.terminate();
    bound?.removeEventListener('abort', stop);
  };
  signal?.addEventListener('abort', stop, { once: true });
  const started = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), START_TIMEOUT_MS);
    port.onmessage = (e: MessageEvent<{ type?: string }>) => {
      if (e.data?.type !== 'ready') return;
      clearTimeout(timer);
      resolve(true);
    };
    worker.onerror = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener('abort', () => resolve(false), { once: true });
  });
  if (!started || stopped) {
    stop();
    return undefined;
  }
  port.onmessage = (e: MessageEvent<{ type?: string }>) => {
    if (e.data?.type === 'pong') pongs.shift()?.();
  };
  return {
    bind(next) {
      bound?.removeEventListener('abort', stop);
      bound = next;
      next?.addEventListener('abort', stop, { once: true });
    },
    attach(count, item, totalBytes, pieceSize) {
      if (control) throw new Error('the reader is attached already');
      const capacity = ringCapacity(totalBytes, pieceSize, MAX_RING_BYTES);
      const ring = new SharedArrayBuffer(capacity);
      const controlBuffer = new SharedArrayBuffer(CONTROL_WORDS * 4);
      control = new Int32Array(controlBuffer);
      control[Control.failed] = -1;
      if (!stopped) port.postMessage({ type: 'start', ring, control: controlBuffer, pieceSize });
      const consumer = new ReadAheadConsumer({
        ring: new Uint8Array(ring),
        control,
        pieceSize,
        count,
        item,
        post: (items) => {
          if (!stopped) port.postMessage({ type: 'items', items });
        },
        stop,
      });
      if (stopped) consumer.giveUp();
      return consumer;
    },
    stop,
    get stopped() {
      return stopped;
    },
    get control() {
      return control;
    },
    alive(timeoutMs = 1000) {
      // Asked of the worker itself, not of `stopped`: a terminated worker never answers.
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        pongs.push(() => {
          clearTimeout(timer);
          resolve(true);
        });
        port.postMessage({ type: 'ping' });
      });
    },
  };
}
