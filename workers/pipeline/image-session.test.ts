/**
 * Opened images end to end in Node: images made by native `mkfs.ext4 -d` from a known tree
 * are listed exactly, changed through the session (every change by e2fsprogs), saved, and
 * the result checked with native debugfs, e2fsck and tar.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  createReadStream,
  linkSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TreeEntry } from '../../core/image-tree.ts';
import type { BuildEvent, ImageEntry, ImageState } from '../../core/engine-contract.ts';
import { nativeDebugfs, nativeStat, nativeTool, runNative, sha256Hex, tempDir } from '../test-support/native.ts';
import { pseudoRandom } from '../test-support/tree-fixture.ts';
import { useTestWasm } from '../test-support/wasm.ts';
import { EngineFailure } from './engine-failure.ts';
import { ImageSessions } from './image-session.ts';

const { dir: work, cleanup } = tempDir('image-session-');
afterAll(cleanup);
beforeAll(() => useTestWasm());

const root = process.getuid?.() === 0;
const LABEL = 'known';
const LONG_TARGET = `${'long-directory-name/'.repeat(4)}target`;
const tree = join(work, 'tree');
const img = join(work, 'native.img');

/** The known tree: nested and empty folders, modes, owners, times, fast and slow symlinks, a hard link, odd names. */
function makeTree(): void {
  const files: Array<[string, string | Uint8Array, number, number?]> = [
    ['etc/motd', 'hello from a native image\n', 0o644, 1_500_000_000],
    ['etc/ssh/sshd_config', 'PermitRootLogin no\n', 0o600, 1_400_000_000],
    ['bin/run', '#!/bin/sh\necho run\n', 0o4755, 1_300_000_000],
    ['bin/blob', pseudoRandom(100_000, 5), 0o644, 1_200_000_000],
    ['with space.txt', 'space\n', 0o640, 1_100_000_000],
    ['ünïcødé "q"', 'unicode\n', 0o644, 1_000_000_000],
    ['data/big.bin', pseudoRandom(300_000, 9), 0o444, 900_000_000],
  ];
  for (const [rel, data, mode, mtime] of files) {
    const p = join(tree, rel);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, data);
    chmodSync(p, mode);
    utimesSync(p, mtime!, mtime!);
  }
  mkdirSync(join(tree, 'empty'));
  chmodSync(join(tree, 'empty'), 0o1777);
  symlinkSync('../etc/motd', join(tree, 'bin/motd-link'));
  symlinkSync(LONG_TARGET, join(tree, 'bin/long-link'));
  linkSync(join(tree, 'etc/motd'), join(tree, 'etc/motd.hard'));
  if (root) {
    lchownSync(join(tree, 'etc/ssh/sshd_config'), 1000, 100);
    lchownSync(join(tree, 'data'), 3_000_000_000, 12);
  }
  utimesSync(join(tree, 'data'), 800_000_000, 800_000_000);
}

interface Seen {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size?: number;
  mtime?: number;
  target?: string;
  sha?: string;
}

function walkHost(dir: string, prefix = ''): Map<string, Seen> {
  const out = new Map<string, Seen>();
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    const st = lstatSync(full);
    const path = `${prefix}/${name}`;
    const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) };
    if (st.isSymbolicLink())
      out.set(path, { type: 'symlink', ...base, mode: 0o777, size: st.size, target: readlinkSync(full) });
    else if (st.isDirectory()) {
      out.set(path, { type: 'directory', ...base });
      for (const [k, v] of walkHost(full, path)) out.set(k, v);
    } else out.set(path, { type: 'file', ...base, size: st.size });
  }
  return out;
}

async function walkImage(s: ImageSessions, id: string, dir = '/'): Promise<Map<string, Seen>> {
  const out = new Map<string, Seen>();
  for (const e of (await s.listDir(id, dir)).entries) {
    if (e.path === '/lost+found') continue;
    const seen: Seen = { type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime };
    if (e.type !== 'directory') seen.size = e.size;
    if (e.target !== undefined) seen.target = e.target;
    out.set(e.path, seen);
    if (e.type === 'directory') for (const [k, v] of await walkImage(s, id, e.path)) out.set(k, v);
  }
  return out;
}

