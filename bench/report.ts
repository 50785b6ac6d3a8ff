/**
 * Turns the runs of one workload into medians, ratios to native and target verdicts, and
 * prints them as a table. Every ratio is taken run by run (ours / native of the same run)
 * and the median of those is reported.
 */
import type { BrowserRun } from './browser.ts';
import { median } from './measure.ts';
import type { NativeRun } from './native.ts';
import type { NodeChildResult, StageSpan } from './node-child.ts';
import type { Workload } from './workload.ts';

const MiB = 1024 * 1024;

export type NodeRun = NodeChildResult & { processMs: number };

/** The command line from spawn to exit (`cli/bin.mjs build --files DIR -o OUT.img.zst`). */
export interface CliRun {
  ok: boolean;
  error?: string;
  ms: number;
  peak: number;
  outBytes: number;
  sha256: string;
}

/** The studio's zstd alone on the final image: all cores, one thread, and the bytes per worker count. */
export interface ZstdRun {
  ok: boolean;
  error?: string;
  allCoresMs: number;
  oneThreadMs: number;
  /** Workers used for `allCoresMs` (the host's cores). */
  workers: number;
  /** sha256 of the output by number of workers ("0" = the calling thread). */
  sha256: Record<string, string>;
}

export interface RunRecord {
  native?: NativeRun;
  nativeError?: string;
  node?: NodeRun;
  cli?: CliRun;
  zstd?: ZstdRun;
  chromium?: BrowserRun;
}

/** Rows of the stage table; `total` is the end-to-end figure. */
export const ROWS = ['input', 'plan', 'mkfs', 'check', 'shrink', 'recheck', 'summary', 'compress', 'total'] as const;
export type Row = (typeof ROWS)[number];
export type Contender = 'node' | 'chromium';

export interface Cell {
  ms: number;
  peak: number;
  /** Median of per-run ratios to native (time). */
  timeRatio?: number;
}

export interface Target {
  name: string;
  /** node, chromium, cli (the command line from process start), zstd (compression alone). */
  contender: string;
  pass: boolean;
  detail: string;
}

export interface WorkloadSummary {
  rows: Record<Row, { native?: Cell; node?: Cell; chromium?: Cell }>;
  native: {
    totalT0Ms: number;
    compressT0Ms: number;
    compressSTMs: number;
    zstdT1Bytes: number;
    zstdT0Bytes: number;
    zstdSTBytes: number;
    imageBytes: number;
    blockCount: number;
    blockSize: number;
    freeBlocks: number;
    initialBytes: number;
    mkfsAttempts: number;
  };
  ours: Partial<
    Record<
      Contender,
      {
        imageBytes: number;
        outBytes: number;
        blockCount: number;
        blockSize: number;
        freeBlocks: number;
        baseline: number;
        peak: number;
        mkfsAttempts: number;
        initialBytes: number;
        processMs?: number;
        allProcessesPeak?: number;
        /** Chromium: from the engine's worker made to its warm-up done (median). */
        readyMs?: number;
        /** Chromium: the driver's own peak RSS (Node with Playwright and Vite) over the run. */
        driverPeak?: number;
        compressedRatio: number;
        totalT0Ratio: number;
      }
    >
  >;
  targets: Target[];
  problems: string[];
  /** The command line, from process start (median of runs). */
  cli?: { ms: number; peak: number; ratio: number };
  /** Compression alone (median of runs). */
  zstd?: {
    allCoresMs: number;
    oneThreadMs: number;
    workers: number;
    vsT1: number;
    vsT0: number;
    oneThreadVsT1: number;
  };
  /** Self time per category per stage, from one profiled Node run. */
  profile?: Record<string, [string, number][]>;
  /** One Node run that built twice in one process. */
  twice?: TwoBuilds;
  /** The wasm code cache (Node, CLI): after the untimed run that filled it, and after a timed run. */
  codeCache?: { fill?: string; timed?: string };
}

/** A Node child's first and second build in one process (`again`): the same work each time. */
export interface TwoBuilds {
  first: { totalMs: number; spans: StageSpan[] };
  second: { totalMs: number; spans: StageSpan[] };
}

function spanOf(spans: StageSpan[], row: Row): StageSpan | undefined {
  return spans.find((s) => s.stage === row);
}

