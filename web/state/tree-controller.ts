/**
 * What the tree view needs from whoever owns the tree: the page's new-build tree
 * (`store.ts`) or an opened image (`opened-image.ts`). The view renders the same rows,
 * keyboard and drag and drop for both; the controller decides what an action means.
 */
import type { ReactNode } from 'react';
import type { DroppedItem } from '../input/collect.ts';
import type { FileNode, FileTree } from './file-tree.ts';

/** The view's state, read with the controller's hook. */
export interface TreeViewModel {
  tree: FileTree;
  /** Bumps whenever the tree changes in place. */
  version: number;
  expanded: ReadonlySet<number>;
  selectedId: number | null;
  renamingId: number | null;
  /** The last action's outcome, for the status line. */
  message: string | null;
  /** True while edits cannot be made (a build or an engine call is running). */
  busy: boolean;
  /** What Undo and Redo would undo or redo (null: nothing); absent where there is no undo. */
  canUndo?: string | null;
  canRedo?: string | null;
}

export interface TreeController {
  /** A React hook returning the model (call it unconditionally, once per render). */
  useModel(): TreeViewModel;
  /** The panel's heading and the tree's accessible name. */
  title: string;
  /** Shown when the tree has no rows. */
  emptyText: string;
  /** Said after the totals line, e.g. that only opened folders are counted. Default none. */
  totalsNote?: string;
  /** Extra columns: owner (uid:gid) and modification time. Default off. */
  showOwnerAndTime?: boolean;
  select(id: number | null): void;
  setExpanded(id: number, open: boolean): void;
  toggleExpanded(id: number): void;
  collapseAll(): void;
  startRename(id: number): void;
  cancelRename(): void;
  /** Renames; returns why not (the editor stays open), or undefined (done or under way). */
  commitRename(id: number, name: string): string | undefined;
  deleteNode(id: number): void;
  /** Moves a node into a folder (drag and drop); returns why not, or undefined. */
  moveNode(id: number, intoId: number | 'root'): string | undefined;
  toggleExec(id: number): void;
  newFolder(): void;
  /** Files or folders dropped from the desktop onto folder `at`. */
  drop(items: DroppedItem[], at: string): void;
  /** Offers "New link" (a dialog of the owner's); absent where links cannot be made. */
  LinkDialog?: (props: { onClose(): void }) => ReactNode;
  /** Undo and redo of tree edits (only where edits are kept in the page). */
  undo?(): void;
  redo?(): void;
  /** "Clear all" (only where it makes sense). */
  clearAll?(): void;
  /** The size column of a folder, when it has more to say than a count (e.g. "not loaded"). */
  folderNote?(node: FileNode): string | undefined;
}
