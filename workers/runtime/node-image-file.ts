/**
 * Node only: moving an {@link ImageStore} to and from a host file, sparsely. Holes of the
 * store become holes of the file (positioned writes of the allocated runs, then
 * `ftruncate` to the full size), and all-zero chunks of a file are not allocated when
 * reading one in.
 */
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { ImageStore, isAllZero, type ImageStoreOptions } from './image-store.ts';

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

/** Reads a host file into a new store (all-zero chunks stay unallocated). */
export function readStoreFromFile(path: string, options: ImageStoreOptions = {}): ImageStore {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const store = new ImageStore(size, options);
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
