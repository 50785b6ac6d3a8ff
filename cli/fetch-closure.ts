/**
 * The CLI's binary cache step: after the inputs are read, the store paths no input holds
 * (and those named with `--store-path`) are looked up in the substituters, the plan is
 * printed, and the NARs are fetched and verified into a private temporary folder.
 */
import {
  DEFAULT_CACHE_KEY,
  DEFAULT_CACHE_URL,
  FetchError,
  type FetchedPath,
  type FetchProgress,
  fetchClosure,
  formatBytes,
  planClosure,
  substitutionRequest,
} from '../core/binary-cache/substitute.ts';
import type { BuildInput, ResolvedInputs } from '../core/engine-contract.ts';
import type { InputProblem } from '../core/image-tree.ts';
import { HostSpool } from '../core/io/host-spool.ts';
import { inputDecompressors } from '../workers/runtime/zstd-stream.ts';
import type { BuildCommand } from './args.ts';
import type { CliIo } from './main.ts';

/** Problems that fetching can cure: contents and references nothing holds. */
const CURABLE = new Set(['closure-missing-contents', 'closure-reference-missing', 'closure-references-unknown']);

export interface FetchOutcome {
  inputs: BuildInput[];
  spool: HostSpool;
}

function printProblems(io: CliIo, problems: readonly InputProblem[]): void {
  for (const p of problems)
    io.stderr(`${p.severity}: ${p.input}${p.path ? `: ${p.path}` : ''}: ${p.message}\n  ${p.hint}\n`);
}

/**
 * Plans and fetches what `resolved` lacks. Returns the fetched inputs (and the spool to
 * dispose once the image is written), or null after printing why nothing was fetched.
 */
export async function fetchFromCaches(
  cmd: BuildCommand,
  resolved: ResolvedInputs,
  io: CliIo,
  signal?: AbortSignal,
): Promise<FetchOutcome | null> {
  const blocking = resolved.problems.filter((p) => p.severity === 'error' && !CURABLE.has(p.code));
  if (blocking.length) {
    printProblems(io, blocking);
    io.stderr('disk-image-studio: the inputs have errors; nothing was fetched and no image was written.\n');
    return null;
  }
  const urls = cmd.substituters.length ? cmd.substituters : [DEFAULT_CACHE_URL];
  const keys = cmd.trustedKeys.length ? cmd.trustedKeys : [DEFAULT_CACHE_KEY];
  const caches = urls.map((url) => ({ url, publicKeys: keys }));
  const request = substitutionRequest(resolved.closure, cmd.storePaths);
  if (request.roots.length === 0) return { inputs: [], spool: new HostSpool() };
  const common = {
    signal,
    requireSignatures: !cmd.noCheckSigs,
    decompressors: inputDecompressors,
  };
  if (cmd.noCheckSigs)
    io.stderr(
      'WARNING: --no-check-sigs: signatures are NOT checked; whatever the caches (or anyone in between) send goes into the image.\n',
    );
  const plan = await planClosure(request, { ...common, caches });
  printProblems(io, plan.problems);
  if (plan.problems.some((p) => p.severity === 'error')) {
    io.stderr('disk-image-studio: the closure cannot be fetched; nothing was fetched and no image was written.\n');
    return null;
  }
  if (!cmd.quiet) {
    io.stderr(
      `fetch    ${plan.paths.length} store paths, ${formatBytes(plan.downloadBytes)} to download (${formatBytes(plan.narBytes)} unpacked)` +
        `${plan.present.length ? `; ${plan.present.length} given by inputs` : ''}, from ${plan.caches
          .filter((c) => c.usable)
          .map((c) => c.url)
          .join(', ')}\n`,
    );
  }
  const spool = new HostSpool();
  let fetched: FetchedPath[];
  try {
    fetched = await fetchClosure(plan, spool, {
      ...common,
      onProgress: cmd.quiet ? undefined : progressLine(io),
    });
  } catch (err) {
    spool.dispose();
    if (err instanceof FetchError) {
      printProblems(io, err.problems);
      io.stderr('disk-image-studio: fetching failed; no image was written.\n');
      return null;
    }
    throw err;
  }
  if (!cmd.quiet)
    for (const f of fetched)
      io.stderr(
        `fetched  ${f.info.path} from ${f.info.fetchedFrom?.cache}, ${f.info.fetchedFrom?.signedBy ? `signature by ${f.info.fetchedFrom.signedBy}` : 'SIGNATURE NOT CHECKED'}\n`,
      );
  return { inputs: fetched.map((f) => ({ kind: 'fetched', file: f.file, info: f.info })), spool };
}

function progressLine(io: CliIo): (p: FetchProgress) => void {
  let last = '';
  return (p) => {
    if (!io.interactive) return;
    const line = `\rfetch ${p.pathsDone}/${p.pathsTotal} paths, ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}`;
    if (line === last) return;
    last = line;
    io.stderr(line + (p.pathsDone === p.pathsTotal && p.active.length === 0 ? '\n' : ''));
  };
}
