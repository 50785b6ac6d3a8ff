/**
 * Turns what a person gives the page (files from a picker, a folder picker, a drop) into
 * engine inputs. Browsers expose neither modes nor symlinks, so every file gets 0644 and
 * every folder 0755; empty folders are kept where the browser shows them (drops do, folder
 * pickers do not).
 */
import type { TreeEntry } from '../../core/image-tree.ts';
import type { BuildInput } from '../../core/engine-contract.ts';
import { joinImagePath } from '../../core/image-path.ts';
import { type PickedFile, pickedFilesToEntries } from '../../core/picked-files.ts';
import { yieldToPage } from '../lib/yield-to-page.ts';
import { DEFAULT_DIR_MODE, DEFAULT_FILE_MODE } from '../state/file-tree.ts';

/** Names that look like tar archives (extracted or kept, the person decides). */
export const ARCHIVE_RE = /\.(tar|tar\.gz|tgz|tar\.zst|tar\.zstd|tzst)$/i;

export function isArchiveName(name: string): boolean {
  return ARCHIVE_RE.test(name);
}

function mtimeOf(file: File): number {
  return Math.max(0, Math.floor((file.lastModified || 0) / 1000));
}

export function fileEntry(path: string, file: File, origin: string): TreeEntry {
  return {
    path,
    type: 'file',
    mode: DEFAULT_FILE_MODE,
    uid: 0,
    gid: 0,
    mtime: mtimeOf(file),
    size: file.size,
    source: { kind: 'blob', blob: file, offset: 0, size: file.size },
    origin,
  };
}

export function dirEntry(path: string, origin: string, mtime = 0): TreeEntry {
  return { path, type: 'directory', mode: DEFAULT_DIR_MODE, uid: 0, gid: 0, mtime, size: 0, origin };
}

/** Loose files placed directly in `at`. Entry paths are absolute, so the input sits at `/`. */
export function looseFilesInput(files: readonly File[], at: string): BuildInput {
  return {
    kind: 'tree',
    at: '/',
    entries: files.map((f) => fileEntry(joinImagePath(at, f.name), f, f.name)),
  };
}

/** A folder picker's File and its path below the picked folder's parent (`site/css/a.css`). */
export function pickedPath(f: File): string {
  return f.webkitRelativePath || f.name;
}

/** The first part of a picked file's path: the picked folder's name. */
export function pickedTop(f: File): string {
  return (
    pickedPath(f)
      .split('/')
      .filter((p) => p.length > 0)[0] ?? f.name
  );
}

/**
 * Files from an `<input webkitdirectory>`: their `webkitRelativePath` names the folders. Reads
 * every File's size and time here (see `core/picked-files.ts`: the page hands large folders
 * to the worker as a `picked-files` input of engine-client.ts instead).
 */
export function folderPickerInputs(files: readonly File[], at: string): BuildInput[] {
  const byTop = new Map<string, PickedFile[]>();
  for (const f of files) {
    const top = pickedTop(f);
    let list = byTop.get(top);
    if (!list) byTop.set(top, (list = []));
    list.push({ file: f, path: pickedPath(f) });
  }
  return [...byTop].map(([top, list]) => ({ kind: 'tree', at: '/', entries: pickedFilesToEntries(list, at, top) }));
}

/**
 * A folder picker's Files grouped by top folder (each group one input), paths read once; no
 * File's size or time is read (the engine does that, see `core/picked-files.ts`). Pauses for
 * the page every 5,000 files, and first of all: Chromium made one File per picked file in the
 * task that delivered them (about 40 ms per thousand).
 */
export async function groupPickedFolders(files: readonly File[]): Promise<Map<string, PickedFile[]>> {
  await yieldToPage();
  const byTop = new Map<string, PickedFile[]>();
  let n = 0;
  for (const f of files) {
    if (++n % 5000 === 0) await yieldToPage();
    const path = pickedPath(f);
    const top = path.split('/', 1)[0] || f.name;
    let list = byTop.get(top);
    if (!list) byTop.set(top, (list = []));
    list.push({ file: f, path });
  }
  return byTop;
}

// ---- drops --------------------------------------------------------------------------

/** A top-level thing that was dropped. */
export type DroppedItem = { kind: 'file'; file: File } | { kind: 'folder'; name: string; entries: TreeEntry[] };

interface Walker {
  name: string;
  walk(at: string, origin: string, out: TreeEntry[]): Promise<void>;
  file?: () => Promise<File>;
}

