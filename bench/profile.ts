/**
 * `npm run bench:profile -- DIR`: where the time of one Node build goes, stage by stage.
 *
 * Runs the pipeline on a host folder (as the CLI's `--files DIR`) with V8's sampling
 * profiler (node:inspector, the same profiler as `node --cpu-prof`) started and stopped at
 * every stage boundary, then sorts each stage's samples into categories: wasm compute per
 * tool, the JavaScript filesystem layers (TREEFS, IMAGEFS, the image store), emscripten's
 * glue, compression, hashing, garbage collection and the rest. Also times the tool
 * start-ups (instantiation and setup of every run) and, with `--startup`, profiles the CLI
 * process itself from its first line.
 *
 *   node --import tsx bench/profile.ts DIR [--out DIR] [--startup] [--level N] [--memory]
 *
 * The image is built in a sparse temporary file under `--out`, as the CLI and the bench's
 * Node child build it; `--memory` holds it in memory instead (as the page does without OPFS).
 *
 * Profiles (`.cpuprofile`, loadable in Chrome DevTools' Performance panel) go to `--out`
 * (default a temp folder).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { nodeHost, walkHostDir } from '../core/io/host-tree.ts';
import { resolveInputs } from '../core/resolve-inputs.ts';
import type { BuildEvent } from '../core/engine-contract.ts';
import { DEFAULT_BUILD_OPTIONS } from '../core/build-options.ts';
import { buildImage } from '../workers/pipeline/build-image.ts';
import { inputDecompressors } from '../workers/runtime/zstd-stream.ts';
import { tempFileStorage } from '../workers/runtime/node-image-file.ts';
import { REPO_ROOT } from './wasm-dirs.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The category a profile frame's self time counts towards. */
export function categorize(frame: ProfileNode['callFrame']): string {
  const { functionName: fn, url } = frame;
  if (fn === '(garbage collector)') return 'gc';
  if (fn === '(idle)') return 'idle';
  if (fn === '(program)' || fn === '(root)') return 'v8/other';
  if (url.startsWith('wasm://') || fn.startsWith('$') || fn.startsWith('wasm-function')) {
    const m = /wasm:\/\/wasm\/([\w-]+?)(?:-[0-9a-f]{8})?(?:\.wasm)?(?:\/|$)/.exec(url);
    return `wasm ${m?.[1] ?? 'compute'}`;
  }
  // The page's synchronous reads of picked Files (a native function, no script URL).
  if (fn === 'readAsArrayBuffer' && url === '') return 'FileReaderSync';
  const file = basename(url.split('?')[0]);
  if (file === 'tree-fs.ts') return 'js TREEFS (tree reads)';
  if (file === 'read-ahead-ring.ts' || file === 'blob-read-ahead.ts') return 'js read-ahead ring (waits, copies)';
  if (file === 'blob-read-ahead-worker.ts') return 'js reader worker';
  if (file === 'opfs-image-store.ts') return 'js OPFS image file';
  if (file === 'image-fs.ts') return 'js IMAGEFS';
  if (file === 'image-store.ts') return 'js image store';
  if (file === 'zstd-stream.ts' || file.startsWith('parallel-zstd')) return 'js zstd driver';
  if (/\.(mjs|js)$/.test(file) && url.includes('/wasm/')) return 'js emscripten glue (syscalls)';
  if (file === 'run-tool.ts' || file === 'wasm-modules.ts') return 'js tool set-up';
  if (url.startsWith('node:') || url === '') return fn ? 'node built-ins' : 'v8/other';
  return 'js other';
}

/** Self time (ms) per category of a profile, largest first. */
export function breakdown(p: CpuProfile): { total: number; parts: [string, number][] } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i + 1] ?? 0) / 1000);
  }
  const parts = new Map<string, number>();
  for (const [id, ms] of self) {
    const cat = categorize(byId.get(id)!.callFrame);
    parts.set(cat, (parts.get(cat) ?? 0) + ms);
  }
  return { total: (p.endTime - p.startTime) / 1000, parts: [...parts].sort((a, b) => b[1] - a[1]) };
}

/** The wasm tool that does a stage's work. */
const STAGE_TOOL: Record<string, string> = {
  mkfs: 'mke2fs',
  check: 'e2fsck',
  shrink: 'resize2fs',
  summary: 'dumpe2fs',
  compress: 'zstd',
};

function post<T>(session: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) =>
    session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result as T))),
  );
}

/**
 * Profiles named stages of this process, one sampling profile each (node:inspector), and
 * sorts each stage's samples into {@link categorize}'s categories, naming each wasm module
 * after the tool of the stage where it spends most.
 */
export class StageProfiler {
  readonly profiles: { name: string; profile: CpuProfile }[] = [];
  /** V8's name of each wasm module ("wasm <hash>") to the tool's ("wasm e2fsck"), after {@link finish}. */
  readonly wasmNames = new Map<string, string>();
  #session: Session;
  #running: string | undefined;
  #pending: Promise<unknown> = Promise.resolve();

  private constructor(session: Session) {
    this.#session = session;
  }

  static async start(intervalUs = 500): Promise<StageProfiler> {
    const session = new Session();
    session.connect();
    await post(session, 'Profiler.enable');
    await post(session, 'Profiler.setSamplingInterval', { interval: intervalUs });
    return new StageProfiler(session);
  }

  /** Starts profiling `name` (stopping the stage before, if any). */
  start(name: string): void {
    this.stop();
    this.#running = name;
    this.#pending = this.#pending.then(() => post(this.#session, 'Profiler.start'));
  }

