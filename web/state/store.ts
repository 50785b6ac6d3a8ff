/**
 * The new build's state, in slices: inputs (and the closure), the tree (with undo), options
 * (and the size estimate) and the build. One zustand store; components select what they need
 * and call actions through `studio()`. Nothing lives outside the store, so `clearAll` resets
 * all of it and devtools see all of it.
 */
import { create, type StoreApi, type UseBoundStore } from 'zustand';
import { type BuildSlice, createBuildSlice } from './slice-build.ts';
import { createInputsSlice, type InputsSlice } from './slice-inputs.ts';
import { createOptionsSlice, type OptionsSlice } from './slice-options.ts';
import { createTreeSlice, type TreeSlice } from './slice-tree.ts';
import type { TreeController, TreeViewModel } from './tree-controller.ts';

export type { BuildState, LogChunk, ResultState, StageState } from './slice-build.ts';
export { applyEvents, buildBlocker, closureGone, STAGES } from './slice-build.ts';
export type { ArchivePrompt, InputItem, InputKind, PendingMerge } from './slice-inputs.ts';
export type { Estimate, SaveMode } from './slice-options.ts';

export type StudioState = InputsSlice & TreeSlice & OptionsSlice & BuildSlice;

/** A new build's store (the page has one; tests make their own). */
export function createStudioStore(): UseBoundStore<StoreApi<StudioState>> {
  return create<StudioState>()((set, get, api) => ({
    ...createInputsSlice(set, get, api),
    ...createTreeSlice(set, get, api),
    ...createOptionsSlice(set, get, api),
    ...createBuildSlice(set, get, api),
  }));
}

export const useStudio = createStudioStore();

/** The store's state and actions now (actions are stable; call them from handlers). */
export const studio = (): StudioState => useStudio.getState();

/** The new build's tree, for the tree view. */
export const buildTreeController: TreeController = {
  useModel(): TreeViewModel {
    return {
      tree: useStudio((s) => s.tree),
      version: useStudio((s) => s.treeVersion),
      expanded: useStudio((s) => s.expanded),
      selectedId: useStudio((s) => s.selectedId),
      renamingId: useStudio((s) => s.renamingId),
      message: useStudio((s) => s.treeMessage),
      busy: useStudio((s) => s.build.status === 'running' || s.merging > 0),
      canUndo: useStudio((s) => s.undoStack[s.undoStack.length - 1]?.label ?? null),
      canRedo: useStudio((s) => s.redoStack[s.redoStack.length - 1]?.label ?? null),
    };
  },
  title: 'Image contents',
  emptyText: 'The image is empty. Add files, a folder, an archive or a closure, or drop them here.',
  select: (id) => studio().select(id),
  setExpanded: (id, open) => studio().setExpanded(id, open),
  toggleExpanded: (id) => studio().toggleExpanded(id),
  collapseAll: () => studio().collapseAll(),
  startRename: (id) => studio().startRename(id),
  cancelRename: () => studio().cancelRename(),
  commitRename: (id, name) => studio().commitRename(id, name),
  deleteNode: (id) => studio().deleteNode(id),
  moveNode: (id, into) => studio().moveNode(id, into),
  toggleExec: (id) => studio().toggleExec(id),
  newFolder: () => studio().newFolder(),
  clearAll: () => studio().clearAll(),
  undo: () => studio().undo(),
  redo: () => studio().redo(),
  drop: (items, at) => void studio().addDropped(items, at),
};
