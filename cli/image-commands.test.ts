/**
 * `disk-image-studio inspect` and `ls` on images made by native `mkfs.ext4 -d` from a known
 * tree, and on damaged, truncated and foreign files.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeTool, runNative, tempDir } from '../workers/test-support/native.ts';
import { pseudoRandom } from '../workers/test-support/tree-fixture.ts';
import { runCli } from './test-support/cli.ts';
import { useTestWasm } from '../workers/test-support/wasm.ts';

useTestWasm();
const { dir: work, cleanup } = tempDir('cli-inspect-');
afterAll(cleanup);

const LABEL = 'known-tree';
const UUID = '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0';
const img = join(work, 'native.img');
const tree = join(work, 'tree');

beforeAll(() => {
  mkdirSync(join(tree, 'etc/ssh'), { recursive: true });
  mkdirSync(join(tree, 'bin'));
  mkdirSync(join(tree, 'empty'));
  writeFileSync(join(tree, 'etc/motd'), 'hello from a native image\n');
  writeFileSync(join(tree, 'etc/ssh/sshd_config'), 'PermitRootLogin no\n');
  chmodSync(join(tree, 'etc/ssh/sshd_config'), 0o600);
  writeFileSync(join(tree, 'bin/run'), '#!/bin/sh\necho run\n');
  chmodSync(join(tree, 'bin/run'), 0o755);
  symlinkSync('../etc/motd', join(tree, 'bin/motd-link'));
  writeFileSync(join(tree, 'bin/blob'), pseudoRandom(100_000, 5));
  writeFileSync(join(tree, 'with space.txt'), 'space\n');
  writeFileSync(join(tree, 'ünïcødé'), 'unicode\n');
  execFileSync(nativeTool('mkfs.ext4'), ['-q', '-F', '-L', LABEL, '-U', UUID, '-b', '4096', '-d', tree, img, '8M'], {
    stdio: 'ignore',
  });
  expect(runNative('e2fsck', ['-fn', img]).status).toBe(0);
});

const copy = (name: string, bytes: Uint8Array) => {
  const p = join(work, name);
  writeFileSync(p, bytes);
  return p;
};

describe('inspect', () => {
  it('prints label, UUID, block size and "clean" for a native image, exit 0', async () => {
    const r = await runCli('inspect', img);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`image:        ${img} (${8 << 20} bytes)`);
    expect(r.stdout).toContain('type:         ext4');
    expect(r.stdout).toContain(`label:        ${LABEL}`);
    expect(r.stdout).toContain(`uuid:         ${UUID}`);
    expect(r.stdout).toContain('block size:   4096');
    expect(r.stdout).toMatch(/blocks: +2048 \(/);
    expect(r.stdout).toMatch(/^fsck: +clean$/m);
  });

  it('reads a zstd-compressed image the same way', async () => {
    const zst = join(work, 'native.img.zst');
    execFileSync('zstd', ['-q', '-f', '-o', zst, img]);
    const r = await runCli('inspect', zst);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`uuid:         ${UUID}`);
    expect(r.stdout).toMatch(/^fsck: +clean$/m);
  });

  it("says NOT clean, with e2fsck's report, and exits non-zero when inode table bytes are zeroed", async () => {
    const dump = runNative('dumpe2fs', [img]).stdout;
    const table = Number(/Inode table at (\d+)-/.exec(dump)![1]);
    const bad = copy('corrupt.img', readFileSync(img));
    const fd = openSync(bad, 'r+');
    // The first inodes (the root directory is inode 2), 256 bytes each.
    writeSync(fd, new Uint8Array(4 * 256), 0, 4 * 256, table * 4096);
    closeSync(fd);
    expect(runNative('e2fsck', ['-fn', bad]).status).not.toBe(0);
    const r = await runCli('inspect', bad);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toMatch(/^fsck: +NOT clean \(e2fsck exit \d+\)$/m);
    expect(r.stdout).toMatch(/Root inode|inode 2|checksum/i);
    expect(r.stdout).toContain(`label:        ${LABEL}`);
  });

  it('refuses a truncated image, saying how big the filesystem is and how big the file', async () => {
    const cut = copy('truncated.img', readFileSync(img).subarray(0, 3 << 20));
    const r = await runCli('inspect', cut);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      `truncated.img is not a usable disk image: it is truncated: its ext4 filesystem is 2048 blocks of 4096 bytes (${8 << 20} bytes) but the file holds only ${3 << 20} bytes`,
    );
  });

  it('refuses a file too small to hold a superblock', async () => {
    const r = await runCli('inspect', copy('tiny.img', readFileSync(img).subarray(0, 1000)));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'tiny.img is not a usable disk image: it is only 1000 bytes, too small for an ext2/3/4 filesystem',
    );
  });

  it('refuses random bytes: no ext2/3/4 superblock', async () => {
    const r = await runCli('inspect', copy('random.img', pseudoRandom(1 << 20, 99)));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/random\.img is not a usable disk image: no ext2\/3\/4 superblock was found/);
  });

  it('refuses a cut .img.zst', async () => {
    const zst = execFileSync('zstd', ['-q', '-c', img]);
    const r = await runCli('inspect', copy('cut.img.zst', zst.subarray(0, zst.length >> 1)));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cut\.img\.zst is not a usable disk image: its zstd data cannot be read/);
  });

  it('names a missing image file', async () => {
    const p = join(work, 'no-such.img');
    const r = await runCli('inspect', p);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${p}: no such file or folder.`);
    expect(r.stderr).not.toMatch(/Unexpected|defect/);
  });

  it.each([
    ['a FIFO', () => fifo(), /a FIFO \(named pipe\), not a regular file/],
    ['/dev/zero', () => '/dev/zero', /\/dev\/zero: a character device, not a regular file/],
    ['/dev/urandom', () => '/dev/urandom', /\/dev\/urandom: a character device, not a regular file/],
    ['a folder', () => tree, /tree: a folder, not a file/],
  ])('refuses %s at once instead of waiting or reading without end', async (_what, path, message) => {
    const r = await runCli('inspect', path());
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/Give the path of an \.img or \.img\.zst file/);
    const l = await runCli('ls', path());
    expect(l.code).toBe(1);
    expect(l.stderr).toMatch(message);
  });

  it('refuses an image whose label fakes a "Block count" line once cut short, and shows the label escaped', async () => {
    const fake = join(work, 'fake-label.img');
    execFileSync(nativeTool('mke2fs'), ['-q', '-F', '-t', 'ext4', '-b', '4096', '-L', '\nBlock count: 1', fake, '8M']);
    const whole = await runCli('inspect', fake);
    expect(whole.code, whole.stderr).toBe(0);
    expect(whole.stdout).toContain('label:        \\nBlock count: 1\n');
    expect(whole.stdout).toMatch(/^blocks: +2048 /m);
    expect(whole.stdout.split('\n').filter((l) => l.startsWith('Block count'))).toEqual([]);
    const cut = copy('fake-label-cut.img', readFileSync(fake).subarray(0, 1 << 20));
    const r = await runCli('inspect', cut);
    expect(r.code).toBe(1);
    expect(r.stdout).not.toMatch(/clean/);
    expect(r.stderr).toContain('it is truncated: its ext4 filesystem is 2048 blocks of 4096 bytes');
  });
});

function fifo(): string {
  const p = join(work, `fifo-${Math.random().toString(36).slice(2)}`);
  execFileSync('mkfifo', [p]);
  return p;
}

describe('ls', () => {
  /** name -> the rest of the ls line (mode, owner, size). */
  async function ls(dir: string): Promise<Map<string, string>> {
    const r = await runCli('ls', img, dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = new Map<string, string>();
    for (const line of r.stdout.split('\n').filter(Boolean)) {
      const m = /^(\S{10}) +(\d+) +(\d+) +(\d+) (.+)$/.exec(line);
      expect(m, line).not.toBeNull();
      out.set(m![5], `${m![1]} ${m![2]}:${m![3]} ${m![4]}`);
    }
    return out;
  }

  it('lists exactly the entries of /', async () => {
    expect([...(await ls('/')).keys()].sort()).toEqual(
      ['bin', 'empty', 'etc', 'lost+found', 'with space.txt', 'ünïcødé'].sort(),
    );
  });

  it('lists /bin with modes, owners and sizes', async () => {
    expect(Object.fromEntries(await ls('/bin'))).toEqual({
      run: '-rwxr-xr-x 0:0 19',
      'motd-link': 'lrwxrwxrwx 0:0 11',
      blob: '-rw-r--r-- 0:0 100000',
    });
  });

  it('lists nested and empty directories', async () => {
    expect(Object.fromEntries(await ls('/etc/ssh'))).toEqual({ sshd_config: '-rw------- 0:0 19' });
    expect((await ls('/empty')).size).toBe(0);
    expect([...(await ls('/etc')).keys()].sort()).toEqual(['motd', 'ssh']);
  });

  it('names a directory that does not exist, or a file given as a directory', async () => {
    const a = await runCli('ls', img, '/nope');
    expect(a.code).toBe(1);
    expect(a.stderr).toContain('/nope: no such directory in the image.');
    const b = await runCli('ls', img, '/etc/motd');
    expect(b.code).toBe(1);
    expect(b.stderr).toContain('/etc/motd: not a directory in the image.');
  });

  it('lists /nix/store of an image the studio built, and inspect calls it clean', async () => {
    const store = join(work, 'store');
    const names = ['0c4pq2f6nkcz4cld0q4v2m7n9wl2k3ps-hello-2.12', '1b9cxmi2y6m3yq4k8dbz0ipkxj2dxz51-glibc-2.39'];
    for (const name of names) {
      mkdirSync(join(store, name, 'bin'), { recursive: true });
      writeFileSync(join(store, name, 'bin/x'), name);
    }
    const out = join(work, 'studio.img.zst');
    const b = await runCli('build', '-q', '--store', store, '-o', out);
    expect(b.code, b.stderr).toBe(0);
    const i = await runCli('inspect', out);
    expect(i.code, i.stdout).toBe(0);
    expect(i.stdout).toContain('label:        nixos');
    expect(i.stdout).toContain('uuid:         44444444-4444-4444-8888-888888888888');
    expect(i.stdout).toMatch(/^fsck: +clean$/m);
    const r = await runCli('ls', out, '/nix/store');
    expect(r.code, r.stderr).toBe(0);
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.replace(/ +/g, ' '))
        .sort(),
    ).toEqual(names.map((n) => `dr-xr-xr-x 0 0 0 ${n}`).sort());
    const root = await runCli('ls', out);
    expect(root.stdout).toMatch(/^-rw-r--r-- +0 +0 +\d+ nix-path-registration$/m);
  });

  it('refuses a random file', async () => {
    const r = await runCli('ls', copy('random-ls.img', pseudoRandom(1 << 20, 7)), '/');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/random-ls\.img is not a usable disk image/);
  });
});
