/**
 * Runs one e2fsprogs program (wasm) to completion on mounted filesystems.
 *
 * Every run gets a FRESH module instance (a program's `main` cannot be called twice:
 * its globals survive) made from the tool's cached compiled module, so a run costs an
 * instantiation (tens of ms), not a compilation. Before `main`:
 *  - the environment is set (it is read once, by a C constructor): `MKE2FS_CONFIG`
 *    pointing at the shipped mke2fs.conf (written into the instance's MEMFS),
 *    `SS_READLINE_PATH=none` (debugfs), `E2FSPROGS_LIBMAGIC_SUPPRESS=1`,
 *    `E2FSPROGS_SKIP_PROGRESS=1`, and with an
 *    epoch `E2FSPROGS_FAKE_TIME`, `SOURCE_DATE_EPOCH` and `E2FSCK_TIME`; caller's
 *    variables last;
 *  - `/etc/mtab` exists and is empty (resize2fs refuses to run without it);
 *  - the mounts are attached: an {@link ImageStore} as a file (IMAGEFS), a
 *    `TreeEntry[]` as a read-only directory (TREEFS), small MEMFS files.
 * stdin is always at EOF; stdout and stderr are not terminals. `exit()` ends the program, not the host process; the exit
 * code, stdout and stderr reach the caller.
 */
import { baseName, imagePathProblem, joinImagePath, parentPath } from '../../core/image-path.ts';
import type { TreeEntry } from '../../core/image-tree.ts';
import type { EmFS, EmModule, EmModuleConfig } from './emscripten-types.ts';
import { type BlobReadAhead, readAheadPossible, startBlobReadAhead } from './blob-read-ahead.ts';
import { mountImageFs, newImageFsStats, type ImageFsStats } from './image-fs.ts';
import { MemoryImageStore, type ImageStore } from './image-store.ts';
import type { NarCheckResult, SealedStorePath } from './nar-stream-check.ts';
import {
  indexTree,
  InputChangedError,
  mountTreeFs,
  type ReadBlobSync,
  type TreeFs,
  type TreeFsStats,
  type TreeIndex,
} from './tree-fs.ts';
import { compileTool, instantiateNow, loadMke2fsConf, loadToolFactory, type E2fsTool } from './wasm-modules.ts';

/**
 * Latest time the wasm tools can handle: emscripten 3.1.6's `time_t` is 32 bits, so
 * e2fsprogs stores later inode times wrongly (3e9 comes out as 1928 in native tools).
 */
export const MAX_TIME = 0x7fffffff;

/** Where mke2fs.conf is written inside every instance. */
export const MKE2FS_CONF_PATH = '/etc/mke2fs.conf';

/** Something made visible to the program at a path. */
export type ToolMount =
  /** An image store as the regular file `path` (its directory shows only image files). */
  | {
      type: 'image';
      path: string;
      store: ImageStore;
      /**
       * Writes past this many bytes end the program early: the store keeps the first
       * `maxBytes` bytes and the run resolves with `stoppedAt` set to `path` (e.g. a
       * preview dumps only the head of a large file). Default: no limit.
       */
      maxBytes?: number;
    }
  /** A tree as the read-only directory `path` (for `mke2fs -d path`). */
  | {
      type: 'tree';
      path: string;
      entries: readonly TreeEntry[];
      /** `entries` already indexed (`indexTree(entries)`), so a run does not index them again. */
      model?: TreeIndex;
      /** Times reported for every entry; default: the run's `epoch`, else 1. */
      epoch?: number;
      /** Report each entry's own mtime instead. Default false. */
      keepTimes?: boolean;
      /** Synchronous Blob reader; default FileReaderSync (dedicated workers only). */
      readBlobSync?: ReadBlobSync;
      /** Called after each file read with the bytes read from the tree so far (progress). */
      onRead?: (bytesRead: number) => void;
      /**
       * Store paths whose NAR hash is computed from the bytes as the program reads them
       * (mke2fs -d); results in {@link ToolResult.narChecks}. Default none.
       */
      sealed?: readonly SealedStorePath[];
      /** Called as the program first looks up each entry, with the count so far (progress). */
      onEntry?: (entriesSeen: number) => void;
      /**
       * Read Blob-backed files ahead of the program in a second worker where that is possible
       * (a cross-origin isolated page; see `blob-read-ahead.ts`), with the default reader, in
       * the order `mke2fs -d` copies them: for mke2fs only (another program's reads, e.g.
       * debugfs writing files in its script's order, would not follow it). Default false; the
       * bytes are the same either way.
       */
      readAhead?: boolean;
      /** Called with the reader worker when one started (diagnostics, tests). */
      onReadAhead?: (reader: BlobReadAhead) => void;
    }
  /** A small file written into the instance's memory filesystem (e.g. a debugfs command file). */
  | { type: 'file'; path: string; data: string | Uint8Array };

