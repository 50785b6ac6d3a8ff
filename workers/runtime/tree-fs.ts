/**
 * TREEFS: a read-only emscripten filesystem that shows a `TreeEntry[]` to `mke2fs -d`.
 *
 * Every `stat` answer comes from the tree, not from a host: type, permission bits
 * (setuid/setgid/sticky included), uid/gid, size, link count and inode number (hard
 * links share one inode number and report `st_nlink` > 1, which is what makes mke2fs
 * create one inode for them), and times: atime = mtime = ctime = the epoch (default 1),
 * or the entry's own mtime when `keepTimes` is set. `readlink` gives the raw target.
 *
 * File bytes are read lazily and synchronously, only when the program reads them:
 * `bytes` sources directly, `blob` sources through `FileReaderSync` (dedicated workers)
 * in pieces of `blobPieceSize`, `host-file` sources (Node) with `fs.readSync` on a
 * descriptor opened at the first read and closed when the program closes the file (or
 * at {@link TreeFs.dispose}). Nothing is copied ahead of time, except by a reader worker
 * where one is given ({@link TreeFsOptions.readAhead}: `blob` sources read ahead in the
 * program's copy order into a bounded ring, taken from it when they are the bytes asked for).
 *
 * Permission checks: emscripten checks a node's own `mode` on lookup/open although the
 * tools run as root. Nodes therefore carry `type | 0o777` internally while `stat`
 * reports the tree's real bits, so a directory of mode 0o000 can still be walked.
 */
import { S_IFDIR, S_IFLNK, S_IFREG } from '../../core/file-mode.ts';
import { compareNames, imagePathProblem, isNormalImagePath, utf8ByteLength } from '../../core/image-path.ts';
import type { ByteSource, HostFileIdentity, TreeEntry } from '../../core/image-tree.ts';
import {
  ERRNO,
  SEEK_CUR,
  SEEK_END,
  SEEK_SET,
  type EmFS,
  type EmFilesystemType,
  type EmMount,
  type EmNode,
  type EmStat,
  type EmStream,
} from './emscripten-types.ts';
import type { BlobReadAhead } from './blob-read-ahead.ts';
import { type NarCheckResult, NarStreamCheck, type SealedStorePath } from './nar-stream-check.ts';
import type { ReadAheadConsumer } from './read-ahead-ring.ts';
import { nodeBuiltin } from '../../core/node-builtin.ts';

/** Device number reported for every tree entry. */
export const TREEFS_DEV = 0x7472; // 'tr'

/** Maximum bytes of a symlink target (PATH_MAX - 1). */
const SYMLINK_MAX = 4095;

/** A tree that cannot be shown to mke2fs as given. */
export class TreeError extends Error {
  override name = 'TreeError';
  constructor(
    message: string,
    /** The entry's image path. */
    readonly path: string,
  ) {
    super(`${path}: ${message}`);
  }
}

/**
 * An input changed between the scan and the copy (a host file replaced, rewritten or made a
 * link; a browser File modified on disk), so the image would not hold what was checked.
 * Thrown out of a program run (runTool rethrows it as is); the build fails naming the entry.
 */
export class InputChangedError extends Error {
  override name = 'InputChangedError';
  constructor(
    /** The entry's image path. */
    readonly path: string,
    /** The input it came from (for messages). */
    readonly origin: string,
    /** What changed. */
    readonly detail: string,
  ) {
    super(`${origin}: ${path}: ${detail}`);
  }
  /** Set when the file did not change but cannot be read (permissions, I/O errors). */
  unreadable = false;
}

/** One inode of the tree: a directory, a symlink, or a file with all its names. */
export interface TreeInode {
  ino: number;
  type: 'file' | 'directory' | 'symlink';
  /** The entry holding the metadata (for hard links, the 'file' entry). */
  entry: TreeEntry;
  /** Names sharing this inode (files; 1 unless hard-linked). */
  nlink: number;
  /** Byte length reported by stat. */
  size: number;
}

/** A directory of the tree: child names (in tree order) to their nodes. */
export interface TreeDir {
  inode: TreeInode;
  children: Map<string, TreeDir | TreeInode>;
  subdirs: number;
}

/** A validated, indexed tree. */
export interface TreeIndex {
  root: TreeDir;
  /** Distinct inodes (directories included, the root counted). */
  inodeCount: number;
  /** Names (entries) including implicit directories and the root. */
  entryCount: number;
  /** Whether some file reads from a Blob / a host file. */
  usesBlobs: boolean;
  usesHostFiles: boolean;
}

function isDir(node: TreeDir | TreeInode): node is TreeDir {
  return (node as TreeDir).children !== undefined;
}

function sourceSize(source: ByteSource): number {
  return source.kind === 'bytes' ? source.bytes.length : source.size;
}

