/**
 * Free space stays holes: a raw image with a large headroom takes on disk about what its
 * data takes, not its size (`--headroom 16384` once wrote 17 GB of zeros), and a small tree
 * with a large headroom gets 4 KiB blocks (resize2fs cannot grow 1 KiB blocks that far).
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runNative, tempDir } from '../workers/test-support/native.ts';
import { useTestWasm } from '../workers/test-support/wasm.ts';
import { runCli } from './test-support/cli.ts';

useTestWasm();
const { dir: work, cleanup } = tempDir('cli-sparse-');
afterAll(cleanup);

describe('raw images with headroom', () => {
  it('keeps 4 GiB of headroom as holes, and the image checks clean natively', async () => {
    const files = join(work, 'files');
    mkdirSync(files);
    writeFileSync(join(files, 'a.txt'), 'a\n');
    const out = join(work, 'headroom.img');
    const r = await runCli('build', '-q', '--files', files, '--headroom', '4096', '-o', out);
    expect(r.code, r.stderr).toBe(0);
    const st = statSync(out);
    expect(st.size).toBeGreaterThan(4096 * 2 ** 20);
    expect(st.blocks * 512).toBeLessThan(16 * 2 ** 20);
    expect(r.stdout).toMatch(/blocks of 4096 bytes/);
    const f = runNative('e2fsck', ['-fn', out]);
    expect(f.status, f.stdout + f.stderr).toBe(0);
  });
});
