/**
 * The page's side of an opened image (the engine's side is `workers/pipeline/image-session.ts`): which image is open, its summary and check verdict,
 * its tree (loaded one folder at a time, as folders are opened), and the actions on it:
 * add, delete, rename/move, chmod/chown, label, resize, repair, preview, export, save.
 * Every action goes to the engine (`engine-client.ts`); the tree is reloaded from the
 * image afterwards, so what the page shows is what the image holds.
 */
import { create } from 'zustand';
import type { TreeEntry } from '../../core/image-tree.ts';
import type {
  BuildEvent,
  BuildFailure,
  BuildInput,
  BuildResult,
  FileHead,
  ImageEdit,
  ImageEntry,
  ImageState,
  StageName,
} from '../../core/engine-contract.ts';
import { engine, type PageInput, toEngineError } from '../engine-client.ts';
import { type DroppedItem, groupPickedFolders, looseFilesInput, placeEntries } from '../input/collect.ts';
import { formatCount, toggleExecutable } from '../lib/format.ts';
import {
  chooseSaveTarget,
  memoryTarget,
  release,
  type SavedOutput,
  type SaveTarget,
  SaveTargetError,
  startDownload,
} from '../save/save-target.ts';
import { joinImagePath, nameProblem, parentPath } from '../../core/image-path.ts';
import { FileTree, type FileNode, type SyncItem } from './file-tree.ts';
import { createTreeUiSlice, emptyTreeUi, type TreeUiSlice } from './slice-tree.ts';
import type { TreeController, TreeViewModel } from './tree-controller.ts';

/** `.img` and `.img.zst`: files a drop on the new-build page opens as images rather than adding them. */
export const IMAGE_FILE_RE = /\.img(\.zst)?$/i;

export function isImageFileName(name: string): boolean {
  return IMAGE_FILE_RE.test(name);
}

export interface SaveState {
  status: 'idle' | 'running' | 'done' | 'failed' | 'cancelled';
  stage: StageName | null;
  /** 0..1 of the image streamed out. */
  progress: number | null;
  result: BuildResult | null;
  saved: SavedOutput | null;
  failure: BuildFailure | null;
}

export interface PreviewState {
  path: string;
  status: 'loading' | 'ready' | 'failed';
  head?: FileHead;
  failure?: BuildFailure;
}

export interface OpenedImageState extends TreeUiSlice {
  status: 'closed' | 'opening' | 'open';
  /** The file being opened or open. */
  fileName: string | null;
  /** Bytes of the file read while opening. */
  progress: { done: number; total: number } | null;
  /** Why the last file could not be opened (shown until the next attempt). */
  openFailure: BuildFailure | null;
  image: ImageState | null;
  /** What the engine is doing for the image right now, or null. */
  busy: string | null;
  /** The last step that failed. */
  failure: BuildFailure | null;
  /** e2fsck -fy's report after a repair. */
  repair: { exitCode: number; output: string } | null;
  save: SaveState;
  /** The image's revision when it was last saved (0: as opened). */
  savedRevision: number;
  preview: PreviewState | null;
  compress: boolean;
  level: number;
  /** Set while a save runs: the save stops before its next chunk. */
  saveCancelled: boolean;
  /** Folders being listed from the image. */
  loading: ReadonlySet<number>;
}

const idleSave = (): SaveState => ({
  status: 'idle',
  stage: null,
  progress: null,
  result: null,
  saved: null,
  failure: null,
});

/** The state without the tree UI's actions. */
type DataState = Omit<OpenedImageState, Exclude<keyof TreeUiSlice, keyof ReturnType<typeof emptyTreeUi>>>;

function closedState(): Omit<DataState, 'openFailure' | 'compress' | 'level'> {
  return {
    status: 'closed',
    fileName: null,
    progress: null,
    image: null,
    ...emptyTreeUi(),
    saveCancelled: false,
    loading: new Set(),
    busy: null,
    failure: null,
    repair: null,
    save: idleSave(),
    savedRevision: 0,
    preview: null,
  };
}

export const useImage = create<OpenedImageState>()((set, get) => ({
  ...createTreeUiSlice<OpenedImageState>(set, get),
  ...closedState(),
  openFailure: null,
  compress: false,
  level: 3,
}));

const get = useImage.getState;
const set = useImage.setState;

/** True while an image is open or opening (the page shows the image instead of the new build). */
export function imageMode(s: OpenedImageState = get()): boolean {
  return s.status !== 'closed';
}