/**
 * Validates and indexes `entries`. Directories that are only implied by deeper paths
 * are created with mode 0o755, owner 0:0, mtime 0. Throws {@link TreeError} on a
 * malformed path, a duplicate, a non-directory parent, a name over 255 bytes, a
 * symlink without target, a hard link not leading to a file, or a size mismatch.
 */
export function indexTree(entries: readonly TreeEntry[]): TreeIndex {
  let nextIno = 2;
  let entryCount = 1;
  let usesBlobs = false;
  let usesHostFiles = false;
  const implicitDir = (path: string): TreeEntry => ({
    path,
    type: 'directory',
    mode: 0o755,
    uid: 0,
    gid: 0,
    mtime: 0,
    size: 0,
    origin: '(implied)',
  });
  const rootEntry = entries.find((e) => e.path === '/');
  if (rootEntry && rootEntry.type !== 'directory') throw new TreeError('the root must be a directory', '/');
  if (rootEntry) checkOwner(rootEntry);
  const root: TreeDir = {
    inode: { ino: 1, type: 'directory', entry: rootEntry ?? implicitDir('/'), nlink: 2, size: 4096 },
    children: new Map(),
    subdirs: 0,
  };
  // Only directories are indexed by path; every other name is found in its parent's
  // children (a set or map of all 400,000 paths held 40 MiB more through the build).
  const dirs = new Map<string, TreeDir>([['/', root]]);

  const ensureDir = (path: string): TreeDir => {
    const existing = dirs.get(path);
    if (existing) return existing;
    // The missing ancestors, nearest first; created outermost first (a loop, not recursion by depth).
    const missing: string[] = [];
    let parent: TreeDir | undefined;
    for (let p = path; ; ) {
      missing.push(p);
      const i = p.lastIndexOf('/');
      p = i === 0 ? '/' : p.slice(0, i);
      parent = dirs.get(p);
      if (parent) break;
    }
    // Only the outermost missing one can be taken: anything deeper would have a folder as parent.
    const top = missing[missing.length - 1];
    if (parent.children.has(top.slice(top.lastIndexOf('/') + 1)))
      throw new TreeError('is not a directory but has entries below it', top);
    for (let k = missing.length - 1; k >= 0; k--) {
      const at = missing[k];
      const dir: TreeDir = {
        inode: { ino: nextIno++, type: 'directory', entry: implicitDir(at), nlink: 2, size: 4096 },
        children: new Map(),
        subdirs: 0,
      };
      parent!.children.set(at.slice(at.lastIndexOf('/') + 1), dir);
      parent!.subdirs++;
      dirs.set(at, dir);
      entryCount++;
      parent = dir;
    }
    return parent!;
  };

  const checkPath = (path: string): void => {
    // The check that builds nothing first (resolved trees are in normal form), then the one
    // that says what is wrong: imagePathProblem splits every path (10-25 ms on closure's
    // 27,741 entries, against 5 ms).
    if (typeof path === 'string' && isNormalImagePath(path)) return;
    const why = typeof path !== 'string' || path === '/' ? 'not an entry below /' : imagePathProblem(path);
    if (why) throw new TreeError(why, String(path));
  };

  // Sort so that parents come before children; hard links after everything.
  const ordered = entries
    .filter((e) => e.path !== '/')
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const hardlinks: TreeEntry[] = [];

  for (const entry of ordered) {
    checkPath(entry.path);
    checkOwner(entry);
    const i = entry.path.lastIndexOf('/');
    const parent = ensureDir(i === 0 ? '/' : entry.path.slice(0, i));
    const name = entry.path.slice(i + 1);
    if (parent.children.has(name)) {
      // An implied directory met later as a real entry: adopt its metadata.
      const implied = dirs.get(entry.path);
      if (implied && implied.inode.entry.origin === '(implied)' && entry.type === 'directory') {
        implied.inode.entry = entry;
        continue;
      }
      throw new TreeError('duplicate path', entry.path);
    }
    switch (entry.type) {
      case 'directory': {
        const dir: TreeDir = {
          inode: { ino: nextIno++, type: 'directory', entry, nlink: 2, size: 4096 },
          children: new Map(),
          subdirs: 0,
        };
        parent.children.set(name, dir);
        parent.subdirs++;
        dirs.set(entry.path, dir);
        break;
      }
      case 'symlink': {
        if (typeof entry.target !== 'string' || entry.target === '')
          throw new TreeError('symlink without target', entry.path);
        if (entry.target.includes('\0')) throw new TreeError('NUL in symlink target', entry.path);
        // Its length as UTF-8, not the bytes: readlink answers with the string.
        const size = utf8ByteLength(entry.target);
        if (size > SYMLINK_MAX) throw new TreeError(`symlink target longer than ${SYMLINK_MAX} bytes`, entry.path);
        parent.children.set(name, { ino: nextIno++, type: 'symlink', entry, nlink: 1, size });
        break;
      }
      case 'file': {
        if (!Number.isSafeInteger(entry.size) || entry.size < 0)
          throw new TreeError(`bad size ${entry.size}`, entry.path);
        if (entry.source) {
          const n = sourceSize(entry.source);
          if (n !== entry.size) throw new TreeError(`size ${entry.size} but its source holds ${n} bytes`, entry.path);
          if (entry.source.kind === 'blob') usesBlobs = true;
          if (entry.source.kind === 'host-file') usesHostFiles = true;
        } else if (entry.size !== 0) {
          throw new TreeError(`size ${entry.size} but no source`, entry.path);
        }
        parent.children.set(name, { ino: nextIno++, type: 'file', entry, nlink: 1, size: entry.size });
        break;
      }
      case 'hardlink':
        hardlinks.push(entry);
        parent.children.set(name, root.inode); // placeholder, replaced below
        break;
      default:
        throw new TreeError(`unknown entry type ${String((entry as TreeEntry).type)}`, entry.path);
    }
    entryCount++;
  }

  const linkByPath = new Map(hardlinks.map((e) => [e.path, e]));
  /** The file inode named `path` (before hard links are placed: a file entry's own). */
  const fileAt = (path: string): TreeInode | undefined => {
    const i = path.lastIndexOf('/');
    const child = i < 0 ? undefined : dirs.get(i === 0 ? '/' : path.slice(0, i))?.children.get(path.slice(i + 1));
    return child && !isDir(child) && child.type === 'file' && child.entry.path === path ? child : undefined;
  };
  for (const link of hardlinks) {
    let target = link.target;
    let hops = 0;
    let inode: TreeInode | undefined;
    while (typeof target === 'string') {
      inode = fileAt(target);
      if (inode) break;
      const next = linkByPath.get(target);
      if (!next || ++hops > 64) break;
      target = next.target;
    }
    if (!inode)
      throw new TreeError(
        `hard link to ${JSON.stringify(link.target)}, which is not a regular file of the tree`,
        link.path,
      );
    inode.nlink++;
    const i = link.path.lastIndexOf('/');
    dirs.get(i === 0 ? '/' : link.path.slice(0, i))!.children.set(link.path.slice(i + 1), inode);
  }
  for (const dir of dirs.values()) dir.inode.nlink = 2 + dir.subdirs;

  return { root, inodeCount: nextIno - 1, entryCount, usesBlobs, usesHostFiles };
}

