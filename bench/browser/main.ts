/**
 * The bench page: builds images with the studio's own Web Worker (`workers/build-worker.ts`
 * through comlink, as the studio's page does). The tree's file bytes are the workload's
 * files on disk, picked into `<input type=file multiple>` by Playwright (`setInputFiles`
 * with one path per file, a group at a time, in mke2fs's copy order), so they are
 * disk-backed Files as after "Add files", joined into Blobs of 1,000 (see takePicked);
 * paths, modes and symlinks, which browsers do not expose, come from the
 * workload's description (`bench/workload.ts`, same seed). Not a folder picked into
 * `<input webkitdirectory>`: Chromium's folder listing follows symlinks and drops the
 * files of a directory that a symlink listed earlier also reaches.
 *
 * `prepare(..., 'memory')` instead generates the bytes in the page from the same seed into
 * in-memory Blobs (no disk reads; the bytes then live in the browser's blob storage).
 *
 * Every stage change is reported to the driver through `window.benchMark` (a Playwright
 * binding), which reads and resets the renderer's peak RSS there.
 */
import * as Comlink from 'comlink';
import type { TreeEntry } from '../../core/image-tree.ts';
import type { BuildEvent, BuildResult } from '../../core/engine-contract.ts';
import { DEFAULT_BUILD_OPTIONS } from '../../core/build-options.ts';
import type { api } from '../../workers/build-worker.ts';
import type { KeptTreeRequest } from '../../workers/engine-api.ts';
import { copyOrder, fillContent, makeWorkload, type WorkloadName } from '../workload.ts';
import { MkfsAttempts } from '../mkfs-attempts.ts';
import { handingBack } from '../../web/handing-back.ts';

type WorkerApi = typeof api;

export interface PageStage {
  stage: string;
  state: 'start' | 'done';
  /** The worker's clock: ms since buildImage started. */
  elapsedMs: number;
}

export interface PageRun {
  /** Page clock, from the build call to its result (the worker already started). */
  totalMs: number;
  /**
   * Page clock, from the engine's worker made to its `warmedUp()` (modules loaded, tools
   * compiled, workers started, the warm-up run done; the tree handed over meanwhile): how
   * long after the first input the studio's engine is at its fastest.
   */
  readyMs: number;
  stages: PageStage[];
  result: BuildResult;
  outBytes: number;
  /** Output chunks the worker handed to the page (each one a comlink round trip). */
  sinkCalls: number;
  mkfsAttempts: number;
  initialBytes: number;
  /** Problems the build reported (e.g. the image kept in memory because OPFS refused). */
  problems: string[];
}

export interface PagePrepared {
  entries: number;
  files: number;
  bytes: number;
  /** Workload files the picked files did not match (name or size). */
  mismatched: string[];
}

declare global {
  interface Window {
    bench: {
      beginFiles(): void;
      takePicked(): number;
      prepare(name: WorkloadName, seed: number, scale: number, input: 'disk' | 'memory'): PagePrepared;
      prepareTiny(): PagePrepared;
      build(): Promise<PageRun>;
    };
    benchMark?: (label: string) => Promise<void>;
  }
}

const status = document.getElementById('status')!;
const input = document.getElementById('tree') as HTMLInputElement;
let entries: TreeEntry[] = [];

/**
 * The picked files, taken from the input a group at a time: each group's Files joined into
 * one Blob (then the Files themselves are let go), with each file's name and size kept to
 * check against the workload. A File costs the renderer and the browser process a few KiB
 * each (its blob registration), so 300,000 of them held at once (and cloned to the worker)
 * would take gigabytes; one Blob of all of them costs one registration and, in the browser,
 * a list of file references.
 */
let groups: Blob[] = [];
let pickedNames: string[] = [];
let pickedSizes: number[] = [];
/** Per picked file: its group and its offset in the group's Blob. */
let pickedGroup: number[] = [];
let pickedOffset: number[] = [];

/**
 * Files per Blob. Not one Blob of all files: Chromium finds a slice's start by walking a
 * Blob's items, so slices of a Blob of 300,000 files would cost in proportion to it.
 */
const GROUP_FILES = 1000;

function beginFiles(): void {
  groups = [];
  pickedNames = [];
  pickedSizes = [];
  pickedGroup = [];
  pickedOffset = [];
}

/** Takes the files now in the input as the next groups; returns how many. */
function takePicked(): number {
  const files = Array.from(input.files ?? []);
  for (let i = 0; i < files.length; i += GROUP_FILES) {
    const group = files.slice(i, i + GROUP_FILES);
    let offset = 0;
    for (const f of group) {
      pickedNames.push(f.name);
      pickedSizes.push(f.size);
      pickedGroup.push(groups.length);
      pickedOffset.push(offset);
      offset += f.size;
    }
    groups.push(new Blob(group));
  }
  input.value = '';
  return files.length;
}

const PIECE = 1 << 20;

/** A file's bytes generated here, as a Blob of 1 MiB parts. */
function generated(file: Parameters<typeof fillContent>[0]): Blob {
  const parts: Uint8Array<ArrayBuffer>[] = [];
  for (let off = 0; off < file.size; off += PIECE) {
    const piece = new Uint8Array(Math.min(PIECE, file.size - off));
    fillContent(file, off, piece);
    parts.push(piece);
  }
  return new Blob(parts);
}

