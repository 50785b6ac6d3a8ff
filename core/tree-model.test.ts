import { describe, expect, it } from 'vitest';
import type { TreeEntry } from './image-tree.ts';
import { compareImagePaths } from './image-path.ts';
import { prng } from './test-support/nar-bytes.ts';
import { isSettledTree, TreeModel } from './tree-model.ts';

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

describe('isSettledTree', () => {
  const root = () => e('/', 'directory');

  it('holds for a model listing whose every directory is explicit, which the model gives back as it is', () => {
    const rand = prng(14);
    // Names whose UTF-16 and byte orders differ (a surrogate pair against U+FFFD), prefixes, dashes.
    const names = ['a', 'a-b', 'a.b', 'b', 'B', 'é', '\u{1F600}', '\uFFFD', 'ab'];
    let checked = 0;
    for (let round = 0; round < 200; round++) {
      const given: TreeEntry[] = [root()];
      for (let i = 0; i < 30; i++) {
        const depth = 1 + Math.floor(rand() * 3);
        const parts: string[] = [];
        for (let d = 0; d < depth; d++) parts.push(names[Math.floor(rand() * names.length)]);
        // Every prefix a directory, the last name sometimes a file.
        for (let d = 1; d < depth; d++) given.push(e(`/${parts.slice(0, d).join('/')}`, 'directory'));
        given.push(e(`/${parts.join('/')}`, rand() < 0.5 ? 'file' : 'directory'));
      }
      const { tree } = TreeModel.fromEntries(given);
      const listed = tree.toEntries();
      if (listed.some((x) => x.origin !== 'a.tar')) continue; // an implicit parent: not settled
      expect(isSettledTree(listed)).toBe(true);
      const again = TreeModel.fromEntries(listed);
      expect(again.conflicts).toEqual([]);
      const relisted = again.tree.toEntries();
      expect(relisted).toHaveLength(listed.length);
      for (let i = 0; i < listed.length; i++) expect(relisted[i]).toBe(listed[i]);
      checked++;
    }
    expect(checked).toBeGreaterThan(150);
  });

  it.each([
    ['empty', []],
    ['without a root', [e('/a')]],
    ['a root that is not a directory', [e('/'), e('/a')]],
    ['a root not first', [e('/a'), e('/', 'directory')]],
    ['the root twice', [e('/', 'directory'), e('/', 'directory')]],
    ['a path twice', [e('/', 'directory'), e('/a'), e('/a')]],
    ['a directory twice', [e('/', 'directory'), e('/d', 'directory'), e('/d', 'directory')]],
    ['siblings out of order', [e('/', 'directory'), e('/b'), e('/a')]],
    ['siblings in UTF-16 but not byte order', [e('/', 'directory'), e('/\u{1F600}'), e('/\uFFFD')]],
    ['an implicit parent', [e('/', 'directory'), e('/d/x')]],
    ['a file as a parent', [e('/', 'directory'), e('/f'), e('/f/x')]],
    ['a child after its directory was left', [e('/', 'directory'), e('/a', 'directory'), e('/b'), e('/a/x')]],
    ['a trailing slash', [e('/', 'directory'), e('/a', 'directory'), e('/a/')]],
    ['a relative path', [e('/', 'directory'), e('a')]],
  ] as [string, TreeEntry[]][])('does not hold with %s', (_name, entries) => {
    expect(isSettledTree(entries)).toBe(false);
  });

  it('holds for a walked-like listing: root, then depth first by name bytes', () => {
    const listed = [
      root(),
      e('/a', 'directory'),
      e('/a/x'),
      e('/a-b'),
      e('/b', 'directory'),
      e('/b/c', 'directory'),
      e('/b/c/d', 'symlink', { target: '../x' }),
      e('/b/h', 'hardlink', { target: '/a/x' }),
      e('/\uFFFD'),
      e('/\u{1F600}'),
    ];
    expect(isSettledTree(listed)).toBe(true);
    expect(TreeModel.fromEntries(listed).tree.toEntries()).toEqual(listed);
  });
});
