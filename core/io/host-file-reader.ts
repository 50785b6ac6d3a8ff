/**
 * Node only: random access to host files. Kept apart so `core/` stays importable in a Web
 * Worker; only Node callers (CLI, Node pipeline) import this module.
 */
import { open } from 'node:fs/promises';
import type { ByteSource } from '../image-tree.ts';
import type { HostFileOpener, RandomAccessReader } from './random-access-reader.ts';

/** Reads a host file (or `size` bytes of it from `base`); opens the file per read so no handle leaks. */
export class HostFileReader implements RandomAccessReader {
  constructor(
    readonly path: string,
    readonly name: string,
    readonly size: number,
    private readonly base = 0,
  ) {}

  async read(offset: number, length: number): Promise<Uint8Array> {
    const start = Math.min(Math.max(0, offset), this.size);
    const len = Math.max(0, Math.min(length, this.size - start));
    if (len === 0) return new Uint8Array(0);
    const fh = await open(this.path, 'r');
    try {
      const buf = new Uint8Array(len);
      let got = 0;
      while (got < len) {
        const { bytesRead } = await fh.read(buf, got, len - got, this.base + start + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got === len ? buf : buf.subarray(0, got);
    } finally {
      await fh.close();
    }
  }

  sourceAt(offset: number, size: number): ByteSource {
    return { kind: 'host-file', path: this.path, offset: this.base + offset, size };
  }
}

/** Opens a host file for random access; `size` defaults to the rest of the file after `offset`. */
export const openHostFile: HostFileOpener = async (path, name, offset = 0, size) => {
  const fh = await open(path, 'r');
  try {
    const st = await fh.stat();
    return new HostFileReader(path, name, size ?? Math.max(0, st.size - offset), offset);
  } finally {
    await fh.close();
  }
};
