/**
 * The make-ext4-fs pipeline: plan, `mke2fs -d`, `e2fsck -n -f`, `resize2fs -M` (plus
 * headroom), `e2fsck -n -f` again, optional zstd, streamed out. The same code runs in the
 * Web Worker and in the Node CLI; only the sink and the Blob reader differ.
 */
import type { InputProblem, StorePathInfo, TreeEntry } from '../../core/image-tree.ts';
import {
  parseSuperblock,
  SUPERBLOCK_OFFSET,
  SUPERBLOCK_SIZE,
  SuperblockError,
  summaryOf,
} from '../../core/ext-superblock.ts';
import { registrationBytes } from '../../core/registration.ts';
import { REGISTRATION_PATH } from '../../core/resolve-inputs.ts';
import { blocksPerGroup, grow, mkfsInodeCount, planSize, replanInodesPerGroup } from '../../core/size-plan.ts';
import type { BuildEvent, BuildRequest, BuildResult, SizeEstimate, StageName } from '../../core/engine-contract.ts';
import { COMPAT_DISABLED_FEATURES, validateBuildOptions } from '../../core/build-options.ts';
import { memoryStorage, type ImageStorage, type ImageStore } from '../runtime/image-store.ts';
import { runTool, type ToolMount, type ToolResult } from '../runtime/run-tool.ts';
import { indexTree, InputChangedError, TreeError, type ReadBlobSync, type TreeIndex } from '../runtime/tree-fs.ts';
import { preloadTools, type E2fsTool, type WasmTool } from '../runtime/wasm-modules.ts';
import { saveWasmCodeCache } from '../runtime/wasm-code-cache.ts';
import { classifyMkfsFailure, mkfsFailureProblem, symlinkTargetProblems } from './mkfs-diagnosis.ts';
import { badInput, EngineFailure } from './engine-failure.ts';
import { inputChangedProblem, narCheckProblems, sealedStorePaths, storeMetadataProblems } from './sealed-store.ts';
import { streamImage } from './stream-image.ts';
import { frameWorkersFor, prestartFrameWorkers } from '../runtime/zstd-frames.ts';
import { prestartBlobReadAhead } from '../runtime/blob-read-ahead.ts';
import { type FrameSpeculation, startFrameSpeculation } from '../runtime/frame-speculation.ts';

/** Where the image and the tree appear inside every tool instance. */
const IMAGE = '/image/disk.img';
const TREE = '/tree';
const MiB = 1024 * 1024;
/** Deepest nesting accepted (Linux's PATH_MAX allows about 2000 one-letter levels; real trees stay far below). */
export const MAX_DEPTH = 256;
/** mkfs attempts before giving up; each grows the image (or the inode count) by a quarter to a half. */
const MAX_MKFS_ATTEMPTS = 8;

export interface BuildContext {
  /** Stops the build between and during tool runs; the promise rejects with an `aborted` failure. */
  signal?: AbortSignal;
  /** Stage changes, progress, tool output and input warnings, in order. */
  onEvent?: (event: BuildEvent) => void;
  /**
   * Receives the output chunk by chunk; awaited, so a slow sink slows the build instead of
   * filling memory. A chunk is valid until the sink returns (or its promise settles): its
   * array is reused for later output, so copy what must be kept. Without a sink the image
   * is only hashed (the caller keeps `store`).
   */
  sink?: (chunk: Uint8Array) => Promise<void> | void;
  /**
   * The store to build the image in (e.g. the output file itself); the caller owns it and
   * closes it. Default: a new store of `storage`, closed when the build ends.
   */
  store?: ImageStore;
  /** Where the pipeline makes its store when `store` is not given. Default: memory. */
  storage?: ImageStorage;
  /** Synchronous Blob reader for file contents. Default: FileReaderSync (dedicated workers). */
  readBlobSync?: ReadBlobSync;
  /** Size of mkfs's first attempt instead of the plan's, bytes (to exercise the retry). Default: the plan. */
  startBytes?: number;
  /**
   * Workers compressing the output; 0 compresses in the calling thread. The output is the
   * same bytes whatever the number. Default: one per core. Either way no more than the
   * planned image has pieces to compress (see `frameWorkersFor`).
   */
  compressionWorkers?: number;
  /**
   * Node, with compression workers and a store in a host file: compress the pieces of the
   * image that look final while mke2fs, the first check and the shrink still run (see
   * `frame-speculation.ts`). The output is the same bytes either way. Default true.
   */
  compressAhead?: boolean;
}

