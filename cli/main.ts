/**
 * `disk-image-studio`: the studio's engine from a command line, on the same code as the
 * page's worker. Inputs are read in place (host files are sliced, not copied); the output
 * is written to `OUT.partial` and renamed only once every check has passed, so a failed
 * build leaves no output file.
 */
import {
  chmodSync,
  closeSync,
  existsSync,
  openSync,
  realpathSync,
  renameSync,
  rmSync,
  type Stats,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { InputProblem, TreeEntry } from '../core/image-tree.ts';
import { nodeHost, walkHostDir } from '../core/io/host-tree.ts';
import { escapeControls } from './escape.ts';
import { resolveInputs } from '../core/resolve-inputs.ts';
import type { BuildEvent, BuildInput, BuildResult } from '../core/engine-contract.ts';
import { buildImage } from '../workers/pipeline/build-image.ts';
import { EngineFailure, errorStack, toBuildFailure } from '../workers/pipeline/engine-failure.ts';
import { BackedImageStore } from '../workers/runtime/image-store.ts';
import { createTempBacking } from '../workers/runtime/node-image-file.ts';
import { inputDecompressors as decompressors } from '../workers/runtime/zstd-stream.ts';
import { HostContentSpool } from '../core/io/host-content-spool.ts';
import { fetchFromCaches, wantsFetch } from './fetch-closure.ts';
import { type BuildCommand, type Command, parseArgs, USAGE, UsageError } from './args.ts';
import { inspectCommand, lsCommand } from './image-commands.ts';

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

/** Runs the CLI; resolves with the process exit code. */
export async function main(argv: string[], io: CliIo = processIo, signal?: AbortSignal): Promise<number> {
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
        return await build(command, io, signal, debug);
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

/**
 * Everything below `/` of a host folder, owned by root as make-ext4-fs.nix's fakeroot has it.
 * The folder itself may be a symlink (`--files ./result`): it is followed; links inside are not.
 */
async function hostFolder(dir: string): Promise<{ entries: TreeEntry[]; problems: InputProblem[] }> {
  const problems: InputProblem[] = [];
  const entries = await walkHostDir(realpathSync(dir), basename(dir) || dir, problems);
  return { entries: entries.map((e) => ({ ...e, uid: 0, gid: 0 })), problems };
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

/**
 * What is wrong with the host paths of the command line before anything is read: inputs
 * that do not exist or are of the wrong kind, an output whose folder does not exist. Each
 * line names the flag and the path.
 */
function hostPathProblems(cmd: BuildCommand): string[] {
  const problems: string[] = [];
  const check = (flag: string, path: string, want: 'file' | 'folder') => {
    let st: Stats;
    try {
      st = statSync(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problems.push(
        `${flag} ${path}: ${code === 'ENOENT' ? 'no such file or folder' : code === 'EACCES' ? 'permission denied' : (err as Error).message}.`,
      );
      return;
    }
    if (want === 'folder' && !st.isDirectory())
      problems.push(
        `${flag} ${path}: not a folder; ${flag} takes a folder${flag === '--files' ? ' (use --tar for an archive)' : ''}.`,
      );
    if (want === 'file' && st.isDirectory())
      problems.push(
        `${flag} ${path}: a folder, not a file${flag === '--closure' ? ' (use --store for a folder of store paths)' : flag === '--tar' ? ' (use --files for a folder)' : ''}.`,
      );
  };
  for (const [flag, key] of FOLDER_INPUTS) for (const p of cmd[key] as string[]) check(flag, p, 'folder');
  for (const [flag, key] of FILE_INPUTS) for (const p of cmd[key] as string[]) check(flag, p, 'file');
  const outDir = dirname(resolve(cmd.output));
  if (!existsSync(outDir) || !statSync(outDir).isDirectory())
    problems.push(`-o ${cmd.output}: the folder ${outDir} does not exist.`);
  else if (existsSync(cmd.output) && statSync(cmd.output).isDirectory())
    problems.push(`-o ${cmd.output}: a folder; give a file name such as ${join(cmd.output, 'nixos.img')}.`);
  return problems;
}

async function build(cmd: BuildCommand, io: CliIo, signal?: AbortSignal, debug = false): Promise<number> {
  // Fetched NARs live in a private temporary folder, and the contents of compressed
  // archives in a temporary file, until the image is written.
  const spools: Array<{ dispose(): void }> = [];
  try {
    return await buildWithSpools(cmd, io, spools, signal, debug);
  } finally {
    for (const s of spools) s.dispose();
  }
}

async function buildWithSpools(
  cmd: BuildCommand,
  io: CliIo,
  spools: Array<{ dispose(): void }>,
  signal?: AbortSignal,
  debug = false,
): Promise<number> {
  const pathProblems = hostPathProblems(cmd);
  if (pathProblems.length) {
    for (const p of pathProblems) io.stderr(`error: ${p}\n`);
    io.stderr('disk-image-studio: the command line names paths that cannot be used; no image was written.\n');
    return 1;
  }
  const inputs: BuildInput[] = [];
  for (const f of cmd.files) inputs.push({ kind: 'tree', at: '/', ...(await hostFolder(f)) });
  for (const t of cmd.tars) inputs.push({ kind: 'archive', at: '/', file: { name: basename(t), hostPath: t } });
  for (const s of cmd.stores) inputs.push({ kind: 'store-dir', hostPath: s });
  for (const c of [...cmd.closures, ...cmd.exports, ...cmd.nars])
    inputs.push({ kind: 'closure', file: { name: basename(c), hostPath: c } });

  const contents = new HostContentSpool(process.env.TMPDIR || tmpdir());
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
    const fetched = await fetchFromCaches(cmd, resolved, io, signal);
    if (!fetched) return 1;
    spools.push(fetched.spool);
    for (const f of fetched.inputs) inputs.push(f);
    resolved = await resolveInputs(inputs, resolveOptions);
  }
  for (const p of resolved.problems) {
    io.stderr(
      `${p.severity}: ${escapeControls(`${p.input}${p.path ? `: ${p.path}` : ''}: ${p.message}`)}\n  ${escapeControls(p.hint)}\n`,
    );
  }
  if (resolved.problems.some((p) => p.severity === 'error')) {
    io.stderr('disk-image-studio: the inputs have errors; no image was written.\n');
    return 1;
  }

  await blobsToBytes(resolved.entries);

  // The image is built in a sparse temporary file beside the output (memory stays flat
  // whatever the image size). An uncompressed image is that file, renamed into place once
  // every check has passed; a compressed one is streamed from it to OUT.partial.
  const backing = createTempBacking(dirname(resolve(cmd.output)), basename(cmd.output));
  const store = new BackedImageStore(backing);
  const request = { entries: resolved.entries, closure: resolved.closure, options: cmd.options };
  const onEvent = cmd.quiet && !debug ? undefined : progressPrinter(io, debug);
  let result: BuildResult;
  try {
    if (!cmd.options.compress) {
      result = await buildImage(request, { signal, store, onEvent });
      store.flush();
      backing.sync();
      backing.keep();
      store.close();
      try {
        // The working file was private (0600); the output gets the usual mode for new files.
        chmodSync(backing.location, 0o666 & ~process.umask());
        renameSync(backing.location, cmd.output);
      } catch (err) {
        rmSync(backing.location, { force: true });
        throw err;
      }
    } else {
      const partial = `${cmd.output}.partial`;
      const fd = openSync(partial, 'w');
      try {
        result = await buildImage(request, { signal, store, sink: (chunk) => void writeAll(fd, chunk), onEvent });
        closeSync(fd);
      } catch (err) {
        closeSync(fd);
        rmSync(partial, { force: true });
        throw err;
      }
      renameSync(partial, cmd.output);
    }
  } catch (err) {
    if (err instanceof EngineFailure && err.failure.toolOutput) io.stderr(err.failure.toolOutput.trimEnd() + '\n');
    throw err;
  } finally {
    store.close();
  }
  const s = result.summary;
  io.stdout(
    `${cmd.output}: ${result.size} bytes${result.compressed ? ` (image ${result.imageSize} bytes)` : ''}, sha256 ${result.sha256}\n`,
  );
  io.stdout(
    `${s.fsType} "${s.label}" ${s.uuid}: ${s.blockCount} blocks of ${s.blockSize} bytes, ${s.freeBlocks} free; ${s.inodeCount} inodes, ${s.freeInodes} free\n`,
  );
  return 0;
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

function writeAll(fd: number, chunk: Uint8Array): void {
  for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
}

/** Stage lines on stderr; on a terminal, also a live percentage; with --debug, every tool's output. */
function progressPrinter(io: CliIo, debug = false): (e: BuildEvent) => void {
  let lastPct = -1;
  return (e) => {
    if (debug && e.type === 'log') io.stderr(`  ${e.tool} ${e.stream}: ${e.text}\n`);
    else if (e.type === 'stage' && e.state === 'done')
      io.stderr(`${e.stage.padEnd(8)} done at ${(e.elapsedMs / 1000).toFixed(1)} s\n`);
    else if (e.type === 'problem')
      io.stderr(`${e.problem.severity}: ${escapeControls(`${e.problem.input}: ${e.problem.message}`)}\n`);
    else if (e.type === 'log' && e.stream === 'stderr' && io.interactive) io.stderr(`  ${e.tool}: ${e.text}\n`);
    else if (e.type === 'progress' && io.interactive && e.total > 0) {
      const pct = Math.floor((e.done / e.total) * 100);
      if (pct !== lastPct) {
        lastPct = pct;
        io.stderr(`\r${e.stage} ${pct}%`);
        if (pct === 100) io.stderr('\n');
      }
    }
  };
}