/** Reads `[start, end)` of a Blob synchronously. */
export type ReadBlobSync = (blob: Blob, start: number, end: number) => Uint8Array;

/** Options of TREEFS. */
export interface TreeFsOptions {
  /** Seconds reported as atime/mtime/ctime of every entry unless `keepTimes`. Default 1. */
  epoch?: number;
  /**
   * Report each entry's own `mtime` (as atime, mtime and ctime) instead of the epoch.
   * Default false. Note: mke2fs 1.47.4 clamps times later than its fake "now"
   * (`E2FSPROGS_FAKE_TIME`) to that "now", so run it with an epoch no older than the tree;
   * and times past 2038-01-19 (or before 1901-12-13) are refused with a {@link TreeError}:
   * the wasm tools' `time_t` is 32 bits.
   */
  keepTimes?: boolean;
  /** Synchronous Blob reader. Default: `FileReaderSync` (only in dedicated workers). */
  readBlobSync?: ReadBlobSync;
  /** Bytes fetched from a Blob per read (read-ahead). Default 1 MiB. */
  blobPieceSize?: number;
  /** Called before every file read; throw (anything but an ErrnoError) to abort the program. */
  check?: () => void;
  /** Called after every file read with the total bytes read so far. */
  onRead?: (bytesRead: number) => void;
  /**
   * Store paths whose NAR hash is checked against the bytes as they are copied (see
   * `nar-stream-check.ts`); the results come from {@link TreeFs.narResults}. Default none.
   */
  sealed?: readonly SealedStorePath[];
  /** Called when the program first looks an entry up, with the count so far (progress through trees of small files). */
  onEntry?: (entriesSeen: number) => void;
  /**
   * A reader worker (`blob-read-ahead.ts`) to read Blob-backed files ahead of the program, in
   * its copy order; bytes it does not have in time are read here as without it. Stopped
   * with {@link TreeFs.dispose}. Default none.
   */
  readAhead?: BlobReadAhead;
}

/** Counters of a TREEFS instance, for tests and diagnostics. */
export interface TreeFsStats {
  /** read() calls on files. */
  reads: number;
  bytesRead: number;
  /** Entries looked up (once each: the program's filesystem layer caches them). */
  entriesSeen: number;
  /** Blob pieces fetched (in this thread). */
  blobReads: number;
  /** Pieces taken from the reader worker ({@link TreeFsOptions.readAhead}). */
  readAhead: number;
  hostOpens: number;
  hostCloses: number;
}