/** Options of {@link runTool}. */
export interface RunToolOptions {
  /** Extra environment variables (applied last, so they override the defaults). */
  env?: Record<string, string>;
  /**
   * Seconds since 1970: sets `E2FSPROGS_FAKE_TIME`, `SOURCE_DATE_EPOCH` and `E2FSCK_TIME`,
   * so the program's "now" is fixed. Default: unset (the wall clock).
   */
  epoch?: number;
  /** Mounts, applied in order. Default none. */
  mounts?: readonly ToolMount[];
  /** Each line the program writes to stdout, without its newline, as it is written. */
  onStdout?: (line: string) => void;
  /** Each line the program writes to stderr, without its newline, as it is written. */
  onStderr?: (line: string) => void;
  /**
   * Checked before the start and on every image/tree read or write; when aborted the
   * program is stopped there and the promise rejects with the signal's reason. (A wasm
   * program runs synchronously: the abort must come from a callback during the run, or
   * the run must live in a worker that can be terminated.)
   */
  signal?: AbortSignal;
  /** Working directory of the program. Default `/`. */
  cwd?: string;
  /**
   * Collect stdout in memory instead of line by line. Much faster for large outputs
   * (emscripten's terminal handles one character at a time: a 5 MB listing takes seconds
   * as lines, milliseconds this way) and byte-exact (`stdoutBytes`, e.g. debugfs `cat`).
   * `onStdout` is not called. Pass a store to have stdout written there as it comes (its
   * size then tells, from inside `onStderr`, how much stdout preceded an error line).
   * Default false.
   */
  captureStdout?: boolean | ImageStore;
  /**
   * Every byte the program writes to stdout or stderr, in the order written (before the
   * split into lines), e.g. to keep a partial stdout line ahead of an error message as a
   * shared log file would. Default none.
   */
  onOutputByte?: (stream: 'stdout' | 'stderr', byte: number) => void;
  /** The program's name, argv[0] (programs print it in messages). Default: the tool's name. */
  programName?: string;
}

/** What a finished program left. */
export interface ToolResult {
  tool: E2fsTool;
  args: string[];
  exitCode: number;
  /** Everything written to stdout, lines joined with `\n` (with a final `\n` when non-empty). */
  stdout: string;
  /** With `captureStdout`: stdout's raw bytes (`stdout` is their UTF-8 decoding). */
  stdoutBytes?: Uint8Array;
  /** Set when the program was ended early because it wrote past an image mount's `maxBytes`: that mount's path. */
  stoppedAt?: string;
  stderr: string;
  /** Wall time of `main` (instantiation excluded). */
  durationMs: number;
  /** Wall time of instantiation and setup. */
  setupMs: number;
  /** I/O counters of each image mount, by path. */
  imageStats: Record<string, ImageFsStats>;
  /** Read counters of each tree mount, by path. */
  treeStats: Record<string, TreeFsStats>;
  /** For tree mounts with `sealed` store paths: whether each went in with its NAR hash, by mount path. */
  narChecks: Record<string, NarCheckResult[]>;
}

/** The program crashed (a wasm trap, an emscripten abort) instead of exiting. */
export class ToolCrashError extends Error {
  override name = 'ToolCrashError';
  constructor(
    readonly tool: E2fsTool,
    readonly args: string[],
    message: string,
    readonly stdout: string,
    readonly stderr: string,
    override readonly cause?: unknown,
  ) {
    super(`${tool} crashed: ${message}`);
  }
}

/** Thrown through the wasm stack to stop a program; never escapes runTool. */
class StopRun {
  constructor(readonly reason: unknown) {}
}

/** The reason of a StopRun when an image mount's `maxBytes` was reached: not a failure. */
class LimitReached {
  constructor(readonly path: string) {}
}

/** Where captured stdout is written inside the instance (an IMAGEFS file, so it can exceed MEMFS's limits). */
const STDOUT_DIR = '/.captured';

