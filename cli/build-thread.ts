/**
 * The build half of `disk-image-studio build`, run in a worker thread: reading the inputs,
 * the tools (WebAssembly runs synchronously, for minutes on a large tree) and writing the
 * image to the temporary output the main thread created. The main thread stays free to
 * answer Ctrl-C and SIGTERM at once: it ends this thread and removes the temporary file.
 */
import { realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import type { BuildEvent, BuildFailure, BuildInput, BuildResult } from '../core/engine-contract.ts';
import type { InputProblem, TreeEntry } from '../core/image-tree.ts';
import { nodeHost, walkHostDir } from '../core/io/host-tree.ts';
import { resolveInputs } from '../core/resolve-inputs.ts';
import { buildImage } from '../workers/pipeline/build-image.ts';
import { EngineFailure, toBuildFailure } from '../workers/pipeline/engine-failure.ts';
import { BackedImageStore } from '../workers/runtime/image-store.ts';
import { NodeFileBacking } from '../workers/runtime/node-image-file.ts';
import { BackgroundFlush, SparseWriter } from '../workers/runtime/node-output-file.ts';
import { setWasmDirs } from '../workers/runtime/wasm-modules.ts';
import { describeWasmCodeCache, wasmCodeCacheState } from '../workers/runtime/wasm-code-cache.ts';
import { inputDecompressors as decompressors } from '../workers/runtime/zstd-stream.ts';
import { HostContentSpool } from '../core/io/host-content-spool.ts';
import { type BuildCommand, wantsFetch } from './args.ts';
import { escapeControls } from './escape.ts';
import type { CliIo } from './main.ts';

/** What the main thread hands over. */
export interface BuildThreadData {
  command: BuildCommand;
  /**
   * The image file: a sparse temporary file created by the main thread, open read-write.
   * An uncompressed image is built in it and it becomes the output.
   */
  image: { fd: number; path: string };
  /** With compression: the temporary output file the zstd stream is written to. */
  output?: { fd: number; path: string };
  /** Whether stderr is a terminal (progress shown). */
  interactive: boolean;
  /** `--debug`: every tool's output as it runs. */
  debug: boolean;
  /** A private folder for other temporary files (fetched NARs); the main thread removes it. */
  scratch: string;
  wasmDirs: { e2fsprogs?: string; zstd?: string };
}

/** Messages to the main thread. */
export type BuildThreadMessage =
  | { type: 'stderr'; text: string }
  | { type: 'stdout'; text: string }
  /** The output is complete in its temporary file, `bytes` long. */
  | { type: 'built'; result: BuildResult; bytes: number }
  /** The inputs had errors (already printed). */
  | { type: 'refused' }
  | { type: 'failed'; failure: BuildFailure };

/**
 * Resolves the inputs and builds into `fd`. Resolves with the message for the main thread;
 * prints through `stderr`.
 */
export async function buildToFile(data: BuildThreadData, io: CliIo): Promise<BuildThreadMessage> {
  // Fetched NARs live in a private temporary folder, and the contents of compressed
  // archives in a temporary file, until the image is written (both in the scratch folder).
  const spools: Array<{ dispose(): void }> = [];
  try {
    return await buildWithSpools(data, io, spools);
  } finally {
    for (const s of spools) s.dispose();
  }
}

async function buildWithSpools(
  data: BuildThreadData,
  io: CliIo,
  spools: Array<{ dispose(): void }>,
): Promise<BuildThreadMessage> {
  const stderr = io.stderr;
  const cmd = data.command;
  const inputs: BuildInput[] = [];
  for (const f of cmd.files) inputs.push({ kind: 'tree', at: '/', ...(await hostFolder(f)) });
  for (const t of cmd.tars) inputs.push({ kind: 'archive', at: '/', file: { name: basename(t), hostPath: t } });
  for (const s of cmd.stores) inputs.push({ kind: 'store-dir', hostPath: s });
  for (const c of [...cmd.closures, ...cmd.exports, ...cmd.nars])
    inputs.push({ kind: 'closure', file: { name: basename(c), hostPath: c } });

  const contents = new HostContentSpool(data.scratch);
  spools.push(contents);
  const resolveOptions = {
    decompressors,
    spool: contents,
    host: nodeHost,
    maxExpandedBytes: cmd.maxExpandedBytes,
    limitOptionName: '--max-expanded-bytes',
  };
  let resolved = await resolveInputs(inputs, resolveOptions);
  if (wantsFetch(cmd)) {
    // Loaded here, not at start: the fetcher's packages (ed25519, the xz and bzip2 decoders)
    // cost every build about 50 ms to load (scripts/build-cli.mjs splits it into a chunk).
    const { fetchFromCaches } = await import('./fetch-closure.ts');
    const fetched = await fetchFromCaches(cmd, resolved, io);
    if (!fetched) return { type: 'refused' };
    spools.push(fetched.spool);
    for (const f of fetched.inputs) inputs.push(f);
    resolved = await resolveInputs(inputs, resolveOptions);
  }
  for (const p of resolved.problems)
    stderr(
      `${p.severity}: ${escapeControls(`${p.input}${p.path ? `: ${p.path}` : ''}: ${p.message}`)}\n  ${escapeControls(p.hint)}\n`,
    );
  if (resolved.problems.some((p) => p.severity === 'error')) {
    stderr('disk-image-studio: the inputs have errors; no image was written.\n');
    return { type: 'refused' };
  }
  await blobsToBytes(resolved.entries);

  // The image is built in its file (sparse: free space stays holes). The main thread owns
  // the files: it closes, renames or removes them, so the store is flushed, never closed here.
  const store = new BackedImageStore(new NodeFileBacking(data.image.fd, data.image.path, false));
  const request = { entries: resolved.entries, closure: resolved.closure, options: cmd.options };
  const printer = cmd.quiet && !data.debug ? undefined : progressPrinter(stderr, data.interactive, data.debug);
  // The output goes to the disk as it is written, not all in the fsync before its rename
  // (see BackgroundFlush): a compressed one every OUTPUT_FLUSH_STEP bytes; an uncompressed
  // image, which is the output, once mkfs has written it (while e2fsck checks it) and once
  // resize2fs has shrunk it (while it is checked again and hashed).
  const writer = data.output ? new SparseWriter(data.output.fd, false, OUTPUT_FLUSH_STEP) : undefined;
  const imageFlush = writer ? undefined : new BackgroundFlush(data.image.fd);
  const onEvent =
    printer || imageFlush
      ? (e: BuildEvent) => {
          printer?.(e);
          if (imageFlush && e.type === 'stage' && e.state === 'done' && (e.stage === 'mkfs' || e.stage === 'shrink'))
            imageFlush.start();
        }
      : undefined;
  const guard = (work: () => void) => {
    try {
      work();
    } catch (err) {
      throw outputWriteFailure(cmd.output, err);
    }
  };
  let result: BuildResult;
  try {
    result = await buildImage(request, {
      store,
      onEvent,
      // Written by the thread pool: this thread meanwhile hands pieces to the compression
      // workers, so a stalling disk does not stall them.
      sink: writer
        ? (chunk) =>
            writer.writeAsync(chunk).catch((err: unknown) => {
              throw outputWriteFailure(cmd.output, err);
            })
        : undefined,
    });
  } catch (err) {
    // No flush outlives the build (the main thread closes the files next); its errors are moot.
    await (writer ?? imageFlush)?.settle().catch(() => {});
    throw err;
  }
  try {
    await (writer ?? imageFlush)?.settle();
  } catch (err) {
    throw outputWriteFailure(cmd.output, err);
  }
  guard(() => store.flush());
  if (data.debug) stderr(`${escapeControls(describeWasmCodeCache(wasmCodeCacheState()))}\n`);
  let bytes = store.size;
  if (writer) guard(() => (bytes = writer.finish()));
  return { type: 'built', result, bytes };
}

/** Bytes of compressed output between two background flushes to the disk. */
const OUTPUT_FLUSH_STEP = 64 * 1024 * 1024;

/** Writing the output failed: which file, what the system said, what to do. */
function outputWriteFailure(output: string, err: unknown): EngineFailure {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOSPC'
      ? 'the disk it is on is full'
      : code === 'EDQUOT'
        ? 'the disk quota is used up'
        : code === 'EFBIG'
          ? 'the file would be larger than the filesystem it is on allows'
          : `the system said ${code ?? (err as Error).message}`;
  return new EngineFailure({
    code: 'bad-input',
    message: `-o ${output}: the image could not be written: ${why}.`,
    hint: 'Free some space or write the image to another disk (-o), then build again.',
    problems: [],
  });
}

/**
 * Everything below `/` of a host folder, owned by root as make-ext4-fs.nix's fakeroot has it.
 * The folder itself may be a symlink (`--files ./result`): it is followed; links inside are not.
 */
async function hostFolder(dir: string): Promise<{ entries: TreeEntry[]; problems: InputProblem[] }> {
  const problems: InputProblem[] = [];
  const entries = await walkHostDir(realpathSync(dir), basename(dir) || dir, problems, { uid: 0, gid: 0 });
  return { entries, problems };
}

/**
 * Contents a decompressor produced (members of a .tar.gz/.tar.zst, a compressed export)
 * are Blobs, which the tools can only read synchronously through FileReaderSync, which
 * only Web Workers have. In Node they become bytes before the tools run, one at a time, so
 * each Blob can be freed once copied.
 */
async function blobsToBytes(entries: TreeEntry[]): Promise<void> {
  for (let i = 0; i < entries.length; i++) {
    const s = entries[i].source;
    if (s?.kind !== 'blob') continue;
    const bytes = new Uint8Array(await s.blob.slice(s.offset, s.offset + s.size).arrayBuffer());
    entries[i] = { ...entries[i], source: { kind: 'bytes', bytes } };
  }
}

/** Stage lines on stderr; on a terminal, also a live percentage; with --debug, every tool's output. */
function progressPrinter(
  stderr: (text: string) => void,
  interactive: boolean,
  debug: boolean,
): (e: BuildEvent) => void {
  let lastPct = -1;
  return (e) => {
    if (debug && e.type === 'log') stderr(`  ${e.tool} ${e.stream}: ${e.text}\n`);
    else if (e.type === 'stage' && e.state === 'done')
      stderr(`${e.stage.padEnd(8)} done at ${(e.elapsedMs / 1000).toFixed(1)} s\n`);
    else if (e.type === 'problem')
      stderr(`${e.problem.severity}: ${escapeControls(`${e.problem.input}: ${e.problem.message}`)}\n`);
    else if (e.type === 'log' && e.stream === 'stderr' && interactive) stderr(`  ${e.tool}: ${e.text}\n`);
    else if (e.type === 'progress' && interactive && e.total > 0) {
      const pct = Math.floor((e.done / e.total) * 100);
      if (pct !== lastPct) {
        lastPct = pct;
        stderr(`\r${e.stage} ${pct}%`);
        if (pct === 100) stderr('\n');
      }
    }
  };
}

/**
 * What a build thread started ahead is sent once the main thread has checked the command
 * line and made the files (see {@link startBuildThreadEarly}).
 */
export interface BuildThreadStart {
  buildThread: BuildThreadData;
}

/**
 * Runs the build when this module was started as the build thread (see `cli/main.ts`):
 * with its data at once, or, started ahead (`buildThreadEarly`), when its data arrives.
 */
export function runBuildThreadIfStarted(): void {
  const given = workerData as { buildThread?: BuildThreadData; buildThreadEarly?: boolean } | undefined;
  if (!parentPort) return;
  if (given?.buildThread) runBuild(parentPort, given.buildThread);
  else if (given?.buildThreadEarly) {
    const port = parentPort;
    port.once('message', (m: BuildThreadStart) => runBuild(port, m.buildThread));
  }
}

export { earlyThreadEnd, startBuildThreadEarly } from './early-thread.mjs';

function runBuild(port: MessagePort, data: BuildThreadData): void {
  if (data.wasmDirs.e2fsprogs || data.wasmDirs.zstd) setWasmDirs(data.wasmDirs);
  // Temporary folders made in this thread (os.tmpdir() reads TMPDIR) go into the scratch
  // folder the main thread removes, also when it stops this thread.
  process.env.TMPDIR = data.scratch;
  const post = (m: BuildThreadMessage) => port.postMessage(m);
  const io: CliIo = {
    stdout: (text) => post({ type: 'stdout', text }),
    stderr: (text) => post({ type: 'stderr', text }),
    interactive: data.interactive,
  };
  buildToFile(data, io).then(post, (err) => {
    if (err instanceof EngineFailure && err.failure.toolOutput)
      post({ type: 'stderr', text: `${err.failure.toolOutput.trimEnd()}\n` });
    post({ type: 'failed', failure: toBuildFailure(err) });
  });
}
