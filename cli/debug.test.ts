/**
 * `--debug`: a defect shows where it happened (the stack), and a build prints every tool's
 * output as it runs. Without it, an internal error says how to get the stack.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../workers/test-support/native.ts';
import { pseudoRandom } from '../workers/test-support/tree-fixture.ts';
import { main } from './main.ts';
import { runCli } from './test-support/cli.ts';
import { useTestWasm } from '../workers/test-support/wasm.ts';

useTestWasm();
const { dir: work, cleanup } = tempDir('cli-debug-');
afterAll(cleanup);

/** Runs the CLI with a stdout that fails the way a defect would: an error nobody expected. */
async function withBrokenStdout(...argv: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const code = await main(argv, {
    stdout: function writeUsage() {
      throw new TypeError('stdout.write is not a function');
    },
    stderr: (t) => void (stderr += t),
    interactive: false,
  });
  return { code, stderr };
}

describe('--debug', () => {
  it('prints the stack of an internal error', async () => {
    const r = await withBrokenStdout('help', '--debug');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^disk-image-studio: Unexpected error: stdout\.write is not a function\n/);
    expect(r.stderr).toMatch(
      /TypeError: stdout\.write is not a function\n\s+at \S*writeUsage .*cli\/debug\.test\.ts:\d+/,
    );
    expect(r.stderr).toMatch(/\n\s+at main \(.*cli\/main\.ts:\d+/);
  });

  it('without it, an internal error says how to see the stack, and shows none', async () => {
    const r = await withBrokenStdout('help');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Unexpected error: stdout.write is not a function');
    expect(r.stderr).toContain('Run it again with --debug to see where it failed.');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("prints every tool's output during a build, even with --quiet", async () => {
    const files = join(work, 'files');
    mkdirSync(files);
    writeFileSync(join(files, 'hello.txt'), 'hello\n');
    const out = join(work, 'debug.img');
    const r = await runCli('build', '--debug', '-q', '--files', files, '-o', out);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(out)).toBe(true);
    expect(r.stderr).toMatch(/^ {2}mke2fs stdout: \$ mke2fs .*-d /m);
    expect(r.stderr).toMatch(/^ {2}e2fsck stdout: \$ e2fsck -n -f .*\/image\/disk\.img$/m);
    expect(r.stderr).toMatch(/^ {2}e2fsck stdout: Pass 1: Checking inodes/m);
    expect(r.stderr).toMatch(/^ {2}resize2fs stdout: \$ resize2fs (-p )?-M /m);
    const quiet = await runCli('build', '-q', '--files', files, '-o', join(work, 'quiet.img'));
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).toBe('');
  });

  // One core: no compression workers, so nothing is compressed ahead.
  it.skipIf(availableParallelism() < 2)(
    'says how many frames of a compressed build were made while mkfs and the checks ran',
    async () => {
      const files = join(work, 'ahead');
      mkdirSync(files);
      for (let i = 0; i < 24; i++)
        writeFileSync(join(files, `f${i}`), i % 3 === 0 ? pseudoRandom(1536 * 1024, i) : `line ${i}\n`.repeat(150_000));
      // 4 KiB blocks: backup superblocks 128 MiB apart, so the middle pieces of this image can be made ahead.
      const out = join(work, 'ahead.img.zst');
      const r = await runCli('build', '--debug', '-q', '--block-size', '4096', '--files', files, '-o', out);
      expect(r.code, r.stderr).toBe(0);
      const m = /^ {2}zstd stdout: frames made ahead: (\d+) of (\d+) pieces \((\d+) queued\)$/m.exec(r.stderr);
      expect(m, r.stderr).not.toBeNull();
      const [taken, pieces, queued] = m!.slice(1).map(Number);
      expect(queued).toBeGreaterThanOrEqual(1);
      expect(taken).toBeLessThanOrEqual(Math.min(queued, pieces));
    },
  );

  it('goes with any command, also before it', async () => {
    const r = await runCli('--debug', 'inspect', join(work, 'missing.img'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('missing.img');
    expect(r.stderr).toMatch(/\n\s+at /);
  });
});
