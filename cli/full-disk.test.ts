/**
 * A disk that fills up during a build: the CLI says which file could not be written and
 * why, exits 1 and leaves nothing behind, whether the image's scratch file (beside the
 * output) or the compressed output (written by the thread pool) meets the full disk. The
 * disk is a tmpfs of a few MiB mounted in a private mount namespace (`unshare -m`), so
 * these tests need root.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../workers/test-support/native.ts';
import { pseudoRandom } from '../workers/test-support/tree-fixture.ts';

const BIN = fileURLToPath(new URL('./bin.mjs', import.meta.url));
const root = process.getuid?.() === 0;
const { dir: work, cleanup } = tempDir('cli-full-disk-');
afterAll(cleanup);
const tree = join(work, 'tree');
const disk = join(work, 'disk');

beforeAll(() => {
  mkdirSync(join(tree, 'd'), { recursive: true });
  mkdirSync(disk);
  // About 7.5 MB of image after shrinking and 6 MB of .zst.
  writeFileSync(join(tree, 'd', 'noise.bin'), pseudoRandom(6_000_000, 7)); // does not compress
  for (let i = 0; i < 50; i++) writeFileSync(join(tree, 'd', `f${i}.txt`), `file ${i}\n`);
});

/**
 * Builds `tree` to `disk/name` with a tmpfs of `mib` MiB mounted on `disk`, in a mount
 * namespace of its own; returns the exit code, stderr, and what the tmpfs held afterwards.
 */
function buildOnDisk(mib: number, name: string): { code: number; stderr: string; left: string[] } {
  const script =
    'mount -t tmpfs -o size="$1" tmpfs "$2" || exit 99\n' +
    'shift 2\n' +
    '"$@"\n' +
    'code=$?\n' +
    'echo "--- left on the disk:"\n' +
    'ls -A "$DISK"\n' +
    'exit $code\n';
  const r = spawnSync(
    'unshare',
    [
      '-m',
      'sh',
      '-c',
      script,
      'sh',
      `${mib}m`,
      disk,
      process.execPath,
      BIN,
      'build',
      '--files',
      tree,
      '-q',
      '-o',
      join(disk, name),
    ],
    { encoding: 'utf8', env: { ...process.env, DISK: disk } },
  );
  if (r.error) throw r.error;
  expect(r.status, `the mount failed: ${r.stderr}`).not.toBe(99);
  const [, left = ''] = r.stdout.split('--- left on the disk:\n');
  return { code: r.status ?? -1, stderr: r.stderr, left: left.split('\n').filter(Boolean) };
}

describe.skipIf(!root)('a disk that fills up', () => {
  it('while the image is made: names the disk, exits 1, leaves no file', () => {
    const r = buildOnDisk(4, 'out.img.zst');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('The disk is full: the image could not be written');
    expect(r.stderr).toContain('Free disk space where the output goes');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.left).toEqual([]);
  });

  it('while the compressed output is written: names the output, exits 1, leaves no file', () => {
    // The image (7.5 MB) fits; the image and its .zst (6 MB) together do not.
    const out = join(disk, 'out.img.zst');
    const r = buildOnDisk(10, 'out.img.zst');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`-o ${out}: the image could not be written: the disk it is on is full.`);
    expect(r.stderr).toContain('Free some space or write the image to another disk (-o)');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.left).toEqual([]);
  });

  it('with room for both: the build succeeds on the same disk', () => {
    const r = buildOnDisk(16, 'out.img.zst');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.left).toEqual(['out.img.zst']);
  });
});
