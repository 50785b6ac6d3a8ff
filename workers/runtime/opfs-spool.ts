/**
 * Spools in the browser's origin-private file system (OPFS), written through sync access
 * handles in the worker and read back as Files, which the browser keeps on disk, so that
 * gigabytes never sit in memory: fetched NARs ({@link openSpool}) and the decompressed
 * contents of compressed archives and exports ({@link openContentSpool}).
 *
 * Layout: `fetched-nars/<session>/<fetch>/<hash>-<name>.nar` and
 * `input-contents/<session>/<input>/contents-<n>`. The page holds a Web Lock named
 * `disk-image-studio-spool-<session>` while it lives; {@link removeStaleSessions} deletes
 * the folders of sessions whose lock nobody holds (closed tabs). Where OPFS is missing,
 * NARs are kept as Blobs (the browser may page them to disk, but need not).
 */
import type { NarSpool, SpoolFile } from '../../core/binary-cache/substitute.ts';
import type { ByteSource } from '../../core/image-tree.ts';
import type { ContentSpool } from '../../core/io/cursor.ts';

const ROOT = 'fetched-nars';
const CONTENTS_ROOT = 'input-contents';
export const SPOOL_LOCK_PREFIX = 'disk-image-studio-spool-';

interface SyncHandle {
  write(buffer: Uint8Array, options?: { at?: number }): number;
  truncate?(size: number): void;
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
  const held = new Set(((await navigator.locks.query()).held ?? []).map((l) => l.name));
  for (const top of [ROOT, CONTENTS_ROOT]) {
    let spool: FileSystemDirectoryHandle;
    try {
      spool = await root.getDirectoryHandle(top, { create: true });
    } catch {
      continue;
    }
    const names: string[] = [];
    for await (const name of (spool as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(name);
    for (const name of names)
      if (!held.has(SPOOL_LOCK_PREFIX + name)) await spool.removeEntry(name, { recursive: true }).catch(() => {});
  }
}

const ID_RE = /^[A-Za-z0-9-]{1,64}$/;

/** Thrown when the browser refuses OPFS space for spooled contents (quota, a full disk). */
export class SpoolRefusedError extends Error {
  override name = 'SpoolRefusedError';
}

/** A {@link ContentSpool} whose files can be removed when the input they belong to goes. */
export interface RemovableContentSpool extends ContentSpool {
  /** Bytes written so far. */
  readonly bytes: number;
}

/**
 * The decompressed contents of one input (a `.tar.gz`, a `.tar.zst`, a compressed export)
 * in OPFS, under `input-contents/<session>/<input>`: member bytes are written as they are
 * decompressed (the decompressor waits for each write), and become slices of a File once
 * the parse ends ({@link ContentSpool.seal}). What an earlier spool of the same input wrote
 * is removed first. Resolves to the reason (a string) where OPFS cannot be used.
 */
export async function openContentSpool(session: string, input: string): Promise<RemovableContentSpool | string> {
  if (!ID_RE.test(session) || !ID_RE.test(input)) throw new Error('bad spool session or input id');
  const root = await opfsRoot();
  if (!root) return 'this browser has no Origin Private File System';
  if (typeof (FileSystemFileHandle.prototype as Partial<FileHandleWithSync>).createSyncAccessHandle !== 'function')
    return 'this browser has no synchronous file access in workers';
  let dir: FileSystemDirectoryHandle;
  try {
    const sessionDir = await (await root.getDirectoryHandle(CONTENTS_ROOT, { create: true })).getDirectoryHandle(
      session,
      { create: true },
    );
    await sessionDir.removeEntry(input, { recursive: true }).catch(() => {});
    dir = await sessionDir.getDirectoryHandle(input, { create: true });
  } catch (err) {
    return `the browser refused its Origin Private File System (${err instanceof Error ? err.message : String(err)})`;
  }
  let files = 0;
  let written = 0;
  let open: { handle: FileHandleWithSync; sync: SyncHandle; size: number; waiting: ByteSource[] } | null = null;
  const refused = (err: unknown) =>
    new SpoolRefusedError(
      `The browser refused more storage for decompressed contents (${err instanceof Error ? err.message : String(err)}): the disk or this site's storage quota is full. Free disk space, or give the archive uncompressed (it is then read in place).`,
    );
  return {
    get bytes() {
      return written;
    },
    async append(size, fill) {
      if (!open) {
        const name = `contents-${files++}-${Date.now().toString(36)}`;
        const handle = (await dir.getFileHandle(name, { create: true })) as FileHandleWithSync;
        open = { handle, sync: await handle.createSyncAccessHandle(), size: 0, waiting: [] };
      }
      const file = open;
      const offset = file.size;
      let at = offset;
      await fill((part) => {
        try {
          for (let done = 0; done < part.length; ) {
            const n = file.sync.write(part.subarray(done), { at: at + done });
            if (n <= 0) throw new Error('no byte was written');
            done += n;
          }
        } catch (err) {
          throw refused(err);
        }
        at += part.length;
      });
      if (at - offset !== size) throw new Error(`spooled ${at - offset} bytes where ${size} were expected`);
      file.size = at;
      written += size;
      // Named now, readable once sealed: a File snapshot is taken when the writes are done.
      const source: ByteSource = { kind: 'blob', blob: EMPTY_BLOB, offset, size };
      file.waiting.push(source);
      return source;
    },
    async seal() {
      const file = open;
      if (!file) return;
      open = null;
      file.sync.flush();
      file.sync.close();
      const snapshot = await file.handle.getFile();
      for (const s of file.waiting) if (s.kind === 'blob') s.blob = snapshot;
    },
  };
}

const EMPTY_BLOB = new Blob([]);

/** Removes the spooled contents of one input of a session, or (no `input`) all of the session's. */
export async function removeContents(session: string, input?: string): Promise<void> {
  if (!ID_RE.test(session) || (input !== undefined && !ID_RE.test(input))) return;
  const root = await opfsRoot();
  if (!root) return;
  try {
    const top = await root.getDirectoryHandle(CONTENTS_ROOT);
    if (input === undefined) await top.removeEntry(session, { recursive: true });
    else await (await top.getDirectoryHandle(session)).removeEntry(input, { recursive: true });
  } catch {
    /* gone already */
  }
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
