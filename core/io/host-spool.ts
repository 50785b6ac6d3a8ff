/**
 * Node only: a spool for fetched NARs in a private temporary folder (mode 0700, files
 * created exclusively with mode 0600), so a NAR streams to disk instead of memory and is
 * then read in place like a local `.nar`. {@link HostSpool.dispose} removes the folder.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NarSpool, SpoolFile } from '../binary-cache/substitute.ts';

export class HostSpool implements NarSpool {
  readonly dir: string;
  constructor(parent = tmpdir()) {
    this.dir = mkdtempSync(join(parent, 'disk-image-studio-nars-'));
  }

  async create(name: string): Promise<SpoolFile> {
    if (!/^[A-Za-z0-9+\-._?=]+$/.test(name) || name.startsWith('.')) throw new Error(`bad spool file name ${name}`);
    const path = join(this.dir, name);
    // 'wx': exclusive, never through an existing file or link.
    const fh = await open(path, 'wx', 0o600);
    let closed = false;
    const close = async () => {
      if (!closed) {
        closed = true;
        await fh.close();
      }
    };
    return {
      write: async (chunk) => {
        for (let off = 0; off < chunk.length; ) {
          const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
          off += bytesWritten;
        }
      },
      finish: async () => {
        await close();
        return { name, hostPath: path };
      },
      discard: async () => {
        await close().catch(() => {});
        rmSync(path, { force: true });
      },
    };
  }

  /** Removes the folder and everything in it. */
  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
