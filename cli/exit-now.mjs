// Ends the command line's process once its messages are written, without Node's own exit,
// which first stops every worker thread and waits for each to tear down (after a build: the
// build thread, its compression workers, their heaps and wasm modules, and any optimizing
// compile V8 is running for them; up to 0.1 s of a `small` build's 0.9 s). Used after `build`,
// whose files are then closed, renamed or removed (`cli/main.ts`). Plain JavaScript, as
// bin.mjs. Without the addon (addon/exit-now.cc, built at install) the process exits as
// Node does.
import module from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The addon's `exitNow(status)`, or undefined when it is not built for this Node. */
function loadExitNow() {
  const name = `exit-now-${process.platform}-${process.arch}-abi${process.versions.modules}.node`;
  try {
    return module.createRequire(import.meta.url)(join(root, '.cache', 'addon', name)).exitNow;
  } catch {
    return undefined;
  }
}

/**
 * Whether Node was asked to write something at its exit (a CPU or heap profile, V8's
 * coverage), which only its own exit does.
 */
function writesAtExit() {
  const args = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`;
  return /--(cpu-prof|heap-prof|prof)\b/.test(args) || Boolean(process.env.NODE_V8_COVERAGE);
}

/** Resolves once `stream` holds nothing unwritten (or can no longer write). */
function written(stream) {
  if (stream.writableLength === 0 || stream.destroyed || stream.writableFinished) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', check);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    const check = () => {
      if (stream.writableLength === 0) done();
    };
    stream.on('drain', check);
    stream.on('close', done);
    stream.on('error', done);
  });
}

/**
 * Ends the process with `status` once stdout and stderr have been written out (Node writes
 * them synchronously to files, and on Linux to pipes and terminals; elsewhere a pipe may
 * still hold some). Without the addon, or when Node is to write a profile or coverage at its
 * exit, sets `process.exitCode` and returns: Node exits when its threads are done.
 */
export async function exitNow(status) {
  const end = writesAtExit() ? undefined : loadExitNow();
  if (!end) {
    process.exitCode = status;
    return;
  }
  await Promise.all([written(process.stdout), written(process.stderr)]);
  end(status);
}
