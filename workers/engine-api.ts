/**
 * The engine's methods: builds (`EngineApi`) and opened images (`ImageApi`). The worker
 * (`workers/build-worker.ts`) implements both (`api satisfies EngineApi & ImageApi`); the CLI
 * calls the same pipeline directly. The data shapes they take and return live in
 * `core/engine-contract.ts`.
 */
import type { FetchProgress } from '../core/binary-cache/substitute.ts';
import type {
  BuildEvent,
  CacheFetchPlan,
  CacheFetchRequest,
  CacheFetchResult,
  PageHttp,
  BuildInput,
  BuildRequest,
  BuildResult,
  ExportResult,
  FileHead,
  ImageEdit,
  ImageListing,
  ImageSaveOptions,
  ImageState,
  InputFile,
  OutputOptions,
  RepairResult,
  ResolvedInputs,
  SizeEstimate,
} from '../core/engine-contract.ts';
import type { InputProblem, StorePathInfo, TreeEntry } from '../core/image-tree.ts';
import type { PickedFile } from '../core/picked-files.ts';

/**
 * A request naming a tree the engine keeps ({@link EngineApi.keepTree}) instead of carrying
 * its entries: a tree of 400,000 entries crosses to the worker once per change, not once
 * per estimate and again for the build.
 */
export type KeptTreeRequest = Omit<BuildRequest, 'entries'> & { tree: string };

/**
 * A tree input whose entries the page handed over in pieces ({@link PagedApi.stageEntries})
 * under `stage`: a folder of 400,000 files is not cloned to the worker in one message.
 */
export interface StagedTreeInput {
  kind: 'staged-tree';
  at: string;
  stage: string;
  problems?: InputProblem[];
}

/**
 * Where the decompressed contents of an input's compressed archives go: OPFS files under the
 * page's spool session (removed with `releaseContents`, or at the next start once the page
 * is gone) and the input's id.
 */
export interface ContentsPlace {
  session: string;
  input: string;
}

/**
 * A folder picker's Files handed over in pieces ({@link PagedApi.stageFiles}) under `stage`:
 * the worker makes their entries (reading each File's size and time there, which in Chromium
 * costs a synchronous call to the browser per File), placed in `at`, named `origin`.
 */
export interface StagedFilesInput {
  kind: 'staged-files';
  at: string;
  stage: string;
  origin: string;
}

/** What {@link PagedApi.resolveInPieces} answers: everything but the entries, which wait to be taken. */
export interface ResolvedHead {
  /** Names the entries for {@link PagedApi.takeResolved}. */
  id: string;
  count: number;
  closure: StorePathInfo[];
  problems: InputProblem[];
}

/**
 * Large lists cross the worker boundary in pieces, each its own message, so that neither
 * side spends one long task cloning 400,000 entries: the page's main thread stays
 * responsive (no task over 200 ms) while a system-sized input is added.
 */
export interface PagedApi {
  /** Appends entries to a staged tree input (created on the first call). */
  stageEntries(stage: string, entries: TreeEntry[]): Promise<void>;
  /** Appends picked Files to a staged folder input (created on the first call). */
  stageFiles(stage: string, files: PickedFile[]): Promise<void>;
  /**
   * Resolves like `resolveInputs`; the entries are kept until taken. Staged inputs are used
   * up. With `contents`, what compressed inputs expand to is spooled to OPFS there (what an
   * earlier resolve of the same input spooled is removed); where OPFS is missing or refuses,
   * it is held in memory up to a smaller limit, with a warning.
   */
  resolveInPieces(
    inputs: Array<BuildInput | StagedTreeInput | StagedFilesInput>,
    contents?: ContentsPlace,
  ): Promise<ResolvedHead>;
  /** Removes what was spooled for an input (or, without `input`, for the whole session). */
  releaseContents(session: string, input?: string): Promise<void>;
  /** Entries `from` to `from + count` of a resolution; the last piece (or `drop`) forgets them. */
  takeResolved(id: string, from: number, count: number, drop?: boolean): Promise<TreeEntry[]>;
  /** Like `keepTree`, in pieces: `last` ends the tree (and replaces one kept under `key`). */
  keepTreePart(key: string, entries: TreeEntry[], last: boolean): Promise<void>;
  /**
   * Adds a resolution's entries to an opened image (an `add` edit, `replace` as there) without
   * the page taking them; they stay kept (a refused add is tried again with `replace`) until
   * dropped with `takeResolved(id, 0, 0, true)`.
   */
  applyResolved(image: string, resolved: string, replace: boolean): Promise<ImageState>;
}

/**
 * The surface `workers/build-worker.ts` exposes through comlink (`api satisfies EngineApi`).
 * Callbacks cross as `Comlink.proxy`. Cancellation: the page's client terminates the worker
 * (the only way to stop a wasm program mid-run) and starts a fresh one; in Node the same
 * pipeline takes an AbortSignal. A failed call rejects with a `BuildFailure`.
 */
