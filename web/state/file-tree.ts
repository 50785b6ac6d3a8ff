/**
 * The page's one tree model, for new builds and opened images alike. It is not core's
 * `TreeModel` (a path map the engine resolves inputs with): the page needs node identity, so a
 * rename or move touches one node, not every descendant's path, and every edit can be undone.
 * It offers the edits the tree view offers and a merge that reports conflicts instead of
 * silently overwriting.
 *
 * It converts from and to the engine's flat `TreeEntry[]` (core/image-tree.ts). Mutations
 * bump `version`; the store mirrors that number so React re-renders.
 */
import { baseName, joinImagePath, nameProblem, parentPath, splitImagePath } from '../../core/image-path.ts';
import type { TreeEntry } from '../../core/image-tree.ts';
import type { ImageEntryType } from '../../core/engine-contract.ts';
import type { TreeSource } from '../engine-client.ts';

/** What a node shown from an opened image knows beyond its tree entry. */
export interface ImageNodeInfo {
  inode: number;
  /** Names sharing the inode. */
  links: number;
  /** The entry's real type (device files, fifos and sockets show as files in the tree). */
  kind: ImageEntryType;
  /** Folders: whether their entries have been listed. */
  loaded: boolean;
}

/** One child for {@link FileTree.syncChildren}. */
export interface SyncItem {
  name: string;
  entry: Omit<TreeEntry, 'path'>;
  image?: ImageNodeInfo;
}

export interface FileNode {
  readonly id: number;
  name: string;
  parent: FileNode | null;
  /** Metadata and byte source; `path` lives in the tree structure, not here. */
  entry: Omit<TreeEntry, 'path'>;
  /** A hard link's target node (resolved at merge time, so renames keep it valid). */
  linkTo?: FileNode;
  /** The input that added this node; 0 for nodes made in the page (new folder, parents). */
  inputId: number;
  /** Directories only. */
  children: Map<string, FileNode> | null;
  /** Sorted children cache (directories first, then by name), rebuilt after changes. */
  sorted: FileNode[] | null;
  /** Set for nodes shown from an opened image. */
  image?: ImageNodeInfo;
}

/**
 * One step of a change, as recorded for undo: a node (with everything below it) put into or
 * taken out of a folder under a name, or its metadata replaced.
 */
export type TreeOp =
  | { kind: 'attach' | 'detach'; node: FileNode; parent: FileNode; name: string }
  | { kind: 'entry'; node: FileNode; before: Omit<TreeEntry, 'path'>; after: Omit<TreeEntry, 'path'> };

export type ConflictChoice = 'replace' | 'keep-both' | 'skip';

/** Two inputs claim one path. */
export interface Conflict {
  path: string;
  existing: { type: TreeEntry['type']; size: number; origin: string };
  incoming: { type: TreeEntry['type']; size: number; origin: string };
}

/** A merge that has been checked but not applied yet. */
export interface MergePlan {
  conflicts: Conflict[];
  /** Entries after normalisation (sorted, missing parents added). */
  entries: TreeEntry[];
  inputId: number;
}

export interface VisibleRow {
  node: FileNode;
  depth: number;
  /** 1-based position among its siblings, and their count (for aria-posinset/setsize). */
  pos: number;
  siblings: number;
}

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'variant' });

export const DEFAULT_DIR_MODE = 0o755;
export const DEFAULT_FILE_MODE = 0o644;

/** A folder no input listed (the root, or a parent of listed entries): root's, 0755, time 0. */
function impliedDirectory(origin: string): Omit<TreeEntry, 'path'> {
  return { type: 'directory', mode: DEFAULT_DIR_MODE, uid: 0, gid: 0, mtime: 0, size: 0, origin };
}

/** `name (2).txt` style alternatives for a taken name. */
export function alternativeName(name: string, n: number): string {
  const dot = name.lastIndexOf('.');
  if (dot > 0 && dot < name.length - 1 && name.length - dot <= 8) {
    return `${name.slice(0, dot)} (${n})${name.slice(dot)}`;
  }
  return `${name} (${n})`;
}

