/**
 * The studio's Web Worker: the engine behind comlink. The page types its handle as
 * `Remote<typeof api>` from this module; failures cross as `BuildFailure` plain objects.
 * Cancelling means terminating this worker (a running wasm program cannot be interrupted
 * from outside), which frees the image with it.
 */
import * as Comlink from 'comlink';
import { resolveInputs } from '../core/resolve-inputs.ts';
import type {
  BuildEvent,
  BuildInput,
  BuildRequest,
  ImageEdit,
  OutputOptions,
  ImageSaveOptions,
  InputFile,
} from '../core/engine-contract.ts';
import type { TreeEntry } from '../core/image-tree.ts';
import type {
  CacheApi,
  ContentsPlace,
  EngineApi,
  ImageApi,
  KeptTreeRequest,
  OutputSink,
  PagedApi,
  ResolvedHead,
  StagedFilesInput,
  StagedTreeInput,
} from './engine-api.ts';
import { type PickedFile, pickedFilesToEntries } from '../core/picked-files.ts';
import type { FetchProgress } from '../core/binary-cache/substitute.ts';
import type { CacheFetchRequest, PageHttp } from '../core/engine-contract.ts';
import { buildTools, estimateImage } from './pipeline/build-image.ts';
import { warmUpTools } from './pipeline/warm-up.ts';
import { browserStorage, buildInBrowser, saveInBrowser, storageWithFallback } from './pipeline/browser-storage.ts';
import { CacheFetches } from './pipeline/cache-fetch.ts';
import { toBuildFailure } from './pipeline/engine-failure.ts';
import { ImageSessions } from './pipeline/image-session.ts';
import { inputDecompressors as decompressors } from './runtime/zstd-stream.ts';
import { openContentSpool, removeContents, removeStaleSessions } from './runtime/opfs-spool.ts';
import { preloadTools } from './runtime/wasm-modules.ts';
import { prestartBlobReadAhead } from './runtime/blob-read-ahead.ts';
import { prestartFrameWorkers } from './runtime/zstd-frames.ts';
import type { ContentSpool } from '../core/io/cursor.ts';
import type { ResolveOptions } from '../core/resolve-inputs.ts';
import type { InputProblem } from '../core/image-tree.ts';

/** Runs `work`, turning any failure into the plain `BuildFailure` the page expects. */
async function guarded<T>(work: () => Promise<T> | T): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw toBuildFailure(err);
  }
}

/**
 * Coalesces progress events so a fast stage does not flood the page with messages.
 * `delivered` settles once the page has taken every event sent: a comlink callback's
 * messages go through a channel of their own, so without waiting the call's result could
 * reach the page before its last events (a finished build whose last stage showed no time).
 */
function throttledEvents(
  onEvent: (e: BuildEvent) => unknown,
  intervalMs = 50,
): ((e: BuildEvent) => void) & { delivered(): Promise<void> } {
  let last = 0;
  let sent: Promise<unknown> = Promise.resolve();
  const send = (e: BuildEvent): void => {
    if (e.type === 'progress' && e.done < e.total) {
      const t = performance.now();
      if (t - last < intervalMs) return;
      last = t;
    }
    const r = onEvent(e);
    // In order: the page answers a channel's calls as they come.
    if (r instanceof Promise) sent = r.catch(() => {});
  };
  return Object.assign(send, { delivered: () => sent.then(() => {}) });
}

/** Trees the page handed over once (keepTree), newest last; two are kept. */
const keptTrees: Array<{ key: string; entries: TreeEntry[] }> = [];

/** Trees arriving in pieces (keepTreePart), by key. */
const arrivingTrees = new Map<string, TreeEntry[]>();
/** Tree inputs arriving in pieces (stageEntries), by stage. */
const staged = new Map<string, TreeEntry[]>();
/** Folder pickers' Files arriving in pieces (stageFiles), by stage. */
const stagedFiles = new Map<string, PickedFile[]>();
/** Resolved entries waiting to be taken (takeResolved), by id. */
const resolvedWaiting = new Map<string, TreeEntry[]>();
let nextResolved = 1;

function keep(key: string, entries: TreeEntry[]): void {
  const at = keptTrees.findIndex((t) => t.key === key);
  if (at >= 0) keptTrees.splice(at, 1);
  keptTrees.push({ key, entries });
  if (keptTrees.length > 2) keptTrees.shift();
}

function appendTo(map: Map<string, TreeEntry[]>, key: string, entries: readonly TreeEntry[]): void {
  let list = map.get(key);
  if (!list) map.set(key, (list = []));
  for (const e of entries) list.push(e);
}

/** Most bytes compressed inputs may expand to where their contents cannot go to OPFS: 1 GiB. */
export const MEMORY_EXPANSION_LIMIT = 1024 ** 3;

/**
 * Resolve options for the page: compressed inputs expand into an OPFS spool at `place`, or,
 * where OPFS cannot be used, into memory up to {@link MEMORY_EXPANSION_LIMIT} (`fellBack`
 * then says why, for a warning once it was used).
 */