/**
 * Adds (or replaces) `/nix-path-registration` for a non-empty closure and checks that the
 * tree holds every store path the closure lists and that references stay inside it.
 */
export function withRegistration(
  entries: readonly TreeEntry[],
  closure: readonly StorePathInfo[],
  epoch: number,
): { entries: TreeEntry[]; problems: InputProblem[] } {
  const problems: InputProblem[] = [];
  const rest = entries.filter((e) => e.path !== REGISTRATION_PATH);
  if (closure.length === 0) return { entries: [...entries], problems };
  const paths = new Set(rest.map((e) => e.path));
  const inClosure = new Set(closure.map((c) => c.path));
  for (const info of closure) {
    if (!paths.has(info.path)) {
      problems.push({
        severity: 'error',
        code: 'closure-missing-contents',
        input: 'closure',
        path: info.path,
        message: `the closure lists ${info.path} but the image has no contents for it`,
        hint: 'Add its contents (an export stream, a .nar, a store folder) or remove it from the closure.',
      });
    }
    if (!info.narHash) {
      problems.push({
        severity: 'error',
        code: 'closure-missing-hash',
        input: 'closure',
        path: info.path,
        message: `no NAR hash is known for ${info.path}`,
        hint: 'Give a manifest with hashes (closureInfo registration, nix path-info --json) or the path as a NAR or export stream.',
      });
    }
    for (const ref of info.references) {
      if (!inClosure.has(ref)) {
        problems.push({
          severity: 'error',
          code: 'closure-reference-outside',
          input: 'closure',
          path: info.path,
          message: `${info.path} references ${ref}, which is not in the closure`,
          hint: 'Add the referenced path (the closure must be complete for nix-store --load-db).',
        });
      }
    }
  }
  if (problems.some((p) => p.severity === 'error')) return { entries: rest, problems };
  const bytes = registrationBytes(closure);
  rest.push({
    path: REGISTRATION_PATH,
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: epoch,
    size: bytes.length,
    source: { kind: 'bytes', bytes },
    origin: 'closure registration',
  });
  return { entries: rest, problems };
}

/** Plans the image for a request (the page's live estimate). Throws an EngineFailure on bad options. */
export function estimateImage(request: BuildRequest): SizeEstimate {
  const optionProblem = validateBuildOptions(request.options);
  if (optionProblem) throw badInput([optionProblemOf(optionProblem)]);
  const { entries } = withRegistration(
    request.entries,
    request.closure.filter((c) => c.narHash),
    request.options.epoch,
  );
  const { inodes, dataBytes, initialImageBytes, finalImageBytes } = planSize(entries, request.options);
  return { inodes, dataBytes, initialImageBytes, finalImageBytes };
}

function optionProblemOf(message: string): InputProblem {
  return {
    severity: 'error',
    code: 'bad-option',
    input: 'options',
    message,
    hint: 'Change the option and build again.',
  };
}

export { classifyMkfsFailure } from './mkfs-diagnosis.ts';

/**
 * Builds the image for `request` and streams it to `ctx.sink`. Every image that leaves has
 * passed `e2fsck -n -f` after mkfs and again after the resize. Rejects with an
 * {@link EngineFailure} naming the input or the tool at fault.
 */
export async function buildImage(request: BuildRequest, ctx: BuildContext): Promise<BuildResult> {
  const owned: Owned = {};
  try {
    const result = await runBuild(request, ctx, owned);
    // Node: keeps the tools' optimized code for the next process (a few ms; wasm-code-cache.ts).
    saveWasmCodeCache();
    return result;
  } finally {
    owned.speculation?.dispose();
    owned.store?.close();
  }
}

/** The wasm tools a build runs (zstd only when it compresses): what to compile ahead. */
export function buildTools(compress = true): WasmTool[] {
  return ['mke2fs', 'e2fsck', 'resize2fs', ...(compress ? (['zstd'] as const) : [])];
}

/** What a build makes and ends itself. */
interface Owned {
  store?: ImageStore;
  speculation?: FrameSpeculation;
}

