/**
 * The studio's pipeline in headless Chromium: serves `bench/browser/` with Vite, opens it in
 * Debian's Chromium through Playwright, picks the workload's files into the page's
 * `<input type=file multiple>` and builds with the studio's Web Worker.
 *
 * Memory: the renderer process that runs the page and its worker (found with CDP
 * `SystemInfo.getProcessInfo`: the renderer with the most CPU time after a warm-up build)
 * is read from /proc: its VmHWM is read and reset at every stage change the page reports,
 * so each stage gets its own peak. The RSS summed over all Chromium processes (browser,
 * GPU, utility, renderers) is sampled every 50 ms as a second, coarser figure.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';
import type { PagePrepared, PageRun } from './browser/main.ts';
import { PeakTracker, procMemory, resetPeak } from './measure.ts';
import type { StageSpan } from './node-child.ts';
import { summarizeTrace, type ThreadProfile } from './trace-summary.ts';
import { REPO_ROOT } from './wasm-dirs.ts';
import type { DiskWorkload } from './workload-disk.ts';
import { copyOrder } from './workload.ts';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
];

/** Files picked into the page's input per setInputFiles call. */
const PICK_GROUP = 5000;

const TRACE_CATEGORIES = [
  'devtools.timeline',
  'disabled-by-default-devtools.timeline',
  'v8',
  'v8.execute',
  'disabled-by-default-v8.cpu_profiler',
];

export interface BrowserRun {
  ok: boolean;
  error?: string;
  /** Page clock from the build call to its result. */
  totalMs: number;
  /** Page clock from the engine's worker made to its warm-up done (see `PageRun.readyMs`). */
  readyMs: number;
  spans: StageSpan[];
  /** Renderer RSS when the build starts (page, worker with its modules). */
  baseline: number;
  /** Renderer peak RSS during the build. */
  peak: number;
  /** Peak of the RSS summed over every Chromium process (sampled every 50 ms). */
  allProcessesPeak: number;
  /** Peak RSS of the driver (this Node process: Playwright and Vite) during the build. */
  driverPeak: number;
  mkfsAttempts: number;
  initialBytes: number;
  imageBytes: number;
  outBytes: number;
  /** Output chunks sent from the worker to the page. */
  sinkCalls: number;
  /** sha256 of the output. */
  sha256: string;
  blockCount: number;
  blockSize: number;
  freeBlocks: number;
  inodeCount: number;
  freeInodes: number;
}

export class BrowserBench {
  private tracker: PeakTracker | null = null;
  private rendererPid = 0;
  private constructor(
    private readonly server: ViteDevServer,
    private readonly context: BrowserContext,
    private readonly browser: Browser,
    private readonly page: Page,
    private readonly cdp: CDPSession,
    readonly version: string,
    private readonly profile: string,
    private readonly log: (s: string) => void,
  ) {}

