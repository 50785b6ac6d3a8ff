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
 *   node --import tsx bench/profile.ts DIR [--out DIR] [--startup] [--level N]
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
  const file = basename(url.split('?')[0]);
  if (file === 'tree-fs.ts') return 'js TREEFS (tree reads)';
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
    process.stderr.write('usage: node --import tsx bench/profile.ts DIR [--out DIR] [--startup] [--level N]\n');
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

  const session = new Session();
  session.connect();
  await post(session, 'Profiler.enable');
  await post(session, 'Profiler.setSamplingInterval', { interval: 200 });
  const stages: { name: string; profile: CpuProfile }[] = [];
  let running: string | undefined;
  let pending = Promise.resolve();
  const start = (name: string) => {
    running = name;
    pending = pending.then(() => post(session, 'Profiler.start'));
  };
  const stop = () => {
    const name = running;
    if (!name) return;
    running = undefined;
    pending = pending.then(async () => {
      const { profile } = await post<{ profile: CpuProfile }>(session, 'Profiler.stop');
      stages.push({ name, profile });
    });
  };

  start('input');
  const walked = (await walkHostDir(dir, 'profile')).map((e) => ({ ...e, uid: 0, gid: 0 }));
  const resolved = await resolveInputs([{ kind: 'tree', at: '/', entries: walked }], {
    decompressors: inputDecompressors,
    host: nodeHost,
  });
  stop();
  const onEvent = (e: BuildEvent) => {
    // 'save' runs together with 'compress' (streamed): one profile for both.
    if (e.type !== 'stage' || e.stage === 'save') return;
    if (e.state === 'start') {
      stop();
      start(e.stage);
    } else if (e.state === 'done' && running === e.stage) {
      stop();
      // What runs between the second check and compression: dumpe2fs -h, truncate.
      if (e.stage === 'recheck') start('summary');
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
    { onEvent, sink: (c) => void (outBytes += c.length) },
  );
  stop();
  await pending;
  const total = performance.now() - t0;
  session.disconnect();

  report.push(
    `build: ${total.toFixed(0)} ms (image ${result.imageSize} bytes, output ${outBytes} bytes), ${resolved.entries.length} entries`,
  );
  // V8 names a wasm module by a hash of its bytes: name each after the tool of the stage
  // where it spends most.
  const names = new Map<string, string>();
  for (const s of stages) {
    const tool = STAGE_TOOL[s.name];
    const top = breakdown(s.profile).parts.find(([cat]) => cat.startsWith('wasm '));
    if (tool && top && !names.has(top[0])) names.set(top[0], `wasm ${tool}`);
  }
  const named = (b: ReturnType<typeof breakdown>) => ({
    total: b.total,
    parts: b.parts.map(([cat, ms]): [string, number] => [names.get(cat) ?? cat, ms]),
  });
  if (cliProfile) report.push(formatBreakdown('cli', named(breakdown(cliProfile))));
  for (const s of stages) {
    writeFileSync(join(out, `${s.name}.cpuprofile`), JSON.stringify(s.profile));
    report.push(formatBreakdown(s.name, named(breakdown(s.profile))));
  }
  report.push(`profiles: ${out}`);
  process.stdout.write(report.join('\n') + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