async function contentsOptions(
  inputs: readonly BuildInput[],
  place: ContentsPlace | undefined,
): Promise<{ options: ResolveOptions; warning(): InputProblem | null }> {
  const none = { options: { decompressors }, warning: () => null };
  const name = inputs.find((i) => i.kind === 'archive' || i.kind === 'closure');
  if (!place || !name || !('file' in name)) return none;
  const spool = await openContentSpool(place.session, place.input);
  if (typeof spool !== 'string')
    return {
      options: {
        decompressors,
        spool,
        limitHint:
          'Give the archive uncompressed (its files are then read in place), or build with the command line (--max-expanded-bytes).',
      },
      warning: () => null,
    };
  let used = false;
  const memory: ContentSpool = {
    async append(size, fill) {
      used = true;
      const parts: Uint8Array[] = [];
      await fill((p) => parts.push(p.slice()));
      return { kind: 'blob', blob: new Blob(parts as BlobPart[]), offset: 0, size };
    },
  };
  const gib = MEMORY_EXPANSION_LIMIT / 1024 ** 3;
  return {
    options: {
      decompressors,
      spool: memory,
      maxExpandedBytes: MEMORY_EXPANSION_LIMIT,
      limitHint: `This browser cannot keep decompressed contents on disk (${spool}), so at most ${gib} GiB is held in memory. Give the archive uncompressed (its files are then read in place), or use the command line.`,
    },
    warning: () =>
      used
        ? {
            severity: 'warning',
            code: 'storage-fallback',
            input: name.file.name,
            message: `The decompressed contents of ${name.file.name} are held in memory, not on disk: ${spool}.`,
            hint: `Compressed archives can expand to at most ${gib} GiB here. Give large archives uncompressed (they are read in place), or use a browser with the Origin Private File System.`,
          }
        : null,
  };
}

/** The request with its entries, from the kept tree it names. */
function withEntries(request: BuildRequest | KeptTreeRequest): BuildRequest {
  if (!('tree' in request)) return request;
  const kept = keptTrees.find((t) => t.key === request.tree);
  if (!kept) throw new Error(`the tree ${request.tree} is not kept here (keepTree first)`);
  const { tree: _tree, ...rest } = request;
  return { ...rest, entries: kept.entries };
}

/** Binary cache plans and fetches in progress. */
const fetches = new CacheFetches();

/** Opened images live here (in OPFS where the browser allows) until closed or until this worker ends. */
const images = new ImageSessions({ storage: storageWithFallback(() => {}) });

type Sink = (chunk: Uint8Array) => Promise<void> | void;

/**
 * Chunks may be views into an image store, or arrays the next frame reuses: each goes to
 * the page as a copy, transferred, not cloned again. A sink that is done with its chunk
 * may give the buffer back (transferred) as its result; the next chunk is copied into it.
 * New memory for every chunk cost more than the copy: on a 375 MB output, 0.6-0.7 s of
 * this thread went to touching fresh pages.
 */
export function transferring(sink: OutputSink): Sink {
  let spare: ArrayBuffer | undefined;
  return async (chunk) => {
    const buffer = spare !== undefined && spare.byteLength >= chunk.length ? spare : new ArrayBuffer(chunk.length);
    spare = undefined;
    const copy = new Uint8Array(buffer, 0, chunk.length);
    copy.set(chunk);
    const back = await sink(Comlink.transfer(copy, [buffer]));
    if (back instanceof ArrayBuffer && back.byteLength > 0) spare = back;
  };
}

/** What the worker prepares when it starts (see `warmedUp`); settled at once where it prepares nothing. */
let warming: Promise<void> = Promise.resolve();
/** Stops the tools' warm-up run (`warm-up.ts`) when work of the user's needs the thread. */
const warmUp = new AbortController();

