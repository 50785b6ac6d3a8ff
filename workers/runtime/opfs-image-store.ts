/**
 * Browsers: images in the Origin Private File System. A dedicated worker opens an OPFS
 * file with `createSyncAccessHandle()` and gets synchronous positioned reads and writes,
 * which is what the wasm tools need (they call the store from inside a filesystem
 * callback). Only the allocation map stays in memory, so a 16 GiB image costs the tab
 * no more memory than a small one, and the finished output can be handed to the page
 * as a disk-backed `File` (`getFile()`) for a download of any size.
 *
 * Files live in one folder (`disk-image-studio`) of the origin's OPFS; each is locked by
 * its access handle while in use. {@link OpfsStorage.removeStale} clears what cancelled or
 * finished builds left (files still open elsewhere are locked and stay).
 */
import { BackedImageStore, type ImageStorage, type ImageStore, type StoreBacking } from './image-store.ts';

/** The part of `FileSystemSyncAccessHandle` used here. */
interface SyncAccessHandle {
  read(buffer: Uint8Array, options: { at: number }): number;
  write(buffer: Uint8Array, options: { at: number }): number;
  truncate(size: number): void;
  getSize(): number;
  flush(): void;
  close(): void;
}
interface OpfsFileHandle {
  readonly name: string;
  getFile(): Promise<File>;
  createSyncAccessHandle(): Promise<SyncAccessHandle>;
}
interface OpfsDirectory {
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<OpfsDirectory>;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<OpfsFileHandle>;
  removeEntry(name: string): Promise<void>;
  keys(): AsyncIterableIterator<string>;
}

/** The folder of the origin's OPFS holding the studio's images. */
export const OPFS_FOLDER = 'disk-image-studio';

/** The browser refused storage (quota), or OPFS is missing: the message says which. */
export class StorageUnavailableError extends Error {
  override name = 'StorageUnavailableError';
}

function isQuotaError(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'QuotaExceededError';
}

function quotaMessage(location: string): string {
  return `The browser refused more storage for the image (${location}): the disk or this site's storage quota is full. Free disk space, or build a smaller image.`;
}

