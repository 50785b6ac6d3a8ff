/**
 * `disk-image-studio`: the studio's engine from a command line, on the same code as the
 * page's worker. Inputs are read in place (host files are sliced, not copied). The build
 * runs in a worker thread, so Ctrl-C and SIGTERM stop it at once; the output is written to
 * a temporary file created exclusively beside it and renamed only once every check has
 * passed, so a failed or stopped build leaves no output file and an existing one untouched.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { hostInputProblem } from '../core/io/host-input-check.ts';
import { errorStack, toBuildFailure } from '../workers/pipeline/engine-failure.ts';
import { outputPathProblem, TempOutput } from '../workers/runtime/node-output-file.ts';
import { wasmDirOverrides } from '../workers/runtime/wasm-modules.ts';
import { type BuildCommand, type Command, parseArgs, USAGE, UsageError } from './args.ts';
import {
  type BuildThreadData,
  type BuildThreadMessage,
  type BuildThreadStart,
  earlyThreadEnd,
  runBuildThreadIfStarted,
} from './build-thread.ts';
import { escapeControls } from './escape.ts';
import { inspectCommand, lsCommand } from './image-commands.ts';

export { startBuildThreadEarly } from './build-thread.ts';

/** Streams for output, so tests can capture them. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Whether stderr is a terminal (progress is shown only then). */
  interactive: boolean;
}

const processIo: CliIo = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
  interactive: Boolean(process.stderr.isTTY),
};

// This module is also the build thread's entry (the compiled bundle starts itself as one).
runBuildThreadIfStarted();

/**
 * Runs the CLI; resolves with the process exit code. `buildThread`: a build thread started
 * ahead ({@link startBuildThreadEarly}), used by `build` (and terminated by the caller
 * otherwise); without it `build` starts its own. After a build that ran to its end the
 * thread may still be tearing down when this resolves (it has finished with every file);
 * `cli/bin.mjs` then ends the process without waiting for it (`cli/exit-now.mjs`).
 */