async function runBuild(request: BuildRequest, ctx: BuildContext, owned: Owned): Promise<BuildResult> {
  const { options } = request;
  const { signal } = ctx;
  const emit = (e: BuildEvent) => ctx.onEvent?.(e);
  const t0 = now();
  // Compile every tool the build runs now, in the background (V8 compiles off the main
  // thread), instead of one by one as each stage starts. A failure shows where the tool runs.
  preloadTools(buildTools(options.compress)).catch(() => {});
  // The reader of picked Files mkfs takes (pages only), unless one is waiting already.
  void prestartBlobReadAhead();
  let current: StageName = 'plan';

  const stage = async <T>(name: StageName, work: () => Promise<T> | T): Promise<T> => {
    signal?.throwIfAborted();
    current = name;
    emit({ type: 'stage', stage: name, state: 'start', elapsedMs: now() - t0 });
    const value = await work();
    emit({ type: 'stage', stage: name, state: 'done', elapsedMs: now() - t0 });
    return value;
  };
  const skip = (name: StageName) => emit({ type: 'stage', stage: name, state: 'skipped', elapsedMs: now() - t0 });

  const run = async (
    tool: E2fsTool,
    args: string[],
    mounts: ToolMount[],
    onProgressLine?: (line: string) => boolean,
  ): Promise<ToolResult> => {
    emit({ type: 'log', stage: current, tool, stream: 'stdout', text: `$ ${tool} ${args.join(' ')}` });
    return runTool(tool, args, {
      epoch: options.epoch,
      mounts,
      signal,
      onStdout: (text) => {
        if (!onProgressLine?.(text)) emit({ type: 'log', stage: current, tool, stream: 'stdout', text });
      },
      onStderr: (text) => emit({ type: 'log', stage: current, tool, stream: 'stderr', text }),
    });
  };

  // 1. Plan: options, closure, tree; then the sizes mkfs starts from.
  const planned = await stage('plan', () => {
    const optionProblem = validateBuildOptions(options);
    if (optionProblem) throw badInput([optionProblemOf(optionProblem)]);
    const reg = withRegistration(request.entries, request.closure, options.epoch);
    for (const p of reg.problems) emit({ type: 'problem', problem: p });
    if (reg.problems.some((p) => p.severity === 'error')) throw badInput(reg.problems);
    const sealedProblems = storeMetadataProblems(reg.entries, request.closure);
    if (sealedProblems.length > 0) throw badInput(sealedProblems);
    let model: TreeIndex;
    try {
      model = indexTree(reg.entries);
    } catch (err) {
      if (err instanceof TreeError) {
        throw badInput([
          {
            severity: 'error',
            code: 'bad-tree',
            input: 'tree',
            path: (err as TreeError & { path?: string }).path,
            message: err.message,
            hint: 'Fix or remove that entry and build again.',
          },
        ]);
      }
      throw err;
    }
    const deep = reg.entries.find((e) => pathDepth(e.path) > MAX_DEPTH);
    if (deep) {
      // mkfs's time grows steeply with nesting (emscripten resolves every path from the
      // root): a hostile archive nested thousands deep would stall the build.
      throw badInput([
        {
          severity: 'error',
          code: 'path-too-deep',
          input: deep.origin,
          path: deep.path,
          message: `${deep.path.slice(0, 120)}… nests ${pathDepth(deep.path)} directories deep; the studio takes at most ${MAX_DEPTH}.`,
          hint: 'Flatten that part of the input, or leave it out.',
        },
      ]);
    }
    const p = planSize(reg.entries, options);
    // A symlink target longer than a block is refused by mke2fs; say which, before it runs.
    const longLinks = symlinkTargetProblems(reg.entries, p.blockSize);
    if (longLinks.length > 0) throw badInput(longLinks);
    emit({
      type: 'log',
      stage: 'plan',
      tool: 'plan',
      stream: 'stdout',
      text: `${reg.entries.length} entries, ${p.inodes} inodes, ${p.dataBytes} bytes of content; starting at ${p.initialImageBytes / MiB} MiB`,
    });
    return { entries: reg.entries, model: model as TreeIndex | undefined, plan: p };
  });
  const { entries, plan } = planned;
  // The compression workers (0.1 s of CPU each to start), on the other cores while mkfs
  // runs; no more than the shrunk image is planned to have pieces (see `framePieceFor`):
  // a worker beyond them would only start.
  let compressionWorkers = ctx.compressionWorkers;
  if (options.compress) {
    try {
      compressionWorkers = frameWorkersFor(plan.finalImageBytes, ctx.compressionWorkers);
      prestartFrameWorkers(compressionWorkers);
    } catch {
      // a bad worker count fails where compression starts
    }
  }

  // 2. mkfs, growing the image (or the inode count) when the estimate was too small,
  // where make-ext4-fs.nix would stop and ask to "increase the fudge factors".
  // The image's store, emptied before each mkfs attempt.
  const store =
    ctx.store ??
    (owned.store = await (ctx.storage ?? memoryStorage).create(options.label || 'image', plan.initialImageBytes));
  // The pieces that look final, compressed on the other cores from here to the second check.
  const ahead =
    options.compress && compressionWorkers !== 0 && ctx.compressAhead !== false
      ? (owned.speculation = await startFrameSpeculation(store, {
          expectedSize: plan.finalImageBytes,
          imageBytes: Math.max(plan.initialImageBytes, plan.finalImageBytes),
          blockSize: plan.blockSize,
          level: options.compressionLevel,
          workers: compressionWorkers,
        }).catch(() => undefined))
      : undefined;
  await stage('mkfs', async () => {
    const sealed = sealedStorePaths(request.closure);
    let size: SizeEstimate = ctx.startBytes ? { ...plan, initialImageBytes: ctx.startBytes } : plan;
    let layout = { blockSize: plan.blockSize, inodesPerGroup: plan.inodesPerGroup };
    let replanned = false;
    // Progress: the entries mke2fs has reached and the bytes it has copied in, each entry
    // counted as MKFS_ENTRY_WORK bytes, so a tree of many small files moves as well as one
    // of large files.
    const fileBytes = entries.reduce((n, e) => n + (e.type === 'file' ? e.size : 0), 0);
    const total = entries.length * MKFS_ENTRY_WORK + fileBytes;
    for (let attempt = 1; ; attempt++) {
      const report = progressReporter('mkfs', total, emit);
      let seen = 0;
      let read = 0;
      const onRead = (bytes: number) => {
        read = Math.min(bytes, fileBytes);
        report(seen * MKFS_ENTRY_WORK + read);
        ahead?.poke();
      };
      const onEntry = (n: number) => {
        seen = Math.min(n, entries.length);
        report(seen * MKFS_ENTRY_WORK + read);
      };
      const candidate = store;
      candidate.truncate(0);
      candidate.truncate(size.initialImageBytes);
      ahead?.restart();
      const args = mkfsArgs(
        options,
        size.initialImageBytes,
        entries.find((e) => e.path === '/'),
        layout,
      );
      let r: ToolResult;
      try {
        r = await run('mke2fs', args, [
          { type: 'image', path: IMAGE, store: candidate },
          {
            type: 'tree',
            path: TREE,
            entries,
            model: planned.model!,
            epoch: options.epoch,
            readBlobSync: ctx.readBlobSync,
            // Picked Files read ahead by a second worker where the page is cross-origin isolated.
            readAhead: true,
            onRead,
            onEntry,
            sealed,
          },
        ]);
      } catch (err) {
        if (err instanceof InputChangedError) throw badInput([inputChangedProblem(err)]);
        throw err;
      }
      if (r.exitCode === 0) {
        // Each certified store path went in with the bytes its NAR hash covers.
        const changed = narCheckProblems(r.narChecks[TREE] ?? [], entries);
        if (changed.length > 0) throw badInput(changed);
        // Sparse or zero-filled files: mke2fs left their zero blocks out, so the inodes per
        // group were planned for far more data than went in. Once, make it again with
        // inodes per group for what did.
        const sb = superblock();
        const better = replanned
          ? undefined
          : replanInodesPerGroup(
              {
                ...layout,
                inodeSize: plan.inodeSize,
                initialBytes: size.initialImageBytes,
                fsType: options.fsType,
                blockCount: sb.blockCount,
                freeBlocks: sb.freeBlocks,
                inodeCount: sb.inodeCount,
                freeInodes: sb.freeInodes,
              },
              Math.ceil(plan.inodes * 1.1),
            );
        if (!better) {
          report(total);
          return;
        }
        replanned = true;
        layout = { ...layout, inodesPerGroup: better.inodesPerGroup };
        emit({
          type: 'log',
          stage: 'mkfs',
          tool: 'plan',
          stream: 'stdout',
          text: `all-zero blocks left out: ${sb.blockCount - sb.freeBlocks} blocks in use; making it again with ${better.inodesPerGroup} inodes per group (resize2fs -M: ${better.shrunkBlocks} blocks instead of ${better.plannedBlocks})`,
        });
        continue;
      }
      const kind = classifyMkfsFailure(r.stderr + r.stdout);
      if (kind === 'other') {
        // Not out of room: growing would not help. Name the entry mke2fs stopped at.
        const problem = mkfsFailureProblem(r.stderr + r.stdout, entries, plan.blockSize);
        if (problem) {
          const failure = badInput([problem]);
          failure.failure.toolOutput = r.stdout + r.stderr;
          throw failure;
        }
      }
      if (kind === 'other' || attempt >= MAX_MKFS_ATTEMPTS)
        throw toolFailed(
          'mke2fs',
          r,
          kind === 'other'
            ? 'mke2fs could not create the filesystem.'
            : `mke2fs ran out of room ${attempt} times; the tree is larger than the studio can plan for.`,
        );
      // More room gives more inodes too: -N is the planned inodes per group times the
      // groups of the larger size.
      size = grow(size, blocksPerGroup(plan.blockSize) * plan.blockSize);
      emit({
        type: 'log',
        stage: 'mkfs',
        tool: 'plan',
        stream: 'stdout',
        text: `out of ${kind}; retrying with ${size.initialImageBytes / MiB} MiB`,
      });
    }
  });
  ahead?.queueRest();
  // The tree's index is for mkfs only: let it go (on a 400,000-entry tree, tens of MiB
  // through the checks and compression).
  planned.model = undefined;

  const imageMount: ToolMount[] = [{ type: 'image', path: IMAGE, store }];
  // Each progress line is a moment inside a tool's run to give the compression workers more pieces.
  const poking =
    (line: (text: string) => boolean) =>
    (text: string): boolean => {
      ahead?.poke();
      return line(text);
    };
  const check = async () => {
    // -C 1: e2fsck's completion lines on stdout, turned into progress events.
    const progress = e2fsckProgress(current, emit);
    const r = await run('e2fsck', ['-n', '-f', '-C', '1', IMAGE], imageMount, poking(progress.line));
    progress.finish();
    if (r.exitCode !== 0) {
      throw new EngineFailure({
        code: 'check-failed',
        message: `e2fsck found problems in the new filesystem (exit ${r.exitCode}).`,
        hint: "This is a defect: the image was not written. The log holds e2fsck's report; please report it with the inputs.",
        problems: [],
        toolOutput: withoutProgressLines(r.stdout) + r.stderr,
      });
    }
  };

  // 3. Check.
  await stage('check', check);

  // 4. Shrink to the minimum, then add the headroom (#125121: a full filesystem cannot boot).
  await stage('shrink', async () => {
    // -p: resize2fs names each pass as it begins and draws a bar as it ends; those lines
    // become progress (pass by pass) rather than log.
    const progress = resize2fsProgress(current, emit);
    const r = await run('resize2fs', ['-p', '-M', IMAGE], imageMount, poking(progress.line));
    progress.finish();
    if (r.exitCode !== 0) throw toolFailed('resize2fs', r, 'resize2fs could not shrink the filesystem.');
    if (options.headroomMiB > 0) {
      const { blockCount, blockSize } = superblock();
      const blocks = blockCount + Math.ceil((options.headroomMiB * MiB) / blockSize);
      const g = await run('resize2fs', [IMAGE, String(blocks)], imageMount);
      if (g.exitCode !== 0) throw toolFailed('resize2fs', g, 'resize2fs could not add the headroom.');
    }
  });

  // 5. The image is final now (the second check only reads it): exactly the filesystem,
  // as its own superblock says (never a tool's text, which the label could fake): no
  // trailing bytes whatever the resize left, and never less than the filesystem.
  const sb = superblock();
  if (sb.filesystemBytes > store.size)
    throw new EngineFailure({
      code: 'check-failed',
      message: `The finished filesystem says it is ${sb.filesystemBytes} bytes (${sb.blockCount} blocks of ${sb.blockSize}), but the image holds only ${store.size}.`,
      hint: 'This is a defect: the image was not written. Please report it with the inputs.',
      problems: [],
    });
  store.truncate(sb.filesystemBytes);
  const fs = summaryOf(sb);
  // No store.flush() here: everything after (the second check, compression, the output)
  // reads the image through this same store, which sees its own writes, and a file-backed
  // store is made durable where it is handed on (closed, or flushed by the CLI's output).
  // On OPFS the flush wrote the whole file back to disk: 0.26 s of the page's build of the
  // bench's closure workload, against 0.01 s for this step natively.

  // 6-8. Check again (because of the resize) while compression already runs on the other
  // cores; nothing reaches the sink before the check has passed.
  const streaming: StageName[] = options.compress ? ['compress', 'save'] : ['save'];
  let open!: () => void;
  let shut!: (e: unknown) => void;
  const gate = new Promise<void>((resolve, reject) => {
    open = resolve;
    shut = reject;
  });
  gate.catch(() => {});
  const streamSignal = new AbortController();
  const forwardAbort = () => streamSignal.abort(signal?.reason);
  signal?.addEventListener('abort', forwardAbort, { once: true });
  let out: Awaited<ReturnType<typeof streamImage>>;
  try {
    const streamed = streamImage(
      store,
      async (chunk) => {
        await gate;
        if (ctx.sink) await ctx.sink(chunk);
      },
      {
        compress: options.compress,
        level: options.compressionLevel,
        workers: compressionWorkers,
        ahead,
        signal: streamSignal.signal,
        onProgress: (done, total) => {
          for (const s of streaming) emit({ type: 'progress', stage: s, done, total });
        },
      },
    );
    streamed.catch(() => {});
    // One turn of the event loop, so that the compression hands out its first pieces before
    // the check holds this thread (a tool run is synchronous): the workers then compress
    // during the check (in Node they read the image file themselves).
    await new Promise((resolve) => setTimeout(resolve, 0));
    try {
      await stage('recheck', check);
    } catch (e) {
      shut(e);
      streamSignal.abort(e);
      await streamed.catch(() => {});
      throw e;
    }
    if (!options.compress) skip('compress');
    for (const s of streaming) emit({ type: 'stage', stage: s, state: 'start', elapsedMs: now() - t0 });
    current = streaming[0];
    open();
    out = await streamed;
    if (ahead)
      emit({
        type: 'log',
        stage: streaming[0],
        tool: 'zstd',
        stream: 'stdout',
        text: `frames made ahead: ${ahead.stats.taken} of ${Math.ceil(out.imageSize / ahead.piece)} pieces (${ahead.stats.queued} queued)`,
      });
  } finally {
    signal?.removeEventListener('abort', forwardAbort);
  }
  for (const s of streaming) emit({ type: 'stage', stage: s, state: 'done', elapsedMs: now() - t0 });

  return {
    fileName: `${options.label || 'image'}.img${options.compress ? '.zst' : ''}`,
    ...out,
    compressed: options.compress,
    summary: fs,
  };

  /** The superblock, read from the image's bytes (never from a tool's text, which the label could fake). */
  function superblock() {
    try {
      return parseSuperblock(store.read(SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE));
    } catch (err) {
      if (!(err instanceof SuperblockError)) throw err;
      throw new EngineFailure({
        code: 'check-failed',
        message: `The new filesystem's superblock cannot be read: ${err.message}.`,
        hint: 'This is a defect: the image was not written. Please report it with the inputs.',
        problems: [],
      });
    }
  }
}

