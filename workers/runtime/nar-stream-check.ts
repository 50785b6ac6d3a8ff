/**
 * Checks, while mke2fs copies a tree, that each sealed store path goes into the image with
 * exactly the NAR hash its closure certifies: the NAR serialization of the path is hashed
 * from the tree's structure and from the very bytes mke2fs reads, as it reads them. A file
 * rewritten after its hash was checked, or a store path edited in the tree, then fails the
 * build instead of landing in the image under the original hash.
 *
 * mke2fs -d copies depth first with names in byte order (scandir + alphasort in the C
 * locale), which is the NAR's order, and reads each file once, front to back (pread in
 * 64 KiB steps). A file with several names is read once, at its first name in that order;
 * for its other names the NAR needs the bytes again: they are read from the source once
 * more and must hash to what was copied.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { formatNarHash } from '../../core/nix-base32.ts';
import { nodeCrypto } from '../../core/sha256.ts';
import { compareNames } from '../../core/image-path.ts';
import type { TreeDir, TreeInode, TreeIndex } from './tree-fs.ts';

/** A store path whose copy is checked: where it is and the NAR hash it must have. */
export interface SealedStorePath {
  /** `/nix/store/<hash>-<name>` */
  path: string;
  /** `sha256:<nix base32>` */
  narHash: string;
}

/** The outcome for one store path. */
export interface NarCheckResult {
  path: string;
  /** The hash the closure certifies. */
  expected: string;
  /** The hash of what was copied; absent when the copy could not be followed to the end. */
  actual?: string;
  ok: boolean;
  /** Why it failed, for people. */
  reason?: string;
}

/** A synchronous streaming sha256. */
interface SyncHash {
  update(bytes: Uint8Array): void;
  digest(): Uint8Array;
}

function createSyncHash(): SyncHash {
  const crypto = nodeCrypto();
  if (crypto) {
    const h = crypto.createHash('sha256');
    return {
      update: (b) => void h.update(b),
      digest: () => new Uint8Array(h.digest()),
    };
  }
  const h = sha256.create();
  return { update: (b) => void h.update(b), digest: () => h.digest() };
}

const enc = new TextEncoder();

function isDir(node: TreeDir | TreeInode): node is TreeDir {
  return (node as TreeDir).children !== undefined;
}

function sortedNames(dir: TreeDir): string[] {
  // UTF-8 byte order (strcmp), what both mke2fs's scandir and NAR sort by.
  return [...dir.children.keys()].sort(compareNames);
}

/** A file the NAR walk needs bytes of. */
interface Need {
  inode: TreeInode;
  /** True when mke2fs copies this name (the inode's first name): its reads are fed in. */
  streamed: boolean;
}

function u64(n: number): Uint8Array {
  const out = new Uint8Array(8);
  const lo = n >>> 0;
  const hi = Math.floor(n / 0x100000000);
  new DataView(out.buffer).setUint32(0, lo, true);
  new DataView(out.buffer).setUint32(4, hi, true);
  return out;
}

function str(h: SyncHash, s: string | Uint8Array): number {
  const b = typeof s === 'string' ? enc.encode(s) : s;
  h.update(u64(b.length));
  h.update(b);
  const pad = (8 - (b.length % 8)) % 8;
  if (pad) h.update(new Uint8Array(pad));
  return 8 + b.length + pad;
}

/**
 * The NAR serialization of a tree node into `h`, pausing (yield) where a file's contents go;
 * the driver hashes the contents, then resumes the walk.
 */
