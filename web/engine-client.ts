/**
 * The page's only door to the engine: a Web Worker (`workers/build-worker.ts`) reached
 * through comlink. The worker is started when first needed, so the WebAssembly tools are
 * fetched only then.
 *
 * Cancellation: a running wasm program cannot be interrupted from outside, so aborting a
 * call terminates the worker; every call still in flight rejects with an `aborted`
 * `EngineError`, and the next call lazily starts a fresh worker.
 *
 * Failures cross the worker boundary as plain `BuildFailure` objects; they are rethrown
 * here as `EngineError`s.
 */
import * as Comlink from 'comlink';
import type { Remote } from 'comlink';
import type { FetchProgress } from '../core/binary-cache/substitute.ts';
import type {
  BuildEvent,
  BuildFailure,
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
  OutputOptions,
  RepairResult,
  ResolvedInputs,
  SizeEstimate,
} from '../core/engine-contract.ts';
import type { InputProblem, TreeEntry } from '../core/image-tree.ts';
import type { api } from '../workers/build-worker.ts';
import type { PickedFile } from '../core/picked-files.ts';
import { handingBack } from './handing-back.ts';
import type {
  ContentsPlace,
  KeptTreeRequest,
  ResolvedHead,
  StagedFilesInput,
  StagedTreeInput,
} from '../workers/engine-api.ts';

/** What the worker exposes (`api satisfies EngineApi`). */
type WorkerApi = typeof api;

export type EngineRemote = Remote<WorkerApi>;

/**
 * The page's tree for the engine: a key that changes with it, and its entries when needed,
 * all at once or (`parts`, for large trees) in pieces listed one after another, so that no
 * single task of the page lists and clones them all.
 */
export interface TreeSource {
  /** Read again after the pieces were sent: a tree changed meanwhile is sent again. */
  readonly key: string;
  entries(): TreeEntry[];
  parts?(): Iterable<TreeEntry[]>;
}

/**
 * A folder picker's Files for the engine: it makes their entries (placed in `at`, named
 * `origin`), reading sizes and times in the worker rather than on the page's main thread.
 */
export interface PickedFilesInput {
  kind: 'picked-files';
  at: string;
  origin: string;
  files: PickedFile[];
}

/** What the page gives `resolveInPieces`. */
export type PageInput = BuildInput | PickedFilesInput;

/** Entries per message between the page and the worker: each piece clones in a few ms. */
export const PIECE = 4000;

/** Picked Files per message (see `resolveInPieces`). */
export const PICKED_PIECE = 48;

/** A build request whose tree is given as a {@link TreeSource}. */
export type TreeRequest = Omit<BuildRequest, 'entries'> & { tree: TreeSource };

/** A failure of the engine, with everything `BuildFailure` carries. */
export class EngineError extends Error implements BuildFailure {
  readonly code: BuildFailure['code'];
  readonly hint: string;
  readonly problems: InputProblem[];
  readonly toolOutput: string | undefined;

  constructor(failure: BuildFailure) {
    super(failure.message);
    this.name = 'EngineError';
    this.code = failure.code;
    this.hint = failure.hint;
    this.problems = failure.problems ?? [];
    // An internal failure's stack shows with the tool output, for a defect report.
    this.toolOutput = failure.stack
      ? [failure.toolOutput, failure.stack].filter(Boolean).join('\n\n')
      : failure.toolOutput;
  }

  static aborted(): EngineError {
    return new EngineError({ code: 'aborted', message: 'Cancelled.', hint: '', problems: [] });
  }

  get aborted(): boolean {
    return this.code === 'aborted';
  }

  /** The plain form, e.g. to keep in the store. */
  toFailure(): BuildFailure {
    const f: BuildFailure = { code: this.code, message: this.message, hint: this.hint, problems: this.problems };
    if (this.toolOutput !== undefined) f.toolOutput = this.toolOutput;
    return f;
  }
}

const FAILURE_CODES = new Set(['bad-input', 'tool-failed', 'check-failed', 'aborted', 'too-large', 'internal']);

export function isBuildFailure(value: unknown): value is BuildFailure {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.code === 'string' && FAILURE_CODES.has(v.code) && typeof v.message === 'string';
}