/** Progress events per stage: at most this many, at even steps of the work. */
export const PROGRESS_STEPS = 1000;
/** What reaching one entry counts for in mkfs's progress, in bytes copied. */
export const MKFS_ENTRY_WORK = 16 * 1024;

/**
 * Progress of `total` units of work: an event whenever `done` has moved on by a
 * {@link PROGRESS_STEPS}th of the total since the last one (and at the end), however often
 * the work itself reports. The gap between events is bounded by work, not by time.
 */
export function progressReporter(
  stage: StageName,
  total: number,
  emit: (e: BuildEvent) => void,
): (done: number) => void {
  const step = Math.max(1, Math.floor(total / PROGRESS_STEPS));
  let last = -1;
  return (done) => {
    const d = Math.max(0, Math.min(done, total));
    if (last < 0 || d - last >= step || (d === total && last !== total)) {
      last = d;
      emit({ type: 'progress', stage, done: d, total });
    }
  };
}

/** e2fsck's completion lines with `-C 1`: `<pass> <current> <max> <device>`. */
const E2FSCK_PROGRESS = /^([1-5]) (\d+) (\d+) \S+$/;
/** How e2fsck weighs its passes in its own completion bar (e2fsck/unix.c), in thousandths. */
const E2FSCK_PASS_ENDS = [0, 700, 900, 920, 950, 1000];

