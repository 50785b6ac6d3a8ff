import { execFileSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BackgroundFlush, outputPathProblem, SparseWriter, TempOutput } from './node-output-file.ts';
import { tempDir } from '../test-support/native.ts';

const { dir: work, cleanup } = tempDir('output-file-');
afterAll(cleanup);
let n = 0;
const fresh = () => {
  const d = join(work, `d${++n}`);
  mkdirSync(d);
  return d;
};

describe('TempOutput', () => {
  it('creates an unpredictable new file beside the target, and renames it over the target on commit', () => {
    const d = fresh();
    const target = join(d, 'a.img');
    const a = TempOutput.create(target);
    const b = TempOutput.create(target);
    expect(a.path).not.toBe(b.path);
    for (const t of [a, b]) {
      expect(t.path.startsWith(join(d, '.a.img.'))).toBe(true);
      expect(t.path.endsWith('.partial')).toBe(true);
      expect(lstatSync(t.path).isFile()).toBe(true);
    }
    writeSync(a.fd, Buffer.from('image'));
    a.commit(5);
    b.discard();
    expect(readFileSync(target, 'utf8')).toBe('image');
    expect(readdirSync(d)).toEqual(['a.img']);
  });

  it('never writes through links planted at old predictable names or at the target', () => {
    const d = fresh();
    const victim = join(d, 'victim');
    writeFileSync(victim, 'keep');
    symlinkSync(victim, join(d, 'a.img.partial'));
    symlinkSync(victim, join(d, 'a.img'));
    const t = TempOutput.create(join(d, 'a.img'));
    writeSync(t.fd, Buffer.from('new image'));
    t.commit();
    expect(readFileSync(victim, 'utf8')).toBe('keep');
    expect(lstatSync(join(d, 'a.img')).isFile()).toBe(true);
    expect(readFileSync(join(d, 'a.img'), 'utf8')).toBe('new image');
    expect(readlinkSync(join(d, 'a.img.partial'))).toBe(victim);
  });

  it('leaves an existing output untouched when discarded, and refuses a file of the wrong size', () => {
    const d = fresh();
    const target = join(d, 'a.img');
    writeFileSync(target, 'old');
    const t = TempOutput.create(target);
    writeSync(t.fd, Buffer.from('partial'));
    t.discard();
    t.discard();
    expect(readFileSync(target, 'utf8')).toBe('old');
    const u = TempOutput.create(target);
    writeSync(u.fd, Buffer.from('short'));
    expect(() => u.commit(4096)).toThrow(/5 bytes instead of 4096/);
    expect(readdirSync(d)).toEqual(['a.img']);
    expect(readFileSync(target, 'utf8')).toBe('old');
  });

  it('commits and discards in the thread pool too: the same files, the same refusals', async () => {
    const d = fresh();
    const target = join(d, 'a.img');
    writeFileSync(target, 'old');
    const image = TempOutput.create(target);
    const out = TempOutput.create(target);
    writeSync(image.fd, Buffer.alloc(1 << 20, 1));
    writeSync(out.fd, Buffer.from('compressed'));
    await Promise.all([out.commitAsync(10), image.discardAsync()]);
    await image.discardAsync();
    expect(readFileSync(target, 'utf8')).toBe('compressed');
    expect(readdirSync(d)).toEqual(['a.img']);
    await expect(out.commitAsync()).rejects.toThrow(/already committed/);
    const u = TempOutput.create(target);
    writeSync(u.fd, Buffer.from('short'));
    await expect(u.commitAsync(4096)).rejects.toThrow(/5 bytes instead of 4096/);
    expect(readdirSync(d)).toEqual(['a.img']);
    expect(readFileSync(target, 'utf8')).toBe('compressed');
  });

  it('fails with the system error in a folder that cannot be written', () => {
    const d = fresh();
    execFileSync('chmod', ['a-w', d]);
    try {
      // root ignores folder permissions: then at least the create must succeed.
      if (process.getuid?.() === 0) TempOutput.create(join(d, 'a.img')).discard();
      else expect(() => TempOutput.create(join(d, 'a.img'))).toThrow(/EACCES/);
    } finally {
      execFileSync('chmod', ['u+w', d]);
    }
  });
});