  stop(): void {
    const name = this.#running;
    if (!name) return;
    this.#running = undefined;
    this.#pending = this.#pending.then(async () => {
      const { profile } = await post<{ profile: CpuProfile }>(this.#session, 'Profiler.stop');
      this.profiles.push({ name, profile });
    });
  }

  /** Ends profiling; self time (ms) per category for every stage, largest first. */
  async finish(): Promise<Record<string, [string, number][]>> {
    this.stop();
    await this.#pending;
    this.#session.disconnect();
    const names = this.wasmNames;
    for (const s of this.profiles) {
      const tool = STAGE_TOOL[s.name];
      const top = breakdown(s.profile).parts.find(([cat]) => cat.startsWith('wasm '));
      if (tool && top && !names.has(top[0])) names.set(top[0], `wasm ${tool}`);
    }
    const out: Record<string, [string, number][]> = {};
    for (const s of this.profiles) {
      const parts = breakdown(s.profile).parts.map(([cat, ms]): [string, number] => [names.get(cat) ?? cat, ms]);
      const merged = new Map<string, number>();
      for (const [cat, ms] of parts) merged.set(cat, (merged.get(cat) ?? 0) + ms);
      out[s.name] = [...merged].sort((a, b) => b[1] - a[1]);
    }
    return out;
  }
}

function formatBreakdown(name: string, b: { total: number; parts: [string, number][] }): string {
  const lines = [`${name.padEnd(10)} ${b.total.toFixed(0).padStart(6)} ms`];
  for (const [cat, ms] of b.parts) {
    if (ms < 0.5) continue;
    lines.push(`  ${cat.padEnd(32)} ${ms.toFixed(0).padStart(6)} ms ${((ms / b.total) * 100).toFixed(0).padStart(3)}%`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const dir = argv.find((a, i) => !a.startsWith('--') && !['--out', '--level'].includes(argv[i - 1]));
  if (!dir) {
    process.stderr.write(
      'usage: node --import tsx bench/profile.ts DIR [--out DIR] [--startup] [--level N] [--memory]\n',
    );
    process.exit(2);
  }
  const outIdx = argv.indexOf('--out');
  const out = outIdx >= 0 ? argv[outIdx + 1] : join(tmpdir(), `disk-image-studio-profile-${process.pid}`);
  const levelIdx = argv.indexOf('--level');
  const level = levelIdx >= 0 ? Number(argv[levelIdx + 1]) : 3;
  mkdirSync(out, { recursive: true });
  const report: string[] = [];
  let cliProfile: CpuProfile | undefined;

  if (argv.includes('--startup')) {
    // The CLI as a user runs it, profiled from the process's first line.
    const profDir = join(out, 'cli');
    mkdirSync(profDir, { recursive: true });
    const t = performance.now();
    const r = spawnSync(
      process.execPath,
      [
        '--cpu-prof',
        '--cpu-prof-dir',
        profDir,
        join(REPO_ROOT, 'cli/bin.mjs'),
        'build',
        '--files',
        dir,
        '-q',
        '-o',
        join(out, 'cli.img.zst'),
      ],
      { encoding: 'utf8' },
    );
    const wall = performance.now() - t;
    if (r.status !== 0) throw new Error(`the CLI failed: ${r.stderr}`);
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))!;
    const p = JSON.parse(readFileSync(join(profDir, file), 'utf8')) as CpuProfile;
    report.push(`CLI process: ${wall.toFixed(0)} ms wall from spawn to exit`);
    cliProfile = p;
  }

  const profiler = await StageProfiler.start(200);
  profiler.start('input');
  const walked = await walkHostDir(dir, 'profile', undefined, { uid: 0, gid: 0 });
  const resolved = await resolveInputs([{ kind: 'tree', at: '/', entries: walked }], {
    decompressors: inputDecompressors,
    host: nodeHost,
  });
  profiler.stop();
  const onEvent = (e: BuildEvent) => {
    // 'save' runs together with 'compress' (streamed): one profile for both.
    if (e.type !== 'stage' || e.stage === 'save' || e.state === 'skipped') return;
    if (e.state === 'start') profiler.start(e.stage);
    else {
      profiler.stop();
      // dumpe2fs -h and the truncate run between the shrink and the second check.
      if (e.stage === 'shrink') profiler.start('summary');
    }
  };
  const t0 = performance.now();
  let outBytes = 0;
  const result = await buildImage(
    {
      entries: resolved.entries,
      closure: resolved.closure,
      options: { ...DEFAULT_BUILD_OPTIONS, compress: true, compressionLevel: level },
    },
    {
      onEvent,
      sink: (c) => void (outBytes += c.length),
      storage: argv.includes('--memory') ? undefined : tempFileStorage(out),
    },
  );
  const total = performance.now() - t0;
  const stages = await profiler.finish();
  report.push(
    `build: ${total.toFixed(0)} ms (image ${result.imageSize} bytes, output ${outBytes} bytes), ${resolved.entries.length} entries`,
  );
  if (cliProfile) {
    const b = breakdown(cliProfile);
    report.push(
      formatBreakdown('cli', {
        total: b.total,
        parts: b.parts.map(([cat, ms]): [string, number] => [profiler.wasmNames.get(cat) ?? cat, ms]),
      }),
    );
  }
  for (const { name, profile } of profiler.profiles) {
    writeFileSync(join(out, `${name}.cpuprofile`), JSON.stringify(profile));
    report.push(
      formatBreakdown(name, { total: (profile.endTime - profile.startTime) / 1000, parts: stages[name] ?? [] }),
    );
  }
  report.push(`profiles: ${out}`);
  process.stdout.write(report.join('\n') + '\n');
}

if (process.argv[1]?.endsWith('profile.ts'))
  main().catch((e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
