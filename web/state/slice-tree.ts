/**
 * The tree slices. `createTreeUiSlice` is what any tree view needs (the tree, which folders are
 * open, the selection, the rename in progress, a status line); the new build's store and the
 * opened image's store both use it. `createTreeSlice` adds the new build's edits, each recorded
 * so it can be undone and redone.
 */
import type { StateCreator, StoreApi } from 'zustand';
import { toggleExecutable } from '../lib/format.ts';
import { runInSteps, yieldToPage } from '../lib/yield-to-page.ts';
import { joinImagePath, nameProblem, splitImagePath } from '../../core/image-path.ts';
import { type FileNode, FileTree, type TreeOp } from './file-tree.ts';
import type { StudioState } from './store.ts';

export interface TreeUiSlice {
  tree: FileTree;
  /** Mirrors `tree.version`, so React re-renders after changes made in place. */
  treeVersion: number;
  expanded: ReadonlySet<number>;
  selectedId: number | null;
  renamingId: number | null;
  /** The last tree action's outcome or why it could not be done, for the status line. */
  treeMessage: string | null;
  select(id: number | null): void;
  setExpanded(id: number, open: boolean): void;
  toggleExpanded(id: number): void;
  collapseAll(): void;
  startRename(id: number): void;
  cancelRename(): void;
  /** Publishes in-place changes of `tree` (and `extra` with them). */
  treeChanged(extra?: Partial<TreeUiSlice>): void;
  /** The selected folder, or the selected entry's folder, or `/`. */
  selectedFolder(): string;
}

/** A fresh tree and no selection: what a new build or a newly opened image starts from. */
export function emptyTreeUi(): Pick<
  TreeUiSlice,
  'tree' | 'treeVersion' | 'expanded' | 'selectedId' | 'renamingId' | 'treeMessage'
> {
  return {
    tree: new FileTree(),
    treeVersion: 0,
    expanded: new Set(),
    selectedId: null,
    renamingId: null,
    treeMessage: null,
  };
}

/** The tree UI slice of any store whose state includes {@link TreeUiSlice}. */
export function createTreeUiSlice<S extends TreeUiSlice>(setState: StoreApi<S>['setState'], get: () => S): TreeUiSlice {
  const set = setState as unknown as (partial: Partial<TreeUiSlice>) => void;
  return {
    ...emptyTreeUi(),
    select(id) {
      if (get().selectedId !== id) set({ selectedId: id });
    },
    setExpanded(id, open) {
      const cur = get().expanded;
      if (cur.has(id) === open) return;
      const next = new Set(cur);
      if (open) next.add(id);
      else next.delete(id);
      set({ expanded: next });
    },
    toggleExpanded(id) {
      get().setExpanded(id, !get().expanded.has(id));
    },
    collapseAll() {
      set({ expanded: new Set() });
    },
    startRename(id) {
      set({ renamingId: id, selectedId: id, treeMessage: null });
    },
    cancelRename() {
      set({ renamingId: null });
    },
    treeChanged(extra = {}) {
      set({ treeVersion: get().tree.version, ...extra });
    },
    selectedFolder() {
      const { tree, selectedId } = get();
      const node = selectedId === null ? undefined : tree.byIdOrUndefined(selectedId);
      if (!node) return '/';
      return tree.pathOf(node.children ? node : (node.parent ?? tree.root));
    },
  };
}

/** One undoable change of the new build's tree. */
export interface TreeStep {
  /** Said by the Undo and Redo buttons, e.g. "delete /nix". */
  label: string;
  ops: TreeOp[];
}

/** Undo steps larger than this many operations are replayed in steps of {@link REPLAY_STEP}. */
const LARGE_STEP = 20_000;
const REPLAY_STEP = 2500;

/** Steps kept for undo; older ones are dropped (with the nodes they kept alive). */
export const HISTORY_LIMIT = 100;

export interface DeletePrompt {
  id: number;
  path: string;
  /** Entries below the folder. */
  count: number;
}

export interface TreeSlice extends TreeUiSlice {
  undoStack: TreeStep[];
  redoStack: TreeStep[];
  /** A non-empty folder waiting for the person to confirm its deletion. */
  deletePrompt: DeletePrompt | null;
  /**
   * Makes `change` to the tree as one undoable step named `label`; returns what `change`
   * returned. Steps that change nothing are not kept.
   */
  editTree<T>(label: string, change: (tree: FileTree) => T): T;
  /**
   * {@link editTree} for a change made in steps (a generator of the tree's, e.g.
   * `mergeSteps`), with a pause for the page after each: one undoable step in the end.
   */
  editTreeInSteps<T>(label: string, steps: Generator<void, T>): Promise<T>;
  undo(): void;
  redo(): void;
  commitRename(id: number, name: string): string | undefined;
  /** Deletes at once, or asks first when `id` is a folder with something in it. */
  deleteNode(id: number): void;
  /** The answer to "delete this folder and everything in it?". */
  answerDelete(confirmed: boolean): void;
  moveNode(id: number, intoId: number | 'root'): string | undefined;
  newFolder(): void;
  setMode(id: number, mode: number): void;
  toggleExec(id: number): void;
  /** Sets or clears the executable bits of every file in `ids` (folders: the files below them). */
  setExecutable(ids: readonly number[], on: boolean): number;
  /** Makes a symbolic link in the selected folder; returns why not. */
  newSymlink(name: string, target: string): string | undefined;
}

