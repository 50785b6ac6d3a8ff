/**
 * Nothing changes silently between an input and the image: special files and names that
 * cannot be kept are warnings naming each entry; owners beyond 32 bits are refused; names
 * with control characters are printed escaped, so they cannot forge output lines.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { indexTree, TreeError } from '../workers/runtime/tree-fs.ts';
import { tempDir } from '../workers/test-support/native.ts';
import { escapeControls } from './escape.ts';
import { runCli } from './test-support/cli.ts';
import { debugfsCat, fsck } from './test-support/native.ts';
import { tarBytes } from './test-support/tar.ts';
import { useTestWasm } from '../workers/test-support/wasm.ts';

useTestWasm();
const { dir: work, cleanup } = tempDir('cli-silent-');
afterAll(cleanup);

let n = 0;
const fresh = (name: string) => {
  const d = join(work, `${name}-${++n}`);
  mkdirSync(d, { recursive: true });
  return d;
};

describe('special files in a --files folder', () => {
  it('FIFOs, sockets and devices are left out with a warning naming each; the rest builds', async () => {
    const root = fresh('special');
    writeFileSync(join(root, 'regular.txt'), 'kept\n');
    execFileSync('mkfifo', [join(root, 'pipe')]);
    execFileSync('mknod', [join(root, 'null'), 'c', '1', '3']);
    const server = createServer();
    await new Promise<void>((ok) => server.listen(join(root, 'sock'), ok));
    try {
      const out = join(fresh('out'), 'disk.img');
      const r = await runCli('build', '-q', '--files', root, '-o', out);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/warning: special-\d+: \/pipe: Left out \/pipe: it is a FIFO/);
      expect(r.stderr).toMatch(/\/sock: it is a socket/);
      expect(r.stderr).toMatch(/\/null: it is a character device/);
      expect(fsck(out).status).toBe(0);
      expect(debugfsCat(out, '/regular.txt').toString()).toBe('kept\n');
    } finally {
      server.close();
    }
  });

  it('names that are not UTF-8 are left out with a warning naming them', async () => {
    const root = fresh('latin1');
    writeFileSync(Buffer.from(`${root}/caf\xe9.txt`, 'latin1'), 'latin-1 name\n');
    writeFileSync(join(root, 'ok.txt'), 'ok\n');
    // A real U+FFFD (valid UTF-8, what Node also shows for bytes that are not) is kept.
    writeFileSync(join(root, 'repl\uFFFDchar.txt'), 'kept\n');
    const out = join(fresh('out'), 'disk.img');
    const r = await runCli('build', '-q', '--files', root, '-o', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: latin1-\d+: \/caf.\.txt: Left out .*its name is not UTF-8/);
    expect(r.stderr.match(/warning/g)).toHaveLength(1);
    expect(debugfsCat(out, '/ok.txt').toString()).toBe('ok\n');
    expect(debugfsCat(out, '/repl\uFFFDchar.txt').toString()).toBe('kept\n');
  });
});

describe('tar archives', () => {
  it('a name that is not UTF-8 gives a warning naming the member', async () => {
    const src = fresh('tarsrc');
    writeFileSync(Buffer.from(`${src}/na\xefve.txt`, 'latin1'), 'x\n');
    const tar = join(work, `latin1-${++n}.tar`);
    execFileSync('tar', ['--format=ustar', '-C', src, '-cf', tar, '.']);
    const out = join(fresh('out'), 'disk.img');
    const r = await runCli('build', '-q', '--tar', tar, '-o', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /warning: latin1-\d+\.tar: \.\/naïve\.txt: The name or link target of \.\/naïve\.txt is not UTF-8/,
    );
    expect(debugfsCat(out, '/naïve.txt').toString()).toBe('x\n');
  });

  it.each([
    ['uid', { uid: '4294967296' }],
    ['gid', { gid: '1099511627776' }],
    ['uid', { uid: '-1' }],
  ])('an owner outside 32 bits (%s %j) is refused, not wrapped', async (what, pax) => {
    const tar = join(work, `owner-${++n}.tar`);
    writeFileSync(tar, tarBytes([{ name: 'owned.txt', type: 'file', data: 'x\n', pax }]));
    const outDir = fresh('out');
    const r = await runCli('build', '-q', '--tar', tar, '-o', join(outDir, 'disk.img'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`owned\\.txt has ${what} -?\\d+, outside 0\\.\\.4294967295`));
    expect(readdirSync(outDir)).toEqual([]);
  });

  it('a tree entry with an owner outside 32 bits is refused by the engine too', () => {
    for (const uid of [2 ** 32, -1, 1.5]) {
      expect(() =>
        indexTree([{ path: '/f', type: 'file', mode: 0o644, uid, gid: 0, mtime: 1, size: 0, origin: 'page' }]),
      ).toThrow(TreeError);
    }
  });
});

describe('names with control characters in CLI output', () => {
  it('escapeControls makes every unsafe character visible and keeps the rest', () => {
    expect(escapeControls('plain name.txt')).toBe('plain name.txt');
    expect(escapeControls('a\nBlock count: 1')).toBe('a\\nBlock count: 1');
    expect(escapeControls('\t\r\x1b[31m\x7f\u0085\u2028\u202e\\')).toBe('\\t\\r\\x1b[31m\\x7f\\x85\\u2028\\u202e\\\\');
    expect(escapeControls('naïve ünïcode 漢字')).toBe('naïve ünïcode 漢字');
  });

  it('ls prints a name with a line break as one escaped line', async () => {
    const root = fresh('names');
    writeFileSync(join(root, 'evil\n-rw-r--r--     0     0            0 forged'), 'x\n');
    writeFileSync(join(root, 'bell\x07'), 'y\n');
    const out = join(fresh('out'), 'disk.img');
    const b = await runCli('build', '-q', '--files', root, '-o', out);
    expect(b.code, b.stderr).toBe(0);
    const r = await runCli('ls', out, '/');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.filter((l) => l.endsWith(' forged'))).toEqual([
      expect.stringMatching(/ evil\\n-rw-r--r-- {5}0 {5}0 {12}0 forged$/),
    ]);
    expect(lines.some((l) => l.endsWith(' bell\\x07'))).toBe(true);
    expect(lines).toHaveLength(3); // lost+found, bell, evil
  });
});