function withoutProgressLines(stdout: string): string {
  return stdout
    .split('\n')
    .filter((l) => !E2FSCK_PROGRESS.test(l))
    .join('\n');
}

/** Turns e2fsck -C lines into progress events of the stage (thousandths of the whole check). */
function e2fsckProgress(stage: StageName, emit: (e: BuildEvent) => void) {
  const report = progressReporter(stage, 1000, emit);
  return {
    line(text: string): boolean {
      const m = E2FSCK_PROGRESS.exec(text);
      if (!m) return false;
      const pass = Number(m[1]);
      const max = Number(m[3]);
      const part = max > 0 ? Math.min(1, Number(m[2]) / max) : 1;
      report(Math.floor(E2FSCK_PASS_ENDS[pass - 1] + (E2FSCK_PASS_ENDS[pass] - E2FSCK_PASS_ENDS[pass - 1]) * part));
      return true;
    },
    finish: () => report(1000),
  };
}

/** resize2fs -p: `Begin pass <n> (max = <m>)`, then a line of a title and its bar. */
const RESIZE_PASS = /^Begin pass ([1-5]) \(max = \d+\)$/;
const RESIZE_BAR = /^[A-Za-z ]+[-X\b]+$/;

/** Turns resize2fs -p's pass lines into progress events of the stage (its five passes, in thousandths). */
function resize2fsProgress(stage: StageName, emit: (e: BuildEvent) => void) {
  const report = progressReporter(stage, 1000, emit);
  let pass = 0;
  return {
    line(text: string): boolean {
      const m = RESIZE_PASS.exec(text);
      if (m) {
        pass = Number(m[1]);
        report((pass - 1) * 200);
        return true;
      }
      if (pass > 0 && RESIZE_BAR.test(text)) {
        report(pass * 200);
        return true;
      }
      return false;
    },
    finish: () => report(1000),
  };
}

