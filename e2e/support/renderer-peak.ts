/**
 * Peak resident memory of a Chromium's renderer processes (the page and its workers run
 * there), read from Linux's /proc.
 */
import { readdirSync, readFileSync } from 'node:fs';

/**
 * The largest VmHWM, in bytes, among the renderer processes descended from the browser
 * process whose command line contains `mark` (a profile folder or a flag of its own).
 * 0 when none is found.
 */
export function rendererPeak(mark: string): number {
  const procs = new Map<number, { ppid: number; cmd: string }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      procs.set(Number(name), { ppid, cmd: readFileSync(`/proc/${name}/cmdline`, 'utf8') });
    } catch {
      /* gone */
    }
  }
  let root: number | undefined;
  for (const [pid, p] of procs) {
    if (p.cmd.includes(mark) && !p.cmd.includes('--type=')) {
      root = pid;
      break;
    }
  }
  let peak = 0;
  for (const [pid, p] of procs) {
    if (!p.cmd.includes('--type=renderer')) continue;
    let up = p.ppid;
    for (let i = 0; i < 10 && up && up !== root; i++) up = procs.get(up)?.ppid ?? 0;
    if (up !== root) continue;
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]) * 1024);
    } catch {
      /* gone */
    }
  }
  return peak;
}
