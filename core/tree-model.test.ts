import { describe, expect, it } from 'vitest';
import type { TreeEntry } from './image-tree.ts';
import {
  compareImagePaths,
  compareNames,
  normalizeImagePath,
  normalizeRelativePath,
  TreeEditError,
  TreeModel,
} from './tree-model.ts';

function e(path: string, type: TreeEntry['type'] = 'file', extra: Partial<TreeEntry> = {}): TreeEntry {
  return {
    path,
    type,
    mode: type === 'directory' ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    mtime: 5,
    size: 0,
    origin: 'a.tar',
    ...extra,
  };
}
const paths = (t: TreeModel) => t.toEntries().map((x) => x.path);

describe('paths', () => {
  it('normalizes archive names and refuses escapes', () => {
    expect(normalizeRelativePath('./a//b/./c/')).toEqual({ path: 'a/b/c' });
    expect(normalizeRelativePath('.')).toEqual({ path: '' });
    expect(normalizeRelativePath('/etc/passwd')).toEqual({ reason: 'it is absolute' });
    expect(normalizeRelativePath('a/../../x')).toMatchObject({ reason: expect.stringContaining('..') });
    expect(normalizeRelativePath('a/..')).toMatchObject({ reason: expect.stringContaining('..') });
    expect(normalizeRelativePath('a\0b')).toMatchObject({ reason: expect.stringContaining('NUL') });
    expect(normalizeRelativePath('x'.repeat(256))).toMatchObject({ reason: expect.stringContaining('255') });
    expect(normalizeImagePath('//etc/./x/')).toBe('/etc/x');
    expect(() => normalizeImagePath('/a/../b')).toThrow(TreeEditError);
  });

  it('orders names by UTF-8 bytes and paths depth first', () => {
    expect(['b', 'B', 'a-c', 'a', '\u{1F600}', '\uFFFD'].sort(compareNames)).toEqual([
      'B',
      'a',
      'a-c',
      'b',
      '\uFFFD',
      '\u{1F600}',
    ]);
    expect(['/a-c', '/a/b', '/a', '/', '/a.d/x', '/a/b/c'].sort(compareImagePaths)).toEqual([
      '/',
      '/a',
      '/a/b',
      '/a/b/c',
      '/a-c',
      '/a.d/x',
    ]);
  });
});

describe('TreeModel', () => {
  it('creates implicit parents (0755) and lists depth first by name bytes', () => {
    const { tree, conflicts } = TreeModel.fromEntries([
      e('/usr/bin/z'),
      e('/usr/bin/a'),
      e('/etc/hosts'),
      e('/usr-local'),
      e('/usr/B'),
    ]);
    expect(conflicts).toEqual([]);
    expect(paths(tree)).toEqual([
      '/',
      '/etc',
      '/etc/hosts',
      '/usr',
      '/usr/B',
      '/usr/bin',
      '/usr/bin/a',
      '/usr/bin/z',
      '/usr-local',
    ]);
    expect(tree.get('/usr/bin')).toMatchObject({ type: 'directory', mode: 0o755, uid: 0 });
    expect(tree.isImplicit('/usr/bin')).toBe(true);
    expect(tree.rows().map((r) => r.depth)).toEqual([0, 1, 2, 1, 2, 2, 3, 3, 1]);
  });

  it('lets an explicit directory take over an implicit one, keeping children', () => {
    const { tree } = TreeModel.fromEntries([e('/d/f'), e('/d', 'directory', { mode: 0o700, uid: 5 })]);
    expect(tree.get('/d')).toMatchObject({ mode: 0o700, uid: 5 });
    expect(tree.isImplicit('/d')).toBe(false);
    expect(paths(tree)).toEqual(['/', '/d', '/d/f']);
  });

  it('reports conflicts with both origins, keeping the first claimant', () => {
    const first = e('/etc/hosts', 'file', { origin: 'one.tar', size: 1 });
    const second = e('/etc/hosts', 'file', { origin: 'two.tar', size: 2 });
    const { conflicts } = TreeModel.fromEntries([first, second]);
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0].problem).toMatchObject({
      severity: 'error',
      code: 'path-conflict',
      path: '/etc/hosts',
      input: 'two.tar',
    });
    expect(conflicts[0].problem.message).toContain('one.tar');
    expect(conflicts[0].problem.message).toContain('two.tar');
  });

  it('reports a file blocking a directory path as a conflict on the blocker', () => {
    const { tree, conflicts } = TreeModel.fromEntries([e('/opt'), e('/opt/x', 'file', { origin: 'b.tar' })]);
    expect(conflicts[0]).toMatchObject({ path: '/opt' });
    expect(paths(tree)).toEqual(['/', '/opt']);
  });

  it('merges identical symlinks and directories silently', () => {
    const { conflicts } = TreeModel.fromEntries([
      e('/l', 'symlink', { target: 'x' }),
      e('/l', 'symlink', { target: 'x', origin: 'b' }),
      e('/d', 'directory'),
      e('/d', 'directory', { origin: 'b' }),
    ]);
    expect(conflicts).toEqual([]);
  });

  it('builds and lists 100,000 entries in order', () => {
    const entries: TreeEntry[] = [];
    for (let i = 0; i < 100_000; i++)
      entries.push(e(`/nix/store/p${i % 500}/share/d${i % 37}/f${i}`, 'file', { size: i }));
    const { tree, conflicts } = TreeModel.fromEntries(entries);
    const rows = tree.rows();
    expect(conflicts).toEqual([]);
    expect(rows.filter((r) => r.entry.type === 'file')).toHaveLength(100_000);
    expect(rows.length).toBe(tree.size);
    for (let i = 1; i < 2000; i++)
      expect(compareImagePaths(rows[i - 1].entry.path, rows[i].entry.path)).toBeLessThan(0);
  });
});