/** Anything a call rejected with, as an `EngineError`. */
export function toEngineError(err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  if (isBuildFailure(err)) {
    return new EngineError({ ...err, hint: err.hint ?? '', problems: Array.isArray(err.problems) ? err.problems : [] });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new EngineError({
    code: 'internal',
    message: `The build engine failed: ${message}`,
    hint: 'Reload the page and try again; if it keeps happening, please report it.',
    problems: [],
  });
}

/** A started engine: the comlink remote and a way to stop it. */
export interface EngineConnection {
  remote: EngineRemote;
  terminate(): void;
  /** Called by the connection when the engine dies on its own (e.g. the module failed to load). */
  onCrash?: (err: EngineError) => void;
}

/** Starts the real engine in a module worker. */
export function connectWorker(): EngineConnection {
  const worker = new Worker(new URL('../workers/build-worker.ts', import.meta.url), {
    type: 'module',
    name: 'disk-image-studio-engine',
  });
  const conn: EngineConnection = {
    remote: Comlink.wrap<WorkerApi>(worker),
    terminate: () => worker.terminate(),
  };
  worker.addEventListener('error', (event) => {
    event.preventDefault();
    conn.onCrash?.(
      new EngineError({
        code: 'internal',
        message: `The build engine stopped: ${event.message || 'it could not be started'}.`,
        hint: 'Reload the page and try again; if it keeps happening, please report it.',
        problems: [],
      }),
    );
  });
  worker.addEventListener('messageerror', () => {
    conn.onCrash?.(
      new EngineError({
        code: 'internal',
        message: 'The build engine sent a message the page could not read.',
        hint: 'Reload the page and try again.',
        problems: [],
      }),
    );
  });
  return conn;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export class EngineClient {
  private conn: EngineConnection | null = null;
  /** The tree the current worker keeps (see `withTree`). */
  private sentTree: { remote: EngineRemote; key: string } | null = null;
  private readonly pending = new Set<(err: EngineError) => void>();
  private stages = 0;

  constructor(private readonly connect: () => EngineConnection = connectWorker) {}

  /** True while a worker is running. */
  get started(): boolean {
    return this.conn !== null;
  }

  resolveInputs(inputs: BuildInput[], opts: CallOptions = {}): Promise<ResolvedInputs> {
    return this.call((r) => r.resolveInputs(inputs), opts.signal);
  }

  /**
   * `resolveInputs` for large inputs: tree inputs go to the worker in pieces, and the
   * entries come back in pieces, each its own message, so the page's main thread never
   * clones a whole list in one task. All pieces go to one worker; if it is restarted
   * meanwhile, the call rejects as aborted.
   */
  async resolveInPieces(
    inputs: PageInput[],
    opts: CallOptions & { contents?: ContentsPlace } = {},
  ): Promise<ResolvedInputs> {
    const { head, on, remote } = await this.resolveKept(inputs, opts);
    const entries: TreeEntry[] = [];
    try {
      for (let at = 0; at < head.count; at += PIECE) {
        const part = await on((r) => r.takeResolved(head.id, at, PIECE));
        for (const e of part) entries.push(e);
      }
    } catch (err) {
      if (this.conn?.remote === remote) void remote.takeResolved(head.id, 0, 0, true).catch(() => {});
      throw err;
    }
    return { entries, closure: head.closure, problems: head.problems };
  }

  /**
   * Hands inputs over in pieces and resolves them, leaving the entries in the worker under
   * `head.id` (taken in pieces by `resolveInPieces`, or added to an opened image by
   * `addResolvedToImage`). `on` runs a call on the same worker, or rejects as aborted.
   */
  private async resolveKept(
    inputs: PageInput[],
    opts: CallOptions & { contents?: ContentsPlace },
  ): Promise<{
    head: ResolvedHead;
    on: <T>(run: (r: EngineRemote) => Promise<T>) => Promise<T>;
    remote: EngineRemote;
  }> {
    const remote = this.ensure().remote;
    const on = <T>(run: (r: EngineRemote) => Promise<T>): Promise<T> =>
      this.conn?.remote === remote ? this.call(run, opts.signal) : Promise.reject(EngineError.aborted());
    const sent: Array<BuildInput | StagedTreeInput | StagedFilesInput> = [];
    for (const input of inputs) {
      if (input.kind === 'picked-files') {
        const stage = `s${++this.stages}`;
        // Cloning a picked File makes Chromium ask the browser for its size and time (0.2 to
        // 1 ms each, on this thread, unless something read them before): a few per message.
        for (let at = 0; at < input.files.length; at += PICKED_PIECE) {
          const part = input.files.slice(at, at + PICKED_PIECE);
          await on((r) => r.stageFiles(stage, part));
        }
        sent.push({ kind: 'staged-files', at: input.at, stage, origin: input.origin });
        continue;
      }
      if (input.kind !== 'tree' || input.entries.length <= PIECE) {
        sent.push(input);
        continue;
      }
      const stage = `s${++this.stages}`;
      for (let at = 0; at < input.entries.length; at += PIECE) {
        const part = input.entries.slice(at, at + PIECE);
        await on((r) => r.stageEntries(stage, part));
      }
      const staged: StagedTreeInput = { kind: 'staged-tree', at: input.at, stage };
      if (input.problems) staged.problems = input.problems;
      sent.push(staged);
    }
    const head = await on((r) => r.resolveInPieces(sent, opts.contents));
    return { head, on, remote };
  }

  /**
   * Resolves inputs (handed over in pieces, as `resolveInPieces`) and adds what they yield to
   * the opened image `image`, without the entries coming to the page or going back. `decide`
   * sees the resolution's problems and count (false: nothing is added) and, when the add is
   * refused because paths exist, the failure (true: added again, replacing them). Answers the
   * image's state after the add, or null when nothing was added.
   */
  async addToImage(
    image: string,
    inputs: PageInput[],
    decide: {
      resolved(count: number, problems: InputProblem[]): boolean;
      replace(failure: EngineError): boolean;
    },
  ): Promise<ImageState | null> {
    const { head, on, remote } = await this.resolveKept(inputs, {});
    try {
      if (head.count === 0 || !decide.resolved(head.count, head.problems)) return null;
      try {
        return await on((r) => r.applyResolved(image, head.id, false));
      } catch (err) {
        const e = toEngineError(err);
        if (e.aborted || !decide.replace(e)) throw e;
        return await on((r) => r.applyResolved(image, head.id, true));
      }
    } finally {
      if (head.count > 0 && this.conn?.remote === remote) void remote.takeResolved(head.id, 0, 0, true).catch(() => {});
    }
  }

  estimate(request: BuildRequest | TreeRequest, opts: CallOptions = {}): Promise<SizeEstimate> {
    return this.call((r) => this.withTree(r, request, (q) => r.estimate(q)), opts.signal);
  }

  /**
   * A request for the worker: a tree given as a {@link TreeSource} is handed over once per
   * key (`keepTree`) and named afterwards, so a large tree is not copied to the worker for
   * every estimate and again for the build. A fresh worker gets it again.
   */
  private async withTree<T>(
    remote: EngineRemote,
    request: BuildRequest | TreeRequest,
    call: (request: BuildRequest | KeptTreeRequest) => Promise<T>,
  ): Promise<T> {
    if (!('tree' in request)) return call(request);
    const { tree, ...rest } = request;
    // A tree changed while its pieces were on the way is sent again (a few times at most).
    for (let attempt = 0; ; attempt++) {
      const key = tree.key;
      if (this.sentTree?.remote === remote && this.sentTree.key === key) return call({ ...rest, tree: key });
      const sent = { remote, key };
      this.sentTree = sent;
      try {
        if (!tree.parts) await remote.keepTree(key, tree.entries());
        else {
          // One piece listed per message: the page lists the next piece when the worker took the last.
          let previous: TreeEntry[] | null = null;
          for (const part of tree.parts()) {
            if (previous) await remote.keepTreePart(key, previous, false);
            previous = part;
          }
          await remote.keepTreePart(key, previous ?? [], true);
        }
      } catch (err) {
        if (this.sentTree === sent) this.sentTree = null;
        throw err;
      }
      if (tree.key === key) return call({ ...rest, tree: key });
      if (attempt >= 2)
        throw new EngineError({
          code: 'internal',
          message: 'The tree kept changing while it was handed to the engine.',
          hint: 'Wait until the inputs are read, then try again.',
          problems: [],
        });
    }
  }

  /**
   * Builds an image. `onEvent` and `sink` run on the page; the worker awaits each `sink`
   * call, so a slow disk slows the build instead of filling memory. A chunk is valid until
   * `sink` settles (its memory then goes back to the engine): copy what must be kept.
   */
  build(
    request: BuildRequest | TreeRequest,
    onEvent: (event: BuildEvent) => void,
    sink: (chunk: Uint8Array) => Promise<void> | void,
    opts: CallOptions & OutputOptions = {},
  ): Promise<BuildResult> {
    const output: OutputOptions = { keepFile: opts.keepFile ?? false };
    return this.call(
      (r) =>
        this.withTree(r, request, (q) => r.build(q, Comlink.proxy(onEvent), Comlink.proxy(handingBack(sink)), output)),
      opts.signal,
    );
  }

  /** Removes what compressed inputs spooled to OPFS for `input` (or the whole session). */
  releaseContents(session: string, input?: string): Promise<void> {
    if (!this.conn) return Promise.resolve();
    return this.call((r) => r.releaseContents(session, input));
  }

  // ---- opened images ----------------------------------------------------------------
  // No AbortSignal here: stopping means ending the worker, and opened images live in it.
  // A save or an export is stopped by its sink rejecting instead.

  /** Opens an `.img` / `.img.zst` in the engine; `onProgress` gets bytes read of the file. */
  openImage(file: File, onProgress?: (done: number, total: number) => void): Promise<ImageState> {
    return this.call((r) =>
      r.openImage({ name: file.name, blob: file }, onProgress ? Comlink.proxy(onProgress) : undefined),
    );
  }

  listDir(id: string, path: string): Promise<ImageListing> {
    return this.call((r) => r.listDir(id, path));
  }

  readFile(id: string, path: string, limit?: number): Promise<FileHead> {
    return this.call((r) => r.readFile(id, path, limit));
  }

  /** Streams a file, or a folder as tar, to `sink` (awaited; a chunk is valid until `sink` settles). */
  exportPath(id: string, path: string, sink: (chunk: Uint8Array) => Promise<void> | void): Promise<ExportResult> {
    return this.call((r) => r.exportPath(id, path, Comlink.proxy(handingBack(sink))));
  }

  apply(id: string, edits: ImageEdit[]): Promise<ImageState> {
    return this.call((r) => r.apply(id, edits));
  }

  repair(id: string): Promise<RepairResult> {
    return this.call((r) => r.repair(id));
  }

  resize(id: string, size: 'min' | number): Promise<ImageState> {
    return this.call((r) => r.resize(id, size));
  }

  setLabel(id: string, label: string): Promise<ImageState> {
    return this.call((r) => r.setLabel(id, label));
  }

  /** Checks and streams an opened image out like a build (a chunk is valid until `sink` settles). */
  saveImage(
    id: string,
    options: ImageSaveOptions,
    onEvent: (event: BuildEvent) => void,
    sink: (chunk: Uint8Array) => Promise<void> | void,
    output: OutputOptions = {},
  ): Promise<BuildResult> {
    const out: OutputOptions = { keepFile: output.keepFile ?? false };
    return this.call((r) => r.save(id, options, Comlink.proxy(onEvent), Comlink.proxy(handingBack(sink)), out));
  }

  closeImage(id: string): Promise<void> {
    return this.call((r) => r.close(id));
  }

  // ---- binary caches ----------------------------------------------------------------
  // Stopped by `cancelCacheFetch`, not by ending the worker, so the spool is cleaned up.

  planCacheFetch(request: CacheFetchRequest, http: PageHttp, runId: string): Promise<CacheFetchPlan> {
    return this.call((r) => r.planCacheFetch(request, Comlink.proxy(http), runId));
  }

  runCacheFetch(
    planId: string,
    session: string,
    runId: string,
    http: PageHttp,
    onProgress: (p: FetchProgress) => void,
  ): Promise<CacheFetchResult> {
    return this.call((r) => r.runCacheFetch(planId, session, runId, Comlink.proxy(http), Comlink.proxy(onProgress)));
  }

  cancelCacheFetch(runId: string): Promise<void> {
    if (!this.conn) return Promise.resolve();
    return this.call((r) => r.cancelCacheFetch(runId));
  }

  /** Stops the worker; calls in flight reject with `reason` (default: aborted). */
  restart(reason: EngineError = EngineError.aborted()): void {
    const conn = this.conn;
    this.conn = null;
    if (conn) {
      conn.onCrash = undefined;
      try {
        conn.remote[Comlink.releaseProxy]();
      } catch {
        /* already gone */
      }
      conn.terminate();
    }
    const pending = [...this.pending];
    this.pending.clear();
    for (const fail of pending) fail(reason);
  }

  private ensure(): EngineConnection {
    if (!this.conn) {
      const conn = this.connect();
      conn.onCrash = (err) => {
        if (this.conn === conn) this.restart(err);
      };
      this.conn = conn;
    }
    return this.conn;
  }

  private call<T>(run: (remote: EngineRemote) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(EngineError.aborted());
    const conn = this.ensure();
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const settle = () => {
        settled = true;
        this.pending.delete(fail);
        signal?.removeEventListener('abort', onAbort);
      };
      const fail = (err: EngineError) => {
        if (settled) return;
        settle();
        reject(err);
      };
      const onAbort = () => {
        // The only way to stop a running wasm program: end the worker (and with it every call).
        if (this.conn === conn) this.restart(EngineError.aborted());
        else fail(EngineError.aborted());
      };
      this.pending.add(fail);
      signal?.addEventListener('abort', onAbort, { once: true });
      run(conn.remote).then(
        (value) => {
          if (!settled) {
            settle();
            resolve(value);
          }
        },
        (err: unknown) => fail(toEngineError(err)),
      );
    });
  }
}

let shared: EngineClient | null = null;

/** The page's engine client (the worker itself starts on the first call). */
export function engine(): EngineClient {
  shared ??= new EngineClient();
  return shared;
}

/** Replaces the shared client (development previews and tests). */
export function setEngine(client: EngineClient): void {
  shared?.restart();
  shared = client;
}
