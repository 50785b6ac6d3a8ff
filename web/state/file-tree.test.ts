import { describe, expect, it } from 'vitest';
import { nameProblem } from '../../core/image-path.ts';
import type { TreeEntry } from '../../core/image-tree.ts';
import { alternativeName, FileTree, normalizeEntries } from './file-tree.ts';

const file = (path: string, size = 1, origin = 'a'): TreeEntry => ({
  path,
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: 1,
  size,
  origin,
  source: { kind: 'bytes', bytes: new Uint8Array(size) },
});
const dir = (path: string, origin = 'a'): TreeEntry => ({
  path,
  type: 'directory',
  mode: 0o755,
  uid: 0,
  gid: 0,
  mtime: 1,
  size: 0,
  origin,
});

function load(entries: TreeEntry[], inputId = 1): FileTree {
  const t = new FileTree();
  const plan = t.planMerge(entries, inputId);
  expect(plan.conflicts).toEqual([]);
  t.applyMerge(plan, new Map());
  return t;
}

const paths = (t: FileTree) =>
  t
    .toEntries()
    .map((e) => e.path)
    .sort();

describe('FileTree', () => {
  it('adds missing parents and keeps parents before children', () => {
    const t = load([file('/a/b/c.txt'), dir('/empty')]);
    const list = t.toEntries().map((e) => e.path);
    expect(list.sort()).toEqual(['/a', '/a/b', '/a/b/c.txt', '/empty']);
    const order = t.toEntries().map((e) => e.path);
    expect(order.indexOf('/a')).toBeLessThan(order.indexOf('/a/b'));
    expect(order.indexOf('/a/b')).toBeLessThan(order.indexOf('/a/b/c.txt'));
    expect(t.get('/a')!.entry.mode).toBe(0o755);
  });

  it('merges folders silently and reports other clashes as conflicts', () => {
    const t = load([dir('/etc'), file('/etc/hosts', 5, 'first')]);
    const plan = t.planMerge(
      [dir('/etc', 'second'), file('/etc/hosts', 9, 'second'), file('/etc/new', 1, 'second')],
      2,
    );
    expect(plan.conflicts).toEqual([
      {
        path: '/etc/hosts',
        existing: { type: 'file', size: 5, origin: 'first' },
        incoming: { type: 'file', size: 9, origin: 'second' },
      },
    ]);
  });

  it('applies replace, keep both and skip', () => {
    const base = () => load([file('/x', 1), file('/y', 1), file('/z', 1)]);
    const incoming = [file('/x', 2, 'b'), file('/y', 2, 'b'), file('/z', 2, 'b')];
    const t = base();
    const plan = t.planMerge(incoming, 2);
    t.applyMerge(
      plan,
      new Map([
        ['/x', 'replace'],
        ['/y', 'keep-both'],
        ['/z', 'skip'],
      ]),
    );
    const sizes = Object.fromEntries(t.toEntries().map((e) => [e.path, e.size]));
    expect(sizes).toEqual({ '/x': 2, '/y': 1, '/y (2)': 2, '/z': 1 });
  });

  it('keeps both for a folder by renaming the incoming folder and everything in it', () => {
    const t = load([file('/site', 3)]);
    const plan = t.planMerge([dir('/site', 'b'), file('/site/index.html', 4, 'b')], 2);
    expect(plan.conflicts.map((c) => c.path)).toEqual(['/site']);
    t.applyMerge(plan, new Map(), 'keep-both');
    expect(paths(t)).toEqual(['/site', '/site (2)', '/site (2)/index.html']);
  });

  it('skipping a folder skips its contents', () => {
    const t = load([file('/site', 3)]);
    t.applyMerge(t.planMerge([dir('/site', 'b'), file('/site/index.html', 4, 'b')], 2), new Map(), 'skip');
    expect(paths(t)).toEqual(['/site']);
  });

  it('renames, moves and refuses what an ext filesystem cannot hold', () => {
    const t = load([file('/a/f.txt'), dir('/b'), file('/b/g.txt')]);
    const f = t.get('/a/f.txt')!;
    expect(t.rename(f, 'x/y')).toMatch(/cannot contain/);
    expect(t.rename(f, '..')).toMatch(/reserved/);
    expect(t.rename(f, 'é'.repeat(128))).toMatch(/255 bytes/);
    expect(t.rename(f, 'g.txt')).toBeUndefined();
    expect(t.move(f, t.get('/b')!)).toMatch(/already exists/);
    expect(t.rename(f, 'h.txt')).toBeUndefined();
    expect(t.move(f, t.get('/b')!)).toBeUndefined();
    expect(t.move(t.get('/b')!, t.get('/b')!)).toMatch(/into itself/);
    expect(paths(t)).toEqual(['/a', '/b', '/b/g.txt', '/b/h.txt']);
  });

  it('keeps a hard link pointing at its file after renames, and turns it into a file when the file goes', () => {
    const link: TreeEntry = {
      path: '/l',
      type: 'hardlink',
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: 1,
      size: 0,
      origin: 'a',
      target: '/d/f',
    };
    const t = load([file('/d/f', 7), link]);
    t.rename(t.get('/d')!, 'e');
    expect(t.toEntries().find((e) => e.path === '/l')!.target).toBe('/e/f');
    t.remove(t.get('/e/f')!);
    const l = t.toEntries().find((e) => e.path === '/l')!;
    expect(l.type).toBe('file');
    expect(l.size).toBe(7);
    expect(l.source?.kind).toBe('bytes');
  });

  it('lists visible rows with depth and sibling positions', () => {
    const t = load([file('/b/2'), file('/b/10'), file('/a')]);
    expect(t.visibleRows(new Set()).map((r) => r.node.name)).toEqual(['b', 'a']);
    const rows = t.visibleRows(new Set([t.get('/b')!.id]));
    expect(rows.map((r) => `${r.node.name}@${r.depth}:${r.pos}/${r.siblings}`)).toEqual([
      'b@0:1/2',
      '2@1:1/2',
      '10@1:2/2',
      'a@0:2/2',
    ]);
  });

  it('removes what one input added, keeping folders others still use', () => {
    const t = load([file('/shared/a')], 1);
    t.applyMerge(t.planMerge([file('/shared/b', 1, 'b'), file('/only-b/c', 1, 'b')], 2), new Map());
    t.removeInput(2);
    expect(paths(t)).toEqual(['/shared', '/shared/a']);
  });

  it('handles 100,000 entries', () => {
    const entries: TreeEntry[] = [];
    for (let d = 0; d < 100; d++) for (let f = 0; f < 1000; f++) entries.push(file(`/d${d}/f${f}`, 0));
    const t = load(entries);
    const rows = t.visibleRows(new Set([...Array(100).keys()].map((d) => t.get(`/d${d}`)!.id)));
    expect(rows.length).toBe(100_100);
    expect(t.toEntries().length).toBe(100_100);
  });
});