function fail(err: unknown): BuildFailure {
  const e = toEngineError(err);
  const f = e.toFailure();
  // The worker was restarted: the image is gone from it.
  if (/not open any more/.test(f.message)) {
    set({ ...closedState(), openFailure: f });
  }
  return f;
}

// ---- open and close -------------------------------------------------------------------

/** Opens an image file (closing the one open, after asking when it has unsaved changes). */
export async function openImageFile(file: File): Promise<void> {
  const cur = get();
  if (cur.status === 'opening' || cur.busy) return;
  if (cur.image && !confirmDiscard()) return;
  if (cur.image)
    void engine()
      .closeImage(cur.image.id)
      .catch(() => undefined);
  release(cur.save.saved);
  set({
    ...closedState(),
    status: 'opening',
    fileName: file.name,
    progress: { done: 0, total: file.size },
    openFailure: null,
  });
  let image: ImageState;
  try {
    image = await engine().openImage(file, (done, total) => {
      if (get().fileName === file.name) set({ progress: { done, total } });
    });
  } catch (err) {
    set({ ...closedState(), openFailure: fail(err) });
    return;
  }
  const tree = new FileTree();
  tree.root.image = { inode: 2, links: 1, kind: 'directory', loaded: false };
  set({ status: 'open', image, tree, treeVersion: tree.version, progress: null });
  await loadDir(tree.root);
}

/** After asking when there are unsaved changes: forgets the image and shows the new build again. */
export function closeImage(): void {
  const cur = get();
  if (cur.busy) return;
  if (cur.image && !confirmDiscard()) return;
  if (cur.image)
    void engine()
      .closeImage(cur.image.id)
      .catch(() => undefined);
  release(cur.save.saved);
  set({ ...closedState(), openFailure: null });
}

/** Changes made since the last save (or since opening) would be lost: ask. */
function confirmDiscard(): boolean {
  const s = get();
  const changedSinceSave = s.image && s.image.revision !== s.savedRevision;
  return !changedSinceSave || window.confirm(`${s.fileName} has changes that were not saved. Discard them?`);
}

export function dismissOpenFailure(): void {
  set({ openFailure: null });
}

// ---- the tree -------------------------------------------------------------------------

function treeChanged(extra: Partial<OpenedImageState> = {}): void {
  get().treeChanged(extra);
}

function toSyncItem(e: ImageEntry): SyncItem {
  const type = e.type === 'directory' ? 'directory' : e.type === 'symlink' ? 'symlink' : 'file';
  const entry: Omit<TreeEntry, 'path'> = {
    type,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    mtime: e.mtime,
    size: e.size,
    origin: 'image',
  };
  if (e.target !== undefined) entry.target = e.target;
  return { name: e.name, entry, image: { inode: e.inode, links: e.links, kind: e.type, loaded: false } };
}

function setLoading(id: number, on: boolean): void {
  const next = new Set(get().loading);
  if (on) next.add(id);
  else next.delete(id);
  set({ loading: next });
}

/** Lists a folder from the image into the tree. */
async function loadDir(node: FileNode): Promise<void> {
  const { image, tree } = get();
  if (!image || !node.children || get().loading.has(node.id)) return;
  setLoading(node.id, true);
  treeChanged();
  try {
    const listing = await engine().listDir(image.id, tree.pathOf(node));
    if (get().tree !== tree) return;
    tree.syncChildren(node, listing.entries.map(toSyncItem));
    if (node.image) node.image.loaded = true;
    treeChanged();
  } catch (err) {
    if (get().tree === tree) set({ failure: fail(err) });
  } finally {
    setLoading(node.id, false);
    if (get().tree === tree) treeChanged();
  }
}

/** Lists again the loaded folders among `paths` (and drops what is gone). */
async function reload(paths: Iterable<string>): Promise<void> {
  const { tree } = get();
  const nodes = new Set<FileNode>();
  for (const p of paths) {
    const n = tree.get(p);
    if (n?.children && (n === tree.root || n.image?.loaded)) nodes.add(n);
  }
  for (const n of nodes) await loadDir(n);
  const sel = get().selectedId;
  if (sel !== null && !tree.byIdOrUndefined(sel)) set({ selectedId: null });
}

function nodeOf(id: number): FileNode | undefined {
  return get().tree.byIdOrUndefined(id);
}