function oursCell(runs: RunRecord[], who: Contender, row: Row): Cell | undefined {
  const ok = runs.filter((r) => r[who]?.ok);
  if (ok.length === 0) return undefined;
  const get = (r: RunRecord): { ms: number; peak: number } | undefined => {
    const o = r[who]!;
    if (row === 'total') return { ms: o.totalMs, peak: o.peak };
    const s = spanOf(o.spans, row);
    return s ? { ms: s.end - s.start, peak: s.peak } : undefined;
  };
  const vals = ok.map(get).filter((v): v is { ms: number; peak: number } => v !== undefined);
  if (vals.length === 0) return undefined;
  const ratios = ok
    .map((r) => {
      const n = nativeFigure(r.native, row);
      const o = get(r);
      return n && o && n.ms > 0 ? o.ms / n.ms : NaN;
    })
    .filter(Number.isFinite);
  return {
    ms: median(vals.map((v) => v.ms)),
    peak: median(vals.map((v) => v.peak)),
    timeRatio: ratios.length ? median(ratios) : undefined,
  };
}

function nativeFigure(n: NativeRun | undefined, row: Row): { ms: number; peak: number } | undefined {
  if (!n) return undefined;
  if (row === 'total') return { ms: n.totalMs, peak: n.peak };
  if (row === 'input' || row === 'plan') return undefined;
  return n.stages[row];
}

export function summarize(
  w: Workload,
  runs: RunRecord[],
  profile?: Record<string, [string, number][]>,
  twice?: TwoBuilds,
): WorkloadSummary {
  const natives = runs.map((r) => r.native).filter((n): n is NativeRun => n !== undefined);
  const rows = {} as WorkloadSummary['rows'];
  for (const row of ROWS) {
    const nv = natives
      .map((n) => nativeFigure(n, row))
      .filter((v): v is { ms: number; peak: number } => v !== undefined);
    rows[row] = {
      native: nv.length ? { ms: median(nv.map((v) => v.ms)), peak: median(nv.map((v) => v.peak)) } : undefined,
      node: oursCell(runs, 'node', row),
      chromium: oursCell(runs, 'chromium', row),
    };
  }
  const m = (f: (n: NativeRun) => number) => median(natives.map(f));
  const native = {
    totalT0Ms: m((n) => n.totalT0Ms),
    compressT0Ms: m((n) => n.stages.compressT0.ms),
    compressSTMs: m((n) => n.stages.compressST.ms),
    zstdT1Bytes: m((n) => n.zstdT1Bytes),
    zstdT0Bytes: m((n) => n.zstdT0Bytes),
    zstdSTBytes: m((n) => n.zstdSTBytes),
    imageBytes: m((n) => n.imageBytes),
    blockCount: m((n) => n.fs.blockCount),
    blockSize: m((n) => n.fs.blockSize),
    freeBlocks: m((n) => n.fs.freeBlocks),
    initialBytes: m((n) => n.initialBytes),
    mkfsAttempts: m((n) => n.mkfsAttempts),
  };
  const ours: WorkloadSummary['ours'] = {};
  const targets: Target[] = [];
  const problems = [...new Set(natives.flatMap((n) => n.problems))];
  for (const r of runs) if (r.nativeError) problems.push(`native: ${r.nativeError}`);
  for (const who of ['node', 'chromium'] as const) {
    const ok = runs.filter((r) => r[who]?.ok);
    for (const r of runs) if (r[who] && !r[who]!.ok) problems.push(`${who}: ${r[who]!.error}`);
    if (ok.length === 0) continue;
    const o = (f: (x: NodeRun | BrowserRun) => number) => median(ok.map((r) => f(r[who]!)));
    const perRun = (f: (x: NodeRun | BrowserRun, n: NativeRun) => number) =>
      median(ok.filter((r) => r.native).map((r) => f(r[who]!, r.native!)));
    const s = {
      imageBytes: o((x) => x.imageBytes),
      outBytes: o((x) => x.outBytes),
      blockCount: o((x) => x.blockCount),
      blockSize: o((x) => x.blockSize),
      freeBlocks: o((x) => x.freeBlocks),
      baseline: o((x) => x.baseline),
      peak: o((x) => x.peak),
      mkfsAttempts: o((x) => x.mkfsAttempts),
      initialBytes: o((x) => x.initialBytes),
      processMs: who === 'node' ? o((x) => (x as NodeRun).processMs) : undefined,
      allProcessesPeak: who === 'chromium' ? o((x) => (x as BrowserRun).allProcessesPeak) : undefined,
      readyMs: who === 'chromium' ? o((x) => (x as BrowserRun).readyMs) : undefined,
      driverPeak: who === 'chromium' ? o((x) => (x as BrowserRun).driverPeak) : undefined,
      compressedRatio: perRun((x, n) => x.outBytes / n.zstdT1Bytes),
      totalT0Ratio: perRun((x, n) => x.totalMs / n.totalT0Ms),
    };
    ours[who] = s;
    const timeRatio = rows.total[who]?.timeRatio ?? NaN;
    const limit = who === 'node' ? 1.3 : 2;
    targets.push({
      name: `${who === 'node' ? 'pipeline' : 'total'} time <= ${limit}x native (zstd -T1)`,
      contender: who,
      pass: timeRatio <= limit,
      detail: `${fmtRatio(timeRatio)} (${fmtMs(rows.total[who]!.ms)} vs ${fmtMs(rows.total.native?.ms ?? NaN)})`,
    });
    // What the build adds to the runtime it runs in: Node (90 MiB with tsx) or a renderer
    // with the studio's worker (165-185 MiB) holds more than a small workload's allowance
    // before reading a byte, which says nothing about the build. The absolute peak is
    // printed beside it, and the system workload keeps absolute limits (addSystemTargets).
    const budget = w.bytes + s.imageBytes + 64 * MiB;
    const added = o((x) => x.peak - x.baseline);
    targets.push({
      name: 'peak memory added <= input + final image + 64 MiB',
      contender: who,
      pass: added <= budget,
      detail: `${fmtMiB(added)} of ${fmtMiB(budget)} MiB (peak ${fmtMiB(s.peak)}, ${fmtMiB(s.baseline)} before the build)`,
    });
    targets.push({
      name: 'compressed size <= native zstd -3 (-T1) + 1%',
      contender: who,
      pass: s.outBytes <= native.zstdT1Bytes * 1.01,
      detail: `${fmtBytes(s.outBytes)} vs ${fmtBytes(native.zstdT1Bytes)} (${fmtPct(s.compressedRatio)})`,
    });
    const sameBlocks = ok.every(
      (r) =>
        !r.native || (r[who]!.blockCount === r.native.fs.blockCount && r[who]!.blockSize === r.native.fs.blockSize),
    );
    targets.push({
      name: 'block count = native after resize2fs -M',
      contender: who,
      pass: sameBlocks,
      detail: sameBlocks
        ? `${s.blockCount} x ${s.blockSize} B in every run`
        : `ours ${s.blockCount} vs native ${native.blockCount} blocks (${s.blockCount - native.blockCount >= 0 ? '+' : ''}${s.blockCount - native.blockCount}), free ${s.freeBlocks} vs ${native.freeBlocks}`,
    });
  }
  const extra = cliAndZstd(runs, targets, problems);
  return { rows, native, ours, targets, problems, ...extra, profile, twice };
}

