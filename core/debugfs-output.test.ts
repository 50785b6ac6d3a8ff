/** The debugfs output parsers against what native debugfs prints for a native mkfs.ext4 -d image. */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, lchownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  argumentProblem,
  fitsCommandLine,
  parseLsP,
  parseStat,
  quoteArg,
  sectionAt,
  splitCommandOutput,
} from './debugfs-output.ts';

const sbin = (t: string) =>
  ['/usr/sbin', '/sbin'].map((d) => join(d, t)).find((p) => spawnSync('test', ['-x', p]).status === 0) ?? t;
const work = mkdtempSync(join(tmpdir(), 'debugfs-output-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const NAMES = ['plain.txt', 'with space', 'quo"te', 'new\nline', 'ünïcødé ✓', 'back\\slash', '-dash', '<12>'];
const LONG_TARGET = 'x/'.repeat(40) + 'end'; // 83 bytes: a slow symlink
const root = process.getuid?.() === 0;

function debugfs(image: string, commands: string[]): Buffer {
  const file = join(work, 'cmds');
  writeFileSync(file, commands.join('\n') + '\n');
  return execFileSync(sbin('debugfs'), ['-f', file, image], { stdio: ['ignore', 'pipe', 'pipe'] });
}

function makeImage(name: string, inodeSize: number): string {
  const tree = join(work, `tree-${name}`);
  mkdirSync(join(tree, 'dir'), { recursive: true });
  for (const [i, n] of NAMES.entries()) writeFileSync(join(tree, 'dir', n), 'x'.repeat(i));
  chmodSync(join(tree, 'dir', 'plain.txt'), 0o4751);
  symlinkSync('../dir/plain.txt', join(tree, 'dir', 'fast'));
  symlinkSync(LONG_TARGET, join(tree, 'dir', 'slow'));
  utimesSync(join(tree, 'dir', 'with space'), 1_000_000, 1_234_567);
  if (root) lchownSync(join(tree, 'dir', 'quo"te'), 3_000_000_000, 4_000_000_000);
  const img = join(work, `${name}.img`);
  execFileSync(sbin('mkfs.ext4'), ['-q', '-F', '-I', String(inodeSize), '-d', tree, img, '4M'], { stdio: 'ignore' });
  return img;
}

let big: string;
let small: string;
beforeAll(() => {
  big = makeImage('big', 256);
  small = makeImage('small', 128);
});

describe('parseLsP', () => {
  it('reads every name whole, newlines, quotes and backslashes included', () => {
    const out = execFileSync(sbin('debugfs'), ['-R', 'ls -p /dir', big], { stdio: ['ignore', 'pipe', 'pipe'] });
    const recs = parseLsP(out);
    expect(recs.map((r) => r.name).sort()).toEqual(['.', '..', ...NAMES, 'fast', 'slow'].sort());
    const plain = recs.find((r) => r.name === 'plain.txt')!;
    expect(plain.mode).toBe(0o104751);
    expect(plain.size).toBe(0);
    expect(recs.find((r) => r.name === 'new\nline')!.size).toBe(NAMES.indexOf('new\nline'));
    expect(recs.find((r) => r.name === '.')!.mode).toBe(0o40755);
    expect(recs.find((r) => r.name === 'slow')!.size).toBe(LONG_TARGET.length);
    if (root) expect(recs.find((r) => r.name === 'quo"te')).toMatchObject({ uid: 3_000_000_000, gid: 4_000_000_000 });
  });

  it('reads several listings from a command file and skips the echoed commands', () => {
    const out = debugfs(big, ['ls -p /', 'ls -p /dir']);
    const sections = splitCommandOutput(out);
    expect(sections.map((s) => s.command)).toEqual(['ls -p /', 'ls -p /dir']);
    expect(parseLsP(sections[0].body).map((r) => r.name)).toContain('lost+found');
    expect(parseLsP(sections[1].body)).toHaveLength(NAMES.length + 4);
    expect(parseLsP(out)).toHaveLength(parseLsP(sections[0].body).length + NAMES.length + 4);
  });

  it('refuses output that is not a listing record', () => {
    expect(() => parseLsP('/12/xyz/0/0/a/1/\n')).toThrow(/number/);
    expect(() => parseLsP('/12/0100644/0/0/unterminated')).toThrow(/unterminated/);
  });
});

describe('parseStat', () => {
  it.each([
    ['256-byte', () => big],
    ['128-byte', () => small],
  ])('reads %s inodes: type, bits, owner, size, links, times, fast targets', (_, img) => {
    const out = debugfs(img(), [
      'stat /dir/plain.txt',
      'stat "/dir/with space"',
      'stat /dir/fast',
      'stat /dir/slow',
      'stat /dir',
      'stat "/dir/quo""te"',
    ]);
    const s = splitCommandOutput(out).map((x) => parseStat(x.body));
    expect(s[0]).toMatchObject({ type: 'regular', perm: 0o4751, size: 0, links: 1 });
    expect(s[1]).toMatchObject({ type: 'regular', size: 1, mtime: 1_234_567, atime: 1_000_000 });
    expect(s[2]).toMatchObject({ type: 'symlink', fastLinkTarget: '../dir/plain.txt', size: 16, perm: 0o777 });
    expect(s[3].type).toBe('symlink');
    expect(s[3].fastLinkTarget).toBeUndefined();
    expect(s[4]).toMatchObject({ type: 'directory', perm: 0o755, links: 2 });
    if (root) expect(s[5]).toMatchObject({ uid: 3_000_000_000, gid: 4_000_000_000 });
    for (const r of s) expect(r.inode).toBeGreaterThan(10);
  });

  it('applies the ext4 epoch bits of times after 2038', () => {
    const tree = join(work, 'tree-2038');
    mkdirSync(tree);
    writeFileSync(join(tree, 'late'), 'late');
    const img = join(work, '2038.img');
    execFileSync(sbin('mkfs.ext4'), ['-q', '-F', '-d', tree, img, '4M'], { stdio: 'ignore' });
    // mkfs -d keeps only 32 bits of a time; debugfs sets the epoch bits.
    execFileSync(sbin('debugfs'), ['-w', '-R', 'sif /late mtime @5000000000', img], { stdio: 'ignore' });
    const [s] = splitCommandOutput(debugfs(img, ['stat /late'])).map((x) => parseStat(x.body));
    expect(s.mtime).toBe(5_000_000_000);
  });

  it('refuses what is not a stat report', () => {
    expect(() => parseStat('/nope: File not found by ext2_lookup\n')).toThrow(/not a stat report/);
  });
});

describe('splitCommandOutput', () => {
  it('maps output offsets to the command that printed them', () => {
    const text = 'debugfs: a\nx\ndebugfs: b\ndebugfs: c\nyy\n';
    const s = splitCommandOutput(text);
    expect(s.map((x) => [x.command, new TextDecoder().decode(x.body)])).toEqual([
      ['a', 'x\n'],
      ['b', ''],
      ['c', 'yy\n'],
    ]);
    expect(sectionAt(s, 0)).toBe(-1);
    expect(sectionAt(s, text.indexOf('x'))).toBe(0);
    expect(sectionAt(s, text.indexOf('debugfs: c') + 11)).toBe(2);
    expect(sectionAt(s, text.length)).toBe(2);
  });
});

describe('quoteArg', () => {
  it('gives names native debugfs reads back exactly', () => {
    const out = debugfs(
      big,
      NAMES.filter((n) => !argumentProblem(n)).map((n) => `stat ${quoteArg(`/dir/${n}`)}`),
    );
    const sizes = splitCommandOutput(out).map((s) => parseStat(s.body).size);
    expect(sizes).toEqual(NAMES.map((n, i) => (argumentProblem(n) ? -1 : i)).filter((x) => x >= 0));
  });

  it('refuses line breaks and NUL, and knows the line limit', () => {
    expect(() => quoteArg('a\nb')).toThrow(/line break/);
    expect(() => quoteArg('a\0b')).toThrow(/NUL/);
    expect(quoteArg('say "hi"')).toBe('"say ""hi"""');
    expect(fitsCommandLine('x'.repeat(1022))).toBe(true);
    expect(fitsCommandLine('é'.repeat(512))).toBe(false);
  });
});