describe('names', () => {
  it('validates names', () => {
    expect(nameProblem('ok name.txt')).toBeUndefined();
    expect(nameProblem('')).toBeDefined();
    expect(nameProblem('a\0b')).toBeDefined();
  });
  it('makes "keep both" names', () => {
    expect(alternativeName('notes.txt', 2)).toBe('notes (2).txt');
    expect(alternativeName('.bashrc', 2)).toBe('.bashrc (2)');
    expect(alternativeName('folder', 3)).toBe('folder (3)');
  });
  it('normalizes entry lists', () => {
    expect(normalizeEntries([file('/z/y'), file('/a')]).map((e) => e.path)).toEqual(['/a', '/z', '/z/y']);
  });

  it('syncs a folder listing: keeps nodes (ids, loaded children) whose name and inode stay, replaces the rest', () => {
    const t = new FileTree();
    const meta = (type: 'file' | 'directory', size = 0) => ({
      type,
      mode: type === 'directory' ? 0o755 : 0o644,
      uid: 0,
      gid: 0,
      mtime: 1,
      size,
      origin: 'image',
    });
    const info = (inode: number, kind: 'file' | 'directory') => ({ inode, links: 1, kind, loaded: false });
    t.syncChildren(t.root, [
      { name: 'etc', entry: meta('directory'), image: info(12, 'directory') },
      { name: 'a.txt', entry: meta('file', 3), image: info(13, 'file') },
      { name: 'gone', entry: meta('file'), image: info(14, 'file') },
    ]);
    const etc = t.get('/etc')!;
    etc.image!.loaded = true;
    t.syncChildren(etc, [{ name: 'hosts', entry: meta('file', 9), image: info(20, 'file') }]);
    const a = t.get('/a.txt')!;
    const v = t.version;
    t.syncChildren(t.root, [
      { name: 'etc', entry: { ...meta('directory'), mode: 0o700 }, image: info(12, 'directory') },
      { name: 'a.txt', entry: meta('file', 5), image: info(99, 'file') },
      { name: 'new', entry: meta('directory'), image: info(30, 'directory') },
    ]);
    expect(t.version).toBeGreaterThan(v);
    expect(t.get('/etc')).toBe(etc);
    expect(etc.entry.mode).toBe(0o700);
    expect(etc.image!.loaded).toBe(true);
    expect(t.get('/etc/hosts')!.entry.size).toBe(9);
    // Another inode under the same name is another entry.
    expect(t.get('/a.txt')).not.toBe(a);
    expect(t.get('/a.txt')!.entry.size).toBe(5);
    expect(t.byIdOrUndefined(a.id)).toBeUndefined();
    expect(t.get('/gone')).toBeUndefined();
    expect(t.sortedChildren(t.root).map((n) => n.name)).toEqual(['etc', 'new', 'a.txt']);
  });
});