/** Targets of the command line (from process start) and of compression alone; the same-bytes check. */
function cliAndZstd(runs: RunRecord[], targets: Target[], problems: string[]): Pick<WorkloadSummary, 'cli' | 'zstd'> {
  const out: Pick<WorkloadSummary, 'cli' | 'zstd'> = {};
  for (const r of runs) {
    if (r.cli && !r.cli.ok) problems.push(`cli: ${r.cli.error}`);
    if (r.zstd && !r.zstd.ok) problems.push(`zstd: ${r.zstd.error}`);
  }
  const cliRuns = runs.filter((r) => r.cli?.ok && r.native);
  if (cliRuns.length) {
    const ms = median(cliRuns.map((r) => r.cli!.ms));
    const ratio = median(cliRuns.map((r) => r.cli!.ms / r.native!.totalMs));
    const peak = median(cliRuns.map((r) => r.cli!.peak));
    out.cli = { ms, peak, ratio };
    targets.push({
      name: 'CLI from process start <= 1.3x native (zstd -T1)',
      contender: 'cli',
      pass: ratio <= 1.3,
      detail: `${fmtRatio(ratio)} (${fmtMs(ms)} vs ${fmtMs(median(cliRuns.map((r) => r.native!.totalMs)))}); peak ${fmtMiB(peak)} MiB`,
    });
  }
  const zRuns = runs.filter((r) => r.zstd?.ok && r.native);
  if (zRuns.length) {
    const z = {
      allCoresMs: median(zRuns.map((r) => r.zstd!.allCoresMs)),
      oneThreadMs: median(zRuns.map((r) => r.zstd!.oneThreadMs)),
      workers: zRuns[0].zstd!.workers,
      vsT1: median(zRuns.map((r) => r.zstd!.allCoresMs / r.native!.stages.compress.ms)),
      vsT0: median(zRuns.map((r) => r.zstd!.allCoresMs / r.native!.stages.compressT0.ms)),
      oneThreadVsT1: median(zRuns.map((r) => r.zstd!.oneThreadMs / r.native!.stages.compress.ms)),
    };
    out.zstd = z;
    targets.push({
      name: 'zstd on all cores <= 1.0x native zstd -3 -T1',
      contender: 'zstd',
      pass: z.vsT1 <= 1.0,
      detail: `${fmtRatio(z.vsT1)} with ${z.workers} workers (${fmtMs(z.allCoresMs)}); ${fmtRatio(z.vsT0)} of native -T0; one thread ${fmtRatio(z.oneThreadVsT1)} of -T1`,
    });
  }
  // Same bytes whatever the number of cores: compression alone with 0, 1 and all workers,
  // the CLI, the pipeline in a Node child and the page (all with every core they have).
  const shas = new Set<string>();
  let sources = 0;
  for (const r of runs) {
    for (const sha of Object.values(r.zstd?.ok ? r.zstd.sha256 : {})) {
      shas.add(sha);
      sources++;
    }
    for (const sha of [
      r.cli?.ok ? r.cli.sha256 : '',
      r.node?.ok ? r.node.sha256 : '',
      r.chromium?.ok ? r.chromium.sha256 : '',
    ]) {
      if (!sha) continue;
      shas.add(sha);
      sources++;
    }
  }
  if (sources > 1) {
    const counts = [...new Set(runs.flatMap((r) => Object.keys(r.zstd?.sha256 ?? {})))].join(', ');
    targets.push({
      name: 'same bytes across core counts',
      contender: 'zstd',
      pass: shas.size === 1,
      detail:
        shas.size === 1
          ? `${sources} outputs (workers ${counts || '-'}; CLI, Node, page) identical`
          : `${shas.size} different outputs among ${sources}`,
    });
  }
  return out;
}

