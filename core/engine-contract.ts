/**
 * The data shapes of the engine's contract: what goes into a build or an opened image and
 * what comes back, shared by the Web Worker, the Node CLI and the page. Types only. The
 * methods that take and return them are in `workers/engine-api.ts`; the worker's comlink
 * surface is typed from the worker module itself (`Remote<typeof api>`).
 */
import type { BinaryCache, ClosurePlan } from './binary-cache/substitute.ts';
import type { InputProblem, StorePathInfo, TreeEntry } from './image-tree.ts';

/** A file a person gave us: a browser File/Blob, or (Node) a host path. */
export type InputFile = { name: string; blob: Blob } | { name: string; hostPath: string };

/** One input of a build. */
export type BuildInput =
  /** Entries already walked (a dropped folder, a Node directory walk), placed under `at`. */
  | {
      kind: 'tree';
      at: string;
      entries: TreeEntry[];
      /** What the walk that produced `entries` had to leave out or change (warnings naming the entries). */
      problems?: InputProblem[];
    }
  /** A tar archive (`.tar`, `.tar.gz`, `.tar.zst`; ustar, pax, GNU) extracted under `at`. */
  | { kind: 'archive'; at: string; file: InputFile }
  /**
   * Closure input, recognised by content: a manifest (closureInfo `registration` or
   * `store-paths`, `nix path-info --json --recursive`) or contents (a `nix-store --export`
   * stream, a `.nar` named `<hash>-<name>.nar`, a tar holding `nix/store/...`).
   */
  | { kind: 'closure'; file: InputFile }
  /** Node: a folder of `<hash>-<name>` store paths (`--store DIR`). */
  | { kind: 'store-dir'; hostPath: string }
  /**
   * A store path fetched from a binary cache (`core/binary-cache/substitute.ts`): its NAR as
   * it was written while its NarHash and NarSize were checked, and its narinfo's details
   * (`info.fetchedFrom` names the cache and the key that signed it).
   */
  | { kind: 'fetched'; file: InputFile; info: StorePathInfo };

/** What the inputs resolve to: the image tree (store paths under /nix/store) and the closure. */
export interface ResolvedInputs {
  entries: TreeEntry[];
  closure: StorePathInfo[];
  /** Errors stop a build; warnings are shown and the build goes on. */
  problems: InputProblem[];
}

export type FsType = 'ext2' | 'ext3' | 'ext4';

/** Build options; every field has the default of nixpkgs' `make-ext4-fs.nix`. */
export interface BuildOptions {
  /** Filesystem label. Default `nixos`. */
  label: string;
  /** Filesystem UUID, also the directory hash seed. Default `44444444-4444-4444-8888-888888888888`. */
  uuid: string;
  /** Default `ext4`. */
  fsType: FsType;
  /** Default `auto` (mke2fs chooses, as mkfs.ext4 would). */
  blockSize: 'auto' | 1024 | 2048 | 4096;
  /** Inode size in bytes; default `auto` (256, mke2fs.conf's default). */
  inodeSize: 'auto' | 128 | 256 | 512 | 1024;
  /** Every timestamp in the image, seconds since 1970. Default 1 (1970-01-01 00:00:01). */
  epoch: number;
  /** Free space added after `resize2fs -M`, MiB. Default 0 (today's nixpkgs uses 16, #125121). */
  headroomMiB: number;
  /** zstd-compress the output. Default false. */
  compress: boolean;
  /** zstd level 1..19. Default 3. */
  compressionLevel: number;
  /**
   * Leave out ext4 features that older kernels (before 5.15) and boot loaders (GRUB before
   * 2.12, U-Boot, syslinux) refuse: `orphan_file` and `metadata_csum_seed`. Default false.
   */
  compat?: boolean;
}

export type StageName = 'plan' | 'mkfs' | 'check' | 'shrink' | 'recheck' | 'compress' | 'save';