function compareNodes(a: FileNode, b: FileNode): number {
  const ad = a.entry.type === 'directory' ? 0 : 1;
  const bd = b.entry.type === 'directory' ? 0 : 1;
  if (ad !== bd) return ad - bd;
  return collator.compare(a.name, b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

export class FileTree {
  readonly root: FileNode;
  private readonly byId = new Map<number, FileNode>();
  private nextId = 1;
  /** Bumped on every change. */
  version = 0;
  private stats: { files: number; directories: number; others: number; bytes: number } | null = null;

  constructor() {
    this.root = this.makeNode('', null, impliedDirectory(''), 0);
  }

  private makeNode(name: string, parent: FileNode | null, entry: Omit<TreeEntry, 'path'>, inputId: number): FileNode {
    const node: FileNode = {
      id: this.nextId++,
      name,
      parent,
      entry,
      inputId,
      children: entry.type === 'directory' ? new Map() : null,
      sorted: null,
    };
    this.byId.set(node.id, node);
    if (parent) {
      parent.children!.set(name, node);
      parent.sorted = null;
      this.journal?.push({ kind: 'attach', node, parent, name });
    }
    return node;
  }

  private changed(): void {
    this.version++;
    this.stats = null;
  }

  private journal: TreeOp[] | null = null;

  /**
   * Runs `change` and returns the steps it made, for {@link undo} and {@link redo}. Nodes taken
   * out stay alive in the returned steps (not in the tree), so undoing brings back the very same
   * nodes, ids and all.
   */
  record(change: () => void): TreeOp[] {
    const outer = this.journal;
    const ops: TreeOp[] = [];
    this.journal = ops;
    try {
      change();
    } finally {
      this.journal = outer;
    }
    if (outer) for (const op of ops) outer.push(op);
    return ops;
  }

  /** Reverts steps from {@link record}, last first. */
  undo(ops: readonly TreeOp[]): void {
    runAll(this.replaySteps(ops, true, Number.POSITIVE_INFINITY));
  }

  /** Makes steps from {@link record} again, first first. */
  redo(ops: readonly TreeOp[]): void {
    runAll(this.replaySteps(ops, false, Number.POSITIVE_INFINITY));
  }

  /** {@link undo} (`backwards`) or {@link redo} in steps of `every` operations. */
  *replaySteps(ops: readonly TreeOp[], backwards: boolean, every: number): Generator<void, void> {
    this.changed();
    for (let k = 0; k < ops.length; k++) {
      if (k > 0 && k % every === 0) yield;
      this.replay(ops[backwards ? ops.length - 1 - k : k], backwards);
    }
    this.changed();
  }

  private replay(op: TreeOp, backwards: boolean): void {
    if (op.kind === 'entry') {
      op.node.entry = backwards ? op.before : op.after;
      return;
    }
    if ((op.kind === 'attach') !== backwards) this.link(op.node, op.parent, op.name);
    else this.unlink(op.node);
  }

  /** Puts a node (and its subtree) into `parent` as `name`, without recording. */
  private link(node: FileNode, parent: FileNode, name: string): void {
    node.name = name;
    node.parent = parent;
    parent.children!.set(name, node);
    parent.sorted = null;
    const stack = [node];
    while (stack.length) {
      const n = stack.pop()!;
      this.byId.set(n.id, n);
      if (n.children) for (const c of n.children.values()) stack.push(c);
    }
  }

  /** Takes a node (and its subtree) out of the tree, without recording. */
  private unlink(node: FileNode): void {
    const parent = node.parent;
    if (parent && parent.children!.get(node.name) === node) {
      parent.children!.delete(node.name);
      parent.sorted = null;
    }
    const stack = [node];
    while (stack.length) {
      const n = stack.pop()!;
      this.byId.delete(n.id);
      if (n.children) for (const c of n.children.values()) stack.push(c);
    }
    node.parent = null;
  }

  byIdOrUndefined(id: number): FileNode | undefined {
    return this.byId.get(id);
  }

  get isEmpty(): boolean {
    return this.root.children!.size === 0;
  }

  /** Counts of what is in the tree (cached until the next change). */
  get totals(): { files: number; directories: number; others: number; bytes: number } {
    if (!this.stats) this.census();
    return this.stats!;
  }

  /** One walk over every node for {@link totals} and {@link inputCounts}. */
  private census(): void {
    const s = { files: 0, directories: 0, others: 0, bytes: 0 };
    const m = new Map<number | string, number>();
    for (const n of this.byId.values()) {
      if (n === this.root) continue;
      if (n.entry.type === 'file') {
        s.files++;
        s.bytes += n.entry.size;
      } else if (n.entry.type === 'directory') s.directories++;
      else s.others++;
      const key = n.inputId < 0 ? `closure:${n.entry.origin}` : n.inputId;
      m.set(key, (m.get(key) ?? 0) + 1);
    }
    this.stats = s;
    this.counts = m;
    this.countsVersion = this.version;
  }

  get(path: string): FileNode | undefined {
    let node: FileNode | undefined = this.root;
    for (const name of splitImagePath(path)) {
      node = node.children?.get(name);
      if (!node) return undefined;
    }
    return node;
  }

  pathOf(node: FileNode): string {
    if (node === this.root) return '/';
    const parts: string[] = [];
    for (let n: FileNode | null = node; n && n !== this.root; n = n.parent) parts.push(n.name);
    return '/' + parts.reverse().join('/');
  }

  /** True when `node` is `ancestor` or lies below it. */
  isWithin(node: FileNode, ancestor: FileNode): boolean {
    for (let n: FileNode | null = node; n; n = n.parent) if (n === ancestor) return true;
    return false;
  }

  sortedChildren(dir: FileNode): FileNode[] {
    if (!dir.children) return [];
    if (!dir.sorted) dir.sorted = [...dir.children.values()].sort(compareNodes);
    return dir.sorted;
  }

  /** The rows a tree view shows: depth-first over expanded directories. */
  visibleRows(expanded: ReadonlySet<number>): VisibleRow[] {
    const rows: VisibleRow[] = [];
    const stack: VisibleRow[] = [];
    const top = this.sortedChildren(this.root);
    for (let i = top.length - 1; i >= 0; i--) stack.push({ node: top[i], depth: 0, pos: i + 1, siblings: top.length });
    while (stack.length > 0) {
      const row = stack.pop()!;
      rows.push(row);
      if (row.node.children && expanded.has(row.node.id)) {
        const kids = this.sortedChildren(row.node);
        for (let i = kids.length - 1; i >= 0; i--)
          stack.push({ node: kids[i], depth: row.depth + 1, pos: i + 1, siblings: kids.length });
      }
    }
    return rows;
  }

  /** A name not yet used in `dir`, starting from `name`. */
  freeName(dir: FileNode, name: string): string {
    if (!dir.children!.has(name)) return name;
    for (let n = 2; ; n++) {
      const alt = alternativeName(name, n);
      if (!dir.children!.has(alt)) return alt;
    }
  }

  // ---- edits ------------------------------------------------------------------------

  /** Renames a node; returns what is wrong instead when it cannot. */
  rename(node: FileNode, name: string): string | undefined {
    if (node === this.root) return 'The root cannot be renamed.';
    if (name === node.name) return undefined;
    const why = nameProblem(name);
    if (why) return why;
    const parent = node.parent!;
    if (parent.children!.has(name)) return `"${name}" already exists in this folder.`;
    this.relink(node, parent, name);
    this.changed();
    return undefined;
  }

  /** Moves a node into the directory `into`; returns what is wrong instead when it cannot. */
  move(node: FileNode, into: FileNode): string | undefined {
    if (node === this.root) return 'The root cannot be moved.';
    if (into.entry.type !== 'directory') return 'Items can only be moved into folders.';
    if (node.parent === into) return undefined;
    if (this.isWithin(into, node)) return 'A folder cannot be moved into itself.';
    if (into.children!.has(node.name)) return `"${node.name}" already exists in ${this.pathOf(into)}.`;
    this.relink(node, into, node.name);
    this.changed();
    return undefined;
  }

  /** Moves or renames: the node keeps its identity and everything below it. */
  private relink(node: FileNode, parent: FileNode, name: string): void {
    const from = node.parent!;
    this.journal?.push({ kind: 'detach', node, parent: from, name: node.name });
    from.children!.delete(node.name);
    from.sorted = null;
    node.name = name;
    node.parent = parent;
    parent.children!.set(name, node);
    parent.sorted = null;
    this.journal?.push({ kind: 'attach', node, parent, name });
  }

  /** Deletes a node and everything below it. */
  remove(node: FileNode): void {
    if (node === this.root) {
      for (const child of [...node.children!.values()]) this.detach(child);
    } else {
      this.detach(node);
    }
    this.changed();
  }

  private detach(node: FileNode): void {
    if (node.parent) this.journal?.push({ kind: 'detach', node, parent: node.parent, name: node.name });
    this.unlink(node);
  }

  /** Creates a folder in `dir` with a free name based on `name`. */
  createFolder(dir: FileNode, name = 'New folder'): FileNode {
    const node = this.makeNode(
      this.freeName(dir, name),
      dir,
      {
        type: 'directory',
        mode: DEFAULT_DIR_MODE,
        uid: 0,
        gid: 0,
        mtime: 0,
        size: 0,
        origin: 'new folder',
      },
      0,
    );
    this.changed();
    return node;
  }

  setMode(node: FileNode, mode: number): void {
    const before = node.entry;
    node.entry = { ...node.entry, mode: mode & 0o7777 };
    this.journal?.push({ kind: 'entry', node, before, after: node.entry });
    this.changed();
  }

  /** Makes a symbolic link named `name` (or a free name based on it) in `dir`, pointing at `target`. */
  createSymlink(dir: FileNode, name: string, target: string): FileNode {
    const node = this.makeNode(
      this.freeName(dir, name),
      dir,
      { type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, size: 0, origin: 'new link', target },
      0,
    );
    this.changed();
    return node;
  }

  /** How many nodes below `node` (not counting it). */
  countBelow(node: FileNode): number {
    let n = 0;
    const stack = [node];
    while (stack.length) {
      const x = stack.pop()!;
      if (x.children)
        for (const c of x.children.values()) {
          n++;
          stack.push(c);
        }
    }
    return n;
  }

  /**
   * Live nodes per input (cached until the next change), so input rows can say what of
   * theirs is still in the tree. Nodes of the closure group count by origin under
   * `closure:<origin>`.
   */
  get inputCounts(): ReadonlyMap<number | string, number> {
    if (!this.counts || this.countsVersion !== this.version) this.census();
    return this.counts!;
  }
  private counts: Map<number | string, number> | null = null;
  private countsVersion = -1;

  /**
   * Makes `dir`'s children exactly `items` (a folder listing of an opened image). Nodes
   * whose name and kind stay keep their id (and so their open/selected state) and, for
   * folders, their loaded children; the rest are replaced.
   */
  syncChildren(dir: FileNode, items: readonly SyncItem[]): void {
    const keep = new Set(items.map((i) => i.name));
    for (const child of [...dir.children!.values()]) if (!keep.has(child.name)) this.detach(child);
    for (const item of items) {
      const existing = dir.children!.get(item.name);
      const isDir = item.entry.type === 'directory';
      if (existing && (existing.children !== null) === isDir && existing.image?.inode === item.image?.inode) {
        existing.entry = item.entry;
        existing.image = item.image && existing.image ? { ...item.image, loaded: existing.image.loaded } : item.image;
        continue;
      }
      if (existing) this.detach(existing);
      const node = this.makeNode(item.name, dir, item.entry, 0);
      if (item.image) node.image = item.image;
    }
    dir.sorted = null;
    this.changed();
  }

  /** Removes every node an input added (folders only when nothing else is left in them). */
  removeInput(inputId: number): void {
    runAll(this.removeInputSteps(inputId, Number.POSITIVE_INFINITY));
  }

  /** {@link removeInput} in steps of about `every` nodes. */
  *removeInputSteps(inputId: number, every: number): Generator<void, void> {
    this.changed();
    // The input's nodes in pre-order, taken out in reverse: a folder after what is in it.
    const order: FileNode[] = [];
    const stack: FileNode[] = [this.root];
    let n = 0;
    while (stack.length > 0) {
      const x = stack.pop()!;
      if (++n % (every * 4) === 0) yield;
      if (x !== this.root && x.inputId === inputId) order.push(x);
      if (x.children) for (const c of x.children.values()) stack.push(c);
    }
    for (let i = order.length - 1; i >= 0; i--) {
      if (++n % every === 0) yield;
      const x = order[i];
      if (!this.byId.has(x.id)) continue;
      if (x.children && x.children.size > 0) continue;
      this.detach(x);
    }
    this.changed();
  }

  // ---- merge ------------------------------------------------------------------------

  /**
   * Checks how `entries` would merge: directories merge with directories, anything else
   * that meets an existing path is a conflict for the person to decide. `normalized`: the
   * entries already list every parent before its children (the engine's resolved lists do),
   * so they are taken as they are instead of sorted again.
   */
  planMerge(entries: readonly TreeEntry[], inputId: number, normalized = false): MergePlan {
    const steps = this.planSteps(entries, inputId, normalized, Number.POSITIVE_INFINITY);
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  /** {@link planMerge} in steps of `every` entries, for a caller that lets the page breathe in between. */
  *planSteps(
    entries: readonly TreeEntry[],
    inputId: number,
    normalized: boolean,
    every: number,
  ): Generator<void, MergePlan> {
    const list = normalized ? (entries as TreeEntry[]) : normalizeEntries(entries);
    const conflicts: Conflict[] = [];
    let n = 0;
    for (const e of list) {
      if (++n % every === 0) yield;
      if (e.path === '/') continue;
      const existing = this.get(e.path);
      if (!existing) continue;
      if (existing.entry.type === 'directory' && e.type === 'directory') continue;
      conflicts.push({
        path: e.path,
        existing: { type: existing.entry.type, size: existing.entry.size, origin: existing.entry.origin },
        incoming: { type: e.type, size: e.size, origin: e.origin },
      });
    }
    return { conflicts, entries: list, inputId };
  }

  /** Applies a plan; `choices` decides each conflict (by path), `fallback` the rest. */
  applyMerge(
    plan: MergePlan,
    choices: ReadonlyMap<string, ConflictChoice>,
    fallback: ConflictChoice = 'replace',
  ): number {
    const steps = this.mergeSteps(plan, choices, fallback, Number.POSITIVE_INFINITY);
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  /**
   * {@link applyMerge} in steps of `every` entries. The version moves when it starts and
   * when it ends, so a listing of the tree made in between is known to be stale.
   */
  *mergeSteps(
    plan: MergePlan,
    choices: ReadonlyMap<string, ConflictChoice>,
    fallback: ConflictChoice,
    every: number,
  ): Generator<void, number> {
    this.changed();
    let n = 0;
    const conflictPaths = new Set(plan.conflicts.map((c) => c.path));
    const skipped = new Set<string>();
    const renamed = new Map<string, string>();
    const links: Array<[FileNode, string]> = [];
    let added = 0;
    /** The nearest ancestor-or-self of `path` in `set`, if any. */
    const nearest = (set: { has(p: string): boolean }, path: string): string | undefined => {
      if (set === skipped ? skipped.size === 0 : renamed.size === 0) return undefined;
      for (let p = path; p !== '/'; p = parentPath(p)) if (set.has(p)) return p;
      return undefined;
    };
    const rewrite = (path: string): string => {
      const from = nearest(renamed, path);
      return from === undefined ? path : renamed.get(from)! + path.slice(from.length);
    };

    for (const e of plan.entries) {
      if (++n % every === 0) yield;
      if (e.path === '/') continue;
      if (nearest(skipped, e.path) !== undefined) continue;
      let path = rewrite(e.path);
      if (conflictPaths.has(e.path)) {
        const choice = choices.get(e.path) ?? fallback;
        if (choice === 'skip') {
          skipped.add(e.path);
          continue;
        }
        const existing = this.get(path);
        if (existing) {
          if (choice === 'replace') {
            this.detach(existing);
          } else {
            const dir = existing.parent!;
            const alt = joinImagePath(this.pathOf(dir), this.freeName(dir, existing.name));
            renamed.set(e.path, alt);
            path = alt;
          }
        }
      }
      const parent = this.ensureDirectory(parentPath(path), plan.inputId, e.origin);
      const name = baseName(path);
      const existing = parent.children!.get(name);
      if (existing) {
        if (existing.entry.type === 'directory' && e.type === 'directory') continue;
        // Later entries of one input win over earlier ones (a tar may repeat a member).
        this.detach(existing);
      }
      // The entry itself, not a copy without its path (400,000 fewer objects for a system):
      // its `path` is stale once the node moves, so listings put the node's path after it.
      const node = this.makeNode(name, parent, e, plan.inputId);
      if (e.type === 'hardlink' && e.target) links.push([node, e.target]);
      added++;
    }
    for (const [node, target] of links) {
      const to = this.get(rewrite(target));
      if (to && to.entry.type === 'file') node.linkTo = to;
    }
    this.changed();
    return added;
  }

  private ensureDirectory(path: string, inputId: number, origin: string): FileNode {
    let node = this.root;
    for (const name of splitImagePath(path)) {
      let next = node.children!.get(name);
      if (!next) {
        next = this.makeNode(name, node, impliedDirectory(origin), inputId);
      } else if (!next.children) {
        // A file where a folder is needed: keep the file under a free name.
        this.rename(next, this.freeName(node, name));
        next = this.makeNode(name, node, impliedDirectory(origin), inputId);
      }
      node = next;
    }
    return node;
  }

  /** The whole tree as the engine wants it: parents before children, paths absolute. */
  toEntries(): TreeEntry[] {
    const out: TreeEntry[] = [];
    for (const e of this.walkEntries()) out.push(e);
    return out;
  }

  /** {@link toEntries} one entry at a time (a folder's children are listed together). */
  *walkEntries(): Generator<TreeEntry> {
    const live = (n: FileNode) => this.byId.has(n.id);
    // Parents before children with an explicit stack: no recursion by folder depth.
    const stack: Array<{ dir: FileNode; dirPath: string }> = [{ dir: this.root, dirPath: '/' }];
    while (stack.length > 0) {
      const { dir, dirPath } = stack.pop()!;
      const out: TreeEntry[] = [];
      for (const child of dir.children!.values()) {
        const path = joinImagePath(dirPath, child.name);
        const e: TreeEntry = { ...child.entry, path };
        if (child.entry.type === 'hardlink') {
          if (child.linkTo && live(child.linkTo)) {
            e.target = this.pathOf(child.linkTo);
          } else if (child.linkTo) {
            // The file it shared an inode with is gone: keep the bytes as a file of its own.
            e.type = 'file';
            e.size = child.linkTo.entry.size;
            e.source = child.linkTo.entry.source;
            delete e.target;
          }
        }
        out.push(e);
        if (child.children) stack.push({ dir: child, dirPath: path });
      }
      for (const e of out) yield e;
    }
  }
}

/** Runs a generator of steps to its end at once. */
function runAll<T>(steps: Generator<void, T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** Sorts entries parents-first and adds any missing parent directories. */
export function normalizeEntries(entries: readonly TreeEntry[]): TreeEntry[] {
  const byPath = new Map<string, TreeEntry>();
  for (const e of entries) byPath.set(e.path, e);
  for (const e of entries) {
    for (let p = parentPath(e.path); p !== '/' && !byPath.has(p); p = parentPath(p)) {
      byPath.set(p, { ...impliedDirectory(e.origin), path: p, mtime: e.mtime });
    }
  }
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

const treeIds = new WeakMap<FileTree, number>();
let nextTreeId = 1;

/**
 * The tree as the engine takes it (`TreeSource` of engine-client.ts): a key of this tree
 * and its version (read when asked, so a change is seen), and the entries, listed only when
 * the engine does not have them yet: at once, or in pieces of `piece` entries.
 */
export function treeSource(tree: FileTree, piece = 4000): TreeSource {
  let id = treeIds.get(tree);
  if (id === undefined) treeIds.set(tree, (id = nextTreeId++));
  const treeId = id;
  return {
    get key() {
      return `${treeId}:${tree.version}`;
    },
    entries: () => tree.toEntries(),
    *parts() {
      let part: TreeEntry[] = [];
      for (const e of tree.walkEntries()) {
        part.push(e);
        if (part.length >= piece) {
          yield part;
          part = [];
        }
      }
      yield part;
    },
  };
}
