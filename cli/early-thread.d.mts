import type { Worker } from 'node:worker_threads';

/** How a build thread started ahead ended: its error, or its exit code. */
export interface EarlyEnd {
  error?: unknown;
  code?: number;
}

/** Starts a build thread from `entry` before the command line is read (see early-thread.mjs). */
export function startBuildThreadEarly(entry: URL | string): Worker;

/** How a thread started ahead ended, if it already has. */
export function earlyThreadEnd(worker: Worker): EarlyEnd | undefined;