/** The event stream of a build: stage changes, progress, the tools' own output. */
export type BuildEvent =
  | { type: 'stage'; stage: StageName; state: 'start' | 'done' | 'skipped'; elapsedMs: number }
  | { type: 'progress'; stage: StageName; done: number; total: number }
  | { type: 'log'; stage: StageName; tool: string; stream: 'stdout' | 'stderr'; text: string }
  | { type: 'problem'; problem: InputProblem };

/** Read back from the finished image with dumpe2fs. */
export interface FilesystemSummary {
  fsType: FsType;
  label: string;
  uuid: string;
  blockSize: number;
  blockCount: number;
  freeBlocks: number;
  inodeCount: number;
  freeInodes: number;
  features: string[];
}

export interface BuildResult {
  /** `<label>.img` or `<label>.img.zst` */
  fileName: string;
  /** Bytes of the output (compressed size when compressed). */
  size: number;
  /** Bytes of the uncompressed image. */
  imageSize: number;
  /** sha256 of the output, hex. */
  sha256: string;
  compressed: boolean;
  summary: FilesystemSummary;
  /**
   * The output as a disk-backed file in the browser's own storage (OPFS), when the call
   * asked to keep it (`keepFile`) and the browser could: hand it to a download as it is.
   */
  file?: File;
}

/** Where an output goes besides the sink (browsers). */
export interface OutputOptions {
  /**
   * Keep the output as a file in the browser's own storage (the Origin Private File System)
   * and return it as `BuildResult.file` instead of streaming it to the sink: a download of
   * any size without holding it in memory. Where that storage is missing or full, the
   * output goes to the sink and a warning says so. Default false.
   */
  keepFile?: boolean;
}

/** An estimate of the image, before building. */
export interface SizeEstimate {
  inodes: number;
  dataBytes: number;
  /** The size mkfs starts from, bytes. */
  initialImageBytes: number;
  /** Expected final image after `resize2fs -M` plus headroom, bytes. */
  finalImageBytes: number;
}

/**
 * A failure that crosses the worker boundary as plain data (Error subclasses lose their
 * fields in structured clone). `problems` names the inputs at fault; `toolOutput` holds
 * e.g. fsck's report when a check failed.
 */
export interface BuildFailure {
  code: 'bad-input' | 'tool-failed' | 'check-failed' | 'aborted' | 'too-large' | 'internal';
  message: string;
  hint: string;
  problems: InputProblem[];
  toolOutput?: string;
  /** `internal` only: where it failed (the error's stack and its causes'), for a defect report. */
  stack?: string;
}

/** Everything one build needs: the (possibly edited) tree, the closure, the options. */
export interface BuildRequest {
  entries: TreeEntry[];
  closure: StorePathInfo[];
  options: BuildOptions;
}

// ---- existing images ----------------------------------------------------------------

/** What `e2fsck -fn` said: it reports and changes nothing. */
export interface FsckVerdict {
  clean: boolean;
  /** e2fsck's exit code: 0 clean, 4 errors left uncorrected (with -n), 8 operational error. */
  exitCode: number;
  output: string;
}

/** An image opened in the engine, as the page sees it after each step. */
export interface ImageState {
  /** The engine's handle for the image (valid until `close`, or until the engine restarts). */
  id: string;
  /** The file name it was opened from. */
  name: string;
  /** Bytes of the (uncompressed) image as it is now. */
  size: number;
  summary: FilesystemSummary;
  /** The verdict of the last check (every change is followed by one). */
  fsck: FsckVerdict;
  /** Smallest size `resize2fs -M` would give, bytes (`resize2fs -P`); absent when it cannot tell. */
  minimumBytes?: number;
  /** Counts the changes made since opening (0: as opened). */
  revision: number;
}

export type ImageEntryType = 'file' | 'directory' | 'symlink' | 'char-device' | 'block-device' | 'fifo' | 'socket';

/** One entry of a directory inside an image. */
export interface ImageEntry {
  name: string;
  /** Absolute path in the image. */
  path: string;
  inode: number;
  type: ImageEntryType;
  /** Permission bits (0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes (a symlink: its target's length). */
  size: number;
  /** Seconds since 1970. */
  mtime: number;
  /** Names sharing the inode. */
  links: number;
  /** A symlink's target. */
  target?: string;
}