export function selectedNode(s: OpenedImageState = get()): FileNode | undefined {
  return s.selectedId === null ? undefined : s.tree.byIdOrUndefined(s.selectedId);
}

/** The folder new things go into: the selected folder, or the selected entry's folder. */
export function imageTargetFolder(): string {
  return get().selectedFolder();
}

/** Opens or closes a folder, listing it from the image when first opened. */
function setExpanded(id: number, open: boolean): void {
  const node = nodeOf(id);
  if (open && node?.children && node.image && !node.image.loaded) void loadDir(node);
  get().setExpanded(id, open);
}

// ---- changes --------------------------------------------------------------------------

/** Runs one change in the engine, then shows the new state and reloads the folders it touched. */
async function change(
  what: string,
  work: (id: string) => Promise<ImageState>,
  touched: Iterable<string> = [],
  done?: string,
): Promise<boolean> {
  const { image, busy } = get();
  if (!image || busy) return false;
  set({ busy: what, failure: null, treeMessage: `${what}…` });
  try {
    const next = await work(image.id);
    set({ image: next, treeMessage: done ?? null });
    await reload(touched);
    return true;
  } catch (err) {
    const f = fail(err);
    set({ failure: f, treeMessage: f.message });
    return false;
  } finally {
    set({ busy: null });
  }
}

const apply = (edits: ImageEdit[]) => (id: string) => engine().apply(id, edits);

/**
 * Adds what the page's inputs resolve to (files, folders, archives), asking before replacing
 * anything. The engine resolves them and adds the entries it keeps (`addToImage`): they are
 * neither brought to the page nor sent back, and large inputs cross in pieces.
 */
async function addInputs(inputs: PageInput[], label: string, touched: string[]): Promise<void> {
  const { image, busy } = get();
  if (!image || busy || inputs.length === 0) return;
  set({ busy: `Reading ${label}`, failure: null, treeMessage: `Reading ${label}…` });
  let replaced = 0;
  let next: ImageState | null;
  try {
    next = await engine().addToImage(image.id, inputs, {
      resolved(count, problems) {
        const errors = problems.filter((p) => p.severity === 'error');
        if (errors.length > 0) {
          set({
            failure: {
              code: 'bad-input',
              message: `${label} cannot be added: ${errors[0].message}`,
              hint: errors[0].hint,
              problems,
            },
            treeMessage: null,
          });
          return false;
        }
        set({ busy: `Adding ${label}`, treeMessage: `Adding ${label} (${formatCount(count)} entries)…` });
        return true;
      },
      replace(failure) {
        const clashes = failure.problems.filter((p) => p.code === 'image-path-exists').map((p) => p.path ?? '');
        if (clashes.length === 0) return false;
        const list = clashes.slice(0, 8).join('\n') + (clashes.length > 8 ? `\n… and ${clashes.length - 8} more` : '');
        const ok = window.confirm(
          `${formatCount(clashes.length)} ${clashes.length === 1 ? 'entry exists' : 'entries exist'} in the image already:\n${list}\n\nReplace ${clashes.length === 1 ? 'it' : 'them'}?`,
        );
        if (ok) replaced = clashes.length;
        else set({ failure: failure.toFailure(), treeMessage: failure.message });
        return ok;
      },
    });
  } catch (err) {
    const f = fail(err);
    set({ failure: f, treeMessage: f.message, busy: null });
    return;
  }
  if (!next) {
    set({ busy: null });
    return;
  }
  set({
    image: next,
    treeMessage: replaced > 0 ? `Added ${label}, replacing ${formatCount(replaced)}.` : `Added ${label}.`,
  });
  try {
    await reload(touched);
  } finally {
    set({ busy: null });
  }
}

const labelOf = (files: readonly File[]) => (files.length === 1 ? files[0].name : `${formatCount(files.length)} files`);

export function addFilesToImage(files: readonly File[], at = imageTargetFolder()): Promise<void> {
  return addInputs([looseFilesInput(files, at)], labelOf(files), [at]);
}

export async function addFolderToImage(files: readonly File[], at = imageTargetFolder()): Promise<void> {
  // Sizes and times are read by the engine: in Chromium each costs a call to the browser.
  const byTop = await groupPickedFolders(files);
  const inputs = [...byTop].map(([top, list]): PageInput => ({ kind: 'picked-files', at, origin: top, files: list }));
  const tops = [...byTop.keys()];
  return addInputs(inputs, tops.length === 1 ? tops[0] : `${tops.length} folders`, [at]);
}

