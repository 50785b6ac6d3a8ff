/**
 * A reader that goes away (`disk-image-studio ls IMG | head -1`): `ls` and `inspect` stop
 * quietly with 141, as tools ended by SIGPIPE do, instead of Node's unhandled EPIPE stack;
 * a build whose messages go nowhere still writes its image, clean by native e2fsck.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNative, tempDir } from '../workers/test-support/native.ts';

const BIN = fileURLToPath(new URL('./bin.mjs', import.meta.url));
const { dir: work, cleanup } = tempDir('cli-closed-output-');
afterAll(cleanup);
const tree = join(work, 'tree');
const img = join(work, 'tree.img');

/**
 * Runs the command line with stdout and/or stderr as pipes whose reading end is closed
 * before the program writes anything; resolves with its exit code and what the other
 * stream got.
 */
function runClosed(args: string[], close: 'stdout' | 'both'): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.destroy();
  let stderr = '';
  if (close === 'both') child.stderr!.destroy();
  else child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

beforeAll(() => {
  // More names than a pipe's buffer holds in a listing.
  for (let d = 0; d < 4; d++) {
    mkdirSync(join(tree, `dir-${d}`), { recursive: true });
    for (let f = 0; f < 500; f++) writeFileSync(join(tree, `dir-${d}`, `a-file-with-a-long-name-${f}`), `${d}/${f}\n`);
  }
  for (let f = 0; f < 2000; f++) writeFileSync(join(tree, `top-level-${f}.txt`), `${f}\n`);
  const r = runNative('mkfs.ext4', ['-q', '-F', '-b', '4096', '-d', tree, img, '32M']);
  expect(r.status).toBe(0);
});

describe('a closed output', () => {
  it('ls: exit 141, no stack on stderr', async () => {
    const r = await runClosed(['ls', img, '/'], 'stdout');
    expect(r.code).toBe(141);
    expect(r.stderr).toBe('');
  });

  it('inspect: exit 141, no stack on stderr', async () => {
    const r = await runClosed(['inspect', img], 'stdout');
    expect(r.code).toBe(141);
    expect(r.stderr).toBe('');
  });

  it('build with stdout and stderr closed: exit 0 and the image is written, clean natively', async () => {
    const out = join(work, 'built.img');
    const r = await runClosed(['build', '--files', tree, '-o', out], 'both');
    expect(r.code).toBe(0);
    const fsck = runNative('e2fsck', ['-fn', out]);
    expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
    expect(fsck.stdout).toMatch(/\b4\d\d\d\/\d+ files/);
  }, 120_000);
});