// ---- formatting -----------------------------------------------------------------------

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  return ms < 10_000 ? `${(ms / 1000).toFixed(2)} s` : `${(ms / 1000).toFixed(1)} s`;
}
export function fmtRatio(r: number | undefined): string {
  return r === undefined || !Number.isFinite(r) ? '' : `${r.toFixed(2)}x`;
}
export function fmtMiB(b: number): string {
  return Number.isFinite(b) && b > 0 ? (b / MiB).toFixed(0) : '-';
}
export function fmtBytes(b: number): string {
  return Number.isFinite(b) ? `${(b / MiB).toFixed(2)} MiB` : '-';
}
function fmtPct(r: number): string {
  if (!Number.isFinite(r)) return '-';
  const d = (r - 1) * 100;
  return `${d >= 0 ? '+' : ''}${d.toFixed(2)}%`;
}

/** Rows of the first-and-second-build table: per stage, each build's time and its ratio to native. */
function twoBuildRows(s: WorkloadSummary): string[][] {
  const { first, second } = s.twice!;
  const ms = (b: TwoBuilds['first'], row: Row) => {
    if (row === 'total') return b.totalMs;
    const span = spanOf(b.spans, row);
    return span ? span.end - span.start : NaN;
  };
  return ROWS.map((row) => {
    const native = s.rows[row].native?.ms ?? NaN;
    const a = ms(first, row);
    const b = ms(second, row);
    return [row, fmtMs(native), fmtMs(a), fmtRatio(a / native), fmtMs(b), fmtRatio(b / native)];
  });
}