/** One directory of an image, without `.` and `..`, sorted by name. */
export interface ImageListing {
  path: string;
  inode: number;
  entries: ImageEntry[];
}

/** The head of a file, for a preview. */
export interface FileHead {
  path: string;
  /** The file's full size, bytes. */
  size: number;
  /** Its first bytes (up to the limit asked for). */
  bytes: Uint8Array;
  truncated: boolean;
}

/** What `exportPath` streamed. */
export interface ExportResult {
  /** Suggested download name: the file's own name, or `<folder>.tar`. */
  fileName: string;
  kind: 'file' | 'tar';
  /** Bytes streamed. */
  size: number;
  /** Entries in the archive (1 for a file). */
  entries: number;
  /** Device files, fifos and sockets left out of an archive. */
  skipped: number;
}

/**
 * One change to an image. Every change is made by e2fsprogs (debugfs); the paths are
 * absolute image paths. A list of edits applies as one: if any fails, none is kept.
 */
export type ImageEdit =
  /**
   * Adds entries (files, folders, symlinks, hard links; e.g. from `resolveInputs`) at their
   * paths. Folders merge with existing folders (keeping the existing folder's metadata);
   * any other existing path is a conflict: refused, unless `replace` (then it is deleted first).
   */
  | { kind: 'add'; entries: TreeEntry[]; replace?: boolean }
  /** Deletes a file, link or special file, or a folder with everything in it. */
  | { kind: 'delete'; path: string }
  /** Renames and/or moves an entry; `to` must not exist and its folder must. */
  | { kind: 'move'; from: string; to: string }
  /** Sets the permission bits (0o7777); symlinks keep 0777. */
  | { kind: 'chmod'; path: string; mode: number }
  /** Sets the owner (0..2^32-1). */
  | { kind: 'chown'; path: string; uid: number; gid: number };

/** How to save an opened image. */
export interface ImageSaveOptions {
  /** zstd-compress. Default false. */
  compress: boolean;
  /** zstd level 1..19. Default 3. */
  level: number;
  /** Output file name. Default: the opened file's name (or the label) with `.img` / `.img.zst`. */
  fileName?: string;
}

/** What `repair` did: `e2fsck -fy`'s report, then the state after a fresh check. */
export interface RepairResult {
  state: ImageState;
  exitCode: number;
  output: string;
}

// ---- binary caches --------------------------------------------------------------------

/**
 * HTTP GETs made by the page itself (so the page's Content-Security-Policy decides which
 * hosts may be reached) and read by the worker chunk by chunk. `open` rejects with
 * `{ httpError, transient }` when no response came.
 */
export interface PageHttp {
  open(url: string): Promise<{
    id: number;
    status: number;
    url: string;
    contentType: string;
    contentLength: number | null;
  }>;
  /** The next chunk of the body, or null at its end. */
  read(id: number): Promise<Uint8Array | null>;
  cancel(id: number): Promise<void>;
}

/** What to look up in binary caches (`core/binary-cache/substitute.ts`'s `substitutionRequest`). */
export interface CacheFetchRequest {
  /** Store paths whose closures are wanted. */
  roots: string[];
  /** Paths other inputs hold: neither looked up nor fetched. */
  have: string[];
  /** NAR hashes a manifest gives, which the caches must match: `[path, narHash]`. */
  known: Array<[string, string]>;
  caches: BinaryCache[];
  /** Default true. */
  requireSignatures: boolean;
}

/** A plan the engine keeps until it is fetched (`id`), with what it found. */
export interface CacheFetchPlan extends ClosurePlan {
  id: string;
}

/** Fetched and verified paths as one `nix-store --export` stream (a File made of the spooled NARs). */
export interface CacheFetchResult {
  file: InputFile;
  paths: Array<{ path: string; cache: string; signedBy: string | null }>;
}