const plain = (m: Map<string, Seen>) => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)));

async function open(s: ImageSessions, path: string, name = path.slice(path.lastIndexOf('/') + 1)): Promise<ImageState> {
  return s.openStream(name, createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Uint8Array>);
}

async function save(
  s: ImageSessions,
  id: string,
  file: string,
  compress = false,
): Promise<{ events: BuildEvent[]; sha256: string }> {
  const parts: Uint8Array[] = [];
  const events: BuildEvent[] = [];
  const r = await s.save(
    id,
    { compress, level: 3 },
    (e) => events.push(e),
    (c) => {
      parts.push(c.slice());
    },
  );
  writeFileSync(file, Buffer.concat(parts));
  return { events, sha256: r.sha256 };
}

async function failure(p: Promise<unknown>): Promise<EngineFailure['failure']> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EngineFailure);
  return (err as EngineFailure).failure;
}

const enc = new TextEncoder();
const fileEntry = (
  path: string,
  text: string | Uint8Array,
  mode = 0o644,
  mtime = 1_600_000_000,
  uid = 0,
  gid = 0,
): TreeEntry => {
  const bytes = typeof text === 'string' ? enc.encode(text) : text;
  return {
    path,
    type: 'file',
    mode,
    uid,
    gid,
    mtime,
    size: bytes.length,
    source: { kind: 'bytes', bytes },
    origin: 'test',
  };
};
const dirEntry = (path: string, mode = 0o755, mtime = 1_600_000_000, uid = 0, gid = 0): TreeEntry => ({
  path,
  type: 'directory',
  mode,
  uid,
  gid,
  mtime,
  size: 0,
  origin: 'test',
});

beforeAll(() => {
  makeTree();
  execFileSync(nativeTool('mkfs.ext4'), ['-q', '-F', '-L', LABEL, '-b', '4096', '-d', tree, img, '16M'], {
    stdio: 'ignore',
  });
  expect(runNative('e2fsck', ['-fn', img]).status).toBe(0);
});

