/**
 * `cli/exit-now.mjs`: the command line's end after a build. With the addon it ends the
 * process at once with the status given, after all of stdout and stderr reached their
 * readers, without Node's exit (whose 'exit' handlers would run, and which would wait for
 * worker threads); without the addon, or when Node is to write coverage or a profile at its
 * exit, it leaves the status for Node's own exit.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../workers/test-support/native.ts';

const { dir: work, cleanup } = tempDir('cli-exit-now-');
afterAll(cleanup);

const addon = join(
  import.meta.dirname,
  '..',
  '.cache/addon',
  `exit-now-${process.platform}-${process.arch}-abi${process.versions.modules}.node`,
);

/** A program that writes 1 MiB to stdout and a line to stderr, with a busy worker thread, then ends with status 3. */
function program(exitNowModule: string): string {
  return `
import { Worker } from 'node:worker_threads';
import { exitNow } from ${JSON.stringify(exitNowModule)};
process.on('exit', (code) => process.stderr.write('node exit ' + code + '\\n'));
const w = new Worker('for (;;) {}', { eval: true });
await new Promise((r) => w.once('online', r));
process.stdout.write('x'.repeat(1024 * 1024));
process.stderr.write('last message\\n');
await exitNow(3);
await w.terminate();
`;
}

function run(exitNowModule: string, env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['--input-type=module', '-e', program(exitNowModule)], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 4 * 1024 * 1024,
    timeout: 30_000,
  });
}

describe('exitNow', () => {
  it('ends the process with the status once stdout and stderr are written, skipping Node exit', () => {
    expect(existsSync(addon), 'the addon is built by scripts/setup.mjs').toBe(true);
    const r = run(join(import.meta.dirname, 'exit-now.mjs'));
    expect(r.status).toBe(3);
    expect(r.stdout.length).toBe(1024 * 1024);
    expect(r.stderr).toBe('last message\n');
  });

  it('leaves the status to Node exit when Node is to write coverage or a profile at its exit', () => {
    const coverage = join(work, 'coverage');
    const r = run(join(import.meta.dirname, 'exit-now.mjs'), { NODE_V8_COVERAGE: coverage });
    expect(r.status).toBe(3);
    expect(r.stderr).toBe('last message\nnode exit 3\n');
    expect(readdirSync(coverage).some((f) => f.endsWith('.json'))).toBe(true);
  });

  it('without the addon, leaves the status to Node exit', () => {
    // The module finds the addon beside it, two folders up: a copy in a folder without one.
    const cli = join(work, 'no-addon', 'cli');
    mkdirSync(cli, { recursive: true });
    copyFileSync(join(import.meta.dirname, 'exit-now.mjs'), join(cli, 'exit-now.mjs'));
    const r = run(join(cli, 'exit-now.mjs'));
    expect(r.status).toBe(3);
    expect(r.stdout.length).toBe(1024 * 1024);
    expect(r.stderr).toBe('last message\nnode exit 3\n');
  });
});