describe('outputPathProblem', () => {
  it('accepts a new file, an existing regular file and a dangling link (replaced, not followed)', () => {
    const d = fresh();
    expect(outputPathProblem(join(d, 'new.img'))).toBeUndefined();
    writeFileSync(join(d, 'old.img'), 'x');
    expect(outputPathProblem(join(d, 'old.img'))).toBeUndefined();
    symlinkSync(join(d, 'nowhere'), join(d, 'dangling.img'));
    expect(outputPathProblem(join(d, 'dangling.img'))).toBeUndefined();
  });

  it('refuses folders, FIFOs, devices, a missing folder, an input, and a place inside an input folder', () => {
    const d = fresh();
    execFileSync('mkfifo', [join(d, 'fifo')]);
    writeFileSync(join(d, 'in.tar'), 'x');
    symlinkSync(join(d, 'in.tar'), join(d, 'link-to-input'));
    const inputs = [
      { path: join(d, 'in.tar'), folder: false },
      { path: d, folder: true },
    ];
    expect(outputPathProblem(d)).toMatch(/it is a folder; give a file name such as .*nixos\.img/);
    expect(outputPathProblem(join(d, 'fifo'))).toMatch(/it is a FIFO \(named pipe\), not a regular file/);
    expect(outputPathProblem('/dev/null')).toMatch(/it is a character device, not a regular file/);
    expect(outputPathProblem(join(d, 'nope', 'x.img'))).toMatch(/the folder .*nope does not exist/);
    expect(outputPathProblem(join(d, 'in.tar'), inputs.slice(0, 1))).toMatch(/it is the input .*in\.tar/);
    expect(outputPathProblem(join(d, 'link-to-input'), inputs.slice(0, 1))).toMatch(/it is the input/);
    expect(outputPathProblem(join(d, 'sub.img'), inputs)).toMatch(/inside the input folder/);
    expect(outputPathProblem(join(work, 'elsewhere.img'), inputs)).toBeUndefined();
  });
});

