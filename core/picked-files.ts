/**
 * Files a browser's folder picker (`<input webkitdirectory>`) gave, as image entries. Each
 * File's size and modification time are read here, one by one: in Chromium every such File
 * asks the browser process for them synchronously (about 0.2 ms each), so the page hands the
 * Files to the worker and this runs there, not on the page's main thread. Browsers pass no
 * modes: files get 0644, folders 0755.
 */
import { joinImagePath } from './image-path.ts';
import type { TreeEntry } from './image-tree.ts';

/** A picked File and its path relative to the picked folder's parent (`site/css/a.css`). */
export interface PickedFile {
  file: Blob & { readonly lastModified?: number };
  path: string;
}

const FILE_MODE = 0o644;
const DIR_MODE = 0o755;

/** The entries of picked files placed in `at`: every folder on the way once, then the file. */
export function pickedFilesToEntries(files: readonly PickedFile[], at: string, origin: string): TreeEntry[] {
  const byPath = new Map<string, TreeEntry>();
  for (const { file, path } of files) {
    const parts = path.split('/').filter((p) => p.length > 0);
    let dir = at;
    for (let i = 0; i < parts.length - 1; i++) {
      dir = joinImagePath(dir, parts[i]);
      if (!byPath.has(dir))
        byPath.set(dir, { path: dir, type: 'directory', mode: DIR_MODE, uid: 0, gid: 0, mtime: 0, size: 0, origin });
    }
    const name = parts[parts.length - 1] ?? ('name' in file ? String(file.name) : 'file');
    const p = joinImagePath(dir, name);
    // A later file of the same path wins (as a later tar member does).
    byPath.set(p, {
      path: p,
      type: 'file',
      mode: FILE_MODE,
      uid: 0,
      gid: 0,
      mtime: Math.max(0, Math.floor((file.lastModified || 0) / 1000)),
      size: file.size,
      source: { kind: 'blob', blob: file, offset: 0, size: file.size },
      origin,
    });
  }
  return [...byPath.values()];
}
