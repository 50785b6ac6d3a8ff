/**
 * The editable image tree: normalized paths, implicit parent directories, conflicts between
 * inputs (with resolution helpers), edit operations for the UI and a flat depth-first listing
 * for a virtualized view. Kept fast at 100k+ entries: a path map plus per-directory child sets.
 */
import type { InputProblem, TreeEntry } from './image-tree.ts';
import { InputError } from './errors.ts';

/** Mode of directories created because something below them was added. */
export const IMPLICIT_DIR_MODE = 0o755;
/** Longest file name ext4 stores, bytes. */
export const MAX_NAME_BYTES = 255;
/** Default modes by type (when an input gives none). */
export const DEFAULT_MODES = { file: 0o644, directory: 0o755, symlink: 0o777, hardlink: 0o644 } as const;

const enc = new TextEncoder();

/** A failed edit (renaming onto an existing name, editing a missing path, ...). */
export class TreeEditError extends InputError {}

/**
 * Compares file names in UTF-8 byte order (what ext4 and NAR sort by). JS compares UTF-16
 * units, which differs only for astral characters (surrogates sort after U+E000..U+FFFF in UTF-8).
 */
export function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      const xs = x >= 0xd800 && x <= 0xdfff;
      const ys = y >= 0xd800 && y <= 0xdfff;
      if (xs !== ys) return xs ? 1 : -1;
      return x - y;
    }
  }
  return a.length - b.length;
}

/** Depth-first order of image paths: parents before children, siblings by `compareNames`. */
export function compareImagePaths(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '/') return -1;
  if (b === '/') return 1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      if (x === 0x2f) return -1; // `/a/b` (inside a) before `/a-c`
      if (y === 0x2f) return 1;
      const ea = a.indexOf('/', i);
      const eb = b.indexOf('/', i);
      const sa = a.lastIndexOf('/', i) + 1;
      return compareNames(a.slice(sa, ea < 0 ? undefined : ea), b.slice(sa, eb < 0 ? undefined : eb));
    }
  }
  return a.length - b.length;
}

/** Why a path component cannot be a file name, or null. */
function nameProblem(name: string): string | null {
  if (name.includes('\0')) return 'it contains a NUL byte';
  if (enc.encode(name).length > MAX_NAME_BYTES) return `a name in it is longer than ${MAX_NAME_BYTES} bytes`;
  return null;
}

/**
 * Normalizes a path as an archive names it, relative to where the archive goes: `./a//b/`
 * -> `a/b`, `.` or `./` -> `` (the root itself). Returns a reason instead when it is absolute,
 * climbs out with `..`, or has an impossible name.
 */
export function normalizeRelativePath(raw: string): { path: string } | { reason: string } {
  if (raw.startsWith('/')) return { reason: 'it is absolute' };
  const parts: string[] = [];
  for (const p of raw.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') return { reason: 'it climbs out with ".."' };
    const why = nameProblem(p);
    if (why) return { reason: why };
    parts.push(p);
  }
  return { path: parts.join('/') };
}

/** Normalizes an image path given by people or code (`at`, edit targets): absolute, no `.`/`..`. Throws on `..` / NUL. */
export function normalizeImagePath(p: string): string {
  const parts: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..' || nameProblem(c))
      throw new TreeEditError({
        code: 'path-invalid',
        input: 'edit',
        path: p,
        message: `"${p}" is not a valid image path.`,
        hint: 'Use an absolute path without "..", NUL bytes or names over 255 bytes.',
      });
    parts.push(c);
  }
  return '/' + parts.join('/');
}

