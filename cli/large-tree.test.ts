/**
 * A tree of 300,000 entries (a tar) through `disk-image-studio build --tar`, checked with native
 * e2fsck (`-fn`, clean) and counted by it (`-v`: regular files, directories, symlinks).
 * About two minutes (one to build) and under 800 MiB on an idle 2-core machine.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tarHeader, tarPadding, tarTrailer } from '../core/tar-writer.ts';
import { runNative, tempDir } from '../workers/test-support/native.ts';
import { runCli } from './test-support/cli.ts';
import { useTestWasm } from '../workers/test-support/wasm.ts';

useTestWasm();
const { dir: work, cleanup } = tempDir('cli-large-');
afterAll(cleanup);

/**
 * A tar of 40 x 50 folders, each with 135 small files (a third empty) and 14 symlinks (half
 * of them slow): one file on disk rather than 300,000, which a shared machine removes fast.
 */
function makeTar(path: string): { files: number; dirs: number; symlinks: number } {
  let files = 0;
  let dirs = 0;
  let symlinks = 0;
  const fd = openSync(path, 'w');
  const parts: Uint8Array[] = [];
  let pending = 0;
  const put = (b: Uint8Array) => {
    parts.push(b);
    pending += b.length;
    if (pending >= 1 << 20) flush();
  };
  const flush = () => {
    for (const b of parts) writeSync(fd, b);
    parts.length = 0;
    pending = 0;
  };
  const meta = { mode: 0o755, uid: 0, gid: 0, mtime: 1, size: 0 };
  for (let a = 0; a < 40; a++) {
    put(tarHeader({ ...meta, path: `pkg${a}`, type: 'directory' }));
    dirs++;
    for (let b = 0; b < 50; b++) {
      const d = `pkg${a}/sub${b}`;
      put(tarHeader({ ...meta, path: d, type: 'directory' }));
      dirs++;
      for (let i = 0; i < 135; i++) {
        const body = new TextEncoder().encode(i % 3 === 0 ? '' : `content ${a} ${b} ${i}\n`);
        put(tarHeader({ ...meta, mode: 0o644, path: `${d}/file-${i}.txt`, type: 'file', size: body.length }));
        put(body);
        put(tarPadding(body.length));
        files++;
      }
      for (let i = 0; i < 14; i++) {
        const target = i % 2 ? `file-${i}.txt` : `/nix/store/${'h'.repeat(32)}-pkg${a}/sub${b}/file-${i}.txt-long-name`;
        put(tarHeader({ ...meta, mode: 0o777, path: `${d}/link-${i}`, type: 'symlink', linkTarget: target }));
        symlinks++;
      }
    }
  }
  put(tarTrailer());
  flush();
  closeSync(fd);
  return { files, dirs, symlinks };
}

/** e2fsck -v's count of a kind ("regular files", "directories", "symbolic links"). */
function count(report: string, what: string): number {
  const m = new RegExp(`^\\s*(\\d+) ${what}$`, 'm').exec(report);
  if (!m) throw new Error(`e2fsck -v did not report ${what}:\n${report}`);
  return Number(m[1]);
}

describe('build --tar at 300,000 entries', () => {
  it('builds an image native e2fsck finds clean, holding every entry', async () => {
    const tar = join(work, 'tree.tar');
    const made = makeTar(tar);
    expect(made.files + made.dirs + made.symlinks).toBe(300_040);
    const img = join(work, 'large.img');
    const r = await runCli('build', '-q', '--tar', tar, '-o', img);
    expect(r.code, r.stderr).toBe(0);
    const fsck = runNative('e2fsck', ['-fn', '-v', img]);
    expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
    expect(count(fsck.stdout, 'regular files')).toBe(made.files);
    // The tree's folders, its root and lost+found.
    expect(count(fsck.stdout, 'directories')).toBe(made.dirs + 2);
    expect(count(fsck.stdout, 'symbolic links \\(\\d+ fast symbolic links\\)')).toBe(made.symlinks);
  }, 600_000);
});