/** A TREEFS instance bound to one module instance's `FS`. */
export interface TreeFs {
  type: EmFilesystemType;
  model: TreeIndex;
  stats: TreeFsStats;
  /** Host descriptors open right now. */
  openHostFiles(): number;
  /** Closes any host descriptor still open (after the program ended or crashed). */
  dispose(): void;
  /** After the run: whether each sealed store path went in with its certified NAR hash. */
  narResults(): NarCheckResult[];
}

/** ext4 stores 32-bit owners; anything else would wrap to another owner. */
function checkOwner(entry: TreeEntry): void {
  for (const [what, id] of [
    ['uid', entry.uid],
    ['gid', entry.gid],
  ] as const) {
    if (id !== undefined && (!Number.isInteger(id) || id < 0 || id > 0xffffffff))
      throw new TreeError(`${what} ${id} is outside 0..4294967295, the 32-bit owners ext4 stores`, entry.path);
  }
}

/** Times the wasm tools store correctly: emscripten 3.1.6's `time_t` is a signed 32-bit `long`. */
const TIME_MIN = -0x80000000;
const TIME_MAX = 0x7fffffff;

/** Throws {@link TreeError} for an entry time outside the 32-bit time_t range (used with keepTimes). */
function checkTimes(dir: TreeDir): void {
  const check = (inode: TreeInode): void => {
    const t = inode.entry.mtime;
    if (!Number.isSafeInteger(t) || t < TIME_MIN || t > TIME_MAX) {
      throw new TreeError(
        `mtime ${t} is outside 1901-12-13..2038-01-19, which the wasm tools (32-bit time_t) cannot store`,
        inode.entry.path,
      );
    }
  };
  // An explicit stack of directories: no recursion by tree depth.
  const stack: TreeDir[] = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    check(d.inode);
    for (const child of d.children.values()) {
      if (isDir(child)) stack.push(child);
      else check(child);
    }
  }
}

type NodeFs = typeof import('node:fs');

/** `node:fs`, loaded without a static import (so browser bundles need no polyfill). */
export function nodeFs(): NodeFs | undefined {
  return nodeBuiltin<NodeFs>('node:fs');
}

interface TreeFsNode extends EmNode {
  tree?: TreeDir | TreeInode;
}

interface StreamState {
  /** Blob read-ahead window. */
  winStart?: number;
  win?: Uint8Array;
  /** When the window is a view into the reader's ring: its piece (valid while the reader holds it). */
  winSeq?: number;
  fd?: number;
}

/** Most files fetched by one synchronous read. */
const BATCH_FILES = 256;

// scandir + alphasort in the C locale: strcmp, i.e. UTF-8 byte order, compared without
// encoding each name at each comparison (names with lone surrogates may sort otherwise;
// the batches then only miss, and such files are read on their own).
const nameOrder = compareNames;

/** The Blob-backed files of a tree in mke2fs's copy order, and each one's place in it (by inode). */
interface BlobCopyOrder {
  files: TreeInode[];
  position: Map<number, number>;
}

/**
 * The Blob-backed files (not empty; a hard-linked file at its first name) in the order
 * `mke2fs -d` copies them: depth first, names in byte order (its scandir + alphasort).
 */
function blobCopyOrder(root: TreeDir): BlobCopyOrder {
  const files: TreeInode[] = [];
  const position = new Map<number, number>();
  // An explicit stack, not recursion by depth.
  const stack: { names: string[]; dir: TreeDir; next: number }[] = [];
  const enter = (dir: TreeDir) => stack.push({ dir, names: Array.from(dir.children.keys()).sort(nameOrder), next: 0 });
  enter(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.next >= top.names.length) {
      stack.pop();
      continue;
    }
    const child = top.dir.children.get(top.names[top.next++])!;
    if (isDir(child)) {
      enter(child);
    } else if (
      child.type === 'file' &&
      child.entry.source?.kind === 'blob' &&
      child.size > 0 &&
      !position.has(child.ino)
    ) {
      position.set(child.ino, files.length);
      files.push(child);
    }
  }
  return { files, position };
}

/**
 * Reads Blob-backed small files in batches. A synchronous Blob read costs about as much
 * per call as a small file's bytes (FileReaderSync crosses to the browser process), so
 * reading file by file made a 20,000-file tree ten times slower than in Node. mke2fs -d
 * copies files depth first with names in byte order (its scandir + alphasort), so when
 * it opens one small file, the ones it will open next are known: they are fetched in
 * the same call, up to `batchBytes`, and handed out as mke2fs opens them. One batch is
 * held at a time; a file asked for out of order is read on its own.
 */
