#!/usr/bin/env node
// Entry point of the `disk-image-studio` command. Runs the compiled command line
// (.cache/cli/main.mjs, made by scripts/build-cli.mjs at install) when it is up to date with
// every source it was built from; rebuilds it when a source changed or it is missing; and
// runs the TypeScript sources through tsx when it cannot be built.
import { readFileSync, statSync } from 'node:fs';
import module from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startBuildThreadEarly } from './early-thread.mjs';
import { exitNow } from './exit-now.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundle = join(root, '.cache', 'cli', 'main.mjs');

// Node 22.1+ caches the compiled code of the modules it loads (a no-op on Node 20).
try {
  module.enableCompileCache?.(join(root, '.cache', 'cli', 'v8'));
} catch {
  // no cache: only slower
}

function upToDate() {
  try {
    const { inputs, chunks = [] } = JSON.parse(readFileSync(join(root, '.cache', 'cli', 'inputs.json'), 'utf8'));
    statSync(bundle);
    for (const c of chunks) statSync(join(root, '.cache', 'cli', c));
    for (const [file, { size, mtimeMs }] of Object.entries(inputs)) {
      const st = statSync(join(root, file));
      if (st.size !== size || st.mtimeMs !== mtimeMs) return false;
    }
    return true;
  } catch {
    return false;
  }
}

const fromSource = process.env.DISK_IMAGE_STUDIO_FROM_SOURCE === '1';
const bundleFresh = !fromSource && upToDate();

async function loadMain() {
  if (!fromSource) {
    let fresh = bundleFresh;
    if (!fresh) {
      try {
        const { buildCli } = await import(pathToFileURL(join(root, 'scripts', 'build-cli.mjs')).href);
        await buildCli();
        fresh = true;
      } catch {
        // esbuild missing or failing: run from the sources below.
      }
    }
    if (fresh) return await import(pathToFileURL(bundle).href);
  }
  const { register } = await import('tsx/esm/api');
  register();
  return await import('./main.ts');
}

const argv = process.argv.slice(2);
// `build` runs in a worker thread that loads the command line's code again (0.1 s with
// Node's own start-up in the thread): started first, it loads while this thread does.
// main() sends it its data.
const buildThread =
  bundleFresh && argv.filter((a) => a !== '--debug')[0] === 'build'
    ? startBuildThreadEarly(pathToFileURL(bundle))
    : undefined;
const { main } = await loadMain();
const controller = new AbortController();
if (argv[0] === 'build') {
  // The build runs in a worker thread: Ctrl-C, SIGTERM or SIGHUP ends it at once, removes
  // the temporary files and exits 130, 143 or 129. A second signal exits without waiting.
  for (const [name, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ]) {
    process.on(name, () => {
      if (controller.signal.aborted) process.exit(code);
      controller.abort(name);
    });
  }
}
// A reader that went away (`disk-image-studio ls IMG | head -1`): Node reports the closed
// pipe as an 'error' event on the stream, which, unhandled, ends the process with a stack.
// As other tools do on SIGPIPE, inspect and ls stop at once (exit 141); a build is not
// failed by its messages going nowhere: it goes on, writing nothing more to that stream.
const closedStreams = new Set();
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (!closedStreams.has(stream) && e?.code !== 'EPIPE') throw e;
    closedStreams.add(stream);
    if (argv[0] !== 'build') process.exit(141);
  });
}
// inspect and ls write nothing: the default signal action ends them at once.
const status = await main(argv, undefined, controller.signal, buildThread);
// A build's files are closed, renamed or removed once main returns: the process ends
// without waiting for the build thread (or one started ahead and not taken) to tear down.
if (argv[0] === 'build') await exitNow(status);
process.exitCode = status;
// Not taken (the command line was refused before the build): stop it.
if (buildThread && buildThread.threadId !== -1) await buildThread.terminate();
