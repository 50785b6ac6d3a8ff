/**
 * The image Node makes (the runtime's wasm mke2fs, in this process) from files given as
 * bytes: what the browser tests compare the page's image with.
 */
import type { TreeEntry } from '../../core/image-tree.ts';
import { MemoryImageStore } from '../runtime/image-store.ts';
import { runTool } from '../runtime/run-tool.ts';

/** Files of a test tree: absolute image paths and their bytes. */
export interface BytesFile {
  path: string;
  bytes: Uint8Array;
}

/** Root-owned 0644 file entries, mtime 1, origin `picked`, the bytes as their sources. */
export function bytesEntries(files: readonly BytesFile[]): TreeEntry[] {
  return files.map((f) => ({
    path: f.path,
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 1,
    size: f.bytes.length,
    origin: 'picked',
    source: f.bytes.length ? { kind: 'bytes', bytes: f.bytes } : undefined,
  }));
}

/**
 * Runs `mke2fs` with `args` (which name `/tree` and `/image/disk.img`) on `files` mounted at
 * `/tree`, into an image store of `imageBytes`.
 */
export async function mkfsFromBytes(files: readonly BytesFile[], args: string[], imageBytes: number, epoch: number) {
  const store = new MemoryImageStore(imageBytes);
  const run = await runTool('mke2fs', args, {
    epoch,
    mounts: [
      { type: 'image', path: '/image/disk.img', store },
      { type: 'tree', path: '/tree', entries: bytesEntries(files) },
    ],
  });
  return { exitCode: run.exitCode, stderr: run.stderr, store };
}
