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
    if (c === '..' || nameProblem(c)) throw new TreeEditError({ code: 'path-invalid', input: 'edit', path: p, message: `"${p}" is not a valid image path.`, hint: 'Use an absolute path without "..", NUL bytes or names over 255 bytes.' });
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

/** How to settle a conflict: take the new entry, keep the old one and add the new one renamed, or drop the new one. */
export type ConflictResolution = 'replace' | 'keep-both' | 'skip';

/** One row of the flat listing. */
export interface TreeRow {
  entry: TreeEntry;
  /** 0 for `/`, 1 for its children, ... */
  depth: number;
}

export interface TreeStats {
  entries: number;
  files: number;
  directories: number;
  symlinks: number;
  hardlinks: number;
  /** Bytes of regular files (hard links counted once). */
  fileBytes: number;
}

function conflictProblem(path: string, existing: TreeEntry, incoming: TreeEntry): InputProblem {
  const what = (e: TreeEntry) => (e.type === 'directory' ? 'a directory' : e.type === 'symlink' ? 'a symlink' : e.type === 'hardlink' ? 'a hard link' : 'a file');
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
  return a.type === b.type && a.type !== 'file' && a.target === b.target && a.mode === b.mode && a.uid === b.uid && a.gid === b.gid;
}

/** The editable tree. Entries are stored as given (not copied); edits replace entry objects. */
export class TreeModel {
  private readonly byPath = new Map<string, TreeEntry>();
  private readonly kids = new Map<string, Set<string>>();
  private readonly implicit = new Set<string>();
  private readonly hardlinks = new Set<string>();
  private listCache: TreeRow[] | null = null;
  /** Bumped on every change, so views can tell when to re-read. */
  version = 0;

  constructor(rootOrigin = 'image') {
    this.insert({ path: '/', type: 'directory', mode: IMPLICIT_DIR_MODE, uid: 0, gid: 0, mtime: 0, size: 0, origin: rootOrigin });
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
      this.insert({ path: missing[i], type: 'directory', mode: IMPLICIT_DIR_MODE, uid: 0, gid: 0, mtime: like.mtime, size: 0, origin: like.origin });
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
    if (blocker) return { path: blocker.path, existing: blocker, incoming: entry, problem: conflictProblem(blocker.path, blocker, entry) };
    this.insert(entry);
    this.touch();
    return null;
  }

  /**
   * Settles a conflict `add` returned. Returns the path the incoming entry now has
   * (`keep-both` renames it `name-2.ext`, `name-3.ext`, ...), or null for `skip`.
   */
  resolveConflict(conflict: TreeConflict, how: ConflictResolution): string | null {
    if (how === 'skip') return null;
    const incoming = conflict.incoming;
    if (how === 'replace') {
      // The blocker may be an ancestor (a file where the new entry needs a directory).
      this.remove(conflict.path);
      const c = this.add(incoming);
      if (c) throw new TreeEditError({ code: 'path-conflict', input: incoming.origin, path: c.path, message: c.problem.message, hint: c.problem.hint });
      return incoming.path;
    }
    // keep-both: rename the incoming entry (or the part of its path that collides).
    const at = conflict.path;
    const rest = incoming.path.slice(at.length);
    const parent = parentOf(at);
    const name = nameOf(at);
    const dot = name.lastIndexOf('.');
    const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
    for (let n = 2; ; n++) {
      const candidate = joinImagePath(parent, `${stem}-${n}${ext}`);
      if (!this.byPath.has(candidate)) {
        const moved = { ...incoming, path: candidate + rest };
        const c = this.add(moved);
        if (!c) return moved.path;
      }
    }
  }

  private need(path: string): TreeEntry {
    const e = this.byPath.get(path);
    if (!e) throw new TreeEditError({ code: 'path-missing', input: 'edit', path, message: `${path} is not in the image.`, hint: 'Refresh the view; the entry may have been removed.' });
    return e;
  }

  /** Every path in the subtree at `path` (itself first), unsorted below. */
  subtree(path: string): string[] {
    const out = [path];
    for (let i = 0; i < out.length; i++) {
      const k = this.kids.get(out[i]);
      if (k) for (const n of k) out.push(joinImagePath(out[i], n));
    }
    return out;
  }

  /** Deletes an entry and everything below it. Hard links into it elsewhere become copies of their file. */
  remove(path: string): void {
    if (path === '/') throw new TreeEditError({ code: 'path-invalid', input: 'edit', path, message: 'The root cannot be removed.', hint: 'Remove the entries inside it instead.' });
    this.need(path);
    const gone = this.subtree(path);
    const goneSet = new Set(gone);
    const removed = new Map<string, TreeEntry>();
    for (const p of gone) {
      removed.set(p, this.byPath.get(p)!);
      this.byPath.delete(p);
      this.kids.delete(p);
      this.implicit.delete(p);
      this.hardlinks.delete(p);
    }
    this.kids.get(parentOf(path))?.delete(nameOf(path));
    this.repairHardlinks(goneSet, removed);
    this.touch();
  }

  /** After a removal: the first hard link (by path) to each removed file becomes that file; the rest point to it. */
  private repairHardlinks(gone: Set<string>, removed: Map<string, TreeEntry>): void {
    const promoted = new Map<string, string>();
    for (const h of [...this.hardlinks].sort(compareImagePaths)) {
      const link = this.byPath.get(h)!;
      const target = link.target ?? '';
      if (!gone.has(target)) continue;
      const now = promoted.get(target);
      if (now) {
        this.byPath.set(h, { ...link, target: now });
        continue;
      }
      const file = removed.get(target);
      if (!file) continue;
      this.insert({ ...file, path: h, origin: link.origin });
      promoted.set(target, h);
    }
  }

