import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, runText, tempDir } from '../../core/test-support/nar-bytes.ts';
import { until, useNodeEngine } from '../test-support/node-engine.ts';
import { createStudioStore } from './store.ts';

const { dir, cleanup } = tempDir('dis-web-inputs-');
afterAll(cleanup);
beforeAll(useNodeEngine);

const paths = (s: ReturnType<typeof createStudioStore>) =>
  s
    .getState()
    .tree.toEntries()
    .map((e) => e.path)
    .sort();
const settled = (s: ReturnType<typeof createStudioStore>) => () =>
  s.getState().inputs.every((i) => i.status !== 'resolving') && s.getState().merging === 0;

function tarOf(root: string, ...members: string[]): File {
  return new File([run('tar', ['-C', root, '-cf', '-', ...members]) as BlobPart], 'x.tar');
}

describe('inputs slice', () => {
  it('puts every Add into the destination the person chose, never the selection', async () => {
    const s = createStudioStore();
    await s.getState().addFiles([new File(['a'], 'a.txt')]);
    expect(paths(s)).toEqual(['/a.txt']);
    s.getState().newFolder(); // selects the new folder: Adds must not follow it
    s.getState().commitRename(s.getState().selectedId!, 'nix');
    await s.getState().addFiles([new File(['b'], 'b.txt')]);
    expect(paths(s)).toContain('/b.txt');
    expect(s.getState().setDestination('srv')).toBe('Start with "/".');
    expect(s.getState().setDestination('/srv/www')).toBeUndefined();
    await s.getState().addFiles([new File(['c'], 'c.txt')]);
    expect(paths(s)).toContain('/srv/www/c.txt');
    expect(s.getState().inputs.map((i) => i.at)).toEqual(['/', '/', '/srv/www']);
  });

  it('moves an input with its entries when its destination changes, in one undoable step', async () => {
    const root = join(dir, 'm');
    mkdirSync(join(root, 'etc'), { recursive: true });
    writeFileSync(join(root, 'etc', 'motd'), 'hi\n');
    const s = createStudioStore();
    await s.getState().addArchives([tarOf(root, 'etc')]);
    expect(paths(s)).toEqual(['/etc', '/etc/motd']);
    const id = s.getState().inputs[0].id;
    expect(s.getState().moveInput(id, 'x')).toBe('Start with "/".');
    expect(s.getState().moveInput(id, '/opt')).toBeUndefined();
    await until(settled(s));
    expect(paths(s)).toEqual(['/opt', '/opt/etc', '/opt/etc/motd']);
    expect(s.getState().inputs[0]).toMatchObject({ at: '/opt', status: 'ready', placed: 3 });
  });

  it('says "files → /files": a picked folder lands as itself in the destination', async () => {
    const s = createStudioStore();
    const f = (name: string, body: string) => {
      const file = new File([body], name.split('/').pop()!);
      Object.defineProperty(file, 'webkitRelativePath', { value: name });
      return file;
    };
    await s.getState().addFolderFiles([f('files/init', '#!/bin/sh\n'), f('files/etc/motd', 'hi')]);
    expect(paths(s)).toEqual(['/files', '/files/etc', '/files/etc/motd', '/files/init']);
    const item = s.getState().inputs[0];
    expect(item).toMatchObject({ kind: 'folder', label: 'files', at: '/', top: 'files' });
    const { inputPlace } = await import('./slice-inputs.ts');
    expect(inputPlace(item)).toBe('/files');
    await until(() => s.getState().inputs[0].losses !== undefined);
    expect(s.getState().inputs[0].losses).toEqual({ files: 2, programs: ['/files/init'], fromPicker: true });
  });

  it('takes closure contents from an archive of store paths, hash-checked, and follows the tree', async () => {
    const store = `local?root=${join(dir, 'root')}`;
    mkdirSync(join(dir, 'in', 'pkg', 'bin'), { recursive: true });
    writeFileSync(join(dir, 'in', 'pkg', 'bin', 'tool'), '#!/bin/sh\n');
    const p = runText('nix-store', ['--store', store, '--add', join(dir, 'in', 'pkg')]).trim();
    const reg = runText('nix-store', ['--store', store, '--dump-db', p]);
    const s = createStudioStore();
    await s.getState().addArchives([tarOf(join(dir, 'root'), `nix/store/${p.slice(11)}`)]);
    await s.getState().addClosureFiles([new File([reg], 'registration')]);
    await until(settled(s));
    expect(s.getState().inputs.map((i) => [i.kind, i.status, i.problems])).toEqual([
      ['archive', 'ready', []],
      ['closure', 'ready', []],
    ]);
    expect(s.getState().closure).toMatchObject([{ path: p, contents: 'present', hashChecked: true }]);
    expect(paths(s)).toContain(`${p}/bin/tool`);
    expect(paths(s)).toContain('/nix-path-registration');
    const { buildBlocker } = await import('./slice-build.ts');
    expect(buildBlocker(s.getState())).toBeUndefined();
    // Deleting /nix leaves the closure without contents: said before a build, undone by Ctrl+Z.
    s.getState().deleteNode(s.getState().tree.get('/nix')!.id);
    s.getState().answerDelete(true);
    expect(buildBlocker(s.getState())).toMatch(/^1 store path of the closure is no longer in the tree/);
    const key = `closure:${s.getState().inputs[0].origin}`;
    expect(s.getState().tree.inputCounts.get(key) ?? 0).toBe(0);
    s.getState().undo();
    expect(buildBlocker(s.getState())).toBeUndefined();
    expect(s.getState().tree.inputCounts.get(key)).toBe(s.getState().inputs[0].placed);
    // Without the manifest, the archive's files stand on their own again.
    s.getState().removeInput(s.getState().inputs[1].id);
    await until(settled(s));
    expect(s.getState().closure).toEqual([]);
    expect(paths(s)).toContain(`${p}/bin/tool`);
    expect(paths(s)).not.toContain('/nix-path-registration');
  });

  it('clearAll resets everything the slices hold', async () => {
    const s = createStudioStore();
    await s.getState().addFiles([new File(['a'], 'a.txt')]);
    s.getState().setDestination('/x');
    s.getState().clearAll();
    expect(s.getState()).toMatchObject({ inputs: [], closure: [], undoStack: [], redoStack: [], pendingMerges: [] });
    expect(s.getState().tree.isEmpty).toBe(true);
  });
});