function prepare(name: WorkloadName, seed: number, scale: number, source: 'disk' | 'memory'): PagePrepared {
  const w = makeWorkload(name, seed, scale);
  const mismatched: string[] = [];
  // The picked files came in the order mke2fs copies them (see takePicked); each file is
  // a range of its group's Blob, so consecutive files are consecutive ranges.
  const disk = source === 'disk';
  const ranges = new Map<string, { blob: Blob; offset: number }>();
  if (disk) {
    let at = 0;
    for (const f of copyOrder(w)) {
      const base = f.path.slice(f.path.lastIndexOf('/') + 1);
      if (pickedNames[at] !== base || pickedSizes[at] !== f.size) mismatched.push(f.path);
      else ranges.set(f.path, { blob: groups[pickedGroup[at]], offset: pickedOffset[at] });
      at++;
    }
    if (at !== pickedNames.length) mismatched.push(`(${pickedNames.length} files picked, ${at} expected)`);
  }
  beginFiles();
  entries = [];
  for (const e of w.entries) {
    const base = { path: e.path, uid: 0, gid: 0, mtime: 1, origin: name };
    if (e.type === 'directory') entries.push({ ...base, type: 'directory', mode: e.mode, size: 0 });
    else if (e.type === 'symlink')
      entries.push({
        ...base,
        type: 'symlink',
        mode: 0o777,
        size: new TextEncoder().encode(e.target).length,
        target: e.target,
      });
    else {
      const range = disk ? ranges.get(e.path) : { blob: generated(e), offset: 0 };
      if (!range) continue; // mismatched
      const source = { kind: 'blob' as const, blob: range.blob, offset: range.offset, size: e.size };
      entries.push({ ...base, type: 'file', mode: e.mode, size: e.size, source });
    }
  }
  status.textContent = `${name}: ${entries.length} entries`;
  return { entries: entries.length, files: w.files, bytes: w.bytes, mismatched: mismatched.slice(0, 20) };
}

/** A few in-memory files, to load the worker's modules and wasm once before measuring. */
function prepareTiny(): PagePrepared {
  const blob = new Blob([new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff)]);
  entries = [
    { path: '/a', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 1, size: 0, origin: 'tiny' },
    {
      path: '/a/b.bin',
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: 1,
      size: blob.size,
      source: { kind: 'blob', blob, offset: 0, size: blob.size },
      origin: 'tiny',
    },
    { path: '/a/c', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 1, size: 5, target: 'b.bin', origin: 'tiny' },
  ];
  return { entries: entries.length, files: 1, bytes: blob.size, mismatched: [] };
}

async function build(): Promise<PageRun> {
  const request: KeptTreeRequest = {
    tree: 'bench',
    closure: [],
    options: { ...DEFAULT_BUILD_OPTIONS, compress: true },
  };
  // A fresh worker per build, as after a cancel; started (its modules loaded, its tools
  // compiled, its reader and compression workers started: warmedUp) before the clock starts,
  // as the studio's page starts it when the first input is added, seconds before Build. The
  // tree crosses once (keepTree), as the studio's page hands it over, not with each call.
  const made = performance.now();
  const worker = new Worker(new URL('../../workers/build-worker.ts', import.meta.url), {
    type: 'module',
    name: 'bench-engine',
  });
  const remote = Comlink.wrap<WorkerApi>(worker);
  try {
    await window.benchMark?.('page:keep');
    await remote.keepTree('bench', entries);
    await window.benchMark?.('page:kept');
    await remote.estimate(request);
    await remote.warmedUp();
    const readyMs = performance.now() - made;
    await window.benchMark?.('page:estimated');
    const stages: PageStage[] = [];
    let outBytes = 0;
    let sinkCalls = 0;
    const attempts = new MkfsAttempts();
    const problems: string[] = [];
    const onEvent = (e: BuildEvent) => {
      attempts.see(e);
      if (e.type === 'problem') problems.push(`${e.problem.severity}: ${e.problem.message}`);
      if (e.type !== 'stage' || e.state === 'skipped') return;
      stages.push({ stage: e.stage, state: e.state, elapsedMs: e.elapsedMs });
      void window.benchMark?.(`${e.stage}:${e.state}`);
    };
    // The output is counted and dropped: saving costs here are the worker-to-page transfer,
    // with each chunk's memory handed back as the studio's page does.
    const sink = handingBack((chunk: Uint8Array) => {
      outBytes += chunk.length;
      sinkCalls++;
    });
    await window.benchMark?.('build:start');
    status.textContent = 'building';
    const t0 = performance.now();
    // A failure crosses as a plain BuildFailure object: give the driver its words.
    const result = await remote.build(request, Comlink.proxy(onEvent), Comlink.proxy(sink)).catch((err: unknown) => {
      throw new Error(err instanceof Error ? err.message : JSON.stringify(err));
    });
    const totalMs = performance.now() - t0;
    await window.benchMark?.('build:done');
    status.textContent = `built ${result.fileName}: ${result.size} bytes in ${(totalMs / 1000).toFixed(2)} s`;
    return {
      totalMs,
      readyMs,
      stages,
      result,
      outBytes,
      sinkCalls,
      mkfsAttempts: attempts.count,
      initialBytes: attempts.initialBytes,
      problems,
    };
  } finally {
    remote[Comlink.releaseProxy]();
    worker.terminate();
  }
}

window.bench = { beginFiles, takePicked, prepare, prepareTiny, build };
status.textContent = 'ready';
