/**
 * The output's SHA-256, hashed beside the thread that streams it. In browsers the hash is a
 * WebAssembly SHA-256 (`hash-wasm`, no SHA instructions): 100-250 MB/s on the 2-core VM the
 * bench runs on, so hashing a 357 MiB `.zst` took the build worker one to three seconds, and
 * that worker also feeds the compression workers their input: while it hashed a frame, they
 * ran out of slices and waited. Here the bytes go to a worker of their own (`sha256-worker.ts`),
 * copied {@link HASH_PIECE} at a time into a few arrays that move there and back (reused:
 * arrays moved once each and left to the collector took the tab's peak 233 MiB higher on the
 * bench's closure workload). At most {@link MAX_PENDING} bytes are sent and not yet hashed;
 * beyond that the sender waits, so memory stays bounded however slow the hashing. Node hashes in the
 * calling thread with `node:crypto` (the CPU's SHA instructions, about 1 GB/s), as does a host
 * that cannot start workers.
 *
 * An output known to be small (at most {@link IN_THREAD_HASH_MAX}) is hashed in the calling
 * thread instead, each piece as it comes: on two cores the hashing worker competed with both
 * compression workers for the whole of a small build's compression. (Keeping a small output
 * and hashing it whole with WebCrypto at the end, the browser's SHA-256, cost more on a VM
 * where memory touched for the first time is slow: the copy kept and WebCrypto's own copy of
 * it, 12 MiB each, took 0.2 s of the bench's `small` build in Chromium 156, most of it after
 * the last frame; hashed here, its compress stage took 0.15 s against 0.21 s.)
 */
import { createSha256, type Sha256 } from '../../core/sha256.ts';
import { nodeBuiltin } from '../../core/node-builtin.ts';

/** A streaming SHA-256 whose work may happen elsewhere. */
export interface StreamHash {
  /** Whether the hashing happens on a worker of its own. */
  readonly offThread: boolean;
  /** Where the bytes are hashed: on a worker of their own, or in the calling thread as they come. */
  readonly kind: 'worker' | 'in-thread';
  /**
   * Hashes `bytes` next. They must stay unchanged until the returned promise settles (or
   * this returns, when it returns nothing); then the caller may reuse them.
   */
  update(bytes: Uint8Array): Promise<void> | void;
  /** The digest as lowercase hex; ends the hash (and its worker). */
  digestHex(): Promise<string>;
  /** Gives the hash up (a failed or aborted stream): stops its worker. */
  dispose(): void;
}

/** Bytes per message to the worker, and the size of each array that carries them. */
export const HASH_PIECE = 4 * 1024 * 1024;

/** Bytes sent to the worker and not yet hashed, at most: beyond it the sender waits. */
export const MAX_PENDING = 4 * HASH_PIECE;

/** Most bytes an output may have to be hashed in the calling thread where workers could hash it (see {@link createStreamHash}). */
export const IN_THREAD_HASH_MAX = 32 * 1024 * 1024;

/**
 * A {@link StreamHash}. Where the host has Web Workers and is not Node, and the output may
 * be larger than {@link IN_THREAD_HASH_MAX} (or `expectedBytes` is not given), on a worker of
 * its own once that worker says it is ready. Else (Node, a small output, no workers, a script
 * that cannot load, a worker that fails to start) in the calling thread. The digest is the
 * same whichever way.
 */
export async function createStreamHash(expectedBytes?: number): Promise<StreamHash> {
  const small = expectedBytes !== undefined && expectedBytes >= 0 && expectedBytes <= IN_THREAD_HASH_MAX;
  const canSpawn =
    !small &&
    typeof (globalThis as { Worker?: unknown }).Worker === 'function' &&
    nodeBuiltin('node:worker_threads') === undefined;
  const worker = canSpawn ? await startedWorker() : undefined;
  if (worker) return new WorkerHash(worker);
  return inThread(await createSha256());
}

function inThread(h: Sha256): StreamHash {
  return {
    offThread: false,
    kind: 'in-thread',
    update: (bytes) => h.update(bytes),
    digestHex: async () => h.digestHex(),
    dispose() {},
  };
}

/** A hashing worker that has said it is ready, or `undefined` when it could not start. */
function startedWorker(): Promise<Worker | undefined> {
  let worker: Worker;
  try {
    // Written out as `new Worker(new URL(...))` so that bundlers emit the worker's script.
    worker = new Worker(new URL('./sha256-worker.ts', import.meta.url), { type: 'module' });
  } catch {
    return Promise.resolve(undefined);
  }
  return new Promise((resolve) => {
    worker.onmessage = (e: MessageEvent<{ ready?: boolean }>) => {
      if (e.data?.ready) return resolve(worker);
      worker.terminate();
      resolve(undefined);
    };
    worker.onerror = () => {
      worker.terminate();
      resolve(undefined);
    };
  });
}

class WorkerHash implements StreamHash {
  readonly offThread = true;
  readonly kind = 'worker';
  #worker: Worker;
  #pending = 0;
  #failed: Error | undefined;
  #wake: (() => void) | undefined;
  #digest: { resolve: (hex: string) => void; reject: (e: Error) => void } | undefined;
  /** Arrays back from the worker, for the next copies: {@link MAX_PENDING} / {@link HASH_PIECE} at most. */
  #free: Uint8Array[] = [];

  constructor(worker: Worker) {
    this.#worker = worker;
    worker.onmessage = (e: MessageEvent<{ done?: number; bytes?: Uint8Array; hex?: string; error?: string }>) => {
      const m = e.data;
      if (m.error !== undefined) return this.#fail(new Error(`sha256 worker: ${m.error}`));
      if (m.done !== undefined) {
        this.#pending -= m.done;
        if (m.bytes) this.#free.push(new Uint8Array(m.bytes.buffer));
        this.#wakeUp();
      }
      if (m.hex !== undefined) {
        this.#digest?.resolve(m.hex);
        this.dispose();
      }
    };
    worker.onerror = (e) => this.#fail(new Error(`sha256 worker failed: ${e.message || 'could not start'}`));
  }

  async update(bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length; at += HASH_PIECE) {
      while (this.#pending + HASH_PIECE > MAX_PENDING && !this.#failed)
        await new Promise<void>((wake) => (this.#wake = wake));
      if (this.#failed) throw this.#failed;
      const n = Math.min(HASH_PIECE, bytes.length - at);
      const copy = (this.#free.pop() ?? new Uint8Array(HASH_PIECE)).subarray(0, n);
      copy.set(bytes.subarray(at, at + n));
      this.#pending += n;
      this.#worker.postMessage({ bytes: copy }, [copy.buffer as ArrayBuffer]);
    }
    if (this.#failed) throw this.#failed;
  }

  digestHex(): Promise<string> {
    if (this.#failed) return Promise.reject(this.#failed);
    return new Promise((resolve, reject) => {
      this.#digest = { resolve, reject };
      this.#worker.postMessage({ digest: true });
    });
  }

  dispose(): void {
    this.#worker.terminate();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #fail(e: Error): void {
    this.#failed ??= e;
    this.#digest?.reject(this.#failed);
    this.#wakeUp();
    this.dispose();
  }
}
