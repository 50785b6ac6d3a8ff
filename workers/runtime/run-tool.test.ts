/** The runner: exit codes, output, environment, stdin, abort, crashes, fresh instances. */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryImageStore, type ImageStore } from './image-store.ts';
import { writeStoreToFile } from './node-image-file.ts';
import { runTool, ToolCrashError, type ToolMount } from './run-tool.ts';
import { runNative, tempDir } from '../test-support/native.ts';
import { dir, file, symlink } from '../test-support/tree-fixture.ts';
import { useTestWasm } from '../test-support/wasm.ts';

const IMG = '/image/disk.img';
const image = (store: ImageStore): ToolMount => ({ type: 'image', path: IMG, store });
const small = [dir('/'), file('/a.txt', 'a\n'), dir('/d'), symlink('/d/l', '../a.txt')];

describe('runTool', () => {
  const tmp = tempDir('rt-run-');
  beforeAll(() => useTestWasm());
  afterAll(() => tmp.cleanup());

  it('reports a non-zero exit and the message instead of ending the process', async () => {
    const r = await runTool('e2fsck', ['-fn', '/no/such/image']);
    expect(r.exitCode).toBe(8);
    expect(r.stderr).toMatch(/No such file or directory/);
    const usage = await runTool('mke2fs', ['--no-such-option']);
    expect(usage.exitCode).not.toBe(0);
    expect(usage.stderr).toMatch(/Usage: mke2fs/);
    expect(process.exitCode ?? 0).toBe(0);
  });

  it('streams output line by line, as written, and collects it', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const store = new MemoryImageStore(8 << 20);
    const r = await runTool('mke2fs', ['-t', 'ext4', '-F', IMG, '2048'], {
      epoch: 1,
      mounts: [image(store)],
      onStdout: (l) => out.push(l),
      onStderr: (l) => err.push(l),
    });
    expect(r.exitCode).toBe(0);
    expect(out.length).toBeGreaterThan(3);
    expect(out.join('\n') + '\n').toBe(r.stdout);
    expect(err.join('\n') + '\n').toBe(r.stderr);
    expect(r.stderr).toMatch(/^mke2fs 1\.47\.\d/);
    expect(out.some((l) => /Writing superblocks/.test(l))).toBe(true);
  });

  it('sets the environment before main: fake time, the shipped mke2fs.conf, caller overrides', async () => {
    const store = new MemoryImageStore(8 << 20);
    const r = await runTool('mke2fs', ['-t', 'ext4', '-F', '-U', 'clear', IMG, '2048'], {
      epoch: 424242,
      mounts: [image(store)],
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const path = join(tmp.dir, 'env.img');
    writeStoreToFile(store, path);
    const h = runNative('dumpe2fs', ['-h', path]).stdout;
    // mkfs time and the "last write" time come from E2FSPROGS_FAKE_TIME.
    const created = /Filesystem created:\s+(.*)/.exec(h)![1];
    expect(new Date(created + ' UTC').getTime() / 1000).toBe(424242);
    // The shipped mke2fs.conf: 4 KiB blocks even for an 8 MiB ext4 ("small" type uses 1 KiB).
    const conf = /Block size:\s+(\d+)/.exec(h)![1];
    expect(['1024', '4096']).toContain(conf);
    // A caller's MKE2FS_CONFIG wins over the default.
    const custom =
      '[defaults]\n\tblocksize = 2048\n\tinode_size = 256\n\tinode_ratio = 8192\n[fs_types]\n\text4 = {\n\t\tfeatures = has_journal,extent\n\t}\n';
    const store2 = new MemoryImageStore(8 << 20);
    const r2 = await runTool('mke2fs', ['-T', 'default', '-t', 'ext4', '-F', IMG, '4096'], {
      epoch: 1,
      env: { MKE2FS_CONFIG: '/etc/custom.conf' },
      mounts: [image(store2), { type: 'file', path: '/etc/custom.conf', data: custom }],
    });
    expect(r2.exitCode, r2.stderr).toBe(0);
    const path2 = join(tmp.dir, 'env2.img');
    writeStoreToFile(store2, path2);
    const h2 = runNative('dumpe2fs', ['-h', path2]).stdout;
    expect(/Block size:\s+(\d+)/.exec(h2)![1]).toBe('2048');
    expect(h2).not.toMatch(/metadata_csum/);
  });

  it('never waits for stdin: a question gets EOF, an interactive debugfs ends', async () => {
    const store = new MemoryImageStore(8 << 20);
    expect(
      (await runTool('mke2fs', ['-t', 'ext4', '-F', IMG, '2048'], { epoch: 1, mounts: [image(store)] })).exitCode,
    ).toBe(0);
    // tune2fs asks before a slow change when TUNE2FS_FORCE_PROMPT is set; EOF means "no".
    const asked = await runTool('tune2fs', ['-O', '^dir_index', IMG], {
      epoch: 1,
      env: { TUNE2FS_FORCE_PROMPT: '1' },
      mounts: [image(store)],
    });
    expect(asked.stdout + asked.stderr).toMatch(/Proceed anyway/);
    expect(asked.exitCode).toBe(1);
    // debugfs without -R reads commands from stdin: EOF ends it.
    const dbg = await runTool('debugfs', [IMG], { mounts: [image(store)] });
    expect(dbg.exitCode).toBe(0);
  });

  it('uses a fresh instance per run (a second e2fsck -f checks again)', async () => {
    const store = new MemoryImageStore(8 << 20);
    await runTool('mke2fs', ['-t', 'ext4', '-F', IMG, '2048'], { epoch: 1, mounts: [image(store)] });
    for (let i = 0; i < 3; i++) {
      const r = await runTool('e2fsck', ['-fn', IMG], { epoch: 1, mounts: [image(store)] });
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toMatch(/Pass 1: Checking inodes/);
    }
  });

  it('aborts: before the start, and from a callback during the run; the next run is fine', async () => {
    await expect(runTool('e2fsck', ['-V'], { epoch: 2 ** 31 })).rejects.toThrow(RangeError);
    const pre = new AbortController();
    pre.abort(new Error('stop early'));
    await expect(runTool('e2fsck', ['-V'], { signal: pre.signal })).rejects.toThrow('stop early');

    const ctl = new AbortController();
    const store = new MemoryImageStore(64 << 20);
    const tree = [dir('/'), ...Array.from({ length: 50 }, (_, i) => file(`/f${i}`, `file ${i}\n`.repeat(1000)))];
    const stats = { lines: 0 };
    const run = runTool('mke2fs', ['-t', 'ext4', '-F', '-d', '/tree', IMG, '16384'], {
      epoch: 1,
      signal: ctl.signal,
      mounts: [image(store), { type: 'tree', path: '/tree', entries: tree }],
      onStdout: (line) => {
        stats.lines++;
        if (/Copying files/.test(line) || /Creating journal/.test(line)) ctl.abort(new Error('user cancelled'));
      },
    });
    await expect(run).rejects.toThrow('user cancelled');
    expect(stats.lines).toBeGreaterThan(0);
    const again = await runTool('mke2fs', ['-t', 'ext4', '-F', '-d', '/tree', IMG, '16384'], {
      epoch: 1,
      mounts: [image(store), { type: 'tree', path: '/tree', entries: tree }],
    });
    expect(again.exitCode).toBe(0);
  });

  it('an output callback that throws stops the run with its error', async () => {
    const run = runTool('e2fsck', ['-V'], {
      onStderr: () => {
        throw new Error('callback failed');
      },
    });
    await expect(run).rejects.toThrow('callback failed');
  });

  it('an exception inside a filesystem callback ends the run as a ToolCrashError', async () => {
    const store = new MemoryImageStore(16 << 20);
    const blob = new Blob(['x'.repeat(10000)]);
    const run = runTool('mke2fs', ['-t', 'ext4', '-F', '-d', '/tree', IMG, '4096'], {
      epoch: 1,
      mounts: [
        image(store),
        {
          type: 'tree',
          path: '/tree',
          entries: [dir('/'), file('/boom', { kind: 'blob', blob, offset: 0, size: 10000 })],
          readBlobSync: () => {
            throw new TypeError('reader exploded');
          },
        },
      ],
    });
    const err = await run.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ToolCrashError);
    expect((err as ToolCrashError).message).toMatch(/reader exploded/);
    expect((err as ToolCrashError).stdout).toMatch(/Creating filesystem/);
  });

  it('shows the tree and small files where asked, and honours cwd', async () => {
    const store = new MemoryImageStore(8 << 20);
    const r = await runTool('mke2fs', ['-t', 'ext4', '-F', '-d', 'tree', 'img/disk.img', '2048'], {
      epoch: 1,
      cwd: '/work',
      mounts: [
        { type: 'image', path: '/work/img/disk.img', store },
        { type: 'tree', path: '/work/tree', entries: small },
      ],
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const cmds = 'ls -l /d\nstat /d/l\n';
    const dbg = await runTool('debugfs', ['-f', '/cmds', IMG], {
      mounts: [image(store), { type: 'file', path: '/cmds', data: cmds }],
    });
    expect(dbg.exitCode).toBe(0);
    expect(dbg.stdout).toMatch(/Fast link dest: "\.\.\/a\.txt"/);
  });

  it('captures stdout as bytes when asked, and stops at an output limit without failing', async () => {
    const store = new MemoryImageStore(8 << 20);
    const big = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
    const mk = await runTool('mke2fs', ['-t', 'ext4', '-F', '-d', '/tree', IMG, '2048'], {
      epoch: 1,
      mounts: [image(store), { type: 'tree', path: '/tree', entries: [dir('/'), file('/big', big)] }],
    });
    expect(mk.exitCode, mk.stderr).toBe(0);
    const lines: string[] = [];
    const cat = await runTool('debugfs', ['-R', 'cat /big', IMG], {
      mounts: [image(store)],
      captureStdout: true,
      onStdout: (l) => lines.push(l),
    });
    expect(cat.exitCode).toBe(0);
    expect(lines).toEqual([]);
    expect(Buffer.from(cat.stdoutBytes!).equals(Buffer.from(big))).toBe(true);

    const head = new MemoryImageStore(0);
    const dump = await runTool('debugfs', ['-R', 'dump /big /out/head', IMG], {
      mounts: [image(store), { type: 'image', path: '/out/head', store: head, maxBytes: 5000 }],
    });
    expect(dump.stoppedAt).toBe('/out/head');
    expect(head.size).toBe(5000);
    expect(Buffer.from(head.read(0, 5000)).equals(Buffer.from(big.subarray(0, 5000)))).toBe(true);
    // Under the limit the run ends normally.
    const whole = new MemoryImageStore(0);
    const all = await runTool('debugfs', ['-R', 'dump /big /out/all', IMG], {
      mounts: [image(store), { type: 'image', path: '/out/all', store: whole, maxBytes: big.length }],
    });
    expect(all.stoppedAt).toBeUndefined();
    expect(all.exitCode).toBe(0);
    expect(whole.size).toBe(big.length);
  });
});