/** Default environment of every run. */
function baseEnv(epoch: number | undefined): Record<string, string> {
  const env: Record<string, string> = {
    MKE2FS_CONFIG: MKE2FS_CONF_PATH,
    SS_READLINE_PATH: 'none',
    E2FSPROGS_LIBMAGIC_SUPPRESS: '1',
    // No numeric progress ("0/8192" and backspaces): logs are plain lines, as in upstream's tests.
    E2FSPROGS_SKIP_PROGRESS: '1',
    LANG: 'C',
  };
  if (epoch !== undefined) {
    if (!Number.isSafeInteger(epoch) || epoch < 0 || epoch > MAX_TIME) {
      throw new RangeError(
        `epoch must be an integer from 0 to ${MAX_TIME} (2038-01-19, the 32-bit time_t of this wasm build), got ${epoch}`,
      );
    }
    env.E2FSPROGS_FAKE_TIME = String(epoch);
    env.SOURCE_DATE_EPOCH = String(epoch);
    env.E2FSCK_TIME = String(epoch);
  }
  return env;
}

/** Returns an abort error for the signal (its reason, or an AbortError DOMException). */
function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}

/**
 * Runs `tool` with `args` (argv without the program name) in a fresh instance.
 * Resolves with the exit code and output, also for a non-zero exit; rejects with the
 * signal's reason when aborted and with {@link ToolCrashError} when the program crashes.
 */
export async function runTool(
  tool: E2fsTool,
  args: readonly string[],
  options: RunToolOptions = {},
): Promise<ToolResult> {
  options.signal?.throwIfAborted();
  const trees = new Map<ToolMount, { model: TreeIndex; readAhead?: BlobReadAhead }>();
  try {
    return await runWith(tool, args, options, trees);
  } finally {
    // Whatever ended the run (exit, crash, abort, a failed start): no reader goes on.
    for (const t of trees.values()) t.readAhead?.stop();
  }
}

/** Indexes tree mounts and starts their readers (see `blob-read-ahead.ts`) where possible. */
async function prepareTrees(
  options: RunToolOptions,
  trees: Map<ToolMount, { model: TreeIndex; readAhead?: BlobReadAhead }>,
): Promise<void> {
  if (!readAheadPossible()) return;
  const starting: Promise<void>[] = [];
  for (const m of options.mounts ?? []) {
    if (m.type !== 'tree' || !m.readAhead || m.readBlobSync) continue;
    const t: { model: TreeIndex; readAhead?: BlobReadAhead } = { model: m.model ?? indexTree(m.entries) };
    trees.set(m, t);
    if (!t.model.usesBlobs) continue;
    starting.push(
      startBlobReadAhead(options.signal).then((r) => {
        t.readAhead = r;
        if (r) m.onReadAhead?.(r);
      }),
    );
  }
  await Promise.all(starting);
}