describe('FileTree undo records', () => {
  it('undoes a merge that replaced and renamed things, bringing back the very same nodes', () => {
    const t = load([file('/etc/hosts', 5, 'first'), file('/etc/motd', 2, 'first')]);
    const hosts = t.get('/etc/hosts')!;
    // Order among siblings is not kept (the engine sorts names); what each path holds is.
    const sorted = () => t.toEntries().sort((a, b) => (a.path < b.path ? -1 : 1));
    const before = sorted();
    const plan = t.planMerge(
      [file('/etc/hosts', 9, 'second'), file('/etc/motd', 3, 'second'), file('/new', 1, 'second')],
      2,
    );
    const ops = t.record(() => t.applyMerge(plan, new Map([['/etc/motd', 'keep-both' as const]]), 'replace'));
    expect(t.get('/etc/hosts')!.entry.size).toBe(9);
    expect(paths(t)).toEqual(['/etc', '/etc/hosts', '/etc/motd', '/etc/motd (2)', '/new']);
    const after = sorted();
    t.undo(ops);
    expect(sorted()).toEqual(before);
    expect(t.get('/etc/hosts')).toBe(hosts);
    expect(t.byIdOrUndefined(hosts.id)).toBe(hosts);
    t.redo(ops);
    expect(sorted()).toEqual(after);
    expect(t.byIdOrUndefined(hosts.id)).toBeUndefined();
  });

  it('counts live nodes per input, closure nodes by origin', () => {
    const t = load([file('/a/x'), file('/a/y')], 7);
    const plan = t.planMerge([file('/nix/store/p', 1, 'closure.export')], -1);
    t.applyMerge(plan, new Map());
    expect(t.inputCounts.get(7)).toBe(3);
    expect(t.inputCounts.get('closure:closure.export')).toBe(3);
    t.remove(t.get('/a/x')!);
    expect(t.inputCounts.get(7)).toBe(2);
  });
});
