/**
 * `npm run bench`: the studio's pipeline against native e2fsprogs and zstd, side by side,
 * in Node and in headless Chromium. See bench/README.md.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { walkHostDir } from '../core/io/host-tree.ts';
import { planSize } from '../core/size-plan.ts';
import { DEFAULT_BUILD_OPTIONS } from '../core/build-options.ts';
import { streamImage } from '../workers/pipeline/stream-image.ts';
import { openImageFileStore } from '../workers/runtime/node-image-file.ts';
import { availableCores, stopFrameWorkers } from '../workers/runtime/zstd-frames.ts';
import { BrowserBench } from './browser.ts';
import { canResetPeak, ensureGnuTime, runTimed } from './measure.ts';
import { formatTraceSummary } from './trace-summary.ts';
import { nativeTools, runMakeExt4Fs, runNative } from './native.ts';
import type { NodeChildRequest, NodeChildResult } from './node-child.ts';
import {
  addSystemTargets,
  formatSummary,
  summarize,
  type CliRun,
  type Contender,
  type RunRecord,
  type TwoBuilds,
  type WorkloadSummary,
  type ZstdRun,
} from './report.ts';
import { missingWasm, REPO_ROOT, wasmDirs } from './wasm-dirs.ts';
import { ensureWorkload, warmPageCache, type DiskWorkload } from './workload-disk.ts';
import { DEFAULT_SEED, WORKLOAD_NAMES, type WorkloadName } from './workload.ts';

const USAGE = `Usage: npm run bench -- [options]

  --workloads LIST   comma-separated: small, closure, large, system (default small,closure)
  --all              every workload, large and system included (slow: 2 GiB, and
                     400,000 entries and 8 GiB)
  --runs N           runs per workload; figures are medians (default 3)
  --quick            smoke run: scaled-down workloads, 1 run
  --scale X          every workload at X of its size (0 < X <= 1; e.g. 0.1 for system at
                     40,000 entries and 819 MiB); overrides --quick's scales
  --no-node          skip the Node contender
  --no-browser       skip the Chromium contender
  --no-profile       skip the profiled Node run (where the time goes, per stage)
  --no-second-build  skip the Node run that builds twice in one process (what the first
                     build's compiling and starting costs; made for inputs up to 1 GiB)
  --trace DIR        one more page build per workload under Chromium's tracing, written to
                     DIR/<workload>.trace.json, with CPU time per thread and category
  --no-isolation     serve the bench page without COOP/COEP (not cross-origin isolated: no
                     reader worker, the engine reads the picked Files itself)
  --browser-input M  disk (default): the page gets the workload's files as Files;
                     memory: the page generates the same bytes into in-memory Blobs
  --seed N           workload seed (default ${DEFAULT_SEED})
  --cache-dir DIR    where workloads are generated and kept
                     (default $BENCH_CACHE_DIR or ${join(tmpdir(), 'disk-image-studio-bench')})
  --out FILE         JSON results (default bench/results/<timestamp>.json)

Env: RUNTIME_WASM_DIR runs a scratch wasm build (wasm/.build/{w1,z1}/dist) instead of
wasm/*/dist; CHROMIUM_PATH (default /usr/bin/chromium).