/** The undoable tree of a new build. */
export const createTreeSlice: StateCreator<StudioState, [], [], TreeSlice> = (set, get) => {
  const nodeOf = (id: number): FileNode | undefined => get().tree.byIdOrUndefined(id);

  /** Deletes without asking (a confirmed folder, or a file). */
  const remove = (node: FileNode): void => {
    const { tree } = get();
    // Select a neighbour so keyboard users keep their place.
    const rows = tree.visibleRows(get().expanded);
    const idx = rows.findIndex((r) => r.node === node);
    const path = tree.pathOf(node);
    get().editTree(`delete ${path}`, (t) => t.remove(node));
    let next: number | null = null;
    for (let i = idx + 1; i < rows.length; i++)
      if (!tree.isWithin(rows[i].node, node)) {
        next = rows[i].node.id;
        break;
      }
    if (next === null && idx > 0) next = rows[idx - 1].node.id;
    get().treeChanged({ selectedId: next, renamingId: null, treeMessage: `Deleted ${path}. Ctrl+Z undoes it.` });
  };

  const step = (from: 'undoStack' | 'redoStack'): void => {
    // A change made in steps is one undo step once it has ended, not before.
    if (get().merging > 0) return;
    const stack = get()[from];
    const last = stack[stack.length - 1];
    if (!last) return;
    const { tree } = get();
    const back = from === 'undoStack';
    if (last.ops.length > LARGE_STEP) {
      // Undoing the add of a whole system: in steps, the page getting its turn in between.
      set({ merging: get().merging + 1 });
      void runInSteps(tree.replaySteps(last.ops, back, REPLAY_STEP))
        .then(() => finish(from, last))
        .finally(() => set({ merging: get().merging - 1 }));
      return;
    }
    if (back) tree.undo(last.ops);
    else tree.redo(last.ops);
    finish(from, last);
  };

  /** The stacks and the status line after an undo or redo of `last`. */
  const finish = (from: 'undoStack' | 'redoStack', last: TreeStep): void => {
    const { tree } = get();
    const back = from === 'undoStack';
    const stack = get()[from];
    const other = back ? 'redoStack' : 'undoStack';
    const sel = get().selectedId;
    get().treeChanged({
      [from]: stack[stack.length - 1] === last ? stack.slice(0, -1) : stack.filter((st) => st !== last),
      [other]: [...get()[other], last],
      renamingId: null,
      selectedId: sel !== null && tree.byIdOrUndefined(sel) ? sel : null,
      treeMessage: `${back ? 'Undid' : 'Redid'} ${last.label}.`,
    } as Partial<TreeSlice>);
  };

  return {
    ...createTreeUiSlice<StudioState>(set, get),
    undoStack: [],
    redoStack: [],
    deletePrompt: null,

    editTree(label, change) {
      const { tree } = get();
      let result!: ReturnType<typeof change>;
      const ops = tree.record(() => {
        result = change(tree);
      });
      if (ops.length > 0) {
        const undoStack = [...get().undoStack, { label, ops }];
        if (undoStack.length > HISTORY_LIMIT) undoStack.splice(0, undoStack.length - HISTORY_LIMIT);
        set({ undoStack, redoStack: [] });
      }
      get().treeChanged();
      return result;
    },

    async editTreeInSteps<T>(label: string, steps: Generator<void, T>): Promise<T> {
      const { tree } = get();
      const all: TreeOp[] = [];
      const end: { result?: { value: T } } = {};
      for (;;) {
        // Each step records on its own, so edits made in the pauses keep their own undo steps.
        const ops = tree.record(() => {
          const r = steps.next();
          if (r.done) end.result = { value: r.value };
        });
        for (const op of ops) all.push(op);
        if (end.result) break;
        await yieldToPage();
      }
      // The counts the view shows, in a task of their own rather than in the render's.
      await yieldToPage();
      void tree.totals;
      await yieldToPage();
      if (all.length > 0) {
        const undoStack = [...get().undoStack, { label, ops: all }];
        if (undoStack.length > HISTORY_LIMIT) undoStack.splice(0, undoStack.length - HISTORY_LIMIT);
        set({ undoStack, redoStack: [] });
      }
      get().treeChanged();
      return end.result.value;
    },

    undo: () => step('undoStack'),
    redo: () => step('redoStack'),

    commitRename(id, name) {
      const node = nodeOf(id);
      if (!node) {
        set({ renamingId: null });
        return undefined;
      }
      const before = get().tree.pathOf(node);
      const why = get().editTree(`rename ${before}`, (t) => t.rename(node, name));
      if (why) {
        set({ treeMessage: why });
        return why;
      }
      get().treeChanged({ renamingId: null, treeMessage: null });
      return undefined;
    },

    deleteNode(id) {
      const { tree } = get();
      const node = nodeOf(id);
      if (!node || node === tree.root) return;
      if (node.children && node.children.size > 0) {
        set({ deletePrompt: { id, path: tree.pathOf(node), count: tree.countBelow(node) } });
        return;
      }
      remove(node);
    },

    answerDelete(confirmed) {
      const prompt = get().deletePrompt;
      set({ deletePrompt: null });
      const node = prompt ? nodeOf(prompt.id) : undefined;
      if (confirmed && node) remove(node);
    },

    moveNode(id, intoId) {
      const { tree } = get();
      const node = nodeOf(id);
      const into = intoId === 'root' ? tree.root : nodeOf(intoId);
      if (!node || !into) return undefined;
      const why = get().editTree(`move ${tree.pathOf(node)}`, (t) => t.move(node, into));
      if (why) {
        set({ treeMessage: why });
        return why;
      }
      const expanded = new Set(get().expanded);
      if (into !== tree.root) expanded.add(into.id);
      get().treeChanged({ expanded, selectedId: node.id, treeMessage: `Moved ${node.name} to ${tree.pathOf(into)}.` });
      return undefined;
    },

    newFolder() {
      const { tree } = get();
      const dir = tree.get(get().selectedFolder()) ?? tree.root;
      const node = get().editTree('new folder', (t) => t.createFolder(dir));
      const expanded = new Set(get().expanded);
      if (dir !== tree.root) expanded.add(dir.id);
      get().treeChanged({ expanded, selectedId: node.id, renamingId: node.id, treeMessage: null });
    },

    setMode(id, mode) {
      const node = nodeOf(id);
      if (!node || (node.entry.mode & 0o7777) === (mode & 0o7777)) return;
      get().editTree(`mode of ${get().tree.pathOf(node)}`, (t) => t.setMode(node, mode));
    },

    toggleExec(id) {
      const node = nodeOf(id);
      if (!node || node.entry.type === 'symlink') return;
      get().setMode(id, toggleExecutable(node.entry.mode));
    },

    setExecutable(ids, on) {
      const files = new Set<FileNode>();
      for (const id of ids) {
        const start = nodeOf(id);
        if (!start) continue;
        const stack = [start];
        while (stack.length) {
          const n = stack.pop()!;
          if (n.entry.type === 'file') files.add(n);
          if (n.children) for (const c of n.children.values()) stack.push(c);
        }
      }
      let changed = 0;
      get().editTree(`${on ? 'set' : 'clear'} the executable bit of ${files.size} files`, (t) => {
        for (const f of files) {
          const mode = on ? f.entry.mode | ((f.entry.mode & 0o444) >> 2) : f.entry.mode & ~0o111;
          if (mode !== f.entry.mode) {
            t.setMode(f, mode);
            changed++;
          }
        }
      });
      set({
        treeMessage: on
          ? `Made ${changed} ${changed === 1 ? 'file' : 'files'} executable.`
          : `Cleared the executable bits of ${changed} ${changed === 1 ? 'file' : 'files'}.`,
      });
      return changed;
    },

    newSymlink(name, target) {
      const why = nameProblem(name) ?? (target.length === 0 ? 'A link needs a target.' : undefined);
      if (why) return why;
      if (target.includes('\0')) return 'A link target cannot contain a NUL character.';
      const { tree } = get();
      const at = get().selectedFolder();
      const dir = tree.get(at) ?? tree.root;
      if (dir.children!.has(name)) return `"${name}" already exists in ${at}.`;
      const node = get().editTree(`new link ${joinImagePath(at, name)}`, (t) => t.createSymlink(dir, name, target));
      const expanded = new Set(get().expanded);
      if (dir !== tree.root) expanded.add(dir.id);
      get().treeChanged({ expanded, selectedId: node.id, treeMessage: `Made ${joinImagePath(at, name)} → ${target}.` });
      return undefined;
    },
  };
};

/** True when `path` is an absolute image path without empty, "." or ".." parts. */
export function destinationProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'Start with "/".';
  for (const part of splitImagePath(path)) {
    const why = nameProblem(part);
    if (why) return why;
  }
  if (/\/\/|\/$/.test(path) && path !== '/') return 'Leave out empty parts ("//" or a final "/").';
  return undefined;
}
