import { describe, expect, it } from 'vitest';
import { create } from 'zustand';
import type { TreeEntry } from '../../core/image-tree.ts';
import { createTreeUiSlice, destinationProblem, type TreeUiSlice } from './slice-tree.ts';
import { createStudioStore } from './store.ts';

const file = (path: string, mode = 0o644): TreeEntry => ({
  path,
  type: 'file',
  mode,
  uid: 0,
  gid: 0,
  mtime: 1,
  size: 3,
  origin: 't',
  source: { kind: 'bytes', bytes: new Uint8Array(3) },
});

/** A store with /etc/hosts, /etc/motd, /bin/init and /readme. */
function loaded() {
  const store = createStudioStore();
  store.getState().mergeEntries([file('/etc/hosts'), file('/etc/motd'), file('/bin/init'), file('/readme')], 'base');
  return store;
}
const listing = (s: ReturnType<typeof loaded>) =>
  s
    .getState()
    .tree.toEntries()
    .map((e) => `${e.path} ${e.type} ${e.mode.toString(8)}${e.target ? ` -> ${e.target}` : ''}`)
    .sort();
const idOf = (s: ReturnType<typeof loaded>, path: string) => s.getState().tree.get(path)!.id;

describe('tree UI slice (shared by the new build and opened images)', () => {
  it('selects, opens folders and names the folder new things go into', () => {
    const store = create<TreeUiSlice>()((set, get) => createTreeUiSlice<TreeUiSlice>(set, get));
    const { tree } = store.getState();
    const plan = tree.planMerge([file('/a/b/c')], 1);
    tree.applyMerge(plan, new Map());
    store.getState().treeChanged();
    expect(store.getState().treeVersion).toBe(tree.version);
    expect(store.getState().selectedFolder()).toBe('/');
    store.getState().select(tree.get('/a/b/c')!.id);
    expect(store.getState().selectedFolder()).toBe('/a/b');
    store.getState().toggleExpanded(tree.get('/a')!.id);
    expect(store.getState().expanded.has(tree.get('/a')!.id)).toBe(true);
    store.getState().collapseAll();
    expect(store.getState().expanded.size).toBe(0);
    store.getState().startRename(5);
    expect(store.getState()).toMatchObject({ renamingId: 5, selectedId: 5 });
  });
});

describe('tree slice: undoable edits of the new build', () => {
  it('undoes and redoes delete, move, rename, mode and add, step by step, to the same tree', () => {
    const s = loaded();
    const states = [listing(s)];
    const st = () => s.getState();
    st().answerDelete(false);
    st().deleteNode(idOf(s, '/readme'));
    states.push(listing(s));
    expect(st().moveNode(idOf(s, '/etc/motd'), idOf(s, '/bin'))).toBeUndefined();
    states.push(listing(s));
    expect(st().commitRename(idOf(s, '/bin/init'), 'init.sh')).toBeUndefined();
    states.push(listing(s));
    st().toggleExec(idOf(s, '/bin/init.sh'));
    states.push(listing(s));
    st().mergeEntries([file('/opt/x')], 'more');
    states.push(listing(s));
    expect(states[5]).toContain('/opt/x file 644');
    expect(states[4]).toContain('/bin/init.sh file 755');
    expect(st().undoStack.map((u) => u.label)).toEqual([
      'add base',
      'delete /readme',
      'move /etc/motd',
      'rename /bin/init',
      'mode of /bin/init.sh',
      'add more',
    ]);
    for (let i = states.length - 2; i >= 0; i--) {
      st().undo();
      expect(listing(s)).toEqual(states[i]);
    }
    for (let i = 1; i < states.length; i++) {
      st().redo();
      expect(listing(s)).toEqual(states[i]);
    }
    // A new edit after undoing drops what could be redone.
    st().undo();
    st().newFolder();
    expect(st().redoStack).toEqual([]);
  });

  it('asks before deleting a folder with something in it, and deletes at once otherwise', () => {
    const s = loaded();
    s.getState().deleteNode(idOf(s, '/etc'));
    expect(s.getState().deletePrompt).toEqual({ id: idOf(s, '/etc'), path: '/etc', count: 2 });
    expect(s.getState().tree.get('/etc')).toBeDefined();
    s.getState().answerDelete(false);
    expect(s.getState().tree.get('/etc')).toBeDefined();
    s.getState().deleteNode(idOf(s, '/etc'));
    s.getState().answerDelete(true);
    expect(s.getState().tree.get('/etc')).toBeUndefined();
    s.getState().newFolder();
    const empty = s.getState().tree.get('/New folder')!;
    s.getState().deleteNode(empty.id);
    expect(s.getState().deletePrompt).toBeNull();
    expect(s.getState().tree.get('/New folder')).toBeUndefined();
    for (const _ of ['delete /New folder', 'new folder', 'delete /etc']) s.getState().undo();
    expect(s.getState().tree.get('/etc/hosts')).toBeDefined();
  });

  it('sets the executable bit of every file below a folder at once, and makes symbolic links', () => {
    const s = loaded();
    expect(s.getState().setExecutable([idOf(s, '/etc'), idOf(s, '/bin')], true)).toBe(3);
    expect(listing(s)).toContain('/etc/hosts file 755');
    expect(listing(s)).toContain('/readme file 644');
    s.getState().undo();
    expect(listing(s)).toContain('/etc/hosts file 644');
    s.getState().select(idOf(s, '/bin'));
    expect(s.getState().newSymlink('sh', 'init')).toBeUndefined();
    expect(listing(s)).toContain('/bin/sh symlink 777 -> init');
    expect(s.getState().newSymlink('sh', 'init')).toBe('"sh" already exists in /bin.');
    expect(s.getState().newSymlink('a/b', 'x')).toBe('A name cannot contain "/".');
  });

  it('keeps at most HISTORY_LIMIT steps', async () => {
    const { HISTORY_LIMIT } = await import('./slice-tree.ts');
    const s = loaded();
    for (let i = 0; i < HISTORY_LIMIT + 5; i++) s.getState().toggleExec(idOf(s, '/readme'));
    expect(s.getState().undoStack).toHaveLength(HISTORY_LIMIT);
  });

  it('checks destinations', () => {
    expect(destinationProblem('/')).toBeUndefined();
    expect(destinationProblem('/srv/www')).toBeUndefined();
    expect(destinationProblem('srv')).toBe('Start with "/".');
    expect(destinationProblem('/a/../b')).toBe('".." is reserved.');
    expect(destinationProblem('/a//b')).toBe('Leave out empty parts ("//" or a final "/").');
  });
});
