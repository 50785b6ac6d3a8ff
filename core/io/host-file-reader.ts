/**
 * Node only: random access to host files. Kept apart so `core/` stays importable in a Web
 * Worker; only Node callers (CLI, Node pipeline) import this module.
 */
import { realpath } from 'node:fs/promises';
import { constants, open } from 'node:fs/promises';
import { InputError } from '../errors.ts';
import type { ByteSource, HostFileIdentity } from '../image-tree.ts';
import { accessProblem, openRegularFile } from './host-input-check.ts';
import type { HostFileOpener, RandomAccessReader } from './random-access-reader.ts';

/** The identity of an open file (see {@link HostFileIdentity}). */
export function identityOf(st: { dev: number; ino: number; size: number; mtimeMs: number }): HostFileIdentity {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
}

/** Why `st` is not the file `id` describes, or undefined when it is. */
export function identityProblem(
  st: { dev: number; ino: number; size: number; mtimeMs: number; isFile(): boolean },
  id: HostFileIdentity,
): string | undefined {
  if (!st.isFile()) return 'it is no longer a regular file';
  if (st.dev !== id.dev || st.ino !== id.ino) return 'it was replaced by another file';
  if (st.size !== id.size) return `its size changed from ${id.size} to ${st.size} bytes`;
  if (st.mtimeMs !== id.mtimeMs) return 'it was modified';
  return undefined;
}

/**
 * Reads a host file (or `size` bytes of it from `base`); opens the file per read so no handle
 * leaks, each time without following links and checking it is the file first opened.
 */
export class HostFileReader implements RandomAccessReader {
  constructor(
    readonly path: string,
    readonly name: string,
    readonly size: number,
    private readonly base = 0,
    readonly identity?: HostFileIdentity,
  ) {}

  async read(offset: number, length: number): Promise<Uint8Array> {
    const start = Math.min(Math.max(0, offset), this.size);
    const len = Math.max(0, Math.min(length, this.size - start));
    if (len === 0) return new Uint8Array(0);
    const fh = await open(this.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(
      (e: NodeJS.ErrnoException) => {
        if (e.code === 'ELOOP') throw this.#changed('it was replaced by a symbolic link');
        if (e.code === 'ENOENT') throw this.#changed('it was removed');
        throw e;
      },
    );
    try {
      if (this.identity) {
        const why = identityProblem(await fh.stat(), this.identity);
        if (why) throw this.#changed(why);
      }
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

  #changed(why: string): InputError {
    return new InputError({
      code: 'input-changed',
      input: this.name,
      path: this.path,
      message: `${this.path} changed while it was being read: ${why}.`,
      hint: 'Let whatever is writing it finish (or stop it), then build again.',
    });
  }

  sourceAt(offset: number, size: number): ByteSource {
    const source: ByteSource = { kind: 'host-file', path: this.path, offset: this.base + offset, size };
    if (this.identity) source.identity = this.identity;
    return source;
  }
}

/**
 * Opens a host file for random access; `size` defaults to the rest of the file after `offset`.
 * The path may be a symlink (as given by a person): it is resolved once, here, and every
 * later read opens the resolved file without following links and checks it is the same file.
 */
export const openHostFile: HostFileOpener = async (path, name, offset = 0, size) => {
  let real: string;
  try {
    real = await realpath(path);
  } catch (err) {
    throw new InputError({
      code: 'input-not-usable',
      input: name,
      message: `${path}: ${accessProblem(err)}`,
      hint: 'Give a regular file that can be read.',
    });
  }
  // Anything but a regular file (a FIFO, a device, a folder) is refused without blocking.
  const { fh, st } = await openRegularFile(real, name, { noFollow: true });
  try {
    return new HostFileReader(real, name, size ?? Math.max(0, st.size - offset), offset, identityOf(st));
  } finally {
    await fh.close();
  }
};