function table(header: string[], rows: string[][], alignLeft = 1): string {
  const widths = header.map((h, i) => rows.reduce((w, r) => Math.max(w, (r[i] ?? '').length), h.length));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < alignLeft ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function describeWorkload(w: Workload): string {
  const k = (n: number) => (n / MiB).toFixed(0);
  return `${w.files.toLocaleString('en')} files, ${w.directories.toLocaleString('en')} directories, ${w.symlinks.toLocaleString('en')} symlinks, ${(w.bytes / MiB).toFixed(1)} MiB (text ${k(w.kinds.text)}, binary ${k(w.kinds.binary)}, random ${k(w.kinds.random)} MiB)`;
}

export function formatSummary(w: Workload, runs: number, s: WorkloadSummary, contenders: Contender[]): string {
  const out: string[] = [];
  out.push(
    `== ${w.name}${w.scale !== 1 ? ` (scale ${w.scale})` : ''}: ${describeWorkload(w)}; medians of ${runs} run${runs === 1 ? '' : 's'}`,
  );
  const header = ['stage', 'native'];
  for (const c of contenders) header.push(c, 'x');
  header.push('| peak MiB: native');
  for (const c of contenders) header.push(c);
  const rows: string[][] = [];
  for (const row of ROWS) {
    const r = s.rows[row];
    const label = row === 'compress' ? 'compress (T1)' : row === 'total' ? 'total' : row;
    const cells = [label, fmtMs(r.native?.ms ?? NaN)];
    for (const c of contenders) cells.push(fmtMs(r[c]?.ms ?? NaN), fmtRatio(r[c]?.timeRatio));
    cells.push(fmtMiB(r.native?.peak ?? NaN));
    for (const c of contenders) cells.push(fmtMiB(r[c]?.peak ?? NaN));
    rows.push(cells);
  }
  const extra = (label: string, nativeMs: number, ratio: (c: Contender) => number | undefined) => {
    const cells = [label, fmtMs(nativeMs)];
    for (const c of contenders) cells.push('', fmtRatio(ratio(c)));
    rows.push(cells);
  };
  extra('zstd -T0', s.native.compressT0Ms, () => undefined);
  extra('total, zstd -T0', s.native.totalT0Ms, (c) => s.ours[c]?.totalT0Ratio);
  extra('zstd --single-thread', s.native.compressSTMs, () => undefined);
  out.push(table(header, rows));
  out.push(
    "  input: Node walks the folder (as the CLI's --files); the page builds its tree from the picked Files. plan: the studio's size plan.",
  );
  out.push(
    '  summary: dumpe2fs -h and truncate to the filesystem size. compress: ours streams zstd -3 and the output together.',
  );

  const n = s.native;
  const sizeRows: string[][] = [
    [
      'native',
      fmtBytes(n.initialBytes),
      String(n.mkfsAttempts),
      fmtBytes(n.imageBytes),
      `${n.blockCount} x ${n.blockSize}`,
      String(n.freeBlocks),
      fmtBytes(n.zstdT1Bytes),
      '',
    ],
  ];
  for (const c of contenders) {
    const o = s.ours[c];
    if (!o) continue;
    sizeRows.push([
      c,
      fmtBytes(o.initialBytes),
      String(o.mkfsAttempts),
      fmtBytes(o.imageBytes),
      `${o.blockCount} x ${o.blockSize}`,
      String(o.freeBlocks),
      fmtBytes(o.outBytes),
      fmtPct(o.compressedRatio),
    ]);
  }
  out.push('');
  out.push(table(['sizes', 'mkfs size', 'tries', 'image', 'blocks', 'free', 'zstd -3', 'vs native'], sizeRows));
  out.push(
    `  native zstd -3 -T0: ${fmtBytes(n.zstdT0Bytes)}; --single-thread: ${fmtBytes(n.zstdSTBytes)} (${fmtPct(n.zstdSTBytes / n.zstdT1Bytes)} vs -T1)`,
  );
  for (const c of contenders) {
    const o = s.ours[c];
    if (!o) continue;
    if (c === 'node')
      out.push(
        `  node: RSS before the build ${fmtMiB(o.baseline)} MiB; the child process's wall time incl. Node/tsx startup ${fmtMs(o.processMs ?? NaN)}`,
      );
    else
      out.push(
        `  chromium: the engine ready (its worker made to its warm-up done) in ${fmtMs(o.readyMs ?? NaN)}; renderer RSS before the build ${fmtMiB(o.baseline)} MiB; all Chromium processes together peaked at ${fmtMiB(o.allProcessesPeak ?? NaN)} MiB (sampled); the driver (Node, Playwright, Vite) peaked at ${fmtMiB(o.driverPeak ?? NaN)} MiB`,
      );
  }
  if (s.cli)
    out.push(
      `  CLI (cli/bin.mjs, compiled JavaScript) from process start to exit: ${fmtMs(s.cli.ms)}, ${fmtRatio(s.cli.ratio)} native; peak ${fmtMiB(s.cli.peak)} MiB`,
    );
  if (s.zstd)
    out.push(
      `  zstd alone on the final image: ${s.zstd.workers} workers ${fmtMs(s.zstd.allCoresMs)} (${fmtRatio(s.zstd.vsT1)} of native -T1, ${fmtRatio(s.zstd.vsT0)} of -T0), one thread ${fmtMs(s.zstd.oneThreadMs)} (${fmtRatio(s.zstd.oneThreadVsT1)})`,
    );
  if (s.profile) {
    out.push('');
    out.push('where the time goes (Node, one profiled run; self time per category, ms):');
    for (const [stage, parts] of Object.entries(s.profile)) {
      const total = parts.reduce((n, [, ms]) => n + ms, 0);
      const top = parts
        .filter(([, ms]) => ms >= Math.max(1, total * 0.03))
        .slice(0, 6)
        .map(([cat, ms]) => `${cat} ${ms.toFixed(0)}`)
        .join(', ');
      out.push(`  ${stage.padEnd(8)} ${total.toFixed(0).padStart(6)}  ${top}`);
    }
  }
  if (s.codeCache?.timed || s.codeCache?.fill) {
    out.push('');
    out.push('wasm code cache of the Node and CLI runs (filled by one untimed Node run before them):');
    if (s.codeCache.fill) out.push(`  after filling: ${s.codeCache.fill}`);
    if (s.codeCache.timed) out.push(`  first timed run: ${s.codeCache.timed}`);
  }
  if (s.twice) {
    out.push('');
    out.push(
      "first and second build in one Node process, without the wasm code cache (one run; the second on the compiled code, JIT and workers the first left; native: the runs' medians):",
    );
    out.push(table(['stage', 'native', 'first', 'x', 'second', 'x'], twoBuildRows(s)));
  }
  out.push('');
  out.push(
    table(
      ['target', 'contender', 'verdict', 'figure'],
      s.targets.map((t) => [t.name, t.contender, t.pass ? 'PASS' : 'MISS', t.detail]),
      2,
    ),
  );
  for (const p of s.problems) out.push(`  problem: ${p}`);
  return out.join('\n');
}

/**
 * The `system` workload's targets (a NixOS system, 400,000 entries, 8 GiB): peak memory at
 * most 1 GiB in Node and 1.5 GiB in the tab whatever the image size, the image no larger
 * than make-ext4-fs.nix's native steps give on the same tree, and time at most 1.5x native
 * in Node and 2x in Chromium. Added to `summary.targets`.
 */
export function addSystemTargets(
  summary: WorkloadSummary,
  makeExt4Fs: { ok: true; imageBytes: number; blockCount: number; ms: number } | { ok: false; error: string },
): void {
  const GiB = 1024 * MiB;
  for (const who of ['node', 'chromium'] as const) {
    const s = summary.ours[who];
    if (!s) continue;
    const budget = who === 'node' ? GiB : 1.5 * GiB;
    summary.targets.push({
      name: `system: peak memory <= ${who === 'node' ? '1' : '1.5'} GiB`,
      contender: who,
      pass: s.peak <= budget,
      detail: `${fmtMiB(s.peak)} MiB`,
    });
    const limit = who === 'node' ? 1.5 : 2;
    const ratio = summary.rows.total[who]?.timeRatio ?? NaN;
    summary.targets.push({
      name: `system: time <= ${limit}x native`,
      contender: who,
      pass: ratio <= limit,
      detail: fmtRatio(ratio),
    });
    if (makeExt4Fs.ok) {
      const r = s.imageBytes / makeExt4Fs.imageBytes;
      summary.targets.push({
        name: 'system: image size <= 1.00x make-ext4-fs.nix (native)',
        contender: who,
        pass: s.imageBytes <= makeExt4Fs.imageBytes,
        detail: `${fmtBytes(s.imageBytes)} vs ${fmtBytes(makeExt4Fs.imageBytes)} (${r.toFixed(3)}x)`,
      });
    } else summary.problems.push(`make-ext4-fs.nix steps: ${makeExt4Fs.error}`);
  }
}