describe('SparseWriter', () => {
  it('leaves zero runs as holes, keeps the bytes and sets the length (trailing hole too)', () => {
    const d = fresh();
    const t = TempOutput.create(join(d, 'sparse.img'));
    const w = new SparseWriter(t.fd);
    const MiB = 1 << 20;
    const expected = Buffer.alloc(64 * MiB);
    const piece = (i: number) => {
      const c = new Uint8Array(4 * MiB);
      if (i % 5 === 0) c.fill(7, 1000, 9000); // data across a grain boundary
      if (i === 3) c[4 * MiB - 1] = 1;
      return c;
    };
    for (let i = 0; i < 16; i++) {
      const c = piece(i);
      expected.set(c, i * 4 * MiB);
      w.write(c);
    }
    expect(w.finish()).toBe(64 * MiB);
    t.commit(64 * MiB);
    const out = join(d, 'sparse.img');
    expect(statSync(out).size).toBe(64 * MiB);
    expect(readFileSync(out).equals(expected)).toBe(true);
    expect(w.written).toBeLessThan(64 * 1024);
    expect(statSync(out).blocks * 512).toBeLessThan(1 * MiB);
  });

  it('writes the same file from the thread pool (writeAsync), holes and all', async () => {
    const d = fresh();
    const MiB = 1 << 20;
    const chunks = Array.from({ length: 6 }, (_, i) => {
      const c = new Uint8Array(3 * MiB + 1234);
      if (i !== 2) for (let j = 0; j < c.length; j += 4096 + i) c[j] = (i * 31 + j) & 0xff || 1;
      if (i === 4) c.fill(9, 10, 2 * MiB);
      return c;
    });
    const files: Buffer[] = [];
    const written: number[] = [];
    for (const mode of ['sync', 'async'] as const)
      for (const sparse of [true, false]) {
        const t = TempOutput.create(join(d, `${mode}-${sparse}.img`));
        const w = new SparseWriter(t.fd, sparse);
        for (const c of chunks) {
          if (mode === 'sync') w.write(c);
          else await w.writeAsync(c);
        }
        w.finish();
        t.commit();
        files.push(readFileSync(join(d, `${mode}-${sparse}.img`)));
        written.push(w.written);
      }
    const expected = Buffer.concat(chunks);
    for (const f of files) expect(f.equals(expected)).toBe(true);
    // Sparse: the all-zero chunk is skipped by both; dense: every byte.
    expect(written[0]).toBe(written[2]);
    expect(written[0]).toBeLessThan(expected.length - 3 * MiB);
    expect(written[1]).toBe(expected.length);
    expect(written[3]).toBe(expected.length);
  });

  it("rejects writeAsync with the system's error (a descriptor open for reading only)", async () => {
    const d = fresh();
    writeFileSync(join(d, 'read-only.zst'), 'x');
    const fd = openSync(join(d, 'read-only.zst'), 'r');
    try {
      const w = new SparseWriter(fd, false);
      await expect(w.writeAsync(new Uint8Array(10))).rejects.toMatchObject({ code: 'EBADF' });
      expect(w.written).toBe(0);
    } finally {
      closeSync(fd);
    }
  });

  it('flushes to the disk as it writes (flushEvery), and the file is whole', async () => {
    const d = fresh();
    const MiB = 1 << 20;
    const chunks = Array.from({ length: 6 }, (_, i) => new Uint8Array(MiB).fill(i + 1));
    const t = TempOutput.create(join(d, 'flushed.zst'));
    const w = new SparseWriter(t.fd, false, 2 * MiB);
    for (const c of chunks) await w.writeAsync(c);
    await w.settle();
    expect(w.flushes).toBeGreaterThanOrEqual(1);
    expect(w.flushes).toBeLessThanOrEqual(3);
    w.finish();
    await t.commitAsync(6 * MiB);
    expect(readFileSync(join(d, 'flushed.zst')).equals(Buffer.concat(chunks))).toBe(true);
    // Without flushEvery, none.
    const p = TempOutput.create(join(d, 'plain.zst'));
    const plain = new SparseWriter(p.fd, false);
    for (const c of chunks) await plain.writeAsync(c);
    await plain.settle();
    expect(plain.flushes).toBe(0);
    p.discard();
  });

  it("fails the next write and settle with a background flush's error (EINVAL from /dev/null)", async () => {
    // /dev/null takes positioned writes but cannot be flushed.
    const fd = openSync('/dev/null', 'r+');
    try {
      const w = new SparseWriter(fd, false, 1);
      await w.writeAsync(new Uint8Array(10).fill(1));
      await expect(w.settle()).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(w.writeAsync(new Uint8Array(10).fill(2))).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(w.settle()).rejects.toMatchObject({ code: 'EINVAL' });
    } finally {
      closeSync(fd);
    }
  });

  it('writes every byte when not sparse (a compressed output)', () => {
    const d = fresh();
    const t = TempOutput.create(join(d, 'dense.zst'));
    const w = new SparseWriter(t.fd, false);
    w.write(new Uint8Array(100_000));
    w.finish();
    t.commit(100_000);
    expect(w.written).toBe(100_000);
    expect(existsSync(join(d, 'dense.zst'))).toBe(true);
  });
});

describe('BackgroundFlush', () => {
  it('runs one flush at a time: starts while one runs make one more, not one each', async () => {
    const d = fresh();
    const t = TempOutput.create(join(d, 'f.img'));
    writeSync(t.fd, Buffer.alloc(1 << 20, 5));
    const f = new BackgroundFlush(t.fd);
    for (let i = 0; i < 10; i++) f.start();
    await f.settle();
    expect(f.flushes).toBe(2);
    // Idle again: a start begins a new flush.
    f.start();
    await f.settle();
    expect(f.flushes).toBe(3);
    t.discard();
  });

  it("keeps a failed flush's error for throwIfFailed and settle, and starts no more", async () => {
    const fd = openSync('/dev/null', 'r+');
    try {
      const f = new BackgroundFlush(fd);
      expect(() => f.throwIfFailed()).not.toThrow();
      f.start();
      f.start();
      await expect(f.settle()).rejects.toMatchObject({ code: 'EINVAL' });
      expect(f.flushes).toBe(1);
      expect(() => f.throwIfFailed()).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      f.start();
      await expect(f.settle()).rejects.toMatchObject({ code: 'EINVAL' });
      expect(f.flushes).toBe(1);
    } finally {
      closeSync(fd);
    }
  });
});