/** `at` + relative path (`''` is `at` itself). */
export function joinImagePath(at: string, rel: string): string {
  if (!rel) return at;
  return at === '/' ? '/' + rel : `${at}/${rel}`;
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function nameOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** A problem for an archive member whose name escapes where it goes. */
export function pathEscapesProblem(input: string, raw: string, reason: string): InputProblem {
  return {
    severity: 'error',
    code: 'path-escapes',
    input,
    path: raw.slice(0, 4096),
    message: `The member "${raw.slice(0, 200)}" cannot be placed: ${reason}.`,
    hint: 'Recreate the archive with relative paths inside it (tar -C dir -cf x.tar .), or remove this member.',
  };
}

/** Two inputs claiming one path. */
export interface TreeConflict {
  path: string;
  existing: TreeEntry;
  incoming: TreeEntry;
  problem: InputProblem;
}

/** One row of the flat listing. */
export interface TreeRow {
  entry: TreeEntry;
  /** 0 for `/`, 1 for its children, ... */
  depth: number;
}

function conflictProblem(path: string, existing: TreeEntry, incoming: TreeEntry): InputProblem {
  const what = (e: TreeEntry) =>
    e.type === 'directory'
      ? 'a directory'
      : e.type === 'symlink'
        ? 'a symlink'
        : e.type === 'hardlink'
          ? 'a hard link'
          : 'a file';
  return {
    severity: 'error',
    code: 'path-conflict',
    input: incoming.origin,
    path,
    message: `${path} is claimed twice: ${what(existing)} from ${existing.origin} and ${what(incoming)} from ${incoming.origin}.`,
    hint: 'Choose one: replace with the second, keep both (the second is renamed), or skip the second.',
  };
}

function sameNonDir(a: TreeEntry, b: TreeEntry): boolean {
  return (
    a.type === b.type &&
    a.type !== 'file' &&
    a.target === b.target &&
    a.mode === b.mode &&
    a.uid === b.uid &&
    a.gid === b.gid
  );
}

/**
 * Merges inputs into one tree: normalized paths, implicit parent directories, and conflicts
 * when two inputs claim one path. Entries are stored as given (not copied). The page's
 * editable tree is `web/state/file-tree.ts`; this one only settles what the inputs say.
 */
export class TreeModel {
  private readonly byPath = new Map<string, TreeEntry>();
  private readonly kids = new Map<string, Set<string>>();
  private readonly implicit = new Set<string>();
  private readonly hardlinks = new Set<string>();
  private listCache: TreeRow[] | null = null;
  /** Bumped on every change, so views can tell when to re-read. */
  version = 0;

  constructor(rootOrigin = 'image') {
    this.insert({
      path: '/',
      type: 'directory',
      mode: IMPLICIT_DIR_MODE,
      uid: 0,
      gid: 0,
      mtime: 0,
      size: 0,
      origin: rootOrigin,
    });
    this.implicit.add('/');
  }

  /** Builds a tree from entries, reporting conflicts (the first claimant stays until resolved). */
  static fromEntries(entries: Iterable<TreeEntry>): { tree: TreeModel; conflicts: TreeConflict[] } {
    const tree = new TreeModel();
    const conflicts: TreeConflict[] = [];
    for (const e of entries) {
      const c = tree.add(e);
      if (c) conflicts.push(c);
    }
    return { tree, conflicts };
  }

  get size(): number {
    return this.byPath.size;
  }
  get(path: string): TreeEntry | undefined {
    return this.byPath.get(path);
  }
  has(path: string): boolean {
    return this.byPath.has(path);
  }
  /** True when the directory exists only because something below it was added. */
  isImplicit(path: string): boolean {
    return this.implicit.has(path);
  }

  private touch(): void {
    this.version++;
    this.listCache = null;
  }

  private insert(e: TreeEntry): void {
    this.byPath.set(e.path, e);
    if (e.type === 'directory' && !this.kids.has(e.path)) this.kids.set(e.path, new Set());
    if (e.type === 'hardlink') this.hardlinks.add(e.path);
    else this.hardlinks.delete(e.path);
    if (e.path !== '/') this.kids.get(parentOf(e.path))!.add(nameOf(e.path));
  }

  /** Ensures every ancestor of `path` is a directory; returns the blocking non-directory, if any. */
  private ensureParents(path: string, like: TreeEntry): TreeEntry | null {
    const missing: string[] = [];
    let p = parentOf(path);
    for (;;) {
      const e = this.byPath.get(p);
      if (e) {
        if (e.type !== 'directory') return e;
        break;
      }
      missing.push(p);
      p = parentOf(p);
    }
    for (let i = missing.length - 1; i >= 0; i--) {
      this.insert({
        path: missing[i],
        type: 'directory',
        mode: IMPLICIT_DIR_MODE,
        uid: 0,
        gid: 0,
        mtime: like.mtime,
        size: 0,
        origin: like.origin,
      });
      this.implicit.add(missing[i]);
    }
    return null;
  }

  /**
   * Adds an entry (its path must already be normalized). Directories merge: an explicit one
   * takes over an implicit one's metadata, two explicit ones keep the first. Identical
   * symlinks merge. Anything else claiming a taken path is returned as a conflict (and not added).
   */
  add(entry: TreeEntry): TreeConflict | null {
    const path = entry.path;
    const existing = this.byPath.get(path);
    if (existing) {
      if (existing.type === 'directory' && entry.type === 'directory') {
        if (this.implicit.has(path)) {
          this.byPath.set(path, entry);
          this.implicit.delete(path);
          this.touch();
        }
        return null;
      }
      if (sameNonDir(existing, entry)) return null;
      return { path, existing, incoming: entry, problem: conflictProblem(path, existing, entry) };
    }
    const blocker = this.ensureParents(path, entry);
    if (blocker)
      return {
        path: blocker.path,
        existing: blocker,
        incoming: entry,
        problem: conflictProblem(blocker.path, blocker, entry),
      };
    this.insert(entry);
    this.touch();
    return null;
  }

  /** The flat depth-first listing (root first, children by name bytes), cached until the next edit. */
  rows(): TreeRow[] {
    if (this.listCache) return this.listCache;
    const out: TreeRow[] = [];
    // An explicit stack: archives can nest deeper than the call stack goes.
    const stack: { path: string; depth: number }[] = [{ path: '/', depth: 0 }];
    while (stack.length > 0) {
      const { path, depth } = stack.pop()!;
      out.push({ entry: this.byPath.get(path)!, depth });
      const k = this.kids.get(path);
      if (!k || k.size === 0) continue;
      const names = Array.from(k).sort(compareNames);
      for (let i = names.length - 1; i >= 0; i--) stack.push({ path: joinImagePath(path, names[i]), depth: depth + 1 });
    }
    this.listCache = out;
    return out;
  }

  /** All entries in listing order. */
  toEntries(): TreeEntry[] {
    return this.rows().map((r) => r.entry);
  }
}