export function addArchivesToImage(files: readonly File[], at = imageTargetFolder()): Promise<void> {
  return addInputs(
    files.map((f) => ({ kind: 'archive', at, file: { name: f.name, blob: f } })),
    labelOf(files),
    [at],
  );
}

/** A drop onto a folder of the image: folders keep their structure, files (archives too) go in as files. */
export function dropIntoImage(items: DroppedItem[], at: string): Promise<void> {
  const inputs: BuildInput[] = [];
  const loose: File[] = [];
  const names: string[] = [];
  for (const it of items) {
    if (it.kind === 'folder') {
      inputs.push({ kind: 'tree', at: '/', entries: placeEntries(it.entries, at) });
      names.push(it.name);
    } else {
      loose.push(it.file);
      names.push(it.file.name);
    }
  }
  if (loose.length > 0) inputs.push(looseFilesInput(loose, at));
  return addInputs(inputs, names.length === 1 ? names[0] : `${formatCount(names.length)} items`, [at]);
}

export function deleteImageNode(id: number): void {
  const { tree } = get();
  const node = nodeOf(id);
  if (!node || node === tree.root) return;
  const path = tree.pathOf(node);
  if (node.children && !window.confirm(`Delete the folder ${path} and everything in it from the image?`)) return;
  void change(`Deleting ${node.name}`, apply([{ kind: 'delete', path }]), [parentPath(path)], `Deleted ${path}.`);
}

function moveTo(node: FileNode, to: string, what: string): void {
  const { tree } = get();
  const from = tree.pathOf(node);
  void change(what, apply([{ kind: 'move', from, to }]), [parentPath(from), parentPath(to)], `${what}: ${to}.`).then(
    (ok) => {
      if (ok) {
        const moved = get().tree.get(to);
        if (moved) set({ selectedId: moved.id });
      }
    },
  );
}

function commitRename(id: number, name: string): string | undefined {
  const node = nodeOf(id);
  if (!node) {
    set({ renamingId: null });
    return undefined;
  }
  if (name === node.name) {
    set({ renamingId: null });
    return undefined;
  }
  const why =
    nameProblem(name) ??
    (name.includes('\n') ? 'A name cannot contain a line break.' : undefined) ??
    (node.parent?.children?.has(name) ? `"${name}" already exists in this folder.` : undefined);
  if (why) {
    set({ treeMessage: why });
    return why;
  }
  set({ renamingId: null });
  moveTo(node, joinImagePath(get().tree.pathOf(node.parent!), name), 'Renamed');
  return undefined;
}

function moveNode(id: number, intoId: number | 'root'): string | undefined {
  const { tree } = get();
  const node = nodeOf(id);
  const into = intoId === 'root' ? tree.root : nodeOf(intoId);
  if (!node || !into || node.parent === into) return undefined;
  if (!into.children) return 'Items can only be moved into folders.';
  if (tree.isWithin(into, node)) {
    set({ treeMessage: 'A folder cannot be moved into itself.' });
    return 'A folder cannot be moved into itself.';
  }
  moveTo(node, joinImagePath(tree.pathOf(into), node.name), 'Moved');
  return undefined;
}

export function chmodImageNode(id: number, mode: number): void {
  const node = nodeOf(id);
  if (!node) return;
  const path = get().tree.pathOf(node);
  void change(
    `Changing the mode of ${node.name}`,
    apply([{ kind: 'chmod', path, mode }]),
    [parentPath(path)],
    `Mode of ${path} set to ${(mode & 0o7777).toString(8).padStart(4, '0')}.`,
  );
}

export function chownImageNode(id: number, uid: number, gid: number): void {
  const node = nodeOf(id);
  if (!node) return;
  const path = get().tree.pathOf(node);
  void change(
    `Changing the owner of ${node.name}`,
    apply([{ kind: 'chown', path, uid, gid }]),
    [parentPath(path)],
    `Owner of ${path} set to ${uid}:${gid}.`,
  );
}

