/**
 * Reads a Chromium performance trace (the JSON `browser.startTracing` writes, with the
 * `disabled-by-default-v8.cpu_profiler` category): rebuilds each thread's sampled CPU
 * profile from its `Profile`/`ProfileChunk` events and sorts its self time into the same
 * categories as Node's profiles (`profile.ts`), and adds up the main timeline events
 * (GC, compilation, FileReaderSync reads, message passing) per thread.
 */
import { breakdown, type CpuProfile } from './profile.ts';

interface TraceEvent {
  name: string;
  ph: string;
  pid: number;
  tid: number;
  id?: string;
  ts?: number;
  dur?: number;
  args?: {
    name?: string;
    data?: {
      startTime?: number;
      cpuProfile?: {
        nodes?: {
          id: number;
          parent?: number;
          callFrame: { functionName: string; url: string; lineNumber?: number };
        }[];
        samples?: number[];
      };
      timeDeltas?: number[];
    };
  };
}

export interface ThreadProfile {
  /** The thread's name in the trace (e.g. "DedicatedWorker thread"). */
  thread: string;
  /** Sampled time, ms. */
  totalMs: number;
  /** Self time per category, ms, largest first. */
  parts: [string, number][];
}

/** Per-thread CPU categories of a trace, busiest thread first (idle-only threads left out). */
export function summarizeTrace(trace: { traceEvents?: TraceEvent[] } | TraceEvent[]): ThreadProfile[] {
  const events = Array.isArray(trace) ? trace : (trace.traceEvents ?? []);
  const names = new Map<string, string>();
  for (const e of events)
    if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}:${e.tid}`, e.args?.name ?? '');

  // One profile per (pid, id): nodes, samples and time deltas come in chunks.
  const profiles = new Map<string, { key: string; profile: CpuProfile; seen: Set<number> }>();
  for (const e of events) {
    if (e.name !== 'Profile' && e.name !== 'ProfileChunk') continue;
    const id = `${e.pid}:${e.id}`;
    let p = profiles.get(id);
    if (!p) {
      p = {
        key: `${e.pid}:${e.tid}`,
        profile: { nodes: [], samples: [], timeDeltas: [], startTime: 0, endTime: 0 },
        seen: new Set(),
      };
      profiles.set(id, p);
    }
    const data = e.args?.data;
    if (e.name === 'Profile') {
      p.key = `${e.pid}:${e.tid}`;
      p.profile.startTime = data?.startTime ?? 0;
      continue;
    }
    for (const n of data?.cpuProfile?.nodes ?? []) {
      if (p.seen.has(n.id)) continue;
      p.seen.add(n.id);
      p.profile.nodes.push({
        id: n.id,
        callFrame: { functionName: n.callFrame?.functionName ?? '', url: n.callFrame?.url ?? '', lineNumber: 0 },
      });
    }
    for (const s of data?.cpuProfile?.samples ?? []) p.profile.samples.push(s);
    for (const d of data?.timeDeltas ?? []) p.profile.timeDeltas.push(d);
  }

  const out: ThreadProfile[] = [];
  for (const { key, profile } of profiles.values()) {
    if (profile.samples.length === 0) continue;
    // breakdown() charges each sample the time until the next one.
    let t = profile.startTime;
    for (const d of profile.timeDeltas) t += d;
    profile.endTime = t;
    const b = breakdown(profile);
    const busy = b.parts.filter(([cat]) => cat !== 'idle').reduce((n, [, ms]) => n + ms, 0);
    if (busy < 1) continue;
    out.push({ thread: names.get(key) || key, totalMs: b.total, parts: b.parts });
  }
  return out.sort((a, b) => busy(b) - busy(a));
}

function busy(t: ThreadProfile): number {
  return t.parts.filter(([cat]) => cat !== 'idle').reduce((n, [, ms]) => n + ms, 0);
}

/** Lines for a report: each busy thread with its largest categories. */
export function formatTraceSummary(threads: ThreadProfile[], max = 6): string[] {
  return threads.slice(0, max).map((t) => {
    const top = t.parts
      .filter(([cat, ms]) => cat !== 'idle' && ms >= 1)
      .slice(0, 7)
      .map(([cat, ms]) => `${cat} ${ms.toFixed(0)}`)
      .join(', ');
    return `  ${t.thread.padEnd(24)} busy ${busy(t).toFixed(0).padStart(6)} ms: ${top}`;
  });
}