function smallBlobReader(
  copyOrder: () => BlobCopyOrder,
  readBlob: ReadBlobSync,
  batchBytes: number,
  stats: TreeFsStats,
) {
  let batch = new Map<number, Uint8Array>();

  /**
   * The members' bytes, one after the other, in one read. Files that are consecutive ranges
   * of one Blob (a page that joined the picked Files into one Blob in copy order) are read
   * as one range: no slice per file, which costs about as much as reading it.
   */
  const readRanges = (members: TreeInode[]): Uint8Array => {
    const runs: { blob: Blob; start: number; end: number }[] = [];
    for (const m of members) {
      const src = m.entry.source as Extract<ByteSource, { kind: 'blob' }>;
      const last = runs[runs.length - 1];
      if (last && last.blob === src.blob && last.end === src.offset) last.end += m.size;
      else runs.push({ blob: src.blob, start: src.offset, end: src.offset + m.size });
    }
    if (runs.length === 1) return readBlob(runs[0].blob, runs[0].start, runs[0].end);
    const parts = runs.map((r) => (r.start === 0 && r.end === r.blob.size ? r.blob : r.blob.slice(r.start, r.end)));
    const combined = new Blob(parts);
    return readBlob(combined, 0, combined.size);
  };

  return {
    /** The whole contents of a small Blob-backed file. */
    take(inode: TreeInode): Uint8Array {
      const ready = batch.get(inode.ino);
      if (ready) {
        batch.delete(inode.ino);
        return ready;
      }
      const { files: order, position } = copyOrder();
      const at = position.get(inode.ino);
      const src = inode.entry.source as Extract<ByteSource, { kind: 'blob' }>;
      stats.blobReads++;
      if (at === undefined) return readBlob(src.blob, src.offset, src.offset + inode.size);
      const members: TreeInode[] = [];
      let total = 0;
      for (let i = at; i < order.length && members.length < BATCH_FILES; i++) {
        // Large files are read in pieces, not in batches.
        if (order[i].size > batchBytes) continue;
        if (members.length > 0 && total + order[i].size > batchBytes) break;
        members.push(order[i]);
        total += order[i].size;
      }
      let bytes: Uint8Array;
      try {
        bytes = readRanges(members);
      } catch (e) {
        // Some file of the batch cannot be read: read this one alone, so an error names it.
        if (members.length === 1) throw e;
        return readBlob(src.blob, src.offset, src.offset + inode.size);
      }
      if (bytes.length !== total) return bytes.subarray(0, 0); // shorter than the tree says: EIO
      batch = new Map();
      let offset = 0;
      for (const m of members) {
        batch.set(m.ino, bytes.subarray(offset, offset + m.size));
        offset += m.size;
      }
      const mine = batch.get(inode.ino)!;
      batch.delete(inode.ino);
      return mine;
    },
  };
}

function defaultBlobReader(): ReadBlobSync | undefined {
  const FRS = (globalThis as { FileReaderSync?: new () => { readAsArrayBuffer(blob: Blob): ArrayBuffer } })
    .FileReaderSync;
  if (!FRS) return undefined;
  const reader = new FRS();
  // Slicing costs as much as the read itself in Chromium: skip it for a whole small file.
  return (blob, start, end) =>
    new Uint8Array(reader.readAsArrayBuffer(start === 0 && end === blob.size ? blob : blob.slice(start, end)));
}

/**
 * Creates TREEFS for `FS` over `entries` (validated with {@link indexTree}).
 * Mount it with `FS.mount(treeFs.type, {}, '/tree')`, or use {@link mountTreeFs}.
 * Throws {@link TreeError}, or an Error when the tree needs a Blob/host reader this
 * environment lacks.
 */
