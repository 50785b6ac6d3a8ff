/**
 * The tree that goes into an image: every entry with explicit metadata and a lazy source
 * for its bytes. Browsers expose neither modes nor symlinks, so the tree, not the host,
 * is the authority on what the image holds. Pure data: structured-cloneable, so it can
 * cross the worker boundary (Blobs clone without copying their bytes).
 */

/** Where a regular file's bytes come from. Nothing is read until mke2fs asks for it. */
export type ByteSource =
  /** Bytes already in memory (small generated files such as `/nix-path-registration`). */
  | { kind: 'bytes'; bytes: Uint8Array }
  /** A browser File/Blob, or a slice of one (a member of an uncompressed tar, a file inside a NAR). */
  | { kind: 'blob'; blob: Blob; offset: number; size: number }
  /**
   * Node only: a host file, or a slice of one. `identity` is what the file was when it was
   * scanned; whoever reads it later opens it without following links and checks it is
   * still that file.
   */
  | { kind: 'host-file'; path: string; offset: number; size: number; identity?: HostFileIdentity };

/** What identifies a host file as scanned: device, inode, size and modification time. */
export interface HostFileIdentity {
  dev: number;
  ino: number;
  /** The whole file's size in bytes. */
  size: number;
  /** Modification time, ms since 1970 (with the fraction the host gives). */
  mtimeMs: number;
}

export type EntryType = 'file' | 'directory' | 'symlink' | 'hardlink';

export interface TreeEntry {
  /** Absolute path inside the image: starts with `/`, no trailing slash, no `.`/`..`/empty parts; `/` is the root. */
  path: string;
  type: EntryType;
  /** Permission bits, including setuid/setgid/sticky (mask 0o7777). Defaults: file 0o644, directory 0o755, symlink 0o777. */
  mode: number;
  /** Owner; 0 by default (Nix store paths are owned by root). */
  uid: number;
  gid: number;
  /** Seconds since the epoch as the input had it; the build pins every time to its epoch unless asked to keep them. */
  mtime: number;
  /** Bytes of a file, length of a symlink target, 0 otherwise. */
  size: number;
  /** A file's bytes. */
  source?: ByteSource;
  /** A symlink's raw target; for a hard link, the image path of the file whose inode it shares. */
  target?: string;
  /** The input this entry came from, named for people (file name, archive name), for messages and conflicts. */
  origin: string;
}

/** One store path of a Nix closure, as `nix-store --load-db` needs it. */
export interface StorePathInfo {
  /** `/nix/store/<32-char hash>-<name>` */
  path: string;
  /** `sha256:<nix base32>` of the path's NAR serialization; empty until known. */
  narHash: string;
  narSize: number;
  /** Full store paths this path references (may include itself). */
  references: string[];
  /** Full store path of the deriver, or empty. */
  deriver: string;
  /** Whether the image will hold its contents, and whether the NAR hash was verified against them. */
  contents: 'present' | 'missing';
  hashChecked: boolean;
  /**
   * Set when the contents were fetched from a binary cache: the cache's URL and the name of
   * the trusted key whose signature verified (null when signatures were not checked).
   */
  fetchedFrom?: { cache: string; signedBy: string | null };
}

/** A problem with an input: what is wrong, where, and what to do. */
export interface InputProblem {
  severity: 'error' | 'warning';
  /** Stable machine-readable code, e.g. `tar-path-escapes`, `closure-missing-contents`. */
  code: string;
  /** The input (file name) the problem was found in. */
  input: string;
  /** The path inside the input or the image, where there is one. */
  path?: string;
  /** What is wrong, in one sentence. */
  message: string;
  /** What to do about it. */
  hint: string;
  /**
   * For `store-path-sealed`: the store path a closure input certifies (by its NAR hash) and
   * the closure input it came from. Another input may not change what is inside it.
   */
  sealed?: { storePath: string; closureInput: string };
}