function randomName(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/** An OPFS file as a {@link StoreBacking}. */
export class OpfsBacking implements StoreBacking {
  readonly location: string;
  #handle: SyncAccessHandle | null;
  #temporary: boolean;

  constructor(
    readonly storage: OpfsStorage,
    readonly file: OpfsFileHandle,
    handle: SyncAccessHandle,
    temporary: boolean,
  ) {
    this.#handle = handle;
    this.#temporary = temporary;
    this.location = `opfs:${OPFS_FOLDER}/${file.name}`;
  }

  #open(): SyncAccessHandle {
    if (!this.#handle) throw new Error(`${this.location} is closed`);
    return this.#handle;
  }

  read(position: number, target: Uint8Array): number {
    return this.#open().read(target, { at: position });
  }

  write(position: number, data: Uint8Array): void {
    const h = this.#open();
    try {
      for (let done = 0; done < data.length; ) {
        const n = h.write(data.subarray(done), { at: position + done });
        if (n <= 0) throw new StorageUnavailableError(quotaMessage(this.location));
        done += n;
      }
    } catch (err) {
      if (isQuotaError(err)) throw new StorageUnavailableError(quotaMessage(this.location));
      throw err;
    }
  }

  truncate(size: number): void {
    try {
      this.#open().truncate(size);
    } catch (err) {
      if (isQuotaError(err)) throw new StorageUnavailableError(quotaMessage(this.location));
      throw err;
    }
  }

  flush(): void {
    this.#open().flush();
  }

  /** Keeps the file when closed (it is an output to hand to the page). */
  keep(): void {
    this.#temporary = false;
  }

  close(): void {
    const h = this.#handle;
    if (!h) return;
    this.#handle = null;
    // A temporary file is emptied first: closing the handle of the bench's 600 MiB `closure`
    // image took the build worker 264 ms, for bytes about to be removed.
    if (this.#temporary)
      try {
        h.truncate(0);
      } catch {
        /* removed below all the same */
      }
    h.close();
    if (this.#temporary) void this.storage.remove(this.file.name);
  }

  async createScratch(): Promise<StoreBacking> {
    return this.storage.createBacking('scratch', true);
  }
}

/** Image stores in OPFS files (dedicated workers only: sync access handles exist only there). */
export class OpfsStorage implements ImageStorage {
  readonly kind = 'opfs';

  private constructor(readonly dir: OpfsDirectory) {}

  /**
   * Opens the studio's OPFS folder and checks that a sync access handle can be made.
   * Rejects with a {@link StorageUnavailableError} saying why not.
   */
  static async open(): Promise<OpfsStorage> {
    const storage = (
      globalThis as unknown as { navigator?: { storage?: { getDirectory?: () => Promise<OpfsDirectory> } } }
    ).navigator?.storage;
    if (typeof storage?.getDirectory !== 'function')
      throw new StorageUnavailableError('this browser has no Origin Private File System');
    let dir: OpfsDirectory;
    try {
      dir = await (await storage.getDirectory()).getDirectoryHandle(OPFS_FOLDER, { create: true });
    } catch (err) {
      throw new StorageUnavailableError(
        `the browser refused its Origin Private File System (${err instanceof Error ? err.message : String(err)})`,
      );
    }
    const probe = await dir.getFileHandle(`probe-${randomName()}`, { create: true });
    if (typeof probe.createSyncAccessHandle !== 'function') {
      await dir.removeEntry(probe.name).catch(() => {});
      throw new StorageUnavailableError('this browser has no synchronous file access in workers');
    }
    try {
      (await probe.createSyncAccessHandle()).close();
    } catch (err) {
      throw new StorageUnavailableError(
        `the browser refused file access in its Origin Private File System (${err instanceof Error ? err.message : String(err)})`,
      );
    } finally {
      await dir.removeEntry(probe.name).catch(() => {});
    }
    return new OpfsStorage(dir);
  }

  /**
   * Bytes this site may still store, by the browser's estimate (undefined when unknown, or
   * when the estimate only says "at least 10 GiB": see {@link freeFromEstimate}).
   */
  static async available(): Promise<number | undefined> {
    const storage = (
      globalThis as { navigator?: { storage?: { estimate?: () => Promise<{ quota?: number; usage?: number }> } } }
    ).navigator?.storage;
    if (typeof storage?.estimate !== 'function') return undefined;
    return freeFromEstimate(await storage.estimate());
  }

  /** A new OPFS file `<kind>-<random>[-<hint>]`, opened for synchronous access. */
  async createBacking(kind: string, temporary: boolean, hint = ''): Promise<OpfsBacking> {
    const safe = hint.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60);
    const file = await this.dir.getFileHandle(`${kind}-${randomName()}${safe ? `-${safe}` : ''}`, { create: true });
    try {
      return new OpfsBacking(this, file, await file.createSyncAccessHandle(), temporary);
    } catch (err) {
      await this.remove(file.name);
      throw err;
    }
  }

  /**
   * A new store in a temporary OPFS file (removed when the store is closed). Refuses with a
   * {@link StorageUnavailableError} when the browser says `expectedBytes` will not fit.
   */
  async create(hint: string, expectedBytes?: number): Promise<ImageStore> {
    if (expectedBytes !== undefined) {
      const free = await OpfsStorage.available();
      if (free !== undefined && free < expectedBytes)
        throw new StorageUnavailableError(
          `the browser lets this site store about ${formatBytes(free)} more, and the image needs up to ${formatBytes(expectedBytes)}`,
        );
    }
    return this.createStore(hint, true).then((s) => s.store);
  }

  /** A store in a new OPFS file, with its backing (to keep it as an output and read it back as a File). */
  async createStore(hint: string, temporary: boolean): Promise<{ store: BackedImageStore; backing: OpfsBacking }> {
    const backing = await this.createBacking(temporary ? 'work' : 'output', temporary, hint);
    try {
      return { store: new BackedImageStore(backing), backing };
    } catch (err) {
      backing.close();
      await this.remove(backing.file.name);
      throw err;
    }
  }

  /** Removes a file of the folder (ignored when it is gone or still open). */
  async remove(name: string): Promise<void> {
    try {
      await this.dir.removeEntry(name);
    } catch {
      /* gone already, or locked by an open handle: removed next time */
    }
  }

  /** Removes every file of the folder except `keep` (files still open are locked and stay). */
  async removeStale(keep: ReadonlySet<string> = new Set()): Promise<number> {
    const names: string[] = [];
    for await (const name of this.dir.keys()) if (!keep.has(name)) names.push(name);
    let removed = 0;
    for (const name of names) {
      try {
        await this.dir.removeEntry(name);
        removed++;
      } catch {
        /* in use */
      }
    }
    return removed;
  }
}

/**
 * What `navigator.storage.estimate()` tells of the free quota. Chromium reports the quota
 * as usage + 10 GiB whenever more is left (it hides the disk's size from sites): on a VM
 * with 160 GB of real quota, estimate() said 10 GiB, and a 12 GiB image was refused before
 * a byte was written and kept in memory instead. A figure of 10 GiB or more is therefore
 * only a lower bound: undefined (unknown), and the writes themselves find out (a quota
 * refusal is a clear {@link StorageUnavailableError}). Below that the figure is exact.
 */
export function freeFromEstimate(estimate: { quota?: number; usage?: number }): number | undefined {
  if (estimate.quota === undefined) return undefined;
  const free = estimate.quota - (estimate.usage ?? 0);
  return free >= REPORTED_QUOTA_CAP ? undefined : free;
}

/** The most free quota Chromium's `estimate()` reports (10 GiB). */
const REPORTED_QUOTA_CAP = 10 * 1024 ** 3;

function formatBytes(n: number): string {
  const GiB = 1024 ** 3;
  return n >= GiB ? `${(n / GiB).toFixed(1)} GiB` : `${Math.round(n / 1024 ** 2)} MiB`;
}