/**
 * mke2fs's arguments: the seed's label/UUID, plus the determinism make-ext4-fs gets from
 * faketime. With a `layout` (the plan's), the block size and the inode count (`-N`, the
 * planned inodes per group in every group of `bytes`) are given rather than left to
 * mke2fs.conf's ratio, so that `resize2fs -M` can shrink furthest (see core/size-plan.ts).
 */
export function mkfsArgs(
  options: BuildRequest['options'],
  bytes: number,
  root?: TreeEntry,
  layout?: { blockSize: number; inodesPerGroup: number },
): string[] {
  // mke2fs -d does not copy the root directory's own mode and owner: pass them.
  const ext = [`hash_seed=${options.uuid}`, `root_owner=${root?.uid ?? 0}:${root?.gid ?? 0}`];
  if (root) ext.push(`root_perms=${(root.mode & 0o7777).toString(8)}`);
  return [
    '-t',
    options.fsType,
    '-F',
    '-L',
    options.label,
    '-U',
    options.uuid,
    '-E',
    ext.join(','),
    ...(layout
      ? ['-b', String(layout.blockSize)]
      : options.blockSize !== 'auto'
        ? ['-b', String(options.blockSize)]
        : []),
    ...(options.inodeSize !== 'auto' ? ['-I', String(options.inodeSize)] : []),
    // Older kernels and boot loaders refuse these ext4 features (GRUB before 2.12 rejects
    // metadata_csum_seed; kernels before 5.15 do not know orphan_file).
    ...(options.compat && options.fsType === 'ext4'
      ? ['-O', COMPAT_DISABLED_FEATURES.map((f) => `^${f}`).join(',')]
      : []),
    ...(layout ? ['-N', String(mkfsInodeCount(bytes, layout.blockSize, layout.inodesPerGroup))] : []),
    '-d',
    TREE,
    IMAGE,
    // The size in KiB: without working size ioctls mke2fs's own probe can round down.
    `${Math.floor(bytes / 1024)}k`,
  ];
}

function toolFailed(tool: string, r: ToolResult, message: string): EngineFailure {
  const last = (r.stderr.trim().split('\n').pop() ?? '').trim();
  return new EngineFailure({
    code: 'tool-failed',
    message: `${message}${last ? ` ${tool} said: ${last}` : ''}`,
    hint: "The log holds the tool's full output. If an input is named there, fix or remove it and build again.",
    problems: [],
    toolOutput: r.stdout + r.stderr,
  });
}

function pathDepth(path: string): number {
  let n = 0;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) n++;
  return path === '/' ? 0 : n;
}

function now(): number {
  return globalThis.performance?.now() ?? Date.now();
}
