/**
 * A build thread started before the command line is read (as `cli/bin.mjs` starts it, so
 * that its start-up overlaps the main thread's): `build` takes it and sends it its data, and
 * it is stopped when the build is (its teardown not waited for: it has finished with the
 * files); a thread that failed before it was taken fails the build with its error.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../workers/test-support/native.ts';
import { useTestWasm } from '../workers/test-support/wasm.ts';
import { startBuildThreadEarly } from './build-thread.ts';
import { buildThreadEntry, main } from './main.ts';

useTestWasm();
const { dir: work, cleanup } = tempDir('cli-early-thread-');
afterAll(cleanup);

function captured() {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    io: {
      stdout: (t: string) => void (out.stdout += t),
      stderr: (t: string) => void (out.stderr += t),
      interactive: false,
    },
  };
}

describe('a build thread started ahead', () => {
  it('builds with the thread it is given, and the thread is stopped when main returns', async () => {
    const files = join(work, 'files');
    mkdirSync(files);
    writeFileSync(join(files, 'hello.txt'), 'hello\n');
    const thread = startBuildThreadEarly(buildThreadEntry());
    const exited = new Promise<number>((r) => thread.once('exit', r));
    const { out, io } = captured();
    const output = join(work, 'early.img.zst');
    const code = await main(['build', '-q', '--files', files, '-o', output], io, undefined, thread);
    expect(code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/early\.img\.zst: \d+ bytes \(image \d+ bytes\), sha256 [0-9a-f]{64}/);
    expect(existsSync(output)).toBe(true);
    // Being stopped: it ends (an exit code) without being told anything more.
    expect(typeof (await exited)).toBe('number');
    expect(thread.threadId).toBe(-1);
  });

  it('fails the build with the error of a thread that could not start, and leaves no output', async () => {
    const broken = join(work, 'broken.mjs');
    writeFileSync(broken, 'throw new Error("this thread cannot start");\n');
    const thread = startBuildThreadEarly(new URL(`file://${broken}`));
    await new Promise((r) => thread.once('exit', r));
    const files = join(work, 'files2');
    mkdirSync(files);
    writeFileSync(join(files, 'a'), 'a');
    const { out, io } = captured();
    const output = join(work, 'broken.img');
    const code = await main(['build', '--files', files, '-o', output], io, undefined, thread);
    expect(code).toBe(1);
    expect(out.stderr).toContain('this thread cannot start');
    expect(existsSync(output)).toBe(false);
  });
});
