/**
 * The output's SHA-256, hashed beside the thread that streams it. In browsers the hash is a
 * WebAssembly SHA-256 (`hash-wasm`, no SHA instructions): 100-250 MB/s on the 2-core VM the
 * bench runs on, so hashing a 357 MiB `.zst` took the build worker one to three seconds, and
 * that worker also feeds the compression workers their input: while it hashed a frame, they
 * ran out of slices and waited. Here the bytes go to a worker of their own (`sha256-worker.ts`),
 * copied, with at most {@link MAX_PENDING} bytes sent and not yet hashed (the streaming side
 * waits beyond that, so memory stays bounded however slow the hashing). Node hashes in the
 * calling thread with `node:crypto` (the CPU's SHA instructions, about 1 GB/s), as does a host
 * that cannot start workers.
 */
import { createSha256 } from '../../core/sha256.ts';
import { nodeBuiltin } from '../../core/node-builtin.ts';

/** A streaming SHA-256 whose work may happen elsewhere. */
export interface StreamHash {
  /** Whether the hashing happens on a worker of its own. */
  readonly offThread: boolean;
  /**
   * Hashes `bytes` next. They are copied before this returns, so the caller may reuse them
   * at once; a returned promise asks the caller to wait (too much is still being hashed).
   */
  update(bytes: Uint8Array): Promise<void> | void;
  /** The digest as lowercase hex; ends the hash (and its worker). */
  digestHex(): Promise<string>;
  /** Gives the hash up (a failed or aborted stream): stops its worker. */
  dispose(): void;
}

/** Bytes sent to the worker and not yet hashed, at most (two 32 MiB frames). */
export const MAX_PENDING = 64 * 1024 * 1024;

/**
 * A {@link StreamHash}: on a worker of its own where the host has Web Workers and is not
 * Node; else in the calling thread. `offThread: false` forces the latter.
 */
export async function createStreamHash(options: { offThread?: boolean } = {}): Promise<StreamHash> {
  const canSpawn =
    options.offThread !== false &&
    typeof (globalThis as { Worker?: unknown }).Worker === 'function' &&
    nodeBuiltin('node:worker_threads') === undefined;
  if (canSpawn) {
    try {
      return new WorkerHash(
        // Written out as `new Worker(new URL(...))` so that bundlers emit the worker's script.
        new Worker(new URL('./sha256-worker.ts', import.meta.url), { type: 'module' }),
      );
    } catch {
      // A blocked script: hash here.
    }
  }
  const h = await createSha256();
  return { offThread: false, update: (bytes) => h.update(bytes), digestHex: async () => h.digestHex(), dispose() {} };
}

class WorkerHash implements StreamHash {
  readonly offThread = true;
  #worker: Worker;
  #pending = 0;
  #failed: Error | undefined;
  #wake: (() => void) | undefined;
  #digest: { resolve: (hex: string) => void; reject: (e: Error) => void } | undefined;

  constructor(worker: Worker) {
    this.#worker = worker;
    worker.onmessage = (e: MessageEvent<{ done?: number; hex?: string; error?: string }>) => {
      const m = e.data;
      if (m.error !== undefined) return this.#fail(new Error(`sha256 worker: ${m.error}`));
      if (m.done !== undefined) {
        this.#pending -= m.done;
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
    if (this.#failed) throw this.#failed;
    const copy = bytes.slice();
    this.#pending += copy.length;
    this.#worker.postMessage({ bytes: copy }, [copy.buffer]);
    while (this.#pending > MAX_PENDING && !this.#failed) await new Promise<void>((wake) => (this.#wake = wake));
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