function newFolder(): void {
  const { tree } = get();
  const at = imageTargetFolder();
  const dir = tree.get(at) ?? tree.root;
  const name = tree.freeName(dir, 'New folder');
  const path = joinImagePath(at, name);
  const entry: TreeEntry = {
    path,
    type: 'directory',
    mode: 0o755,
    uid: 0,
    gid: 0,
    mtime: Math.floor(Date.now() / 1000),
    size: 0,
    origin: 'new folder',
  };
  void change('Making a folder', apply([{ kind: 'add', entries: [entry] }]), [at], `Made ${path}.`).then((ok) => {
    const node = ok ? get().tree.get(path) : undefined;
    if (!node) return;
    const expanded = new Set(get().expanded);
    if (dir !== tree.root) expanded.add(dir.id);
    set({ expanded, selectedId: node.id, renamingId: node.id });
  });
}

export function setImageLabel(label: string): Promise<boolean> {
  return change('Setting the label', (id) => engine().setLabel(id, label), [], `Label set to "${label}".`);
}

/** Grows or shrinks to `bytes`, or to the minimum. */
export function resizeImage(size: 'min' | number): Promise<boolean> {
  return change(
    size === 'min' ? 'Shrinking to the minimum' : 'Resizing',
    (id) => engine().resize(id, size),
    [],
    'Resized.',
  );
}

/** Runs e2fsck -fy on the copy in memory: only ever from the person's click. */
export async function repairImage(): Promise<void> {
  const { image, busy } = get();
  if (!image || busy) return;
  set({ busy: 'Repairing', failure: null, treeMessage: 'Repairing (e2fsck -fy)…', repair: null });
  try {
    const r = await engine().repair(image.id);
    set({
      image: r.state,
      repair: { exitCode: r.exitCode, output: r.output },
      treeMessage: r.state.fsck.clean ? 'Repaired: the check is clean now.' : 'e2fsck could not fix everything.',
    });
    // Repairs can move entries (lost+found) anywhere: list every loaded folder again.
    const { tree } = get();
    const paths: string[] = [];
    const stack: FileNode[] = [tree.root];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n.children && (n === tree.root || n.image?.loaded)) {
        paths.push(tree.pathOf(n));
        for (const c of n.children.values()) stack.push(c);
      }
    }
    await reload(paths);
  } catch (err) {
    set({ failure: fail(err) });
  } finally {
    set({ busy: null });
  }
}

// ---- preview and export ---------------------------------------------------------------

/** The first 64 KiB of a file, shown as text. */
export async function previewNode(id: number): Promise<void> {
  const { image, tree } = get();
  const node = nodeOf(id);
  if (!image || !node) return;
  const path = tree.pathOf(node);
  set({ preview: { path, status: 'loading' } });
  try {
    const head = await engine().readFile(image.id, path);
    if (get().preview?.path === path) set({ preview: { path, status: 'ready', head } });
  } catch (err) {
    if (get().preview?.path === path) set({ preview: { path, status: 'failed', failure: fail(err) } });
  }
}

export function closePreview(): void {
  set({ preview: null });
}

/** Saves a file's bytes, or a folder as a .tar, to the person's disk. Call from the click (file picker). */
export async function exportNode(id: number): Promise<void> {
  const { image, tree } = get();
  const node = nodeOf(id);
  if (!image || !node || get().busy) return;
  const path = tree.pathOf(node);
  const isFile = node.image?.kind === 'file';
  const name = `${node === tree.root ? image.summary.label || 'image' : node.name}${isFile ? '' : '.tar'}`;
  let target: SaveTarget | null;
  try {
    target = await chooseSaveTarget('file', name);
  } catch {
    target = memoryTarget(name);
  }
  if (!target) return;
  set({ busy: `Exporting ${node.name}`, failure: null, treeMessage: `Exporting ${path}…` });
  try {
    const sink = target;
    const r = await engine().exportPath(image.id, path, (chunk) => sink.write(chunk));
    const saved = await target.finish(target.kind === 'file' ? target.fileName : r.fileName);
    if (saved.kind === 'download') {
      startDownload(saved);
      // The download has its own copy; free ours once the browser has taken it.
      setTimeout(() => release(saved), 60_000);
    }
    set({
      treeMessage: `Exported ${path} as ${saved.fileName}${r.skipped ? ` (${r.skipped} device files, fifos or sockets left out)` : ''}.`,
    });
  } catch (err) {
    await target.abort();
    set({ failure: fail(err) });
  } finally {
    set({ busy: null });
  }
}

// ---- save -----------------------------------------------------------------------------

export function setSaveCompression(compress: boolean, level = get().level): void {
  set({ compress, level });
}

