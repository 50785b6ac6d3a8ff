/**
 * One Node build, in its own process so its memory is its own: walks the tree as the CLI's
 * `--files DIR` does, runs `buildImage` (compressed, default options) writing the output to
 * a file, and prints one JSON line with per-stage wall times (from the pipeline's
 * BuildEvents) and per-stage peak RSS (this process's VmHWM, read and reset at every stage
 * boundary).
 *
 * With `again`, the same work (walk and build) then runs a second time in the same process,
 * on compiled wasm and JIT code the first build left warm; its spans come back as `again`.
 *
 *   node --import tsx bench/node-child.ts '{"dir": "...", "out": "...", "e2fsprogs": "...", "zstd": "..."}'
 */
import { closeSync, openSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { nodeHost, walkHostDir } from '../core/io/host-tree.ts';
import { resolveInputs } from '../core/resolve-inputs.ts';
import type { BuildEvent, StageName } from '../core/engine-contract.ts';
import { DEFAULT_BUILD_OPTIONS } from '../core/build-options.ts';
import { dirname } from 'node:path';
import { buildImage } from '../workers/pipeline/build-image.ts';
import { tempFileStorage } from '../workers/runtime/node-image-file.ts';
import { SparseWriter } from '../workers/runtime/node-output-file.ts';
import { setWasmDirs } from '../workers/runtime/wasm-modules.ts';
import { describeWasmCodeCache, wasmCodeCacheState } from '../workers/runtime/wasm-code-cache.ts';
import { inputDecompressors } from '../workers/runtime/zstd-stream.ts';
import { PeakTracker, procMemory } from './measure.ts';
import { MkfsAttempts } from './mkfs-attempts.ts';
import { StageProfiler } from './profile.ts';

export interface NodeChildRequest {
  dir: string;
  out: string;
  /** Profile every stage (V8's sampling profiler) and report where the time went. */
  profile?: boolean;
  /** Scratch wasm folders (absolute paths); omitted: the committed outputs. */
  e2fsprogs?: string;
  zstd?: string;
  /** Build a second time in the same process (not with `profile`). */
  again?: boolean;
}

export interface StageSpan {
  stage: StageName | 'input' | 'summary';
  /** ms since the child's start of work. */
  start: number;
  end: number;
  peak: number;
}

export interface NodeChildResult {
  ok: boolean;
  error?: string;
  /** sha256 of the output. */
  sha256: string;
  /** With `profile`: self time (ms) per category, per stage. */
  profile?: Record<string, [string, number][]>;
  /** The wasm code cache after the (first) build, as the CLI's `--debug` prints it. */
  codeCache?: string;
  /** With `again`: the second build's time and stages (same output, checked). */
  again?: { totalMs: number; spans: StageSpan[] };
  /** From the start of work (before the tree walk) to the output file's close. */
  totalMs: number;
  spans: StageSpan[];
  /** RSS just before buildImage (node, tsx, the walked tree). */
  baseline: number;
  peak: number;
  mkfsAttempts: number;
  initialBytes: number;
  imageBytes: number;
  outBytes: number;
  blockCount: number;
  blockSize: number;
  freeBlocks: number;
  inodeCount: number;
  freeInodes: number;
}

async function main(): Promise<NodeChildResult> {
  const req = JSON.parse(process.argv[2]) as NodeChildRequest;
  if (req.e2fsprogs || req.zstd) {
    setWasmDirs({
      e2fsprogs: req.e2fsprogs ? pathToFileURL(req.e2fsprogs + '/') : undefined,
      zstd: req.zstd ? pathToFileURL(req.zstd + '/') : undefined,
    });
  }
  const first = { ...(await buildOnce(req)), codeCache: describeWasmCodeCache(wasmCodeCacheState()) };
  if (!req.again || req.profile) return first;
  const second = await buildOnce(req);
  if (second.sha256 !== first.sha256)
    throw new Error(`the second build's output differs: sha256 ${second.sha256}, first ${first.sha256}`);
  return { ...first, again: { totalMs: second.totalMs, spans: second.spans } };
}

/** The walk and one build, timed from the walk's start. */
async function buildOnce(req: NodeChildRequest): Promise<NodeChildResult> {
  const profiler = req.profile ? await StageProfiler.start() : undefined;
  const peaks = new PeakTracker('self');
  const t0 = performance.now();
  const spans: StageSpan[] = [];
  const open = new Map<string, number>();
  const begin = (stage: StageSpan['stage'], at: number) => {
    peaks.mark(stage);
    open.set(stage, at);
  };
  const end = (stage: StageSpan['stage'], at: number) => {
    peaks.mark(`after-${stage}`);
    spans.push({ stage, start: open.get(stage) ?? at, end: at, peak: peaks.peakOf(stage) });
  };

  // The CLI's `--files DIR`: the host folder at /, owned by root.
  begin('input', 0);
  profiler?.start('input');
  const walked = await walkHostDir(req.dir, 'bench', undefined, { uid: 0, gid: 0 });
  const resolved = await resolveInputs([{ kind: 'tree', at: '/', entries: walked }], {
    decompressors: inputDecompressors,
    host: nodeHost,
  });
  if (resolved.problems.some((p) => p.severity === 'error'))
    throw new Error(`input problems: ${resolved.problems.map((p) => p.message).join('; ')}`);
  const tBuild = performance.now() - t0;
  profiler?.stop();
  end('input', tBuild);
  const baseline = procMemory('self')?.rss ?? 0;

  const attempts = new MkfsAttempts();
  const onEvent = (e: BuildEvent) => {
    attempts.see(e);
    if (e.type !== 'stage' || e.state === 'skipped') return;
    const at = tBuild + e.elapsedMs;
    // 'save' runs together with 'compress' (streamed): one span for both.
    if (e.stage === 'save') return;
    // 'summary' (dumpe2fs -h, truncate) runs between the shrink and the second check.
    if (e.state === 'start') {
      if (e.stage === 'recheck') end('summary', at);
      begin(e.stage, at);
      profiler?.start(e.stage);
    } else {
      profiler?.stop();
      end(e.stage, at);
      if (e.stage === 'shrink') {
        begin('summary', at);
        profiler?.start('summary');
      }
    }
  };

  const fd = openSync(req.out, 'w');
  // As the CLI writes its output: by Node's thread pool, while this thread feeds the
  // compression workers.
  const writer = new SparseWriter(fd, false);
  let outBytes = 0;
  const result = await buildImage(
    { entries: resolved.entries, closure: resolved.closure, options: { ...DEFAULT_BUILD_OPTIONS, compress: true } },
    {
      onEvent,
      // As the CLI does: the image in a sparse temporary file beside the output.
      storage: tempFileStorage(dirname(req.out)),
      sink: async (chunk) => {
        await writer.writeAsync(chunk);
        outBytes += chunk.length;
      },
    },
  );
  closeSync(fd);
  const totalMs = performance.now() - t0;
  profiler?.stop();
  peaks.mark('done');
  return {
    ok: true,
    sha256: result.sha256,
    profile: profiler ? await profiler.finish() : undefined,
    totalMs,
    spans,
    baseline,
    peak: peaks.overall,
    mkfsAttempts: attempts.count,
    initialBytes: attempts.initialBytes,
    imageBytes: result.imageSize,
    outBytes,
    blockCount: result.summary.blockCount,
    blockSize: result.summary.blockSize,
    freeBlocks: result.summary.freeBlocks,
    inodeCount: result.summary.inodeCount,
    freeInodes: result.summary.freeInodes,
  };
}

main().then(
  (r) => process.stdout.write(JSON.stringify(r) + '\n'),
  (err: unknown) => {
    const f = err as { failure?: { message?: string; toolOutput?: string }; message?: string };
    const message = f.failure ? `${f.failure.message}\n${f.failure.toolOutput ?? ''}` : String(f.message ?? err);
    process.stdout.write(JSON.stringify({ ok: false, error: message }) + '\n');
    process.exitCode = 1;
  },
);
