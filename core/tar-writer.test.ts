/** The tar writer: native GNU tar lists and extracts what it writes; our reader reads it back. */
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BytesReader } from './io/random-access-reader.ts';
import { readTarArchive } from './tar.ts';
import { tarEntryProblem, tarHeader, tarPadding, tarTrailer, type TarWriteEntry } from './tar-writer.ts';

const work = mkdtempSync(join(tmpdir(), 'tar-writer-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const root = process.getuid?.() === 0;

const enc = new TextEncoder();
const deepDir = `top/${'d'.repeat(120)}/${'e'.repeat(90)}`;
const longName = 'n'.repeat(200);
const longTarget = '../'.repeat(40) + 'target';

interface Item {
  entry: TarWriteEntry;
  data?: Uint8Array;
}
const items: Item[] = [
  { entry: { path: 'top', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 1_000_000, size: 0 } },
  {
    entry: { path: 'top/hello.txt', type: 'file', mode: 0o640, uid: 1000, gid: 100, mtime: 1_234_567, size: 6 },
    data: enc.encode('hello\n'),
  },
  {
    entry: { path: 'top/empty', type: 'file', mode: 0o600, uid: 0, gid: 0, mtime: 1, size: 0 },
    data: new Uint8Array(0),
  },
  {
    entry: { path: 'top/suid', type: 'file', mode: 0o4755, uid: 0, gid: 0, mtime: 2, size: 513 },
    data: new Uint8Array(513).fill(7),
  },
  { entry: { path: deepDir, type: 'directory', mode: 0o700, uid: 0, gid: 0, mtime: 3, size: 0 } },
  {
    entry: { path: `${deepDir}/${longName}`, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 4, size: 4 },
    data: enc.encode('deep'),
  },
  {
    entry: { path: 'top/ünïcødé ✓.txt', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 5, size: 2 },
    data: enc.encode('u\n'),
  },
  {
    entry: {
      path: 'top/link',
      type: 'symlink',
      mode: 0o777,
      uid: 0,
      gid: 0,
      mtime: 6,
      size: 0,
      linkTarget: 'hello.txt',
    },
  },
  {
    entry: {
      path: 'top/longlink',
      type: 'symlink',
      mode: 0o777,
      uid: 0,
      gid: 0,
      mtime: 7,
      size: 0,
      linkTarget: longTarget,
    },
  },
  {
    entry: {
      path: 'top/hard',
      type: 'hardlink',
      mode: 0o640,
      uid: 1000,
      gid: 100,
      mtime: 1_234_567,
      size: 0,
      linkTarget: 'top/hello.txt',
    },
  },
  {
    entry: { path: 'top/bigids', type: 'file', mode: 0o644, uid: 3_000_000_000, gid: 4_000_000_000, mtime: 8, size: 1 },
    data: enc.encode('x'),
  },
  {
    entry: {
      path: 'top/with space "q"',
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: 9,
      size: 1,
      uname: 'root',
      gname: 'wheel',
    },
    data: enc.encode('y'),
  },
];

function archive(list: Item[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const { entry, data } of list) {
    parts.push(tarHeader(entry));
    if (entry.size > 0) parts.push(data!, tarPadding(entry.size));
  }
  parts.push(tarTrailer());
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('tar writer', () => {
  const bytes = archive(items);
  const file = join(work, 'out.tar');
  writeFileSync(file, bytes);

  it('is a whole number of 512-byte blocks ending in two zero blocks', () => {
    expect(bytes.length % 512).toBe(0);
    expect(bytes.subarray(-1024).every((b) => b === 0)).toBe(true);
  });

  it('native tar -t lists every entry with its full name', () => {
    const names = execFileSync('tar', ['-tf', file]).toString('utf8').split('\n').filter(Boolean);
    expect(names).toEqual(items.map((i) => (i.entry.type === 'directory' ? `${i.entry.path}/` : i.entry.path)));
    const verbose = execFileSync('tar', ['--numeric-owner', '-tvf', file]).toString('utf8');
    expect(verbose).toMatch(/-rwsr-xr-x 0\/0 +513 .* top\/suid/);
    expect(verbose).toContain(`top/longlink -> ${longTarget}`);
    expect(verbose).toMatch(/top\/hard link to top\/hello.txt/);
    expect(verbose).toMatch(/3000000000\/4000000000/);
  });

  it('native tar -x restores contents, modes, times, links and (as root) owners', () => {
    const out = join(work, 'x');
    mkdirSync(out);
    execFileSync('tar', [
      '-xf',
      file,
      '-C',
      out,
      '--numeric-owner',
      ...(root ? ['--same-owner', '--same-permissions'] : []),
    ]);
    for (const { entry, data } of items) {
      const p = join(out, entry.path);
      const st = lstatSync(p);
      if (entry.type === 'file') {
        expect(Buffer.from(readFileSync(p)).equals(Buffer.from(data!)), entry.path).toBe(true);
        expect(st.mode & 0o7777, entry.path).toBe(entry.mode);
        expect(Math.floor(st.mtimeMs / 1000), entry.path).toBe(entry.mtime);
        if (root) expect([st.uid, st.gid], entry.path).toEqual([entry.uid, entry.gid]);
      } else if (entry.type === 'symlink') {
        expect(readlinkSync(p)).toBe(entry.linkTarget);
      } else if (entry.type === 'hardlink') {
        expect(st.ino).toBe(lstatSync(join(out, entry.linkTarget!)).ino);
      } else {
        expect(st.isDirectory()).toBe(true);
        if (root) expect(st.mode & 0o7777, entry.path).toBe(entry.mode);
      }
    }
  });

  it('our own reader reads it back', async () => {
    const { members } = await readTarArchive(new BytesReader(bytes, 'out.tar'));
    expect(members.map((m) => m.path.replace(/\/$/, ''))).toEqual(items.map((i) => i.entry.path));
    const big = members.find((m) => m.path === 'top/bigids')!;
    expect([big.uid, big.gid]).toEqual([3_000_000_000, 4_000_000_000]);
    expect(members.find((m) => m.path === 'top/longlink')!.linkTarget).toBe(longTarget);
  });

  it('refuses entries it cannot write', () => {
    expect(tarEntryProblem({ path: 'a/../b', type: 'file', mode: 0, uid: 0, gid: 0, mtime: 0, size: 0 })).toMatch(
      /\.\./,
    );
    expect(tarEntryProblem({ path: 'l', type: 'symlink', mode: 0, uid: 0, gid: 0, mtime: 0, size: 0 })).toMatch(
      /target/,
    );
    expect(() => tarHeader({ path: 'd', type: 'directory', mode: 0, uid: 0, gid: 0, mtime: 0, size: 3 })).toThrow(
      /only files/,
    );
  });
});
