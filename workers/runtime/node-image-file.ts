/**
 * Node only: images in host files. {@link NodeFileBacking} puts a {@link BackedImageStore}
 * in a sparse file (positioned reads and writes, `ftruncate`; zero writes into holes are
 * skipped, so holes stay holes), and the helpers below move a store to and from a file.
 *
 * Temporary files are created exclusively (`O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600)
 * under an unpredictable name, so a planted file or symlink is never written through, and
 * are removed when the store is closed.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import {
  BackedImageStore,
  MemoryImageStore,
  isAllZero,
  type ImageStorage,
  type ImageStore,
  type ImageStoreOptions,
  type StoreBacking,
} from './image-store.ts';

/** A host file as a {@link StoreBacking}. */
export class NodeFileBacking implements StoreBacking {
  #fd: number;
  #temporary: boolean;

  /**
   * @param fd an open descriptor (read-write unless only read from).
   * @param location the file's path.
   * @param temporary remove the file on close.
   */
  constructor(
    fd: number,
    readonly location: string,
    temporary: boolean,
  ) {
    this.#fd = fd;
    this.#temporary = temporary;
  }

  hostFd(): number | undefined {
    return this.#fd >= 0 ? this.#fd : undefined;
  }

  read(position: number, target: Uint8Array): number {
    return readSync(this.#fd, target, 0, target.length, position);
  }

  write(position: number, data: Uint8Array): void {
    for (let done = 0; done < data.length; )
      done += writeSync(this.#fd, data, done, data.length - done, position + done);
  }

  truncate(size: number): void {
    // An empty file stays as it is: on ext4, truncating to 0 (even an empty file) makes its
    // next close write back everything written since (auto_da_alloc), which a temporary
    // image never needs.
    if (size === 0 && fstatSync(this.#fd).size === 0) return;
    ftruncateSync(this.#fd, size);
  }

  flush(): void {}

  /** Forces the data to the disk (for an output file about to be renamed into place). */
  sync(): void {
    fdatasyncSync(this.#fd);
  }

  /** Keeps a temporary file when closed (it became the output). */
  keep(): void {
    this.#temporary = false;
  }

  close(): void {
    if (this.#fd < 0) return;
    try {
      closeSync(this.#fd);
    } finally {
      this.#fd = -1;
      if (this.#temporary) rmSync(this.location, { force: true });
    }
  }

  async createScratch(): Promise<StoreBacking> {
    return createTempBacking(dirname(this.location), basename(this.location));
  }
}

/**
 * Creates a file exclusively (fails if anything, a symlink included, is at `path`), mode
 * 0600, and returns its backing.
 * @param temporary remove the file when the backing is closed. Default false.
 */
export function createFileBacking(path: string, temporary = false): NodeFileBacking {
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  return new NodeFileBacking(fd, path, temporary);
}

/** A new temporary file in `dir` named after `hint` plus random characters (removed on close). */
export function createTempBacking(dir: string, hint = 'image'): NodeFileBacking {
  const safe = hint.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60);
  for (let attempt = 0; ; attempt++) {
    const path = join(dir, `.${safe}.${randomBytes(9).toString('hex')}.tmp`);
    try {
      return createFileBacking(path, true);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 8) throw err;
    }
  }
}

/**
 * An empty image store in a new temporary sparse file in `dir` (removed when the store is
 * closed).
 */
export function createTempImageStore(dir: string, hint = 'image', options: ImageStoreOptions = {}): BackedImageStore {
  const backing = createTempBacking(dir, hint);
  try {
    return new BackedImageStore(backing, options);
  } catch (err) {
    backing.close();
    throw err;
  }
}

/** Stores in temporary sparse files in `dir` (each removed when its store is closed). */
export function tempFileStorage(dir: string, options: ImageStoreOptions = {}): ImageStorage {
  return { kind: 'file', create: async (hint) => createTempImageStore(dir, hint, options) };
}

/**
 * An existing image file as a store, without copying it: every chunk counts as allocated
 * (reads go to the file). `writable` opens it read-write (changes go to the file itself).
 */
export function openImageFileStore(path: string, writable = false, options: ImageStoreOptions = {}): BackedImageStore {
  const fd = openSync(path, (writable ? constants.O_RDWR : constants.O_RDONLY) | constants.O_NOFOLLOW);
  try {
    const size = fstatSync(fd).size;
    return new BackedImageStore(new NodeFileBacking(fd, path, false), { ...options, size, existing: true });
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** Writes the logical image to `path` (created or replaced), skipping holes. Returns bytes written. */
export function writeStoreToFile(store: ImageStore, path: string): number {
  const fd = openSync(path, 'w');
  let written = 0;
  try {
    const buf = new Uint8Array(store.chunkSize);
    for (const { offset, length } of store.extents()) {
      for (let pos = offset; pos < offset + length; pos += buf.length) {
        const n = Math.min(buf.length, offset + length - pos);
        const view = buf.subarray(0, n);
        store.readInto(pos, view);
        if (isAllZero(view)) continue; // keep it a hole
        let done = 0;
        while (done < n) done += writeSync(fd, view, done, n - done, pos + done);
        written += n;
      }
    }
    ftruncateSync(fd, store.size);
  } finally {
    closeSync(fd);
  }
  return written;
}

/** Reads a host file into a new memory store (all-zero chunks stay unallocated). */
export function readStoreFromFile(path: string, options: ImageStoreOptions = {}): MemoryImageStore {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const store = new MemoryImageStore(size, options);
    const buf = new Uint8Array(store.chunkSize);
    for (let pos = 0; pos < size; pos += buf.length) {
      const n = Math.min(buf.length, size - pos);
      let done = 0;
      while (done < n) {
        const got = readSync(fd, buf, done, n - done, pos + done);
        if (got <= 0) throw new Error(`${path}: short read at ${pos + done}`);
        done += got;
      }
      store.write(pos, buf.subarray(0, n));
    }
    return store;
  } finally {
    closeSync(fd);
  }
}
