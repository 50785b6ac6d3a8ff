/**
 * Measuring helpers (Node, Linux): timed child processes with their peak RSS, a process's
 * peak RSS read and reset through /proc, medians.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const KiB = 1024;

/** Where a system tool lives (e2fsprogs is in /usr/sbin or /sbin, often not on PATH). */
export function findTool(name: string): string | undefined {
  for (const dir of ['/usr/sbin', '/sbin', '/usr/bin', '/bin', '/usr/local/bin', '/usr/local/sbin']) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() || undefined : undefined;
}

/** GNU time, installed with apt (Debian package `time`) when missing and we are root. */
export function ensureGnuTime(log: (s: string) => void): string | undefined {
  const have = () => (existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined);
  if (have()) return have();
  if (process.getuid?.() === 0 && existsSync('/etc/debian_version')) {
    log('installing GNU time (apt-get install time) for peak-memory figures');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'time'], { stdio: 'ignore', env });
    if (!have()) {
      spawnSync('apt-get', ['update', '-q'], { stdio: 'ignore', env });
      spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'time'], { stdio: 'ignore', env });
    }
  }
  if (!have()) log('GNU time is not available: peak memory of native tools is polled from /proc instead');
  return have();
}

/** `VmHWM` and `VmRSS` of a process in bytes, or undefined once it is gone. */
export function procMemory(pid: number | 'self'): { hwm: number; rss: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = /VmHWM:\s+(\d+) kB/.exec(s);
    const rss = /VmRSS:\s+(\d+) kB/.exec(s);
    if (!hwm || !rss) return undefined;
    return { hwm: Number(hwm[1]) * KiB, rss: Number(rss[1]) * KiB };
  } catch {
    return undefined;
  }
}

/** Resets a process's peak RSS (`VmHWM`) to its current RSS (Linux `clear_refs` 5). */
export function resetPeak(pid: number | 'self'): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Whether this kernel lets us reset peaks (per-stage peaks need it). */
export function canResetPeak(): boolean {
  return resetPeak('self');
}

export interface TimedResult {
  code: number;
  ms: number;
  /** Peak RSS in bytes. */
  peak: number;
  stdout: string;
  stderr: string;
}

let timeFile: string | undefined;

/**
 * Runs a program to completion; wall time from spawn to exit. Peak RSS from GNU time's
 * `%M` when `gnuTime` is given, else polled from /proc every 2 ms (may miss a late peak),
 * or not measured with `pollPeak: false`.
 */
export function runTimed(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; gnuTime?: string; cwd?: string; pollPeak?: boolean } = {},
): Promise<TimedResult> {
  return new Promise((resolve, reject) => {
    timeFile ??= join(mkdtempSync(join(tmpdir(), 'dis-bench-time-')), 'rss');
    rmSync(timeFile, { force: true });
    const [file, argv] = opts.gnuTime ? [opts.gnuTime, ['-f', '%M', '-o', timeFile, cmd, ...args]] : [cmd, args];
    const t0 = performance.now();
    const child = spawn(file, argv, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let polled = 0;
    const poll =
      opts.gnuTime || opts.pollPeak === false
        ? undefined
        : setInterval(() => {
            const m = child.pid ? procMemory(child.pid) : undefined;
            if (m) polled = Math.max(polled, m.hwm);
          }, 2);
    child.on('error', (e) => {
      if (poll) clearInterval(poll);
      reject(e);
    });
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      if (poll) clearInterval(poll);
      let peak = polled;
      if (opts.gnuTime) {
        try {
          // GNU time appends "Command exited with non-zero status N" before the figure.
          const lines = readFileSync(timeFile!, 'utf8').trim().split('\n');
          peak = Number(lines[lines.length - 1]) * KiB;
        } catch {
          /* no figure */
        }
      }
      resolve({
        code: code ?? -1,
        ms,
        peak,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      });
    });
  });
}

export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/**
 * Per-stage peaks from a process whose peak can be reset: call {@link mark} at every
 * stage boundary; the peak since the previous mark is charged to the segment that ends.
 */
export class PeakTracker {
  readonly segments: { label: string; peak: number }[] = [];
  #label = 'before';
  #overall = 0;
  #sampled = 0;

  constructor(private readonly pid: number | 'self') {
    resetPeak(pid);
  }

  /** Ends the current segment (recording its peak) and starts `next`. */
  mark(next: string): void {
    const m = procMemory(this.pid);
    if (m) {
      const peak = Math.max(m.hwm, this.#sampled);
      this.segments.push({ label: this.#label, peak });
      this.#overall = Math.max(this.#overall, peak);
    }
    resetPeak(this.pid);
    this.#sampled = 0;
    this.#label = next;
  }

  /**
   * An RSS sampled during the current segment. `VmHWM` can miss a peak: Linux raises it
   * lazily (when pages are unmapped), and memory a process gives back with `madvise` (as
   * Chromium's allocators do) may leave it below an RSS seen in between: a renderer was
   * sampled at 1,573 MiB while its VmHWM said 983 MiB for the same stage.
   */
  observe(rss: number): void {
    this.#sampled = Math.max(this.#sampled, rss);
  }

  /** Highest peak of any segment so far. */
  get overall(): number {
    return this.#overall;
  }

  /** Highest peak of the segments with this label. */
  peakOf(label: string): number {
    let p = 0;
    for (const s of this.segments) if (s.label === label) p = Math.max(p, s.peak);
    return p;
  }
}