async function runWith(
  tool: E2fsTool,
  args: readonly string[],
  options: RunToolOptions,
  prepared: Map<ToolMount, { model: TreeIndex; readAhead?: BlobReadAhead }>,
): Promise<ToolResult> {
  const { signal } = options;
  const setupStart = performance.now();
  const env = { ...baseEnv(options.epoch), ...options.env };
  const [factory, wasmModule, conf] = await Promise.all([
    loadToolFactory(tool),
    compileTool(tool),
    loadMke2fsConf(),
    prepareTrees(options, prepared),
  ]);
  signal?.throwIfAborted();

  const stdoutLines: string[] = [];
  const stderrLines: string[] = [];
  let callbackError: { error: unknown } | undefined;
  const deliver = (lines: string[], cb: ((line: string) => void) | undefined) => (line: string) => {
    lines.push(line);
    if (cb && !callbackError) {
      try {
        cb(line);
      } catch (error) {
        // Output callbacks run inside the program's write(); remember and stop at the next check.
        callbackError = { error };
      }
    }
  };
  const check = (): void => {
    if (callbackError) throw new StopRun(callbackError.error);
    if (signal?.aborted) throw new StopRun(abortReason(signal));
  };

  const stdoutBytes = lineSplitter(deliver(stdoutLines, options.onStdout));
  const stderrBytes = lineSplitter(deliver(stderrLines, options.onStderr));

  let instantiateFailed: (e: unknown) => void = () => {};
  const instantiateFailure = new Promise<never>((_, reject) => (instantiateFailed = reject));
  // wasm/common/pre.js already sets the program name, an empty stdin and a quit() that
  // throws (so exit() ends callMain, not the host), and the build does not run main
  // (INVOKE_RUN=0); wasm/e2fsprogs/pre.js creates /etc and an empty /etc/mtab.
  const config: EmModuleConfig = {
    env,
    // stdout and stderr are character devices, not terminals (as when native tools write to
    // a pipe): programs then print no terminal progress (backspaces, lines ending in \r).
    stdout: options.onOutputByte ? teeByte('stdout', stdoutBytes.put, options.onOutputByte) : stdoutBytes.put,
    stderr: options.onOutputByte ? teeByte('stderr', stderrBytes.put, options.onOutputByte) : stderrBytes.put,
    ...(options.programName ? { thisProgram: options.programName } : {}),
    // The runtime's own messages (an abort's reason).
    print: deliver(stdoutLines, options.onStdout),
    printErr: deliver(stderrLines, options.onStderr),
    instantiateWasm: (imports, receive) => instantiateNow(wasmModule, imports, receive, instantiateFailed),
  };
  const mod: EmModule = await Promise.race([factory(config), instantiateFailure]);
  const FS = mod.FS;
  if (!FS || typeof mod.callMain !== 'function') throw new Error(`${tool}.mjs does not export FS and callMain`);

  const imageStats: Record<string, ImageFsStats> = {};
  const treeStats: Record<string, TreeFsStats> = {};
  const trees: TreeFs[] = [];
  const treeMounts = new Map<string, TreeFs>();
  const text = (): { stdout: string; stderr: string } => ({
    stdout: stdoutLines.length ? stdoutLines.join('\n') + '\n' : '',
    stderr: stderrLines.length ? stderrLines.join('\n') + '\n' : '',
  });
  const captured =
    typeof options.captureStdout === 'object'
      ? options.captureStdout
      : options.captureStdout
        ? new MemoryImageStore(0)
        : null;
  try {
    // Root runs the tools: no permission checks on MEMFS either.
    FS.ignorePermissions = true;
    FS.writeFile(MKE2FS_CONF_PATH, conf);
    setupMounts(FS, options, env, check, imageStats, treeStats, trees, treeMounts, prepared);
    if (captured) {
      // fd 1 becomes a file: libc then buffers stdout in blocks instead of per line.
      mountImageFs(FS, STDOUT_DIR, { files: { stdout: captured }, check });
      FS.close(FS.streams[1]!);
      const stream = FS.open(`${STDOUT_DIR}/stdout`, 'w');
      if (stream.fd !== 1) throw new Error(`captured stdout opened as fd ${stream.fd}, not 1`);
    }
    if (options.cwd) FS.chdir(options.cwd);
  } catch (e) {
    for (const t of trees) t.dispose();
    throw e;
  }

  const setupMs = performance.now() - setupStart;
  const start = performance.now();
  let exitCode: number;
  let stoppedAt: string | undefined;
  try {
    check();
    exitCode = mod.callMain([...args]);
  } catch (e) {
    if (e instanceof StopRun && e.reason instanceof LimitReached) {
      exitCode = -1;
      stoppedAt = e.reason.path;
    } else if (e instanceof StopRun) {
      throw e.reason;
    } else if (e instanceof InputChangedError) {
      throw e; // an input changed under the program: the caller names it
    } else {
      const { stdout, stderr } = text();
      throw new ToolCrashError(tool, [...args], e instanceof Error ? e.message : String(e), stdout, stderr, e);
    }
  } finally {
    for (const t of trees) t.dispose();
    stdoutBytes.put(null);
    stderrBytes.put(null);
  }
  const durationMs = performance.now() - start;
  // Aborted (or a callback failed) after the program's last I/O: still reported.
  if (callbackError) throw callbackError.error;
  if (signal?.aborted) throw abortReason(signal);
  const narChecks: Record<string, NarCheckResult[]> = {};
  for (const [path, tree] of treeMounts) {
    const results = tree.narResults();
    if (results.length > 0) narChecks[path] = results;
  }
  const result: ToolResult = {
    tool,
    args: [...args],
    exitCode,
    ...text(),
    durationMs,
    setupMs,
    imageStats,
    treeStats,
    narChecks,
  };
  if (captured) {
    result.stdoutBytes = captured.read(0, captured.size);
    result.stdout = utf8.decode(result.stdoutBytes);
  }
  if (stoppedAt !== undefined) result.stoppedAt = stoppedAt;
  return result;
}