export function createTreeFs(FS: EmFS, entries: readonly TreeEntry[] | TreeIndex, options: TreeFsOptions = {}): TreeFs {
  const model = Array.isArray(entries) ? indexTree(entries as TreeEntry[]) : (entries as TreeIndex);
  const epochCheck = options.epoch ?? 1;
  if (!Number.isSafeInteger(epochCheck) || epochCheck < TIME_MIN || epochCheck > TIME_MAX)
    throw new RangeError(`epoch ${epochCheck} is outside the 32-bit time_t range of the wasm tools`);
  if (options.keepTimes) checkTimes(model.root);
  const readBlob = options.readBlobSync ?? defaultBlobReader();
  if (model.usesBlobs && !readBlob) {
    throw new Error(
      'the tree has Blob sources, which need FileReaderSync (a dedicated Web Worker) or a readBlobSync option',
    );
  }
  const fs = model.usesHostFiles ? nodeFs() : undefined;
  if (model.usesHostFiles && !fs) throw new Error('the tree has host-file sources, which need Node (node:fs)');
  const epoch = options.epoch ?? 1;
  const keepTimes = options.keepTimes ?? false;
  const pieceSize = options.blobPieceSize ?? 1 << 20;
  const check = options.check;
  const stats: TreeFsStats = {
    reads: 0,
    bytesRead: 0,
    entriesSeen: 0,
    blobReads: 0,
    readAhead: 0,
    hostOpens: 0,
    hostCloses: 0,
  };
  const openFds = new Set<number>();
  const states = new WeakMap<EmStream, StreamState>();
  let order: BlobCopyOrder | undefined;
  const copyOrder = () => (order ??= blobCopyOrder(model.root));
  const smallBlobs = model.usesBlobs ? smallBlobReader(copyOrder, readBlob!, pieceSize, stats) : undefined;
  const readAhead = model.usesBlobs ? options.readAhead : undefined;
  let consumer: ReadAheadConsumer | undefined;
  // Nothing to read (only empty files): no ring.
  if (readAhead && copyOrder().files.length === 0) readAhead.stop();
  else if (readAhead) {
    // Attached now, before the program runs: the reader fills the ring while mke2fs makes the
    // filesystem's structures and walks the tree, before it copies the first file.
    const { files } = copyOrder();
    let total = 0;
    for (const f of files) total += f.size;
    consumer = readAhead.attach(
      files.length,
      (i) => {
        const src = files[i].entry.source as Extract<ByteSource, { kind: 'blob' }>;
        return { blob: src.blob, offset: src.offset, size: files[i].size };
      },
      total,
      pieceSize,
    );
    consumer.start();
  }
  /** `[start, end)` of a Blob-backed file from the reader worker, when it has them in sequence. */
  const ahead = (inode: TreeInode, start: number, end: number): Uint8Array | undefined => {
    if (!consumer) return undefined;
    const at = copyOrder().position.get(inode.ino);
    const bytes = at === undefined ? undefined : consumer.take(at, start, end);
    if (bytes) stats.readAhead++;
    return bytes;
  };

  const changed = (inode: TreeInode, detail: string) =>
    new InputChangedError(inode.entry.path, inode.entry.origin, detail);
  /** A browser File changed or removed on disk since it was added fails its reads with NotReadableError. */
  const blobRead = (inode: TreeInode, read: () => Uint8Array): Uint8Array => {
    try {
      return read();
    } catch (e) {
      if ((e as { name?: string } | null)?.name === 'NotReadableError')
        throw changed(
          inode,
          'the browser can no longer read this file: it was changed, moved or deleted on disk after it was added. Add it again',
        );
      throw e;
    }
  };
  const openHost = (inode: TreeInode, source: Extract<ByteSource, { kind: 'host-file' }>): number =>
    openHostChecked(fs!, source, (detail) => changed(inode, detail));
  const narCheck =
    options.sealed && options.sealed.length > 0
      ? new NarStreamCheck(model, options.sealed, { readAgain: (inode) => readWhole(inode) })
      : undefined;

  /** A file's bytes again, in pieces, from its source (for NAR names mke2fs does not copy). */
  function* readWhole(inode: TreeInode): Iterable<Uint8Array> {
    const source = inode.entry.source;
    if (!source || inode.size === 0) return;
    if (source.kind === 'bytes') {
      yield source.bytes;
      return;
    }
    if (source.kind === 'blob') {
      for (let at = 0; at < inode.size; at += pieceSize) {
        const end = Math.min(inode.size, at + pieceSize);
        const bytes = blobRead(inode, () => readBlob!(source.blob, source.offset + at, source.offset + end));
        if (bytes.length !== end - at) throw changed(inode, 'it is shorter than when it was added');
        yield bytes;
      }
      return;
    }
    const fd = openHost(inode, source);
    try {
      const buf = new Uint8Array(Math.min(pieceSize, inode.size));
      for (let at = 0; at < inode.size; ) {
        const want = Math.min(buf.length, inode.size - at);
        const got = fs!.readSync(fd, buf, 0, want, source.offset + at);
        if (got <= 0) throw changed(inode, 'it is shorter than when it was scanned');
        yield buf.subarray(0, got);
        at += got;
      }
    } finally {
      fs!.closeSync(fd);
    }
  }

  const fail = (code: number): never => {
    throw new FS.ErrnoError(code);
  };
  const inodeOf = (node: EmNode): TreeInode => {
    const t = (node as TreeFsNode).tree!;
    return isDir(t) ? t.inode : t;
  };
  const typeBits = (inode: TreeInode): number =>
    inode.type === 'directory' ? S_IFDIR : inode.type === 'symlink' ? S_IFLNK : S_IFREG;

  const getattr = (node: EmNode): EmStat => {
    const inode = inodeOf(node);
    const seconds = keepTimes ? inode.entry.mtime : epoch;
    const t = new Date(seconds * 1000);
    return {
      dev: TREEFS_DEV,
      ino: inode.ino,
      mode: typeBits(inode) | (inode.entry.mode & 0o7777),
      nlink: inode.nlink,
      uid: inode.entry.uid ?? 0,
      gid: inode.entry.gid ?? 0,
      rdev: 0,
      size: inode.size,
      atime: t,
      mtime: t,
      ctime: t,
      blksize: 4096,
      blocks: Math.min(0x7fffffff, Math.ceil(inode.size / 512)),
    };
  };

  const makeNode = (parent: EmNode | null, name: string, tree: TreeDir | TreeInode): EmNode => {
    const inode = isDir(tree) ? tree.inode : tree;
    const node = FS.createNode(parent, name, typeBits(inode) | 0o777, 0) as TreeFsNode;
    node.tree = tree;
    if (isDir(tree)) {
      node.node_ops = dirOps;
      node.stream_ops = dirStreamOps;
    } else if (inode.type === 'symlink') {
      node.node_ops = linkOps;
      node.stream_ops = {};
    } else {
      node.node_ops = fileOps;
      node.stream_ops = fileStreamOps;
    }
    return node;
  };

  const readOnly = () => fail(ERRNO.EROFS);
  // getdents keeps its place in the directory through llseek(fd, 0, SEEK_CUR).
  const dirStreamOps = {
    llseek: (stream: EmStream, offset: number, whence: number): number => {
      const position =
        whence === SEEK_CUR ? stream.position + offset : whence === SEEK_SET ? offset : fail(ERRNO.EINVAL);
      if (position < 0) fail(ERRNO.EINVAL);
      return position;
    },
  };
  const common = { getattr, setattr: readOnly };
  const dirOps = {
    ...common,
    lookup: (parent: EmNode, name: string): EmNode => {
      const child = ((parent as TreeFsNode).tree as TreeDir).children.get(name);
      if (!child) return fail(ERRNO.ENOENT);
      stats.entriesSeen++;
      options.onEntry?.(stats.entriesSeen);
      return makeNode(parent, name, child);
    },
    readdir: (node: EmNode): string[] => ['.', '..', ...((node as TreeFsNode).tree as TreeDir).children.keys()],
    mknod: readOnly,
    rename: readOnly,
    unlink: readOnly,
    rmdir: readOnly,
    symlink: readOnly,
  };
  const linkOps = {
    ...common,
    // The raw target. Emscripten's FS.readlink resolves it against the link's directory;
    // run-tool.ts replaces FS.readlink so that readlink(2) returns this unchanged.
    readlink: (node: EmNode): string => inodeOf(node).entry.target!,
  };
  const fileOps = { ...common };

  const closeState = (state: StreamState | undefined): void => {
    if (state?.fd !== undefined && fs) {
      openFds.delete(state.fd);
      try {
        fs.closeSync(state.fd);
      } finally {
        stats.hostCloses++;
        state.fd = undefined;
      }
    }
    if (state) {
      state.win = undefined;
      state.winSeq = undefined;
    }
  };

  const fileStreamOps = {
    open: (stream: EmStream): void => {
      if ((stream.flags & 3) !== 0) fail(ERRNO.EROFS); // O_WRONLY / O_RDWR
      states.set(stream, {});
    },
    close: (stream: EmStream): void => {
      closeState(states.get(stream));
      states.delete(stream);
    },
    llseek: (stream: EmStream, offset: number, whence: number): number => {
      let position = offset;
      if (whence === SEEK_CUR) position += stream.position;
      else if (whence === SEEK_END) position += inodeOf(stream.node).size;
      else if (whence !== SEEK_SET) fail(ERRNO.EINVAL); // SEEK_DATA/SEEK_HOLE: mke2fs falls back to plain reads
      if (position < 0) fail(ERRNO.EINVAL);
      return position;
    },
    write: readOnly,
    read: (
      stream: EmStream,
      buffer: Int8Array | Uint8Array,
      offset: number,
      length: number,
      position: number,
    ): number => {
      check?.();
      const inode = inodeOf(stream.node);
      const size = inode.size;
      if (position >= size || length <= 0) return 0;
      const n = Math.min(length, size - position);
      const out = new Uint8Array(buffer.buffer, buffer.byteOffset + offset, n);
      const source = inode.entry.source!;
      let state = states.get(stream);
      if (!state) states.set(stream, (state = {}));
      stats.reads++;
      switch (source.kind) {
        case 'bytes':
          out.set(source.bytes.subarray(position, position + n));
          break;
        case 'blob': {
          // A view into the reader's ring is good until another piece is taken from it.
          if (state.winSeq !== undefined && consumer?.heldSeq !== state.winSeq) {
            state.win = undefined;
            state.winSeq = undefined;
          }
          if (!state.win && size <= pieceSize) {
            // A small file comes whole: from the reader worker, or from a batch fetched with
            // the files after it.
            let seq: number | undefined;
            const bytes = blobRead(inode, () => {
              const fromRing = ahead(inode, 0, size);
              if (!fromRing) return smallBlobs!.take(inode);
              seq = consumer!.lastSeq;
              return fromRing;
            });
            if (bytes.length !== size) fail(ERRNO.EIO); // the Blob is shorter than the tree says
            state.win = bytes;
            state.winStart = 0;
            state.winSeq = seq;
          }
          let done = 0;
          while (done < n) {
            const pos = position + done;
            if (
              !state.win ||
              state.winStart === undefined ||
              pos < state.winStart ||
              pos >= state.winStart + state.win.length
            ) {
              const want = Math.min(Math.max(pieceSize, n - done), size - pos);
              let bytes = ahead(inode, pos, pos + want);
              state.winSeq = bytes ? consumer!.lastSeq : undefined;
              if (!bytes) {
                bytes = blobRead(inode, () => readBlob!(source.blob, source.offset + pos, source.offset + pos + want));
                stats.blobReads++;
              }
              if (bytes.length !== want) fail(ERRNO.EIO); // the Blob is shorter than the tree says
              state.win = bytes;
              state.winStart = pos;
            }
            const from = pos - state.winStart!;
            const take = Math.min(n - done, state.win.length - from);
            out.set(state.win.subarray(from, from + take), done);
            done += take;
          }
          break;
        }
        case 'host-file': {
          if (state.fd === undefined) {
            // Opened once, without following links, and checked to be the file that was scanned.
            state.fd = openHost(inode, source);
            openFds.add(state.fd);
            stats.hostOpens++;
          }
          let done = 0;
          while (done < n) {
            const got = fs!.readSync(state.fd, out, done, n - done, source.offset + position + done);
            if (got <= 0) throw changed(inode, 'it became shorter while it was being copied');
            done += got;
          }
          break;
        }
      }
      narCheck?.onRead(inode, position, out);
      stats.bytesRead += n;
      options.onRead?.(stats.bytesRead);
      return n;
    },
  };

  const type: EmFilesystemType = {
    mount(_mount: EmMount): EmNode {
      return makeNode(null, '/', model.root);
    },
  };

  return {
    type,
    model,
    stats,
    openHostFiles: () => openFds.size,
    dispose(): void {
      readAhead?.stop();
      if (!fs) return;
      for (const fd of openFds) {
        try {
          fs.closeSync(fd);
        } catch {
          // already closed
        }
        stats.hostCloses++;
      }
      openFds.clear();
    },
    narResults: () => narCheck?.finish() ?? [],
  };
}