  /**
   * Starts Vite and Chromium. Chromium runs on a profile folder made under `workDir` (removed
   * at {@link close}), as a person's browser does: a plain `newContext()` is an incognito-like
   * profile whose storage lives in memory, so OPFS refuses past about 1.4 GiB there and the
   * worker falls back to keeping the image in the renderer's memory.
   */
  static async start(log: (s: string) => void, workDir: string): Promise<BrowserBench> {
    const server = await createServer({ configFile: join(REPO_ROOT, 'bench/browser/vite.config.ts') });
    await server.listen();
    const url = server.resolvedUrls?.local[0];
    if (!url) throw new Error('vite did not report a URL');
    const profile = mkdtempSync(join(workDir, 'chromium-profile-'));
    let context: BrowserContext | undefined;
    try {
      context = await chromium.launchPersistentContext(profile, {
        executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
        args: CHROMIUM_ARGS,
      });
      const browser = context.browser();
      if (!browser) throw new Error('Playwright gave no browser for the persistent context');
      const page = context.pages()[0] ?? (await context.newPage());
      page.setDefaultTimeout(0);
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      const bench = new BrowserBench(
        server,
        context,
        browser,
        page,
        await browser.newBrowserCDPSession(),
        browser.version(),
        profile,
        log,
      );
      await page.exposeFunction('benchMark', (label: string) => bench.mark(label));
      // A first visit can race Vite's dependency optimizer (a 504 for a stale module): one reload.
      for (let attempt = 1; ; attempt++) {
        await page.goto(new URL('bench/browser/index.html', url).href);
        const loaded = await page
          .waitForFunction(() => (window as { bench?: unknown }).bench !== undefined, undefined, { timeout: 30_000 })
          .then(
            () => true,
            () => false,
          );
        if (loaded) break;
        if (attempt >= 2) throw new Error(`the bench page did not load: ${errors.join(' | ') || 'timeout'}`);
        errors.length = 0;
      }
      // Warm up: load the worker's modules and wasm once, then find our renderer.
      const isolated = await page.evaluate(() => self.crossOriginIsolated);
      log(`chromium ${bench.version}: warming up (page ${isolated ? '' : 'not '}cross-origin isolated)`);
      await page.evaluate(() => window.bench.prepareTiny());
      await page.evaluate(() => window.bench.build());
      await bench.findRenderer();
      return bench;
    } catch (e) {
      await context?.close().catch(() => {});
      await server.close();
      rmSync(profile, { recursive: true, force: true });
      throw e;
    }
  }

  private async processes(): Promise<{ id: number; type: string; cpuTime: number }[]> {
    const info = (await this.cdp.send('SystemInfo.getProcessInfo')) as {
      processInfo: { id: number; type: string; cpuTime: number }[];
    };
    return info.processInfo;
  }