describe('opening', () => {
  it('summarizes and checks a native image, and lists exactly its tree (types, modes, owners, sizes, mtimes, symlink targets)', async () => {
    const s = new ImageSessions();
    const st = await open(s, img);
    expect(st.name).toBe('native.img');
    expect(st.size).toBe(16 << 20);
    expect(st.summary).toMatchObject({ fsType: 'ext4', label: LABEL, blockSize: 4096, blockCount: 4096 });
    expect(st.fsck.clean).toBe(true);
    expect(st.minimumBytes).toBeGreaterThan(0);
    expect(st.minimumBytes).toBeLessThan(16 << 20);
    expect(plain(await walkImage(s, st.id))).toEqual(plain(walkHost(tree)));
    const etc = await s.listDir(st.id, '/etc');
    expect(etc.entries.find((e) => e.name === 'motd')!.links).toBe(2);
    expect(etc.entries.find((e) => e.name === 'motd')!.inode).toBe(
      etc.entries.find((e) => e.name === 'motd.hard')!.inode,
    );
  });

  it('opens the same image compressed with zstd', async () => {
    const zst = join(work, 'native.img.zst');
    execFileSync('zstd', ['-q', '-f', img, '-o', zst]);
    const s = new ImageSessions();
    const st = await open(s, zst);
    expect(st.size).toBe(16 << 20);
    expect(st.fsck.clean).toBe(true);
    expect((await s.listDir(st.id, '/bin')).entries.map((e) => e.name)).toEqual([
      'blob',
      'long-link',
      'motd-link',
      'run',
    ]);
  });

  it('refuses a truncated image and a random file, saying what is wrong and what to do', async () => {
    const s = new ImageSessions();
    const cut = join(work, 'cut.img');
    writeFileSync(cut, readFileSync(img).subarray(0, 5 << 20));
    const a = await failure(open(s, cut));
    expect(a.message).toBe(
      `cut.img is not a usable disk image: it is truncated: its ext4 filesystem is 4096 blocks of 4096 bytes (${16 << 20} bytes) but the file holds only ${5 << 20} bytes.`,
    );
    expect(a.hint).toMatch(/Open an ext2, ext3 or ext4 image/);
    const random = join(work, 'random.bin');
    writeFileSync(random, pseudoRandom(1 << 20, 3));
    const b = await failure(open(s, random));
    expect(b.message).toMatch(
      /^random\.bin is not a usable disk image: no ext2\/3\/4 superblock was found \(its magic number 0xEF53 is not at byte 1080\)/,
    );
    expect(b.message).not.toContain('/image/disk.img');
  });

  it('reads the head of a file without dumping all of it, and refuses folders', async () => {
    const s = new ImageSessions();
    const st = await open(s, img);
    const head = await s.readFile(st.id, '/data/big.bin', 1000);
    expect(head).toMatchObject({ size: 300_000, truncated: true });
    expect(Buffer.from(head.bytes).equals(Buffer.from(pseudoRandom(300_000, 9).subarray(0, 1000)))).toBe(true);
    const motd = await s.readFile(st.id, '/etc/motd');
    expect(new TextDecoder().decode(motd.bytes)).toBe('hello from a native image\n');
    expect(motd.truncated).toBe(false);
    expect((await failure(s.readFile(st.id, '/etc'))).message).toBe('/etc is a folder, not a file.');
    expect((await failure(s.readFile(st.id, '/nope'))).message).toMatch(/^\/nope: no such file or folder/);
  });

  it('exports a file as its bytes and a folder as a tar native tar extracts', async () => {
    const s = new ImageSessions();
    const st = await open(s, img);
    const parts: Uint8Array[] = [];
    const f = await s.exportPath(st.id, '/data/big.bin', (c) => {
      parts.push(c.slice());
    });
    expect(f).toMatchObject({ fileName: 'big.bin', kind: 'file', size: 300_000 });
    expect(sha256Hex(Buffer.concat(parts))).toBe(sha256Hex(pseudoRandom(300_000, 9)));

    const tarParts: Uint8Array[] = [];
    const t = await s.exportPath(st.id, '/', (c) => {
      tarParts.push(c.slice());
    });
    expect(t).toMatchObject({ fileName: `${LABEL}.tar`, kind: 'tar', skipped: 0 });
    const tarFile = join(work, 'export.tar');
    writeFileSync(tarFile, Buffer.concat(tarParts));
    const out = join(work, 'export');
    mkdirSync(out);
    execFileSync('tar', [
      '-xf',
      tarFile,
      '-C',
      out,
      '--numeric-owner',
      ...(root ? ['--same-owner', '--same-permissions'] : []),
    ]);
    const got = walkHost(join(out, LABEL));
    got.delete('/lost+found');
    const want = walkHost(tree);
    for (const m of [got, want])
      for (const [k, v] of m)
        if (v.type === 'directory') m.set(k, { ...v, mtime: undefined, ...(root ? {} : { uid: 0, gid: 0, mode: 0 }) });
    if (!root) for (const m of [got, want]) for (const [k, v] of m) m.set(k, { ...v, uid: 0, gid: 0 });
    expect(plain(got)).toEqual(plain(want));
    expect(readFileSync(join(out, LABEL, 'bin/blob')).equals(Buffer.from(pseudoRandom(100_000, 5)))).toBe(true);
    expect(lstatSync(join(out, LABEL, 'etc/motd.hard')).ino).toBe(lstatSync(join(out, LABEL, 'etc/motd')).ino);
  });
});

