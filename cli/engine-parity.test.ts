/**
 * The engine refuses what the command line refuses, with the same messages: the checks
 * live in one place (core/build-options.ts for options, core/io/host-input-check.ts for
 * host paths) and both sides call them.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_BUILD_OPTIONS, labelProblem } from '../core/build-options.ts';
import { nodeHost } from '../core/io/host-tree.ts';
import { resolveInputs } from '../core/resolve-inputs.ts';
import { buildImage, estimateImage } from '../workers/pipeline/build-image.ts';
import { toBuildFailure } from '../workers/pipeline/engine-failure.ts';
import { ImageSessions } from '../workers/pipeline/image-session.ts';
import { tempDir } from '../workers/test-support/native.ts';
import { runCli } from './test-support/cli.ts';
import { useTestWasm } from '../workers/test-support/wasm.ts';

useTestWasm();
const { dir: work, cleanup } = tempDir('cli-parity-');
afterAll(cleanup);

const files = join(work, 'files');
mkdirSync(files);
writeFileSync(join(files, 'a.txt'), 'a\n');
const fifo = join(work, 'fifo');
execFileSync('mkfifo', [fifo]);

const request = (label: string) => ({
  entries: [{ path: '/', type: 'directory' as const, mode: 0o755, uid: 0, gid: 0, mtime: 1, size: 0, origin: 'x' }],
  closure: [],
  options: { ...DEFAULT_BUILD_OPTIONS, label },
});

describe('the engine and the command line refuse alike', () => {
  it.each(['\nBlock count: 1', 'a\tb', 'nul\0', 'x'.repeat(17), 'esc\x1b[2J'])('label %j', async (label) => {
    const why = labelProblem(label)!;
    expect(why).toMatch(/^label "/);
    // Never a raw control character in the message itself.
    expect(why).not.toMatch(/[\0-\x1f]/);
    const cli = await runCli('build', '-q', '--files', files, '--label', label, '-o', join(work, 'x.img'));
    expect(cli.code).toBe(2);
    expect(cli.stderr).toBe(`disk-image-studio: ${why}\n`);
    const failure = await buildImage(request(label), { sink: () => {} }).then(
      () => undefined,
      (err) => toBuildFailure(err),
    );
    expect(failure?.code).toBe('bad-input');
    expect(failure?.message).toContain(why);
    expect(() => estimateImage(request(label))).toThrow(why);
  });

  it.each([
    ['a FIFO', fifo, /a FIFO \(named pipe\), not a regular file/],
    ['/dev/zero', '/dev/zero', /a character device, not a regular file/],
    ['a missing file', join(work, 'missing.tar'), /no such file or folder/],
  ])('a host input that is %s', async (_what, path, message) => {
    const cli = await runCli('build', '-q', '--tar', path, '-o', join(work, 'y.img'));
    expect(cli.code).toBe(1);
    const line = cli.stderr.split('\n')[0];
    expect(line).toMatch(message);
    const sentence = line.slice(`error: --tar ${path}: `.length);
    const resolved = await resolveInputs([{ kind: 'archive', at: '/', file: { name: 'in.tar', hostPath: path } }], {
      host: nodeHost,
    });
    expect(resolved.problems).toHaveLength(1);
    expect(resolved.problems[0]).toMatchObject({ severity: 'error', input: 'in.tar' });
    expect(resolved.problems[0].message).toBe(`${path}: ${sentence}`);
    // Opening an image by host path: the same refusal, as a bad-input failure.
    const opened = await new ImageSessions({ host: nodeHost }).openImage({ name: 'x.img', hostPath: path }).then(
      () => undefined,
      (err) => toBuildFailure(err),
    );
    expect(opened?.code).toBe('bad-input');
    expect(opened?.message).toContain(`${path}: ${sentence}`);
  });

  it('a store folder that is not a folder', async () => {
    const cli = await runCli('build', '-q', '--store', fifo, '-o', join(work, 'z.img'));
    expect(cli.stderr).toContain(`error: --store ${fifo}: not a folder but a FIFO (named pipe).`);
    const resolved = await resolveInputs([{ kind: 'store-dir', hostPath: fifo }], { host: nodeHost });
    expect(resolved.problems[0].message).toBe(`${fifo}: not a folder but a FIFO (named pipe).`);
  });
});