export function defaultSaveName(s: OpenedImageState = get()): string {
  const base = (s.fileName ?? '').replace(/\.zst$/i, '').replace(/\.img$/i, '') || s.image?.summary.label || 'image';
  return `${base.replace(/[/\\:*?"<>|\u0000-\u001f]/g, '_')}.img${s.compress ? '.zst' : ''}`;
}

/** Why the image cannot be saved now, or undefined. */
export function saveBlocker(s: OpenedImageState = get()): string | undefined {
  if (!s.image) return 'No image is open.';
  if (s.busy) return `${s.busy}…`;
  if (!s.image.fsck.clean) return 'e2fsck found problems: repair the image before saving it.';
  return undefined;
}

/** Saves through the same streamed targets as a build. Call from the click (file picker). */
export async function saveImage(mode: 'file' | 'download'): Promise<void> {
  if (saveBlocker()) return;
  const { image, compress, level } = get();
  const fileName = defaultSaveName();
  let target: SaveTarget | null;
  try {
    target = await chooseSaveTarget(mode, fileName);
  } catch (err) {
    const e = err instanceof SaveTargetError ? err : new SaveTargetError(String(err), '');
    set({
      save: {
        ...idleSave(),
        status: 'failed',
        failure: { code: 'internal', message: e.message, hint: e.hint, problems: [] },
      },
    });
    return;
  }
  if (!target) return;
  release(get().save.saved);
  set({ saveCancelled: false });
  set({ busy: 'Saving', save: { ...idleSave(), status: 'running' }, failure: null });
  const sink = target;
  try {
    const result = await engine().saveImage(
      image!.id,
      { compress, level, fileName },
      (ev: BuildEvent) => {
        if (ev.type === 'stage' && ev.state === 'start') set({ save: { ...get().save, stage: ev.stage } });
        if (ev.type === 'progress')
          set({ save: { ...get().save, progress: ev.total > 0 ? ev.done / ev.total : null } });
      },
      async (chunk) => {
        // Stops the save between chunks; the image stays open in the engine.
        if (get().saveCancelled) throw new DOMException('The save was cancelled.', 'AbortError');
        await sink.write(chunk);
      },
      // A download is kept on disk by the engine (OPFS) and handed over as a File.
      { keepFile: target.kind === 'download' },
    );
    const saved = await target.finish(target.kind === 'file' ? target.fileName : result.fileName, result.file);
    set({
      save: { status: 'done', stage: null, progress: 1, result, saved, failure: null },
      savedRevision: image!.revision,
    });
    if (saved.kind === 'download') startDownload(saved);
  } catch (err) {
    await target.abort();
    const f = toEngineError(err).toFailure();
    if (get().saveCancelled || f.code === 'aborted') set({ save: { ...idleSave(), status: 'cancelled' } });
    else set({ save: { ...idleSave(), status: 'failed', failure: fail(err) } });
  } finally {
    set({ busy: null });
  }
}

export function cancelSave(): void {
  set({ saveCancelled: true });
}

// ---- the tree view's controller -------------------------------------------------------

export const imageTreeController: TreeController = {
  useModel(): TreeViewModel {
    return {
      tree: useImage((s) => s.tree),
      version: useImage((s) => s.treeVersion),
      expanded: useImage((s) => s.expanded),
      selectedId: useImage((s) => s.selectedId),
      renamingId: useImage((s) => s.renamingId),
      message: useImage((s) => s.treeMessage),
      busy: useImage((s) => s.busy !== null || s.status !== 'open'),
    };
  },
  title: 'Image contents',
  emptyText: 'This folder of the image is empty. Add files, a folder or an archive, or drop them here.',
  showOwnerAndTime: true,
  totalsNote: 'in the folders opened so far',
  select: (id) => get().select(id),
  setExpanded,
  toggleExpanded: (id) => setExpanded(id, !get().expanded.has(id)),
  collapseAll: () => get().collapseAll(),
  startRename: (id) => {
    if (!get().busy) get().startRename(id);
  },
  cancelRename: () => get().cancelRename(),
  commitRename,
  deleteNode: deleteImageNode,
  moveNode,
  toggleExec: (id) => {
    const node = nodeOf(id);
    if (node?.entry.type !== 'file') return;
    chmodImageNode(id, toggleExecutable(node.entry.mode));
  },
  newFolder,
  drop: (items, at) => void dropIntoImage(items, at),
  folderNote: (node) => (node.image && !node.image.loaded ? (get().loading.has(node.id) ? 'loading…' : '') : undefined),
};