function* narWalk(
  h: SyncHash,
  node: TreeDir | TreeInode,
  counter: { size: number },
  self: string,
  firstPath: Map<number, string>,
): Generator<Need, void, void> {
  const put = (s: string | Uint8Array) => {
    counter.size += str(h, s);
  };
  put('(');
  put('type');
  if (isDir(node)) {
    put('directory');
    for (const name of sortedNames(node)) {
      put('entry');
      put('(');
      put('name');
      put(name);
      put('node');
      yield* narWalk(h, node.children.get(name)!, counter, `${self}/${name}`, firstPath);
      put(')');
    }
  } else if (node.type === 'symlink') {
    put('symlink');
    put('target');
    put(enc.encode(node.entry.target ?? ''));
  } else {
    put('regular');
    if ((node.entry.mode & 0o100) !== 0) {
      put('executable');
      put('');
    }
    put('contents');
    h.update(u64(node.size));
    counter.size += 8;
    if (node.size > 0) yield { inode: node, streamed: firstPath.get(node.ino) === self };
    counter.size += node.size;
    const pad = (8 - (node.size % 8)) % 8;
    if (pad) {
      h.update(new Uint8Array(pad));
      counter.size += pad;
    }
  }
  put(')');
}

interface PathState {
  sealed: SealedStorePath;
  hash: SyncHash;
  walk: Generator<Need, void, void>;
  counter: { size: number };
  need: Need | null;
  /** Bytes of `need` fed so far. */
  fed: number;
  done: boolean;
  failure?: string;
}

/** Options of {@link NarStreamCheck}. */
export interface NarStreamCheckOptions {
  /** Reads a whole file of the tree again, in pieces (for names mke2fs does not copy). */
  readAgain: (inode: TreeInode) => Iterable<Uint8Array>;
}

/** Follows mke2fs's reads of a tree and hashes each sealed store path's NAR from them. */
export class NarStreamCheck {
  readonly #paths: PathState[] = [];
  /** Streamed inode -> the store path whose walk takes its reads. */
  readonly #owner = new Map<number, PathState>();
  /** Digest of what was copied of inodes that have other names the NAR needs. */
  readonly #copied = new Map<number, { hash: SyncHash; fed: number; digest?: string }>();
  readonly #readAgain: (inode: TreeInode) => Iterable<Uint8Array>;
  /** Inode -> walks waiting until its copy is complete. */
  readonly #waiting = new Map<number, PathState[]>();

  constructor(model: TreeIndex, sealed: readonly SealedStorePath[], options: NarStreamCheckOptions) {
    this.#readAgain = options.readAgain;
    // The first name of every file in mke2fs's order (the one it copies).
    const firstPath = new Map<number, string>();
    const names = new Map<number, number>();
    // Pre-order, names in order (a folder's contents before its next sibling), with an
    // explicit stack: no recursion by depth.
    const stack: { node: TreeDir | TreeInode; path: string }[] = [{ node: model.root, path: '/' }];
    while (stack.length > 0) {
      const { node, path } = stack.pop()!;
      if (isDir(node)) {
        const kids = sortedNames(node);
        for (let i = kids.length - 1; i >= 0; i--)
          stack.push({ node: node.children.get(kids[i])!, path: path === '/' ? `/${kids[i]}` : `${path}/${kids[i]}` });
      } else if (node.type === 'file') {
        names.set(node.ino, (names.get(node.ino) ?? 0) + 1);
        if (!firstPath.has(node.ino)) firstPath.set(node.ino, path);
      }
    }
    for (const [ino, n] of names) if (n > 1) this.#copied.set(ino, { hash: createSyncHash(), fed: 0 });

    for (const s of sealed) {
      const node = lookup(model.root, s.path);
      if (!node) continue; // missing contents are refused before mkfs
      const hash = createSyncHash();
      const counter = { size: 0 };
      counter.size += str(hash, 'nix-archive-1');
      const state: PathState = {
        sealed: s,
        hash,
        walk: narWalk(hash, node, counter, s.path, firstPath),
        counter,
        need: null,
        fed: 0,
        done: false,
      };
      this.#paths.push(state);
      this.#advance(state);
    }
  }

  /** True when some store path is checked (otherwise reads need not be reported). */
  get active(): boolean {
    return this.#paths.length > 0;
  }