  /**
   * The renderer of our tab: not headless Chromium's own WebUI renderer (`--top-chrome-webui`)
   * nor an extension's; of the others, the one that has worked the most (the warm-up build).
   */
  private async findRenderer(): Promise<void> {
    const cmdline = (pid: number) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        return '';
      }
    };
    const renderers = (await this.processes())
      .filter((p) => p.type === 'renderer' && !/--top-chrome-webui|--extension-process/.test(cmdline(p.id)))
      .sort((a, b) => b.cpuTime - a.cpuTime);
    if (!renderers.length || !procMemory(renderers[0].id)) throw new Error("cannot find the page's renderer process");
    this.rendererPid = renderers[0].id;
  }

  private mark(label: string): void {
    if (process.env.BENCH_DEBUG_MARKS) {
      const m = procMemory(this.rendererPid);
      this.log(
        `mark ${label}: renderer rss ${((m?.rss ?? 0) / 2 ** 20).toFixed(0)} MiB hwm ${((m?.hwm ?? 0) / 2 ** 20).toFixed(0)} MiB`,
      );
    }
    if (label.startsWith('page:')) return; // the page's own steps before the build
    if (!this.tracker) return;
    const [stage, state] = label.split(':');
    if (stage === 'save') return; // streamed together with compress
    let next: string;
    if (stage === 'build') next = state === 'start' ? 'build' : 'after';
    else if (state === 'start') next = stage;
    else next = stage === 'shrink' ? 'summary' : `after-${stage}`;
    this.tracker.mark(next);
  }

  /**
   * Builds the workload's tree in the page: with `disk`, from its files picked into the
   * page's file input; with `memory`, from bytes generated in the page.
   */
  async load(w: DiskWorkload, input: 'disk' | 'memory'): Promise<PagePrepared> {
    await this.page.evaluate(() => window.bench.beginFiles());
    if (input === 'disk') {
      // In mke2fs's copy order (the page joins them into one Blob in this order), a group at
      // a time: one setInputFiles of 300,000 paths took the driver past 2 GiB.
      const files = copyOrder(w.workload);
      for (let i = 0; i < files.length; i += PICK_GROUP) {
        const paths = files.slice(i, i + PICK_GROUP).map((e) => join(w.dir, e.path));
        await this.page.setInputFiles('#tree', paths);
        const taken = await this.page.evaluate(() => window.bench.takePicked());
        if (taken !== paths.length) throw new Error(`the page took ${taken} of ${paths.length} picked files`);
      }
    }
    const { name, seed, scale } = w.workload;
    return this.page.evaluate(([n, s, x, i]) => window.bench.prepare(n, s, x, i), [name, seed, scale, input] as const);
  }

  async run(): Promise<BrowserRun> {
    const pids = (await this.processes()).map((p) => p.id);
    let allPeak = 0;
    const sample = setInterval(() => {
      let sum = 0;
      for (const pid of pids) {
        const rss = procMemory(pid)?.rss ?? 0;
        sum += rss;
        if (pid === this.rendererPid) this.tracker?.observe(rss);
      }
      allPeak = Math.max(allPeak, sum);
    }, 50);
    const baseline = procMemory(this.rendererPid)?.rss ?? 0;
    resetPeak('self');
    this.tracker = new PeakTracker(this.rendererPid);
    let run: PageRun;
    try {
      run = await this.page.evaluate(() => window.bench.build());
    } catch (e) {
      return { ok: false, error: String(e) } as BrowserRun;
    } finally {
      clearInterval(sample);
    }
    const driverPeak = procMemory('self')?.hwm ?? 0;
    const tracker = this.tracker;
    this.tracker = null;
    tracker.mark('gone');

    // Stage spans on the worker's clock; the page's clock started just before the worker's.
    const spans: StageSpan[] = [];
    const starts = new Map<string, number>();
    // 'summary' (dumpe2fs -h, truncate) runs between the shrink and the second check.
    let shrinkDone = 0;
    for (const s of run.stages) {
      if (s.stage === 'save') continue;
      if (s.state === 'start') {
        starts.set(s.stage, s.elapsedMs);
        if (s.stage === 'recheck')
          spans.push({ stage: 'summary', start: shrinkDone, end: s.elapsedMs, peak: tracker.peakOf('summary') });
      } else {
        spans.push({
          stage: s.stage as StageSpan['stage'],
          start: starts.get(s.stage) ?? s.elapsedMs,
          end: s.elapsedMs,
          peak: tracker.peakOf(s.stage),
        });
        if (s.stage === 'shrink') shrinkDone = s.elapsedMs;
      }
    }
    const r = run.result;
    for (const p of run.problems) this.log(`chromium: ${p}`);
    return {
      ok: true,
      totalMs: run.totalMs,
      readyMs: run.readyMs,
      spans,
      baseline,
      peak: tracker.overall,
      allProcessesPeak: allPeak,
      driverPeak,
      mkfsAttempts: run.mkfsAttempts,
      initialBytes: run.initialBytes,
      imageBytes: r.imageSize,
      outBytes: run.outBytes,
      sinkCalls: run.sinkCalls,
      sha256: r.sha256,
      blockCount: r.summary.blockCount,
      blockSize: r.summary.blockSize,
      freeBlocks: r.summary.freeBlocks,
      inodeCount: r.summary.inodeCount,
      freeInodes: r.summary.freeInodes,
    };
  }

  /**
   * One more build under Chromium's tracing (timeline and V8's sampling profiler, every
   * thread), written to `path` (open it in DevTools' Performance panel); returns self time
   * per category for each thread that worked.
   */
  async trace(path: string): Promise<ThreadProfile[]> {
    await this.browser.startTracing(this.page, { path, categories: TRACE_CATEGORIES });
    try {
      await this.page.evaluate(() => window.bench.build());
    } finally {
      await this.browser.stopTracing();
    }
    return summarizeTrace(JSON.parse(readFileSync(path, 'utf8')));
  }

  async close(): Promise<void> {
    await this.context.close().catch(() => {});
    await this.server.close();
    rmSync(this.profile, { recursive: true, force: true });
  }
}
