import { describe, expect, it } from 'vitest';
import type { TreeEntry } from './image-tree.ts';
import { compareImagePaths } from './image-path.ts';
import { TreeModel } from './tree-model.ts';

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
const entry = (t: TreeModel, path: string) => t.toEntries().find((x) => x.path === path);

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
    expect(entry(tree, '/usr/bin')).toMatchObject({
      type: 'directory',
      mode: 0o755,
      uid: 0,
      mtime: 5,
      origin: 'a.tar',
    });
  });

  it('lets an explicit directory take over an implicit one, keeping children', () => {
    const { tree } = TreeModel.fromEntries([e('/d/f'), e('/d', 'directory', { mode: 0o700, uid: 5 })]);
    expect(entry(tree, '/d')).toMatchObject({ mode: 0o700, uid: 5 });
    expect(paths(tree)).toEqual(['/', '/d', '/d/f']);
    // Two explicit directories: the first stays.
    const two = TreeModel.fromEntries([e('/d', 'directory', { mode: 0o700 }), e('/d', 'directory', { mode: 0o750 })]);
    expect(entry(two.tree, '/d')).toMatchObject({ mode: 0o700 });
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
    const listed = tree.toEntries();
    expect(conflicts).toEqual([]);
    expect(listed.filter((x) => x.type === 'file')).toHaveLength(100_000);
    expect(new Set(listed.map((x) => x.path)).size).toBe(listed.length);
    for (let i = 1; i < listed.length; i++)
      expect(compareImagePaths(listed[i - 1].path, listed[i].path)).toBeLessThan(0);
  });
});