  /** Reports bytes mke2fs read from `inode` at `position`. */
  onRead(inode: TreeInode, position: number, bytes: Uint8Array): void {
    const copied = this.#copied.get(inode.ino);
    if (copied && copied.fed >= 0) {
      if (position === copied.fed) {
        copied.hash.update(bytes);
        copied.fed += bytes.length;
      } else copied.fed = -1; // not front to back: its other names cannot be vouched for
    }
    const state = this.#owner.get(inode.ino);
    if (state && !state.done && !state.failure) {
      const need = state.need;
      if (!need || need.inode !== inode || position !== state.fed) {
        state.failure = `mke2fs read ${inode.entry.path} out of the expected order`;
      } else {
        state.hash.update(bytes);
        state.fed += bytes.length;
        if (state.fed > inode.size) state.failure = `${inode.entry.path} gave more bytes than its size`;
        else if (state.fed === inode.size) this.#advance(state);
      }
    }
    if (copied && copied.fed === inode.size) {
      // Walks waiting for this copy (at another name of the file) go on.
      const waiting = this.#waiting.get(inode.ino);
      this.#waiting.delete(inode.ino);
      for (const w of waiting ?? []) if (!w.failure && this.#feedAgain(w, inode)) this.#advance(w);
    }
  }

  /** Walks on to the next file mke2fs will copy, hashing names it does not copy from their sources. */
  #advance(state: PathState): void {
    for (;;) {
      if (state.need?.streamed) this.#owner.delete(state.need.inode.ino);
      const next = state.walk.next();
      if (next.done) {
        state.done = true;
        state.need = null;
        return;
      }
      const need = next.value;
      state.need = need;
      state.fed = 0;
      if (need.streamed) {
        this.#owner.set(need.inode.ino, state);
        return;
      }
      // Another name of a file mke2fs copies at its first name (earlier in its order): once
      // that copy is complete, the bytes are read again and must hash to what was copied.
      const copied = this.#copied.get(need.inode.ino);
      if (!copied || copied.fed !== need.inode.size) {
        const list = this.#waiting.get(need.inode.ino) ?? [];
        list.push(state);
        this.#waiting.set(need.inode.ino, list);
        return;
      }
      if (!this.#feedAgain(state, need.inode)) return;
    }
  }

  /** Hashes another name of a copied file from its source, checking it against the copy. */
  #feedAgain(state: PathState, inode: TreeInode): boolean {
    const copied = this.#copied.get(inode.ino)!;
    copied.digest ??= hex(copied.hash.digest());
    const again = createSyncHash();
    let n = 0;
    for (const piece of this.#readAgain(inode)) {
      again.update(piece);
      state.hash.update(piece);
      n += piece.length;
    }
    if (n !== inode.size || hex(again.digest()) !== copied.digest) {
      state.failure = `${inode.entry.path} changed between its copy and a later read of the same file`;
      return false;
    }
    return true;
  }

  /** After mke2fs: the result of every store path (ok when its copied NAR hash is the certified one). */
  finish(): NarCheckResult[] {
    return this.#paths.map((state) => {
      const base = { path: state.sealed.path, expected: state.sealed.narHash };
      if (state.failure) return { ...base, ok: false, reason: state.failure };
      if (!state.done) {
        const missing = state.need?.inode.entry.path ?? state.sealed.path;
        return { ...base, ok: false, reason: `mke2fs did not copy all of ${missing}` };
      }
      const actual = formatNarHash(state.hash.digest());
      if (actual !== state.sealed.narHash)
        return { ...base, ok: false, actual, reason: 'what was copied has another NAR hash' };
      return { ...base, ok: true, actual };
    });
  }
}

function hex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

function lookup(root: TreeDir, path: string): TreeDir | TreeInode | undefined {
  let node: TreeDir | TreeInode = root;
  for (const part of path.split('/').filter(Boolean)) {
    if (!isDir(node)) return undefined;
    const next: TreeDir | TreeInode | undefined = node.children.get(part);
    if (!next) return undefined;
    node = next;
  }
  return node;
}