describe('changing and saving', () => {
  it('adds, deletes, renames, moves, chmods, chowns, relabels, shrinks and grows; native tools see exactly that', async () => {
    const s = new ImageSessions();
    let st = await open(s, img);
    st = await s.apply(st.id, [
      {
        kind: 'add',
        entries: [
          dirEntry('/srv', 0o750, 1_234_000, 7, 8),
          fileEntry('/srv/index.html', '<h1>hi</h1>\n', 0o640, 1_111_111, 33, 33),
          fileEntry('/srv/tool', '#!/bin/sh\n', 0o4755),
          fileEntry('/srv/deep/er/leaf.bin', pseudoRandom(70_000, 2)),
          {
            path: '/srv/link',
            type: 'symlink',
            mode: 0o777,
            uid: 0,
            gid: 0,
            mtime: 5,
            size: 10,
            target: 'index.html',
            origin: 'test',
          },
          {
            path: '/srv/hard',
            type: 'hardlink',
            mode: 0o640,
            uid: 0,
            gid: 0,
            mtime: 5,
            size: 0,
            target: '/srv/index.html',
            origin: 'test',
          },
          fileEntry('/etc/added.conf', 'added=1\n', 0o600),
        ],
      },
    ]);
    expect(st.fsck.clean).toBe(true);
    expect(st.revision).toBe(1);
    st = await s.apply(st.id, [
      { kind: 'delete', path: '/bin' },
      { kind: 'move', from: '/with space.txt', to: '/renamed.txt' },
      { kind: 'move', from: '/etc/ssh', to: '/srv/ssh' },
      { kind: 'chmod', path: '/etc/motd', mode: 0o600 },
      { kind: 'chown', path: '/srv/tool', uid: 4_000_000_000, gid: 65534 },
    ]);
    expect(st.fsck.clean).toBe(true);
    st = await s.setLabel(st.id, 'changed');
    expect(st.summary.label).toBe('changed');
    st = await s.resize(st.id, 'min');
    expect(st.size).toBeLessThan(16 << 20);
    expect(st.size).toBe(st.summary.blockCount * 4096);
    st = await s.resize(st.id, 24 << 20);
    expect(st.size).toBe(24 << 20);
    expect(st.summary.blockCount).toBe(6144);
    expect(st.fsck.clean).toBe(true);

    const out = join(work, 'changed.img');
    const { events, sha256 } = await save(s, st.id, out);
    expect(events.some((e) => e.type === 'stage' && e.stage === 'check' && e.state === 'done')).toBe(true);
    expect(sha256Hex(readFileSync(out))).toBe(sha256);
    expect(readFileSync(out).length).toBe(24 << 20);
    const fsck = runNative('e2fsck', ['-fn', out]);
    expect(fsck.status, fsck.stdout).toBe(0);
    expect(runNative('dumpe2fs', ['-h', out]).stdout).toMatch(/Filesystem volume name:\s+changed/);

    const stat = nativeStat(out, [
      '/srv',
      '/srv/index.html',
      '/srv/tool',
      '/srv/hard',
      '/srv/deep/er/leaf.bin',
      '/etc/added.conf',
      '/etc/motd',
      '/renamed.txt',
      '/srv/ssh/sshd_config',
    ]);
    expect(stat.get('/srv')).toMatchObject({ type: 'directory', mode: 0o750, uid: 7, gid: 8, mtime: 1_234_000 });
    expect(stat.get('/srv/index.html')).toMatchObject({
      type: 'regular',
      mode: 0o640,
      uid: 33,
      gid: 33,
      mtime: 1_111_111,
      links: 2,
      size: 12,
    });
    expect(stat.get('/srv/hard')!.inode).toBe(stat.get('/srv/index.html')!.inode);
    expect(stat.get('/srv/tool')).toMatchObject({ mode: 0o4755, uid: 4_000_000_000, gid: 65534 });
    expect(stat.get('/etc/added.conf')).toMatchObject({ mode: 0o600, size: 8 });
    expect(stat.get('/etc/motd')).toMatchObject({ mode: 0o600, links: 2 });
    expect(stat.get('/renamed.txt')).toMatchObject({ mode: 0o640, mtime: 1_100_000_000 });
    expect(stat.get('/srv/ssh/sshd_config')).toMatchObject({ mode: 0o600, mtime: 1_400_000_000 });
    const cat = (p: string) => nativeDebugfs(out, [`cat "${p}"`]).replace(/^debugfs: .*\n/, '');
    expect(cat('/srv/index.html')).toBe('<h1>hi</h1>\n');
    expect(cat('/srv/ssh/sshd_config')).toBe('PermitRootLogin no\n');
    const dump = join(work, 'leaf.bin');
    nativeDebugfs(out, [`dump /srv/deep/er/leaf.bin ${dump}`]);
    expect(sha256Hex(readFileSync(dump))).toBe(sha256Hex(pseudoRandom(70_000, 2)));
    const root = nativeDebugfs(out, ['ls -p /']);
    expect(root).not.toMatch(/\/bin\//);
    expect(root).not.toMatch(/with space/);
    expect(nativeDebugfs(out, ['ls -p /etc'])).not.toMatch(/\/ssh\//);
    expect(nativeDebugfs(out, ['stat /srv/link'])).toContain('Fast link dest: "index.html"');
  });

  it('refuses an add over an existing file unless asked to replace, and leaves the image as it was', async () => {
    const s = new ImageSessions();
    const st = await open(s, img);
    const f = await failure(
      s.apply(st.id, [{ kind: 'add', entries: [fileEntry('/etc/motd', 'new\n'), fileEntry('/etc/fresh', 'x')] }]),
    );
    expect(f.message).toBe('/etc/motd already exists in the image.');
    expect(f.problems.map((p) => p.path)).toEqual(['/etc/motd']);
    expect((await s.listDir(st.id, '/etc')).entries.map((e) => e.name)).not.toContain('fresh');
    const after = await s.apply(st.id, [
      {
        kind: 'add',
        replace: true,
        entries: [fileEntry('/etc/motd', 'new\n', 0o600), fileEntry('/bin', 'a file where a folder was\n')],
      },
    ]);
    expect(after.fsck.clean).toBe(true);
    expect(new TextDecoder().decode((await s.readFile(st.id, '/etc/motd')).bytes)).toBe('new\n');
    expect((await s.listDir(st.id, '/etc')).entries.find((e) => e.name === 'motd.hard')).toMatchObject({
      links: 1,
      size: 26,
    });
    expect((await s.listDir(st.id, '/')).entries.find((e) => e.name === 'bin')).toMatchObject({
      type: 'file',
      size: 26,
    });
  });

  it('rolls a failing edit back: adding more than fits says the image is full and changes nothing', async () => {
    const s = new ImageSessions();
    const st = await open(s, img);
    const before = await walkImage(s, st.id);
    const f = await failure(
      s.apply(st.id, [
        { kind: 'delete', path: '/etc' },
        { kind: 'add', entries: [fileEntry('/huge.bin', new Uint8Array(20 << 20).fill(1))] },
      ]),
    );
    expect(f.code).toBe('tool-failed');
    expect(f.hint).toMatch(/full: grow it/);
    expect(plain(await walkImage(s, st.id))).toEqual(plain(before));
    expect(await s.listDir(st.id, '/')).toBeTruthy();
    const out = join(work, 'unchanged.img');
    await save(s, st.id, out);
    expect(readFileSync(out).equals(readFileSync(img))).toBe(true);
  });

  it('refuses moves into itself, onto an existing name and of the root; bad modes and owners', async () => {
    const s = new ImageSessions();
    const st = await open(s, img);
    expect((await failure(s.apply(st.id, [{ kind: 'move', from: '/etc', to: '/etc/ssh/etc' }]))).message).toMatch(
      /cannot be moved into itself/,
    );
    expect((await failure(s.apply(st.id, [{ kind: 'move', from: '/etc/motd', to: '/bin/run' }]))).message).toMatch(
      /already exists/,
    );
    expect((await failure(s.apply(st.id, [{ kind: 'move', from: '/', to: '/x' }]))).message).toMatch(
      /root folder cannot be moved/,
    );
    expect((await failure(s.apply(st.id, [{ kind: 'delete', path: '/' }]))).message).toMatch(
      /root folder cannot be deleted/,
    );
    expect((await failure(s.apply(st.id, [{ kind: 'chmod', path: '/etc/motd', mode: 0o10000 }]))).message).toMatch(
      /mode must be/,
    );
    expect(
      (await failure(s.apply(st.id, [{ kind: 'chown', path: '/etc/motd', uid: 2 ** 32, gid: 0 }]))).message,
    ).toMatch(/owner ids/);
    expect((await failure(s.apply(st.id, [{ kind: 'move', from: '/nope', to: '/x' }]))).message).toMatch(
      /no such file/,
    );
  });

  it('saves zstd-compressed: native zstd -d gives the image', async () => {
    const s = new ImageSessions();
    const st = await open(s, img);
    const out = join(work, 'again.img.zst');
    const { events } = await save(s, st.id, out, true);
    expect(events.some((e) => e.type === 'stage' && e.stage === 'compress' && e.state === 'done')).toBe(true);
    const raw = join(work, 'again.img');
    execFileSync('zstd', ['-d', '-q', '-f', out, '-o', raw]);
    expect(readFileSync(raw).equals(readFileSync(img))).toBe(true);
    expect(ImageSessions.defaultFileName('native.img.zst', 'x', true)).toBe('native.img.zst');
    expect(ImageSessions.defaultFileName('.img', 'lbl', false)).toBe('lbl.img');
  });
});

describe('moving folders', () => {
  it('moves plain and hash-indexed folders to another parent: links, ".." and contents stay right', async () => {
    const src = join(work, 'move-tree');
    mkdirSync(join(src, 'a/b/c'), { recursive: true });
    mkdirSync(join(src, 'other'));
    mkdirSync(join(src, 'big'));
    writeFileSync(join(src, 'a/b/c/leaf'), 'leaf\n');
    writeFileSync(join(src, 'a/top'), 'top\n');
    for (let i = 0; i < 400; i++) writeFileSync(join(src, 'big', `entry-with-a-longish-name-${i}`), String(i));
    const moved = join(work, 'move.img');
    execFileSync(nativeTool('mkfs.ext4'), ['-q', '-F', '-b', '1024', '-d', src, moved, '16M'], { stdio: 'ignore' });
    // e2fsck -D turns the big folder into a hash-indexed one.
    runNative('e2fsck', ['-fyD', moved]);
    expect(nativeStat(moved, ['/big']).get('/big')!.flags & 0x1000).toBe(0x1000);

    const s = new ImageSessions();
    const st = await open(s, moved);
    const after = await s.apply(st.id, [
      { kind: 'move', from: '/a', to: '/other/a' },
      { kind: 'move', from: '/big', to: '/other/a/b/big' },
    ]);
    expect(after.fsck.clean).toBe(true);
    const out = join(work, 'moved.img');
    await save(s, st.id, out);
    const fsck = runNative('e2fsck', ['-fn', out]);
    expect(fsck.status, fsck.stdout).toBe(0);
    const stat = nativeStat(out, ['/other', '/other/a', '/other/a/b', '/other/a/b/big']);
    expect(stat.get('/other')!.links).toBe(3);
    expect(stat.get('/other/a/b')!.links).toBe(4);
    const dots = nativeDebugfs(out, ['ls -p /other/a']);
    expect(dots).toContain(`/${stat.get('/other')!.inode}/040755/0/0/../`);
    expect(nativeDebugfs(out, ['cat /other/a/b/c/leaf']).replace(/^debugfs: .*\n/, '')).toBe('leaf\n');
    const big = (await s.listDir(st.id, '/other/a/b/big')).entries;
    expect(big).toHaveLength(400);
    expect(nativeDebugfs(out, ['cat /other/a/b/big/entry-with-a-longish-name-399']).replace(/^debugfs: .*\n/, '')).toBe(
      '399',
    );
    expect(nativeDebugfs(out, ['ls -p /'])).not.toMatch(/\/(a|big)\/\/$/m);
  });
});

describe('damaged images', () => {
  it('reports a cleared inode as not clean, blocks changes and saving, and is clean after a repair on request', async () => {
    const bad = join(work, 'cleared.img');
    writeFileSync(bad, readFileSync(img));
    const ino = /Inode: (\d+)/.exec(nativeDebugfs(img, ['stat /etc/ssh']))![1];
    execFileSync(nativeTool('debugfs'), ['-w', '-R', `clri <${ino}>`, bad], { stdio: 'ignore' });
    expect(runNative('e2fsck', ['-fn', bad]).status).not.toBe(0);

    const s = new ImageSessions();
    const st = await open(s, bad);
    expect(st.fsck.clean).toBe(false);
    expect(st.fsck.exitCode).toBe(4);
    expect(st.fsck.output).toMatch(/Entry 'ssh' in \/etc \(\d+\) has deleted\/unused inode|unused inode/i);
    expect((await failure(s.apply(st.id, [{ kind: 'delete', path: '/empty' }]))).code).toBe('check-failed');
    const f = await failure(save(s, st.id, join(work, 'never.img')));
    expect(f.code).toBe('check-failed');
    expect(f.toolOutput).toMatch(/ssh/);

    const r = await s.repair(st.id);
    expect(r.exitCode).toBe(1);
    expect(r.output).toMatch(/FILE SYSTEM WAS MODIFIED/);
    expect(r.state.fsck.clean).toBe(true);
    const out = join(work, 'repaired.img');
    await save(s, st.id, out);
    expect(runNative('e2fsck', ['-fn', out]).status).toBe(0);
    // The opened file itself is untouched: the repair was on the copy in memory.
    expect(runNative('e2fsck', ['-fn', bad]).status).not.toBe(0);
  });

  it('reports a zeroed inode bitmap block as not clean, and repairs it', async () => {
    const bad = join(work, 'bitmap.img');
    writeFileSync(bad, readFileSync(img));
    const block = Number(/Inode bitmap at (\d+)/.exec(runNative('dumpe2fs', [img]).stdout)![1]);
    const fd = openSync(bad, 'r+');
    writeSync(fd, new Uint8Array(4096), 0, 4096, block * 4096);
    closeSync(fd);
    const s = new ImageSessions();
    const st = await open(s, bad);
    expect(st.fsck.clean).toBe(false);
    const r = await s.repair(st.id);
    expect(r.state.fsck.clean).toBe(true);
  });
});

describe('scale', () => {
  it('lists a folder of 10,000 entries in two debugfs runs', async () => {
    const big = join(work, 'many');
    mkdirSync(join(big, 'd'), { recursive: true });
    for (let i = 0; i < 10_000; i++) writeFileSync(join(big, 'd', `file-${String(i).padStart(5, '0')}.txt`), '');
    const image = join(work, 'many.img');
    execFileSync(nativeTool('mkfs.ext4'), ['-q', '-F', '-d', big, image, '64M'], { stdio: 'ignore' });
    const s = new ImageSessions();
    const st = await open(s, image);
    const listing = await s.listDir(st.id, '/d');
    expect(listing.entries).toHaveLength(10_000);
    expect(listing.entries[9_999]).toMatchObject<Partial<ImageEntry>>({
      name: 'file-09999.txt',
      type: 'file',
      size: 0,
    });
  });
});