export const api = {
  warmedUp: () => warming,

  resolveInputs: (inputs: BuildInput[]) => guarded(() => resolveInputs(inputs, { decompressors })),

  keepTree: async (key: string, entries: TreeEntry[]) => keep(key, entries),

  keepTreePart: async (key: string, entries: TreeEntry[], last: boolean) => {
    appendTo(arrivingTrees, key, entries);
    if (!last) return;
    keep(key, arrivingTrees.get(key)!);
    arrivingTrees.delete(key);
  },

  stageEntries: async (stage: string, entries: TreeEntry[]) => appendTo(staged, stage, entries),

  stageFiles: async (stage: string, files: PickedFile[]) => {
    let list = stagedFiles.get(stage);
    if (!list) stagedFiles.set(stage, (list = []));
    for (const f of files) list.push(f);
  },

  resolveInPieces: (inputs: Array<BuildInput | StagedTreeInput | StagedFilesInput>, contents?: ContentsPlace) =>
    guarded(async (): Promise<ResolvedHead> => {
      const real = inputs.map((i): BuildInput => {
        if (i.kind === 'staged-files') {
          const files = stagedFiles.get(i.stage) ?? [];
          stagedFiles.delete(i.stage);
          return { kind: 'tree', at: '/', entries: pickedFilesToEntries(files, i.at, i.origin) };
        }
        if (i.kind !== 'staged-tree') return i;
        const entries = staged.get(i.stage) ?? [];
        staged.delete(i.stage);
        return i.problems
          ? { kind: 'tree', at: i.at, entries, problems: i.problems }
          : { kind: 'tree', at: i.at, entries };
      });
      const { options, warning } = await contentsOptions(real, contents);
      const r = await resolveInputs(real, options);
      const fellBack = warning();
      if (fellBack) r.problems.push(fellBack);
      const id = `r${nextResolved++}`;
      if (r.entries.length > 0) resolvedWaiting.set(id, r.entries);
      return { id, count: r.entries.length, closure: r.closure, problems: r.problems };
    }),

  releaseContents: (session: string, input?: string) => guarded(() => removeContents(session, input)),

  takeResolved: async (id: string, from: number, count: number, drop = false) => {
    const list = resolvedWaiting.get(id);
    if (!list) throw toBuildFailure(new Error(`the resolved entries ${id} are not kept here`));
    const part = drop ? [] : list.slice(from, from + count);
    if (drop || from + count >= list.length) resolvedWaiting.delete(id);
    return part;
  },

  applyResolved: (image: string, resolved: string, replace: boolean) =>
    guarded(() => {
      const entries = resolvedWaiting.get(resolved);
      if (!entries) throw new Error(`the resolved entries ${resolved} are not kept here`);
      return images.apply(image, [{ kind: 'add', entries, replace }]);
    }),

  estimate: (request: BuildRequest | KeptTreeRequest) => guarded(() => estimateImage(withEntries(request))),

  build: (
    request: BuildRequest | KeptTreeRequest,
    onEvent: (e: BuildEvent) => void,
    sink: OutputSink,
    output?: OutputOptions,
  ) => {
    warmUp.abort();
    const events = throttledEvents(onEvent);
    return guarded(async () => {
      try {
        return await buildInBrowser(withEntries(request), events, transferring(sink), output);
      } finally {
        await events.delivered();
      }
    });
  },

  openImage: (file: InputFile, onProgress?: (done: number, total: number) => void) => {
    warmUp.abort();
    return guarded(() => images.openImage(file, onProgress));
  },
  listDir: (id: string, path: string) => guarded(() => images.listDir(id, path)),
  readFile: (id: string, path: string, limit?: number) => guarded(() => images.readFile(id, path, limit)),
  exportPath: (id: string, path: string, sink: OutputSink) =>
    guarded(() => images.exportPath(id, path, transferring(sink))),
  apply: (id: string, edits: ImageEdit[]) => guarded(() => images.apply(id, edits)),
  repair: (id: string) => guarded(() => images.repair(id)),
  resize: (id: string, size: 'min' | number) => guarded(() => images.resize(id, size)),
  setLabel: (id: string, label: string) => guarded(() => images.setLabel(id, label)),
  save: (
    id: string,
    options: ImageSaveOptions,
    onEvent: (e: BuildEvent) => void,
    sink: OutputSink,
    output?: OutputOptions,
  ) =>
    guarded(async () => {
      const events = throttledEvents(onEvent);
      try {
        return await saveInBrowser(
          (to) => images.save(id, options, events, to),
          options.fileName ?? 'image.img',
          events,
          transferring(sink),
          output,
        );
      } finally {
        await events.delivered();
      }
    }),
  close: (id: string) => guarded(() => images.close(id)),

  planCacheFetch: (request: CacheFetchRequest, http: PageHttp, runId: string) =>
    guarded(() => fetches.plan(request, http, runId)),
  runCacheFetch: (
    planId: string,
    session: string,
    runId: string,
    http: PageHttp,
    onProgress?: (p: FetchProgress) => void,
  ) => guarded(() => fetches.fetch(planId, session, runId, http, onProgress)),
  cancelCacheFetch: (runId: string) => guarded(() => fetches.cancel(runId)),
} satisfies EngineApi & ImageApi & CacheApi & PagedApi;

const scope = globalThis as unknown as { WorkerGlobalScope?: unknown; postMessage?: unknown };
if (scope.WorkerGlobalScope !== undefined) {
  Comlink.expose(api);
  // At start-up, remove what cancelled or finished builds of earlier sessions left in OPFS,
  // and the spools (fetched NARs, decompressed contents) of pages that are gone.
  void browserStorage();
  void removeStaleSessions().catch(() => {});
  // The page starts this worker with the first input: the build's tools compile and their
  // glue loads while the inputs are still being picked, not after Build is pressed.
  const tools = preloadTools(buildTools());
  // And the workers a build needs besides this one, whose start (70-90 ms each) waits for
  // this thread's event loop, which a tool run holds: started with the build, they came up
  // only once mkfs was done. The reader of picked Files mkfs takes, and the compression
  // workers (one per core; a build needing fewer uses these).
  // Then a build of a small made-up tree and 8 MiB of made-up data compressed, so that the
  // tools and zstd run on optimized code when Build is pressed (see `warm-up.ts`); the
  // user's first build or opened image stops it.
  warming = Promise.allSettled([tools, prestartBlobReadAhead(), prestartFrameWorkers()])
    .then(() => warmUpTools(warmUp.signal))
    .then(
      () => {},
      () => {},
    );
}