export interface EngineApi {
  /**
   * Resolves once what the engine prepares when it starts is ready: the build's tools compiled
   * and loaded, the reader of picked Files and the compression workers started, and the tools
   * run once on a small made-up tree (`pipeline/warm-up.ts`; stopped by a build or an opened
   * image, which then need not wait for it). Never rejects
   * (what failed to start fails, or is done another way, when the build needs it). A build does
   * not wait for it; it tells a page, or a benchmark, that a build started now pays no start-up.
   */
  warmedUp(): Promise<void>;
  /** Parses inputs (headers, manifests, NAR hashes) into the image tree and closure. */
  resolveInputs(inputs: BuildInput[]): Promise<ResolvedInputs>;
  /**
   * Keeps `entries` under `key` for requests that name it (the two most recent trees are
   * kept; older ones are dropped).
   */
  keepTree(key: string, entries: TreeEntry[]): Promise<void>;
  /** Estimates the image size for the tree and options (cheap, no tools run). */
  estimate(request: BuildRequest | KeptTreeRequest): Promise<SizeEstimate>;
  /**
   * Builds, checks, shrinks, checks and optionally compresses the image. Output goes to
   * `sink` chunk by chunk as it is produced (see {@link OutputSink}), or,
   * with `output.keepFile`, into a browser-storage file returned as `result.file`.
   */
  build(
    request: BuildRequest | KeptTreeRequest,
    onEvent: (event: BuildEvent) => void,
    sink: OutputSink,
    output?: OutputOptions,
  ): Promise<BuildResult>;
}

/**
 * Where output goes on the page, chunk by chunk; each call is awaited (back-pressure). The
 * chunk is the page's (transferred); a sink done with it when it settles may return (or
 * resolve to) `chunk.buffer`, transferred (`Comlink.transfer`), and the engine copies a
 * later chunk into it instead of into new memory. A sink that keeps chunks returns nothing.
 */
export type OutputSink = (chunk: Uint8Array) => unknown;

/**
 * Working on existing images (`workers/pipeline/image-session.ts`): the worker keeps each
 * opened image by id (an uncompressed file is used in place under a copy-on-write overlay
 * in browser storage, or memory); the opened file is never written, and nothing is saved
 * anywhere until `save`. A failed call
 * rejects with a `BuildFailure`; a failed `apply` leaves the image as it was.
 */
export interface ImageApi {
  /** Reads an `.img` or `.img.zst` (zstd is decompressed as a stream), summarizes and checks it. */
  openImage(file: InputFile, onProgress?: (done: number, total: number) => void): Promise<ImageState>;
  /** One directory (two debugfs runs however many entries it has). */
  listDir(id: string, path: string): Promise<ImageListing>;
  /** The first `limit` bytes of a file (default 64 KiB). */
  readFile(id: string, path: string, limit?: number): Promise<FileHead>;
  /** Streams a file's bytes, or a folder as a tar archive, to `sink` (see {@link OutputSink}). */
  exportPath(id: string, path: string, sink: OutputSink): Promise<ExportResult>;
  /** Applies edits (all or nothing), then summarizes and checks. */
  apply(id: string, edits: ImageEdit[]): Promise<ImageState>;
  /** Runs `e2fsck -fy` on the in-memory image (only when asked), then checks again. */
  repair(id: string): Promise<RepairResult>;
  /** Grows or shrinks the filesystem to `size` bytes (rounded down to blocks) or to its minimum. */
  resize(id: string, size: 'min' | number): Promise<ImageState>;
  /** Sets the filesystem label (`tune2fs -L`, at most 16 bytes). */
  setLabel(id: string, label: string): Promise<ImageState>;
  /**
   * Checks (`e2fsck -fn` must be clean), then streams the image out like a build (with
   * `output.keepFile`, into a browser-storage file returned as `result.file`).
   */
  save(
    id: string,
    options: ImageSaveOptions,
    onEvent: (event: BuildEvent) => void,
    sink: OutputSink,
    output?: OutputOptions,
  ): Promise<BuildResult>;
  /** Forgets the image. */
  close(id: string): Promise<void>;
}

/**
 * Fetching closures from Nix binary caches (`workers/pipeline/cache-fetch.ts`). The page
 * makes the HTTP requests (`http`), so its Content-Security-Policy applies; the worker
 * verifies, decompresses and spools. `cancelCacheFetch(runId)` stops a plan or fetch and
 * removes what it wrote. A refused fetch rejects with a bad-input `BuildFailure`.
 */
export interface CacheApi {
  /** Looks up the closure (narinfos, signatures, references): paths and bytes to fetch, and problems. */
  planCacheFetch(request: CacheFetchRequest, http: PageHttp, runId: string): Promise<CacheFetchPlan>;
  /** Fetches a plan into the session's spool; the result is one export stream of the fetched paths. */
  runCacheFetch(
    planId: string,
    session: string,
    runId: string,
    http: PageHttp,
    onProgress?: (p: FetchProgress) => void,
  ): Promise<CacheFetchResult>;
  cancelCacheFetch(runId: string): Promise<void>;
}