const utf8 = new TextDecoder();

/** Passes each byte (0..255) to `tap` too; a throwing `tap` is ignored (the device would turn it into EIO). */
function teeByte(
  stream: 'stdout' | 'stderr',
  put: (byte: number | null) => void,
  tap: (stream: 'stdout' | 'stderr', byte: number) => void,
): (byte: number | null) => void {
  return (byte) => {
    if (byte !== null) {
      try {
        tap(stream, byte & 0xff);
      } catch {
        // the caller's problem; the program goes on
      }
    }
    put(byte);
  };
}

/**
 * A byte sink for an emscripten output device: bytes up to each `\n` become one line (UTF-8,
 * without the `\n`); `null` delivers what is left. Never throws (the device would turn a
 * throw into EIO for the program).
 */
function lineSplitter(onLine: (line: string) => void): { put: (byte: number | null) => void } {
  let buf = new Uint8Array(256);
  let n = 0;
  const flush = () => {
    const line = utf8.decode(buf.subarray(0, n));
    n = 0;
    onLine(line);
  };
  return {
    put: (byte) => {
      if (byte === null) {
        if (n > 0) flush();
        return;
      }
      const b = byte & 0xff; // HEAP8 gives bytes >= 0x80 as negative numbers
      if (b === 10) return flush();
      if (n === buf.length) {
        const bigger = new Uint8Array(buf.length * 2);
        bigger.set(buf);
        buf = bigger;
      }
      buf[n++] = b;
    },
  };
}

function setupMounts(
  FS: EmFS,
  options: RunToolOptions,
  env: Record<string, string>,
  check: () => void,
  imageStats: Record<string, ImageFsStats>,
  treeStats: Record<string, TreeFsStats>,
  trees: TreeFs[],
  treeMounts: Map<string, TreeFs>,
  prepared: Map<ToolMount, { model: TreeIndex; readAhead?: BlobReadAhead }>,
): void {
  // Image files sharing a directory share one IMAGEFS mount.
  const imageDirs = new Map<string, { files: Record<string, ImageStore>; limits: Record<string, number> }>();
  const mtime = options.epoch ?? 0;
  for (const m of options.mounts ?? []) {
    if (m.type === 'image') {
      const { dir, base } = mountPoint(m.path);
      let group = imageDirs.get(dir);
      if (!group) imageDirs.set(dir, (group = { files: {}, limits: {} }));
      if (group.files[base]) throw new Error(`two images mounted at ${m.path}`);
      group.files[base] = m.store;
      if (m.maxBytes !== undefined) group.limits[base] = m.maxBytes;
    }
  }
  for (const [dir, { files, limits }] of imageDirs) {
    const stats = newImageFsStats();
    const pathOf = (base: string) => joinImagePath(dir, base);
    for (const base of Object.keys(files)) imageStats[pathOf(base)] = stats;
    const onLimit = (base: string) => {
      throw new StopRun(new LimitReached(pathOf(base)));
    };
    mountImageFs(FS, dir, { files, check, mtime, stats, limits, onLimit });
  }
  for (const m of options.mounts ?? []) {
    if (m.type === 'tree') {
      const epochText = env.E2FSPROGS_FAKE_TIME;
      const ready = prepared.get(m);
      const tree = mountTreeFs(FS, m.path, ready?.model ?? m.model ?? m.entries, {
        epoch: m.epoch ?? options.epoch ?? (epochText !== undefined ? Number(epochText) : 1),
        keepTimes: m.keepTimes,
        readBlobSync: m.readBlobSync,
        check,
        onRead: m.onRead,
        sealed: m.sealed,
        onEntry: m.onEntry,
        readAhead: ready?.readAhead,
      });
      trees.push(tree);
      treeMounts.set(m.path, tree);
      treeStats[m.path] = tree.stats;
    } else if (m.type === 'file') {
      const { dir } = mountPoint(m.path);
      FS.mkdirTree(dir);
      FS.writeFile(m.path, m.data);
    }
  }
}

/** The folder and name of a file mounted into a tool's filesystem (an absolute path in normal form). */
function mountPoint(path: string): { dir: string; base: string } {
  const why = path === '/' ? 'it is the root' : imagePathProblem(path);
  if (why) throw new Error(`cannot mount a file at ${JSON.stringify(path)}: ${why}`);
  return { dir: parentPath(path), base: baseName(path) };
}
