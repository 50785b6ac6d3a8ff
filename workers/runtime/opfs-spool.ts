/**
 * A spool for fetched NARs in the browser's origin-private file system (OPFS): each NAR is
 * written as it streams in (a sync access handle, in the worker) and read back as a File,
 * which the browser keeps on disk, so a closure of gigabytes never sits in memory.
 *
 * Layout: `fetched-nars/<session>/<fetch>/<hash>-<name>.nar`. The page holds a Web Lock
 * named `disk-image-studio-spool-<session>` while it lives; {@link removeStaleSessions}
 * deletes the folders of sessions whose lock nobody holds (closed tabs). Where OPFS is
 * missing, NARs are kept as Blobs (the browser may page them to disk, but need not).
 */
import type { NarSpool, SpoolFile } from '../../core/binary-cache/substitute.ts';

const ROOT = 'fetched-nars';
export const SPOOL_LOCK_PREFIX = 'disk-image-studio-spool-';

interface SyncHandle {
  write(buffer: Uint8Array, options?: { at?: number }): number;
  flush(): void;
  close(): void;
}
type FileHandleWithSync = FileSystemFileHandle & { createSyncAccessHandle(): Promise<SyncHandle> };

async function opfsRoot(): Promise<FileSystemDirectoryHandle | null> {
  try {
    const dir = await navigator.storage?.getDirectory?.();
    return dir ?? null;
  } catch {
    return null;
  }
}

/** Deletes the spool folders of sessions whose page is gone. */
export async function removeStaleSessions(): Promise<void> {
  const root = await opfsRoot();
  if (!root || !navigator.locks) return;
  let spool: FileSystemDirectoryHandle;
  try {
    spool = await root.getDirectoryHandle(ROOT, { create: true });
  } catch {
    return;
  }
  const held = new Set(((await navigator.locks.query()).held ?? []).map((l) => l.name));
  const names: string[] = [];
  for await (const name of (spool as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(name);
  for (const name of names)
    if (!held.has(SPOOL_LOCK_PREFIX + name)) await spool.removeEntry(name, { recursive: true }).catch(() => {});
}

/** Spools one fetch into OPFS (or Blobs where OPFS is missing). */
export async function openSpool(session: string, fetchId: string): Promise<NarSpool & { remove(): Promise<void> }> {
  if (!/^[A-Za-z0-9-]{1,64}$/.test(session) || !/^[A-Za-z0-9-]{1,64}$/.test(fetchId))
    throw new Error('bad spool session or fetch id');
  const root = await opfsRoot();
  const canSync =
    root !== null &&
    typeof (FileSystemFileHandle.prototype as Partial<FileHandleWithSync>).createSyncAccessHandle === 'function';
  if (!root || !canSync) return memorySpool();
  const dir = await (
    await (
      await root.getDirectoryHandle(ROOT, { create: true })
    ).getDirectoryHandle(session, {
      create: true,
    })
  ).getDirectoryHandle(fetchId, { create: true });
  return {
    async create(name: string): Promise<SpoolFile> {
      if (!/^[A-Za-z0-9+\-._?=]+$/.test(name) || name.startsWith('.')) throw new Error(`bad spool file name ${name}`);
      const fh = (await dir.getFileHandle(name, { create: true })) as FileHandleWithSync;
      const h = await fh.createSyncAccessHandle();
      let at = 0;
      let open = true;
      const close = () => {
        if (open) {
          open = false;
          h.flush();
          h.close();
        }
      };
      return {
        async write(chunk) {
          let done = 0;
          while (done < chunk.length) done += h.write(chunk.subarray(done), { at: at + done });
          at += chunk.length;
        },
        async finish() {
          close();
          const file = await fh.getFile();
          return { name, blob: file };
        },
        async discard() {
          try {
            close();
          } catch {
            /* already closed */
          }
          await dir.removeEntry(name).catch(() => {});
        },
      };
    },
    async remove() {
      const parent = await (await root.getDirectoryHandle(ROOT)).getDirectoryHandle(session);
      await parent.removeEntry(fetchId, { recursive: true }).catch(() => {});
    },
  };
}

function memorySpool(): NarSpool & { remove(): Promise<void> } {
  return {
    async create(name) {
      let parts: Blob[] = [];
      let pending: Uint8Array[] = [];
      let pendingBytes = 0;
      const flush = () => {
        if (pending.length) parts.push(new Blob(pending as Uint8Array<ArrayBuffer>[]));
        pending = [];
        pendingBytes = 0;
      };
      return {
        async write(chunk) {
          pending.push(chunk.slice());
          pendingBytes += chunk.length;
          if (pendingBytes > 8 << 20) flush();
        },
        async finish() {
          flush();
          return { name, blob: new File(parts, name) };
        },
        async discard() {
          parts = [];
          pending = [];
        },
      };
    },
    async remove() {},
  };
}
