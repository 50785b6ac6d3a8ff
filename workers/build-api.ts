/**
 * The engine's contract, shared by the Web Worker (`workers/build-worker.ts`), the Node CLI
 * and the page. Types only: the page imports them with `import type`, and the worker's
 * comlink surface is typed from the worker module itself (`Remote<typeof api>`).
 */
import type { InputProblem, StorePathInfo, TreeEntry } from '../core/image-tree.ts';

/** A file a person gave us: a browser File/Blob, or (Node) a host path. */
export type InputFile = { name: string; blob: Blob } | { name: string; hostPath: string };

/** One input of a build. */
export type BuildInput =
  /** Entries already walked (a dropped folder, a Node directory walk), placed under `at`. */
  | { kind: 'tree'; at: string; entries: TreeEntry[] }
  /** A tar archive (`.tar`, `.tar.gz`, `.tar.zst`; ustar, pax, GNU) extracted under `at`. */
  | { kind: 'archive'; at: string; file: InputFile }
  /**
   * Closure input, recognised by content: a manifest (closureInfo `registration` or
   * `store-paths`, `nix path-info --json --recursive`) or contents (a `nix-store --export`
   * stream, a `.nar` named `<hash>-<name>.nar`, a tar holding `nix/store/...`).
   */
  | { kind: 'closure'; file: InputFile }
  /** Node: a folder of `<hash>-<name>` store paths (`--store DIR`). */
  | { kind: 'store-dir'; hostPath: string };

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
}

/** Everything one build needs: the (possibly edited) tree, the closure, the options. */
export interface BuildRequest {
  entries: TreeEntry[];
  closure: StorePathInfo[];
  options: BuildOptions;
}

/**
 * The surface `workers/build-worker.ts` exposes through comlink (`api satisfies EngineApi`).
 * Callbacks cross as `Comlink.proxy`. Cancellation: the page's client terminates the worker
 * (the only way to stop a wasm program mid-run) and starts a fresh one; in Node the same
 * pipeline takes an AbortSignal. A failed call rejects with a `BuildFailure`.
 */
export interface EngineApi {
  /** Parses inputs (headers, manifests, NAR hashes) into the image tree and closure. */
  resolveInputs(inputs: BuildInput[]): Promise<ResolvedInputs>;
  /** Estimates the image size for the tree and options (cheap, no tools run). */
  estimate(request: BuildRequest): Promise<SizeEstimate>;
  /**
   * Builds, checks, shrinks, checks and optionally compresses the image. Output goes to
   * `sink` chunk by chunk as it is produced; awaiting each call gives back-pressure.
   */
  build(
    request: BuildRequest,
    onEvent: (event: BuildEvent) => void,
    sink: (chunk: Uint8Array) => Promise<void> | void,
  ): Promise<BuildResult>;
}
