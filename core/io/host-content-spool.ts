/**
 * Node only: a {@link ContentSpool} in one temporary file. Member bytes that a stream
 * cursor takes from a decompressed input (a `.tar.zst`, a compressed export) are appended
 * to it and named as `host-file` slices, so they are read from disk like any host file
 * instead of being held in memory. The file is created exclusively (mode 0600, never
 * through an existing file or link) under an unpredictable name; {@link dispose} removes it.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ByteSource } from '../image-tree.ts';
import type { ContentSpool } from './cursor.ts';

export class HostContentSpool implements ContentSpool {
  readonly path: string;
  #fd: number;
  #size = 0;

  /** @param dir where the file goes. Default: the system's temporary folder. */
  constructor(dir = tmpdir()) {
    this.path = join(dir, `.disk-image-studio-contents-${randomBytes(9).toString('hex')}.tmp`);
    this.#fd = openSync(
      this.path,
      constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
  }

  /** Bytes spooled so far. */
  get size(): number {
    return this.#size;
  }

  async append(size: number, fill: (write: (part: Uint8Array) => void) => Promise<void>): Promise<ByteSource> {
    if (this.#fd < 0) throw new Error('the content spool was disposed');
    const offset = this.#size;
    let at = offset;
    await fill((part) => {
      for (let done = 0; done < part.length; ) done += writeSync(this.#fd, part, done, part.length - done, at + done);
      at += part.length;
    });
    if (at - offset !== size) throw new Error(`spooled ${at - offset} bytes where ${size} were expected`);
    this.#size = at;
    return { kind: 'host-file', path: this.path, offset, size };
  }

  /** Closes and removes the file. */
  dispose(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
    rmSync(this.path, { force: true });
  }
}