  /** Renames an entry within its directory. */
  rename(path: string, newName: string): string {
    if (!newName || newName === '.' || newName === '..' || newName.includes('/') || nameProblem(newName)) {
      throw new TreeEditError({ code: 'path-invalid', input: 'edit', path, message: `"${newName}" is not a valid file name.`, hint: 'Use a name without "/", NUL, and at most 255 bytes.' });
    }
    return this.move(path, parentOf(path), newName);
  }

  /** Moves an entry (and its subtree) into directory `newParent`, optionally renaming it. Returns the new path. */
  move(path: string, newParent: string, newName = nameOf(path)): string {
    this.need(path);
    if (path === '/') throw new TreeEditError({ code: 'path-invalid', input: 'edit', path, message: 'The root cannot be moved.', hint: 'Move the entries inside it instead.' });
    const parent = this.need(newParent);
    if (parent.type !== 'directory') throw new TreeEditError({ code: 'not-a-directory', input: 'edit', path: newParent, message: `${newParent} is not a directory.`, hint: 'Move entries into a directory.' });
    const dest = joinImagePath(newParent, newName);
    if (dest === path) return dest;
    if (newParent === path || newParent.startsWith(path + '/')) throw new TreeEditError({ code: 'path-invalid', input: 'edit', path, message: `${path} cannot be moved into itself.`, hint: 'Choose a directory outside it.' });
    if (this.byPath.has(dest)) throw new TreeEditError({ code: 'path-conflict', input: 'edit', path: dest, message: `${dest} already exists.`, hint: 'Rename or remove it first.' });
    const paths = this.subtree(path);
    const moved = paths.map((p) => this.byPath.get(p)!);
    const wasImplicit = paths.filter((p) => this.implicit.has(p));
    for (const p of paths) {
      this.byPath.delete(p);
      this.kids.delete(p);
      this.implicit.delete(p);
      this.hardlinks.delete(p);
    }
    this.kids.get(parentOf(path))!.delete(nameOf(path));
    const remap = (p: string) => (p === path ? dest : p.startsWith(path + '/') ? dest + p.slice(path.length) : p);
    moved.sort((a, b) => a.path.length - b.path.length);
    for (const m of moved) this.insert({ ...m, path: remap(m.path), ...(m.type === 'hardlink' && m.target ? { target: remap(m.target) } : {}) });
    for (const p of wasImplicit) this.implicit.add(remap(p));
    for (const h of this.hardlinks) {
      const l = this.byPath.get(h)!;
      if (l.target && remap(l.target) !== l.target) this.byPath.set(h, { ...l, target: remap(l.target) });
    }
    this.touch();
    return dest;
  }

  /** Creates a directory (and missing parents). An existing directory is left alone. */
  mkdir(path: string, mode: number = DEFAULT_MODES.directory, origin = 'edit'): void {
    const p = normalizeImagePath(path);
    const c = this.add({ path: p, type: 'directory', mode: mode & 0o7777, uid: 0, gid: 0, mtime: 0, size: 0, origin });
    if (c) throw new TreeEditError({ code: 'path-conflict', input: 'edit', path: c.path, message: `${c.path} exists and is not a directory.`, hint: 'Rename or remove it first.' });
  }

  /** Sets permission bits (mask 0o7777). */
  chmod(path: string, mode: number): void {
    const e = this.need(path);
    this.byPath.set(path, { ...e, mode: mode & 0o7777 });
    this.implicit.delete(path);
    this.touch();
  }

  /** Sets or clears the execute bits of a file (x for each of u/g/o that may read it). */
  setExecutable(path: string, on: boolean): void {
    const e = this.need(path);
    if (e.type !== 'file') throw new TreeEditError({ code: 'not-a-file', input: 'edit', path, message: `${path} is not a regular file.`, hint: 'Only files have an executable bit to toggle.' });
    const r = e.mode & 0o444;
    this.chmod(path, on ? e.mode | (r >> 2) | 0o100 : e.mode & ~0o111);
  }

  /** Children of a directory, sorted by name bytes. */
  children(path: string): TreeEntry[] {
    const k = this.kids.get(path);
    if (!k) return [];
    return [...k].sort(compareNames).map((n) => this.byPath.get(joinImagePath(path, n))!);
  }

  /** The flat depth-first listing (root first, children by name bytes), cached until the next edit. */
  rows(): TreeRow[] {
    if (this.listCache) return this.listCache;
    const out: TreeRow[] = [];
    const walk = (path: string, depth: number) => {
      out.push({ entry: this.byPath.get(path)!, depth });
      const k = this.kids.get(path);
      if (!k || k.size === 0) return;
      const names = [...k].sort(compareNames);
      for (const n of names) walk(joinImagePath(path, n), depth + 1);
    };
    walk('/', 0);
    this.listCache = out;
    return out;
  }

  /** All entries in listing order. */
  toEntries(): TreeEntry[] {
    return this.rows().map((r) => r.entry);
  }

  stats(): TreeStats {
    const s: TreeStats = { entries: 0, files: 0, directories: 0, symlinks: 0, hardlinks: 0, fileBytes: 0 };
    for (const e of this.byPath.values()) {
      s.entries++;
      if (e.type === 'file') {
        s.files++;
        s.fileBytes += e.size;
      } else if (e.type === 'directory') s.directories++;
      else if (e.type === 'symlink') s.symlinks++;
      else s.hardlinks++;
    }
    return s;
  }
}