/**
 * Opens a host file for reading without following a symlink at its last component (and
 * without blocking on a FIFO), and checks that it is still the file that was scanned: a
 * regular file with the same device, inode, size and modification time. Throws what
 * `changed(detail)` makes otherwise.
 */
export function openHostChecked(
  fs: NodeFs,
  source: { path: string; offset: number; size: number; identity?: HostFileIdentity },
  changed: (detail: string) => Error,
): number {
  const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
  let fd: number;
  try {
    fd = fs.openSync(source.path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ELOOP' || code === 'EMLINK') throw changed('it was replaced by a symbolic link after it was scanned');
    if (code === 'ENOENT') throw changed('it was removed after it was scanned');
    // Not a change but still this entry's fault: say which file and why, not "defect".
    const err = changed(
      code === 'EACCES' || code === 'EPERM'
        ? 'it cannot be read: permission denied'
        : `it cannot be opened (${code ?? (e as Error).message})`,
    );
    if (err instanceof InputChangedError) err.unreadable = true;
    throw err;
  }
  try {
    const st = fs.fstatSync(fd);
    const id = source.identity;
    const why = !st.isFile()
      ? 'it is no longer a regular file'
      : id && (st.dev !== id.dev || st.ino !== id.ino)
        ? 'it was replaced by another file after it was scanned'
        : id && st.size !== id.size
          ? `its size changed from ${id.size} to ${st.size} bytes after it was scanned`
          : id && st.mtimeMs !== id.mtimeMs
            ? 'it was modified after it was scanned'
            : st.size < source.offset + source.size
              ? 'it is shorter than when it was scanned'
              : undefined;
    if (why) throw changed(why);
    return fd;
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** Creates TREEFS and mounts it on `dir` (created if missing). */
export function mountTreeFs(
  FS: EmFS,
  dir: string,
  entries: readonly TreeEntry[] | TreeIndex,
  options: TreeFsOptions = {},
): TreeFs {
  if (dir === '/' || !dir.startsWith('/'))
    throw new Error(`TREEFS needs an absolute directory other than /, got ${JSON.stringify(dir)}`);
  const treeFs = createTreeFs(FS, entries, options);
  FS.mkdirTree(dir);
  FS.mount(treeFs.type, {}, dir);
  return treeFs;
}
