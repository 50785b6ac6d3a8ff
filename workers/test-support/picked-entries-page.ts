import { expect } from 'vitest';

/**
 * For test pages that build from Files picked into `<input type=file multiple>`: the page
 * script's `pickedEntries(files, mode, meta)`, as source text to put into the page's script.
 * It makes the tree's entries (root, then one file entry per `meta` item, path and size from
 * `meta`, bytes from the picked File at the same index) with the Files as Blob sources in
 * one of three shapes: `joined`, one Blob of all the Files (as the bench's page joins them);
 * `groups`, Blobs of 7 Files (so the engine's batches span several Blobs and start inside
 * one); `separate`, each File its own source.
 */
export const PICKED_ENTRIES_SCRIPT = `
function pickedEntries(files, mode, meta) {
  const base = { uid: 0, gid: 0, mtime: 1, origin: 'picked' };
  const entries = [{ ...base, path: '/', type: 'directory', mode: 0o755, size: 0 }];
  const per = mode === 'joined' ? files.length : mode === 'groups' ? 7 : 1;
  const blobs = [];
  for (let i = 0; i < files.length; i += per) blobs.push(per === 1 ? files[i] : new Blob(files.slice(i, i + per)));
  let offset = 0;
  meta.forEach((m, i) => {
    if (i % per === 0) offset = 0;
    const source = { kind: 'blob', blob: blobs[Math.floor(i / per)], offset, size: m.size };
    offset += m.size;
    entries.push({ ...base, path: m.path, type: 'file', mode: 0o644, size: m.size, source: m.size ? source : undefined });
  });
  return entries;
}
`;

/** What a test page reports of a build that failed: the error's name, message and path. */
export interface PageBuildError {
  name: string;
  message: string;
  path?: string;
}

/**
 * Asserts that a page's build ended without an exit status but with the engine's
 * InputChangedError for the picked file at `path` (changed on disk after it was picked).
 */
export function expectInputChanged(outcome: { exit?: number; error?: PageBuildError }, path: string): void {
  expect(outcome.exit).toBeUndefined();
  expect(outcome.error?.name).toBe('InputChangedError');
  expect(outcome.error?.path).toBe(path);
  expect(outcome.error?.message).toMatch(/changed, moved or deleted on disk after it was added/);
}
