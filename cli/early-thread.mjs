// A build thread started before the command line is read (`cli/bin.mjs` starts it before it
// loads the compiled command line), so that the thread's start-up (Node's own, then loading
// the command line's code: 0.1 s) overlaps the main thread's. `main` sends it its data, or
// the caller terminates it. Plain JavaScript: bin.mjs runs it before any bundle is loaded,
// and cli/build-thread.ts (bundled) reads how a thread ended through the same symbol.
import { Worker } from 'node:worker_threads';

/** Where a thread started ahead keeps how it ended, if it ended before it was taken. */
const EARLY_END = Symbol.for('disk-image-studio.build-thread-end');

/** Starts a build thread from `entry` (the compiled bundle, or the TypeScript loader). */
export function startBuildThreadEarly(entry) {
  const worker = new Worker(entry, { workerData: { buildThreadEarly: true }, stdout: false, stderr: false });
  // Until `main` takes it: a failure to start is kept and reported when it is used.
  const end = {};
  worker[EARLY_END] = end;
  worker.on('error', (e) => {
    end.error ??= e;
  });
  worker.on('exit', (code) => {
    end.code = code;
  });
  return worker;
}

/** How a thread started ahead ended, if it already has (its error, or its exit code). */
export function earlyThreadEnd(worker) {
  const end = worker[EARLY_END];
  return end && end.code !== undefined ? end : undefined;
}