The Node and CLI runs keep the tools' optimized code between processes, as a user's builds
do (the wasm code cache): each workload gets a new cache, filled by one untimed Node run.
`;

/** The second-build run doubles a workload's Node time: not for the large ones. */
const SECOND_BUILD_MAX_BYTES = 2 ** 30;

const QUICK_SCALE: Record<WorkloadName, number> = { small: 0.1, closure: 0.05, large: 0.01, system: 0.01 };

interface Options {
  workloads: WorkloadName[];
  runs: number;
  quick: boolean;
  /** Scale of every workload (overrides --quick's). */
  scale?: number;
  node: boolean;
  browser: boolean;
  profile: boolean;
  /** One more Node run that builds twice in one process. */
  secondBuild: boolean;
  trace?: string;
  /** Serve the bench page cross-origin isolated (default). */
  isolated: boolean;
  browserInput: 'disk' | 'memory';
  seed: number;
  cacheDir: string;
  out?: string;
}

function parse(argv: string[]): Options {
  const o: Options = {
    workloads: ['small', 'closure'],
    runs: 3,
    quick: false,
    node: true,
    browser: true,
    profile: true,
    secondBuild: true,
    isolated: true,
    browserInput: 'disk',
    seed: DEFAULT_SEED,
    cacheDir: process.env.BENCH_CACHE_DIR || join(tmpdir(), 'disk-image-studio-bench'),
  };
  let runsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].includes('=')
      ? [argv[i].slice(0, argv[i].indexOf('=')), argv[i].slice(argv[i].indexOf('=') + 1)]
      : [argv[i], undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--workloads': {
        const list = value()
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        const bad = list.filter((n) => !WORKLOAD_NAMES.includes(n as WorkloadName));
        if (bad.length) throw new Error(`unknown workload ${bad.join(', ')}; use ${WORKLOAD_NAMES.join(', ')}`);
        o.workloads = list as WorkloadName[];
        break;
      }
      case '--all':
        o.workloads = [...WORKLOAD_NAMES];
        break;
      case '--runs': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 1) throw new Error('--runs needs a whole number >= 1');
        o.runs = n;
        runsGiven = true;
        break;
      }
      case '--quick':
        o.quick = true;
        break;
      case '--scale': {
        const x = Number(value());
        if (!(x > 0 && x <= 1)) throw new Error('--scale needs a number above 0 and at most 1');
        o.scale = x;
        break;
      }
      case '--no-node':
        o.node = false;
        break;
      case '--no-browser':
        o.browser = false;
        break;
      case '--no-profile':
        o.profile = false;
        break;
      case '--no-second-build':
        o.secondBuild = false;
        break;
      case '--trace':
        o.trace = value();
        break;
      case '--no-isolation':
        o.isolated = false;
        break;
      case '--browser-input': {
        const v = value();
        if (v !== 'disk' && v !== 'memory') throw new Error('--browser-input is disk or memory');
        o.browserInput = v;
        break;
      }
      case '--seed':
        o.seed = Number(value()) >>> 0;
        break;
      case '--cache-dir':
        o.cacheDir = value();
        break;
      case '--out':
        o.out = value();
        break;
      case '-h':
      case '--help':
        process.stdout.write(USAGE);
        return process.exit(0);
      default:
        throw new Error(`unknown option ${argv[i]} (see --help)`);
    }
  }
  if (o.quick && !runsGiven) o.runs = 1;
  return o;
}

function version(cmd: string | undefined, args: string[], re: RegExp): string {
  if (!cmd) return 'missing';
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return re.exec(`${r.stdout}\n${r.stderr}`)?.[1] ?? 'unknown';
}

function log(s: string): void {
  process.stderr.write(`bench: ${s}\n`);
}

async function runNode(
  dirs: ReturnType<typeof wasmDirs>,
  w: DiskWorkload,
  workDir: string,
  profile = false,
  again = false,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunRecord['node']> {
  const out = join(workDir, 'node.img.zst');
  const req: NodeChildRequest = {
    dir: w.dir,
    out,
    profile,
    again,
    ...(dirs.committed ? {} : { e2fsprogs: dirs.e2fsprogs, zstd: dirs.zstd }),
  };
  const r = await runTimed(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'bench/node-child.ts'), JSON.stringify(req)],
    { cwd: REPO_ROOT, pollPeak: false, env },
  );
  rmSync(out, { force: true });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let result: NodeChildResult;
  try {
    result = JSON.parse(line) as NodeChildResult;
  } catch {
    result = {
      ok: false,
      error: `exit ${r.code}: ${r.stderr.trim().split('\n').slice(-5).join(' | ')}`,
    } as NodeChildResult;
  }
  return { ...result, processMs: r.ms };
}

/**
 * The command line as a user runs it (`disk-image-studio build --files DIR -o OUT.img.zst`),
 * timed from spawn to exit: Node's start-up, loading the compiled CLI, the tree walk, the
 * pipeline and writing the output. The output is kept for {@link runZstd}.
 */
async function runCli(w: DiskWorkload, out: string, gnuTime: string | undefined): Promise<CliRun> {
  rmSync(out, { force: true });
  const r = await runTimed(
    process.execPath,
    [join(REPO_ROOT, 'cli/bin.mjs'), 'build', '--files', w.dir, '-q', '-o', out],
    { cwd: REPO_ROOT, gnuTime },
  );
  const sha = /sha256 ([0-9a-f]{64})/.exec(r.stdout)?.[1];
  if (r.code !== 0 || !sha)
    return {
      ok: false,
      error: `exit ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`,
      ms: r.ms,
      peak: r.peak,
      outBytes: 0,
      sha256: '',
    };
  return { ok: true, ms: r.ms, peak: r.peak, outBytes: statSync(out).size, sha256: sha };
}

/**
 * Compression alone, on the image the CLI made (restored with native `zstd -d`): the
 * studio's zstd with every core and with one thread (the calling thread, no workers), and
 * the output's sha256 with 0, 1 and all workers, which must be the same bytes.
 */
async function runZstd(cliOut: string, workDir: string, tools: { zstd: string }): Promise<ZstdRun> {
  const img = join(workDir, 'cli.img');
  const d = spawnSync(tools.zstd, ['-q', '-d', '-f', cliOut, '-o', img]);
  if (d.status !== 0)
    return { ok: false, error: `zstd -d: ${d.stderr}`, allCoresMs: NaN, oneThreadMs: NaN, workers: 0, sha256: {} };
  // Read in place, as the pipeline's own store in a host file (the system image is 9 GiB:
  // read into memory it held the bench's own process at 9.9 GB during the page's build).
  const store = openImageFileStore(img);
  const cores = availableCores();
  const sha256: Record<string, string> = {};
  const time = async (workers: number) => {
    const t = performance.now();
    const r = await streamImage(store, undefined, { compress: true, workers });
    sha256[String(workers)] = r.sha256;
    return performance.now() - t;
  };
  try {
    // Warm: the pool started and the module compiled, as they are after the first build.
    await time(cores);
    const allCoresMs = await time(cores);
    const oneThreadMs = await time(0);
    if (cores !== 1) await time(1);
    return { ok: true, allCoresMs, oneThreadMs, workers: cores, sha256 };
  } finally {
    store.close();
    rmSync(img, { force: true });
    stopFrameWorkers();
  }
}

async function main(): Promise<void> {
  let opts: Options;
  try {
    opts = parse(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  const dirs = wasmDirs();
  const missing = missingWasm(dirs);
  if (missing.length) {
    log(
      `the ${dirs.committed ? 'committed' : 'scratch'} wasm build is incomplete; missing:\n  ${missing.join('\n  ')}`,
    );
    log(
      dirs.committed
        ? 'build it (npm run build:wasm), or set RUNTIME_WASM_DIR to use a scratch build in wasm/.build'
        : 'check RUNTIME_WASM_DIR',
    );
    process.exit(1);
  }
  const tools = nativeTools();
  if ('missing' in tools) {
    log(`native tools missing: ${tools.missing.join(', ')} (Debian: apt-get install e2fsprogs zstd)`);
    process.exit(1);
  }
  if (!canResetPeak())
    log('this kernel does not let us reset peak RSS (/proc/PID/clear_refs): per-stage peaks are cumulative');
  const gnuTime = ensureGnuTime(log);
  // The CLI's compiled JavaScript, as `npm install` leaves it, so no run pays for building it.
  if (opts.node) spawnSync(process.execPath, [join(REPO_ROOT, 'scripts/build-cli.mjs')], { stdio: 'ignore' });
  const contenders: Contender[] = [
    ...(opts.node ? ['node' as const] : []),
    ...(opts.browser ? ['chromium' as const] : []),
  ];

  const meta = {
    date: new Date().toISOString(),
    host: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', memoryBytes: totalmem(), kernel: release() },
    versions: {
      node: process.version,
      nativeE2fsprogs: version(tools.mke2fs, ['-V'], /mke2fs ([\d.]+)/),
      nativeZstd: version(tools.zstd, ['--version'], /v([\d.]+)/),
      chromium: '',
    },
    wasm: { ...dirs },
    options: { ...opts, quick: opts.quick },
    measuring: {
      time: 'wall clock; native: spawn to exit of each tool; ours: BuildEvent stage times, total from before the tree walk (Node) / the build call (page) to the last output byte',
      memoryNative: gnuTime ? 'GNU time %M (peak RSS) per tool' : 'VmHWM polled from /proc every 2 ms per tool',
      memoryNode: "the child process's own VmHWM, read and reset (clear_refs) at every stage boundary",
      memoryChromium:
        "VmHWM of the page's renderer process (found via CDP SystemInfo.getProcessInfo), read and reset at every stage event the page reports; plus the RSS of all Chromium processes summed, sampled every 50 ms",
      browserInput:
        opts.browserInput === 'disk'
          ? "the workload's files picked into <input type=file multiple> with Playwright setInputFiles, one path per file (disk-backed Files); paths, modes and symlinks from the workload description"
          : 'bytes generated in the page from the same seed into in-memory Blobs',
    },
  };

  mkdirSync(opts.cacheDir, { recursive: true });
  // A folder of this run's own: several benches may share the cache (and its workloads).
  const workDir = mkdtempSync(join(opts.cacheDir, 'work-'));

  const workloads: DiskWorkload[] = [];
  for (const name of opts.workloads) {
    const scale = opts.scale ?? (opts.quick ? QUICK_SCALE[name] : 1);
    const w = ensureWorkload(name, opts.seed, scale, opts.cacheDir, log);
    if (!w.generated) log(`reusing ${name} in ${w.dir}`);
    workloads.push(w);
  }

  let browser: BrowserBench | undefined;
  if (opts.browser) {
    try {
      // Read by bench/browser/vite.config.ts.
      if (!opts.isolated) process.env.BENCH_NO_ISOLATION = '1';
      browser = await BrowserBench.start(log, workDir);
      meta.versions.chromium = browser.version;
    } catch (e) {
      log(`Chromium could not be started; continuing without it: ${(e as Error).message}`);
      contenders.splice(contenders.indexOf('chromium'), 1);
    }
  }

  const results: {
    workload: Omit<DiskWorkload['workload'], 'entries'> & {
      dir: string;
      planInitialBytes: number;
      planFinalBytes: number;
    };
    runs: RunRecord[];
    summary: WorkloadSummary;
  }[] = [];
  try {
    for (const w of workloads) {
      const { entries: _entries, ...wl } = w.workload;
      log(`${w.workload.name}: warming the page cache`);
      warmPageCache(w);
      const walked = await walkHostDir(w.dir, 'bench', undefined, { uid: 0, gid: 0 });
      const plan = planSize(walked, DEFAULT_BUILD_OPTIONS);
      if (browser) {
        const p = await browser.load(w, opts.browserInput);
        if (p.mismatched.length)
          throw new Error(`the page's tree does not match the workload: ${p.mismatched.join(', ')}`);
      }
      // Node and the CLI keep the tools' optimized code between processes (the wasm code cache,
      // workers/runtime/wasm-code-cache.ts): each workload gets its own, filled by one untimed
      // run, so that the timed runs are a user's second and later builds. The first build
      // without it is the second-build run's first (below).
      const codeCacheDir = join(workDir, `wasm-code-${w.workload.name}`);
      rmSync(codeCacheDir, { recursive: true, force: true });
      process.env.DISK_IMAGE_STUDIO_WASM_CACHE = codeCacheDir;
      let codeCacheFill: string | undefined;
      if (opts.node) {
        log(`${w.workload.name}: one untimed Node run to fill the wasm code cache`);
        const r = await runNode(dirs, w, workDir);
        codeCacheFill = r?.ok ? r.codeCache : `failed: ${r?.error}`;
      }
      const runs: RunRecord[] = [];
      for (let i = 1; i <= opts.runs; i++) {
        const rec: RunRecord = {};
        log(`${w.workload.name} run ${i}/${opts.runs}: native`);
        try {
          rec.native = await runNative({
            tools,
            treeDir: w.dir,
            workDir,
            plan,
            mke2fsConf: join(dirs.e2fsprogs, 'mke2fs.conf'),
            gnuTime,
          });
        } catch (e) {
          rec.nativeError = (e as Error).message;
        }
        if (opts.node) {
          log(`${w.workload.name} run ${i}/${opts.runs}: node`);
          rec.node = await runNode(dirs, w, workDir);
          if (dirs.committed) {
            log(`${w.workload.name} run ${i}/${opts.runs}: CLI, then zstd alone`);
            const cliOut = join(workDir, 'cli.img.zst');
            rec.cli = await runCli(w, cliOut, gnuTime);
            if (rec.cli.ok) rec.zstd = await runZstd(cliOut, workDir, tools);
            rmSync(cliOut, { force: true });
          }
        }
        if (browser) {
          log(`${w.workload.name} run ${i}/${opts.runs}: chromium`);
          rec.chromium = await browser.run();
        }
        runs.push(rec);
        const t = (x?: { ok?: boolean; totalMs: number }) =>
          x?.ok === false ? 'failed' : x ? `${(x.totalMs / 1000).toFixed(2)} s` : '-';
        log(
          `  native ${rec.native ? `${(rec.native.totalMs / 1000).toFixed(2)} s` : 'failed'}, node ${t(rec.node)}, CLI ${rec.cli ? (rec.cli.ok ? `${(rec.cli.ms / 1000).toFixed(2)} s` : 'failed') : '-'}, chromium ${t(rec.chromium)}`,
        );
      }
      let profile: Record<string, [string, number][]> | undefined;
      if (opts.node && opts.profile) {
        log(`${w.workload.name}: one more Node run, profiled`);
        const p = await runNode(dirs, w, workDir, true);
        profile = p?.ok ? p.profile : undefined;
      }
      let twice: TwoBuilds | undefined;
      let twiceFailed: string | undefined;
      if (opts.node && opts.secondBuild) {
        if (w.workload.bytes > SECOND_BUILD_MAX_BYTES) {
          log(`${w.workload.name}: no second-build run (its input is over 1 GiB)`);
        } else {
          log(`${w.workload.name}: one more Node run, built twice in one process, without the wasm code cache`);
          const r = await runNode(dirs, w, workDir, false, true, {
            ...process.env,
            DISK_IMAGE_STUDIO_WASM_CACHE: 'off',
          });
          if (r?.ok && r.again) twice = { first: { totalMs: r.totalMs, spans: r.spans }, second: r.again };
          // A second build whose output differs is a fault of the studio's, not of the bench.
          else twiceFailed = `node, built twice in one process: ${r?.error ?? 'no second build'}`;
        }
      }
      let trace: string[] | undefined;
      if (browser && opts.trace) {
        mkdirSync(opts.trace, { recursive: true });
        const file = join(opts.trace, `${w.workload.name}.trace.json`);
        log(`${w.workload.name}: one more page build, traced, to ${file}`);
        trace = formatTraceSummary(await browser.trace(file));
      }
      const summary = summarize(w.workload, runs, profile, twice);
      summary.codeCache = { fill: codeCacheFill, timed: runs.find((r) => r.node?.ok)?.node?.codeCache };
      if (twiceFailed) summary.problems.push(twiceFailed);
      if (w.workload.name === 'system') {
        log(`${w.workload.name}: make-ext4-fs.nix's own steps, natively (the size reference)`);
        addSystemTargets(
          summary,
          await runMakeExt4Fs({
            tools,
            treeDir: w.dir,
            workDir,
            nixpkgsBytes: plan.nixpkgsBytes,
            mke2fsConf: join(dirs.e2fsprogs, 'mke2fs.conf'),
            gnuTime,
          }),
        );
      }
      let text = formatSummary(w.workload, opts.runs, summary, contenders);
      if (trace?.length)
        text += `\n\nwhere the page's time goes (one traced build; CPU per thread and category, ms):\n${trace.join('\n')}`;
      process.stdout.write(`\n${text}\n`);
      results.push({
        workload: { ...wl, dir: w.dir, planInitialBytes: plan.initialImageBytes, planFinalBytes: plan.finalImageBytes },
        runs,
        summary,
      });
    }
  } finally {
    await browser?.close();
    rmSync(workDir, { recursive: true, force: true });
  }

  const stamp = meta.date.replace(/[:.]/g, '-');
  const outFile = opts.out ?? join(REPO_ROOT, 'bench/results', `${stamp}.json`);
  mkdirSync(join(outFile, '..'), { recursive: true });
  writeFileSync(outFile, JSON.stringify({ meta, results }, null, 2) + '\n');
  const verdicts = results.flatMap((r) =>
    r.summary.targets.map((t) => `${r.workload.name}/${t.contender}: ${t.pass ? 'PASS' : 'MISS'} ${t.name}`),
  );
  process.stdout.write(`\n${verdicts.join('\n')}\n\nbench: figures written to ${outFile}\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