/* Minimal shapes of the two directory APIs (not all of them are in TypeScript's DOM lib). */
interface LegacyEntry {
  isFile: boolean;
  isDirectory: boolean;
  name: string;
  file?(ok: (f: File) => void, err: (e: unknown) => void): void;
  createReader?(): { readEntries(ok: (entries: LegacyEntry[]) => void, err: (e: unknown) => void): void };
}
interface HandleLike {
  kind: 'file' | 'directory';
  name: string;
  getFile?(): Promise<File>;
  values?(): AsyncIterable<HandleLike>;
}

function legacyWalker(entry: LegacyEntry): Walker {
  const fileOf = (e: LegacyEntry) => new Promise<File>((ok, err) => e.file!(ok, err));
  return {
    name: entry.name,
    file: entry.isFile ? () => fileOf(entry) : undefined,
    async walk(at, origin, out) {
      // Depth first with an explicit stack: no recursion by folder depth.
      const stack: Array<{ entry: LegacyEntry; at: string }> = [{ entry, at }];
      while (stack.length > 0) {
        const next = stack.pop()!;
        const path = joinImagePath(next.at, next.entry.name);
        if (next.entry.isFile) {
          out.push(fileEntry(path, await fileOf(next.entry), origin));
          continue;
        }
        out.push(dirEntry(path, origin));
        const reader = next.entry.createReader!();
        // readEntries hands out batches (100 in Chromium) until it returns an empty one.
        const children: LegacyEntry[] = [];
        for (;;) {
          const batch = await new Promise<LegacyEntry[]>((ok, err) => reader.readEntries(ok, err));
          if (batch.length === 0) break;
          for (const child of batch) children.push(child);
        }
        for (let i = children.length - 1; i >= 0; i--) stack.push({ entry: children[i], at: path });
      }
    },
  };
}

function handleWalker(handle: HandleLike): Walker {
  return {
    name: handle.name,
    file: handle.kind === 'file' ? () => handle.getFile!() : undefined,
    async walk(at, origin, out) {
      // Depth first with an explicit stack: no recursion by folder depth.
      const stack: Array<{ handle: HandleLike; at: string }> = [{ handle, at }];
      while (stack.length > 0) {
        const next = stack.pop()!;
        const path = joinImagePath(next.at, next.handle.name);
        if (next.handle.kind === 'file') {
          out.push(fileEntry(path, await next.handle.getFile!(), origin));
          continue;
        }
        out.push(dirEntry(path, origin));
        const children: HandleLike[] = [];
        for await (const child of next.handle.values!()) children.push(child);
        for (let i = children.length - 1; i >= 0; i--) stack.push({ handle: children[i], at: path });
      }
    },
  };
}

/**
 * Reads a drop. Must be called synchronously inside the `drop` handler: the items are only
 * readable during the event, so their entries/handles are taken before the first await.
 */
export function readDrop(dt: DataTransfer): Promise<DroppedItem[]> {
  type Grab = { handle?: Promise<HandleLike | null>; entry: LegacyEntry | null; file: File | null };
  const grabs: Grab[] = [];
  const items = dt.items ? [...dt.items] : [];
  if (items.length > 0) {
    for (const item of items) {
      if (item.kind !== 'file') continue;
      const withHandle = item as DataTransferItem & { getAsFileSystemHandle?: () => Promise<HandleLike | null> };
      grabs.push({
        handle:
          typeof withHandle.getAsFileSystemHandle === 'function'
            ? withHandle.getAsFileSystemHandle().catch(() => null)
            : undefined,
        entry: (item.webkitGetAsEntry?.() as LegacyEntry | null) ?? null,
        file: item.getAsFile(),
      });
    }
  } else {
    for (const file of dt.files ? [...dt.files] : []) grabs.push({ entry: null, file });
  }

  return (async () => {
    const out: DroppedItem[] = [];
    for (const g of grabs) {
      let walker: Walker | null = null;
      const handle = g.handle ? await g.handle : null;
      if (handle && (handle.kind === 'file' || typeof handle.values === 'function')) walker = handleWalker(handle);
      else if (g.entry) walker = legacyWalker(g.entry);

      if (walker && !walker.file) {
        const entries: TreeEntry[] = [];
        await walker.walk('/', walker.name, entries);
        out.push({ kind: 'folder', name: walker.name, entries });
      } else if (g.file) {
        out.push({ kind: 'file', file: g.file });
      } else if (walker?.file) {
        out.push({ kind: 'file', file: await walker.file() });
      }
    }
    return out;
  })();
}

/** Moves a dropped folder's entries (rooted at `/<name>`) under `at`. */
export function placeEntries(entries: readonly TreeEntry[], at: string): TreeEntry[] {
  if (at === '/') return [...entries];
  return entries.map((e) => ({ ...e, path: at + e.path }));
}

/** True when a drag carries files from outside the page. */
export function dragHasFiles(dt: DataTransfer | null): boolean {
  return !!dt && [...dt.types].includes('Files');
}