export async function main(
  argv: string[],
  io: CliIo = processIo,
  signal?: AbortSignal,
  buildThread?: Worker,
): Promise<number> {
  // --debug goes with any command: every tool's output as it runs, and a failure's stack.
  const debug = argv.includes('--debug');
  let command: Command;
  try {
    command = parseArgs(argv.filter((a) => a !== '--debug'));
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`disk-image-studio: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  try {
    switch (command.command) {
      case 'help':
        io.stdout(USAGE);
        return 0;
      case 'build':
        return await build(command, io, signal, debug, buildThread);
      case 'inspect':
        return await inspectCommand(command.image, io);
      case 'ls':
        return await lsCommand(command.image, command.path, io);
    }
  } catch (err) {
    const f = toBuildFailure(err);
    io.stderr(`disk-image-studio: ${escapeControls(f.message)}\n  ${escapeControls(f.hint)}\n`);
    if (debug) io.stderr(`${f.stack ?? errorStack(err) ?? ''}\n`);
    else if (f.code === 'internal') io.stderr('  Run it again with --debug to see where it failed.\n');
    return f.code === 'aborted' ? 130 : 1;
  }
}

/** The flags whose value is a folder; every other input flag takes a file. */
const FOLDER_INPUTS: ReadonlyArray<[string, keyof BuildCommand]> = [
  ['--files', 'files'],
  ['--store', 'stores'],
];
const FILE_INPUTS: ReadonlyArray<[string, keyof BuildCommand]> = [
  ['--tar', 'tars'],
  ['--closure', 'closures'],
  ['--export', 'exports'],
  ['--nar', 'nars'],
];

/** What to use instead when a flag got the wrong kind of path. */
const KIND_HINTS: Record<string, string> = {
  '--files': ' (use --tar for an archive)',
  '--closure': ' (use --store for a folder of store paths)',
  '--tar': ' (use --files for a folder)',
};

/**
 * What is wrong with the host paths of the command line before anything is read: inputs
 * that do not exist or are of the wrong kind (a FIFO or a device would hang the build or
 * feed it without end), an output that is not a new or regular file, one of the inputs or
 * inside an input folder. Each line names the flag and the path.
 */
function hostPathProblems(cmd: BuildCommand): string[] {
  const problems: string[] = [];
  const inputs: Array<{ path: string; folder: boolean }> = [];
  const check = (flag: string, path: string, want: 'file' | 'folder') => {
    inputs.push({ path, folder: want === 'folder' });
    const why = hostInputProblem(path, want);
    if (why)
      problems.push(
        `${flag} ${escapeControls(path)}: ${why.replace(/\.$/, '')}${/^a folder, not|not a folder/.test(why) ? (KIND_HINTS[flag] ?? '') : ''}.`,
      );
  };
  for (const [flag, key] of FOLDER_INPUTS) for (const p of cmd[key] as string[]) check(flag, p, 'folder');
  for (const [flag, key] of FILE_INPUTS) for (const p of cmd[key] as string[]) check(flag, p, 'file');
  const out = outputPathProblem(cmd.output, inputs);
  if (out) problems.push(`-o ${escapeControls(cmd.output)}: ${out}`);
  return problems;
}

/** Exit codes of a build stopped by a signal: 128 + the signal's number, as shells report. */
const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

async function build(
  cmd: BuildCommand,
  io: CliIo,
  signal?: AbortSignal,
  debug = false,
  buildThread?: Worker,
): Promise<number> {
  const pathProblems = hostPathProblems(cmd);
  if (pathProblems.length) {
    for (const p of pathProblems) io.stderr(`error: ${p}\n`);
    io.stderr('disk-image-studio: the command line names paths that cannot be used; no image was written.\n');
    return 1;
  }
  if (signal?.aborted) return abortedExit(signal, io);
  // The files are created here, exclusively and beside the output, and only here closed,
  // renamed or removed: a stopped build thread cannot leave one behind. An uncompressed
  // image is built in its file (sparse), which becomes the output; a compressed one is
  // built in a scratch file and streamed through zstd into a second file.
  const temps: TempOutput[] = [];
  const discardAll = () => {
    for (const t of temps) t.discard();
  };
  try {
    temps.push(TempOutput.create(cmd.output));
    if (cmd.options.compress) temps.push(TempOutput.create(cmd.output));
  } catch (err) {
    discardAll();
    io.stderr(
      `error: -o ${cmd.output}: no file can be created in ${dirname(resolve(cmd.output))}: ${folderProblem(err)}\n` +
        'disk-image-studio: no image was written.\n',
    );
    return 1;
  }
  const [image, compressed] = temps;
  const out = compressed ?? image;
  // A private folder for the build thread's other temporary files (NARs fetched from
  // binary caches): removed here whatever way the build ends.
  let scratch: string;
  try {
    scratch = mkdtempSync(join(tmpdir(), 'disk-image-studio-build-'));
  } catch (err) {
    discardAll();
    throw err;
  }
  try {
    const outcome = await runBuildThread(
      {
        command: cmd,
        image: { fd: image.fd, path: image.path },
        output: compressed ? { fd: compressed.fd, path: compressed.path } : undefined,
        interactive: io.interactive,
        debug,
        scratch,
        wasmDirs: wasmDirOverrides(),
      },
      io,
      signal,
      buildThread,
    );
    if (outcome === 'aborted') {
      discardAll();
      return abortedExit(signal!, io);
    }
    if (outcome.type !== 'built') {
      discardAll();
      if (outcome.type === 'refused') return 1;
      const f = outcome.failure;
      io.stderr(`disk-image-studio: ${escapeControls(f.message)}\n  ${escapeControls(f.hint)}\n`);
      if (debug && f.stack) io.stderr(`${f.stack}\n`);
      else if (f.code === 'internal') io.stderr('  Run it again with --debug to see where it failed.\n');
      return f.code === 'aborted' ? 130 : 1;
    }
    const { result, bytes } = outcome;
    // The file must hold exactly what was streamed, and an uncompressed image exactly its
    // filesystem: blocks times block size, as its own superblock says.
    const s = result.summary;
    const fsBytes = s.blockCount * s.blockSize;
    if (bytes !== result.size || (!result.compressed && bytes !== fsBytes) || result.imageSize !== fsBytes) {
      discardAll();
      io.stderr(
        `disk-image-studio: the written image is ${bytes} bytes, but its filesystem is ${s.blockCount} blocks of ${s.blockSize} bytes; it was not kept.\n` +
          '  This is a defect of the studio; please report it with the inputs.\n',
      );
      return 1;
    }
    // The thread is done with the files (it posts 'built' after its last write) and is
    // being stopped, which is not waited for: the output is flushed and renamed and the
    // image's scratch file removed, side by side (freeing a 600 MiB file takes the kernel
    // 0.05 s, the flush 0.15 s).
    await Promise.all([out.commitAsync(bytes), ...temps.filter((t) => t !== out).map((t) => t.discardAsync())]);
    io.stdout(
      `${cmd.output}: ${result.size} bytes${result.compressed ? ` (image ${result.imageSize} bytes)` : ''}, sha256 ${result.sha256}\n`,
    );
    io.stdout(
      `${s.fsType} "${escapeControls(s.label)}" ${s.uuid}: ${s.blockCount} blocks of ${s.blockSize} bytes, ${s.freeBlocks} free; ${s.inodeCount} inodes, ${s.freeInodes} free\n`,
    );
    return 0;
  } catch (err) {
    discardAll();
    throw err;
  } finally {
    // Every outcome but `built` came once the thread had ended; after `built` it has
    // finished with every file (its teardown is not waited for).
    rmSync(scratch, { recursive: true, force: true });
  }
}

function abortedExit(signal: AbortSignal, io: CliIo): number {
  const name = typeof signal.reason === 'string' ? signal.reason : undefined;
  io.stderr(`disk-image-studio: the build was cancelled${name ? ` (${name})` : ''}; no image was written.\n`);
  return SIGNAL_EXIT[name ?? 'SIGINT'] ?? 130;
}

function folderProblem(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied; choose a folder you can write to.';
  if (code === 'EROFS') return 'the filesystem is read-only; choose another folder.';
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'the disk is full; free some space or choose another disk.';
  return `the system refused (${(err as Error).message}); choose a folder on an ordinary disk.`;
}

/**
 * The build thread's entry: from the sources, a small loader that registers tsx first; from
 * the compiled bundle, the bundle itself (it starts the build when it finds the thread's data).
 */
export function buildThreadEntry(): URL {
  return import.meta.url.endsWith('.ts')
    ? new URL('./build-thread-boot.mjs', import.meta.url)
    : new URL(import.meta.url);
}

type ThreadOutcome = Exclude<BuildThreadMessage, { type: 'stderr' | 'stdout' }> | 'aborted';

/**
 * Runs the build in a worker thread. Resolves with its last message, or `'aborted'` once
 * `signal` fired (the thread is ended at once, even inside a tool run). Every outcome but
 * `built` resolves only after the thread has ended (the caller then removes files the
 * thread may have been writing); after `built` the thread has finished with the files, and
 * the caller commits them while the thread is being stopped.
 */
function runBuildThread(
  data: BuildThreadData,
  io: CliIo,
  signal?: AbortSignal,
  started?: Worker,
): Promise<ThreadOutcome> {
  return new Promise((resolvePromise) => {
    let worker: Worker;
    if (started) {
      worker = started;
      worker.postMessage({ buildThread: data } satisfies BuildThreadStart);
    } else worker = new Worker(buildThreadEntry(), { workerData: { buildThread: data }, stdout: false, stderr: false });
    let settled = false;
    const settle = (v: ThreadOutcome) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      const stopped = worker.terminate().then(
        () => {},
        () => {},
      );
      if (v !== 'aborted' && v.type === 'built') resolvePromise(v);
      else stopped.then(() => resolvePromise(v));
    };
    const onAbort = () => settle('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (m: BuildThreadMessage) => {
      if (m.type === 'stderr') io.stderr(m.text);
      else if (m.type === 'stdout') io.stdout(m.text);
      else settle(m);
    });
    worker.on('error', (err) => settle({ type: 'failed', failure: toBuildFailure(err) }));
    // Also emitted after every settled build (terminate): the failure (an Error and its
    // stack) is made only when the thread really ended early.
    worker.on('exit', (code) => {
      if (settled) return;
      settle({
        type: 'failed',
        failure: toBuildFailure(new Error(`the build thread ended early (exit ${code})`)),
      });
    });
    // A thread started ahead may have failed before it was taken.
    const ended = started && earlyThreadEnd(started);
    if (ended)
      settle({
        type: 'failed',
        failure: toBuildFailure(ended.error ?? new Error(`the build thread ended early (exit ${ended.code})`)),
      });
  });
}
