/**
 * The page's state: inputs and their problems, the editable image tree, the closure, the
 * options, the size estimate and the build. One zustand store; components select what they
 * need. The tree is a mutable `FileTree`; `treeVersion` mirrors its version for React.
 */
import { create } from 'zustand';
import type { InputProblem, StorePathInfo, TreeEntry } from '../../core/image-tree.ts';
import type {
  BuildEvent,
  BuildFailure,
  BuildInput,
  BuildOptions,
  BuildResult,
  ResolvedInputs,
  SizeEstimate,
  StageName,
} from '../../core/engine-contract.ts';
import { DEFAULT_BUILD_OPTIONS, validateBuildOptions } from '../../core/build-options.ts';
import { engine, EngineError, toEngineError } from '../engine-client.ts';
import {
  type DroppedItem,
  folderPickerInputs,
  isArchiveName,
  looseFilesInput,
  placeEntries,
} from '../input/collect.ts';
import { formatCount, outputFileName, toggleExecutable } from '../lib/format.ts';
import {
  canPickFile,
  memoryTarget,
  pickFileTarget,
  release,
  type SavedOutput,
  type SaveTarget,
  startDownload,
} from '../save/save-target.ts';
import { type ConflictChoice, FileTree, type MergePlan } from './file-tree.ts';
import type { TreeController, TreeViewModel } from './tree-controller.ts';

// ---- types ----------------------------------------------------------------------------

export type InputKind = 'files' | 'folder' | 'archive' | 'closure';

export interface InputItem {
  id: number;
  kind: InputKind;
  /** What the person sees: a file or folder name, or "3 files". */
  label: string;
  /** File names in this input; problems name one of them in `problem.input`. */
  names: string[];
  /** Where in the image it goes. */
  at: string;
  status: 'resolving' | 'ready' | 'failed';
  entryCount: number;
  problems: InputProblem[];
  failure?: BuildFailure;
}

export const STAGES: readonly StageName[] = ['plan', 'mkfs', 'check', 'shrink', 'recheck', 'compress', 'save'];

export interface StageState {
  state: 'pending' | 'running' | 'done' | 'skipped' | 'failed';
  /** 0..1, or null when the stage reports no progress. */
  progress: number | null;
  /** `performance.now()` when it started (for a live clock). */
  startedAt: number | null;
  elapsedMs: number | null;
}

export interface LogChunk {
  stage: StageName;
  tool: string;
  stream: 'stdout' | 'stderr';
  text: string;
}

export interface BuildState {
  status: 'idle' | 'running' | 'done' | 'failed' | 'cancelled';
  stages: Record<StageName, StageState>;
  log: LogChunk[];
  /** Characters of log dropped from the front to keep memory bounded. */
  logDropped: number;
  startedAt: number | null;
  finishedAt: number | null;
  failure: BuildFailure | null;
  /** Warnings the engine reported while building. */
  problems: InputProblem[];
  saveKind: 'file' | 'download' | null;
}

export interface Estimate {
  state: 'idle' | 'pending' | 'ready' | 'error';
  value?: SizeEstimate;
  message?: string;
}

export interface ResultState {
  result: BuildResult;
  saved: SavedOutput;
}

export interface PendingMerge {
  label: string;
  plan: MergePlan;
}

export interface ArchivePrompt {
  files: File[];
  at: string;
}

export type SaveMode = 'file' | 'download';

export interface StudioState {
  inputs: InputItem[];
  tree: FileTree;
  treeVersion: number;
  expanded: ReadonlySet<number>;
  selectedId: number | null;
  renamingId: number | null;
  /** The last tree edit that could not be done, for a status line. */
  treeMessage: string | null;
  closure: StorePathInfo[];
  /** Merges waiting for the person to settle conflicts; the first one is shown. */
  pendingMerges: PendingMerge[];
  archivePrompt: ArchivePrompt | null;
  options: BuildOptions;
  estimate: Estimate;
  saveMode: SaveMode;
  build: BuildState;
  result: ResultState | null;
}

// ---- helpers --------------------------------------------------------------------------

function freshStages(): Record<StageName, StageState> {
  const s = {} as Record<StageName, StageState>;
  for (const name of STAGES) s[name] = { state: 'pending', progress: null, startedAt: null, elapsedMs: null };
  return s;
}

function idleBuild(): BuildState {
  return {
    status: 'idle',
    stages: freshStages(),
    log: [],
    logDropped: 0,
    startedAt: null,
    finishedAt: null,
    failure: null,
    problems: [],
    saveKind: null,
  };
}

const LOG_LIMIT_CHARS = 1_000_000;
/** Inputs resolved together as one closure, so a manifest meets the contents given alongside. */
const CLOSURE_GROUP = -1;

let nextInputId = 1;
let buildAbort: AbortController | null = null;

export const useStudio = create<StudioState>(() => ({
  inputs: [],
  tree: new FileTree(),
  treeVersion: 0,
  expanded: new Set<number>(),
  selectedId: null,
  renamingId: null,
  treeMessage: null,
  closure: [],
  pendingMerges: [],
  archivePrompt: null,
  options: { ...DEFAULT_BUILD_OPTIONS },
  estimate: { state: 'idle' },
  saveMode: canPickFile() ? 'file' : 'download',
  build: idleBuild(),
  result: null,
}));

const get = useStudio.getState;
const set = useStudio.setState;

function treeChanged(extra: Partial<StudioState> = {}): void {
  set({ treeVersion: get().tree.version, ...extra });
}

function patchInput(id: number, patch: Partial<InputItem>): void {
  set({ inputs: get().inputs.map((i) => (i.id === id ? { ...i, ...patch } : i)) });
}

/** Each input's names as a set (a folder has one per file: a lookup per problem must not scan them). */
const nameSets = new WeakMap<readonly string[], Set<string>>();
function nameSet(names: readonly string[]): Set<string> {
  let set = nameSets.get(names);
  if (!set) nameSets.set(names, (set = new Set(names)));
  return set;
}

/** True when a problem's `input` names this input item (one of its files, or its label). */
export function namesInput(item: InputItem, input: string): boolean {
  return input === item.label || nameSet(item.names).has(input);
}

/** Problems named by file, spread over the inputs they belong to. */
function problemsFor(item: InputItem, problems: readonly InputProblem[], only: boolean): InputProblem[] {
  return problems.filter((p) => only || namesInput(item, p.input));
}

// ---- inputs ---------------------------------------------------------------------------

function addInputItem(kind: InputKind, label: string, names: string[], at: string): InputItem {
  const item: InputItem = {
    id: nextInputId++,
    kind,
    label,
    names,
    at,
    status: 'resolving',
    entryCount: 0,
    problems: [],
  };
  set({ inputs: [...get().inputs, item] });
  return item;
}

/**
 * Cancelling a build ends the worker, and with it any input still being read: those are
 * read again on the fresh worker rather than failing.
 */
async function resolveWithRetry(inputs: BuildInput[]): Promise<ResolvedInputs> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await engine().resolveInputs(inputs);
    } catch (err) {
      if (attempt < 2 && toEngineError(err).aborted) continue;
      throw err;
    }
  }
}

/** Resolves one input through the engine and merges what it yields into the tree. */
async function resolveAndMerge(item: InputItem, input: BuildInput): Promise<void> {
  let resolved: ResolvedInputs;
  try {
    resolved = await resolveWithRetry([input]);
  } catch (err) {
    const e = toEngineError(err);
    patchInput(item.id, {
      status: 'failed',
      failure: e.toFailure(),
      problems:
        e.problems.length > 0
          ? e.problems
          : [
              {
                severity: 'error',
                code: e.code,
                input: item.label,
                message: e.message,
                hint: e.hint,
              },
            ],
    });
    return;
  }
  const problems = resolved.problems;
  const hasError = problems.some((p) => p.severity === 'error');
  patchInput(item.id, {
    status: hasError && resolved.entries.length === 0 ? 'failed' : 'ready',
    problems,
    entryCount: resolved.entries.length,
  });
  if (resolved.closure.length > 0) mergeClosureInfo(resolved.closure);
  queueMerge(item.label, get().tree.planMerge(resolved.entries, item.id));
}

function queueMerge(label: string, plan: MergePlan): void {
  if (plan.entries.length === 0) return;
  const queue = get().pendingMerges;
  if (plan.conflicts.length === 0 && queue.length === 0) {
    applyPlan(plan, new Map());
    return;
  }
  set({ pendingMerges: [...queue, { label, plan }] });
}

function applyPlan(
  plan: MergePlan,
  choices: ReadonlyMap<string, ConflictChoice>,
  fallback: ConflictChoice = 'replace',
): void {
  const { tree } = get();
  const firstLoad = tree.isEmpty;
  tree.applyMerge(plan, choices, fallback);
  const expanded = new Set(get().expanded);
  // Open the top folders of a first load, so people see what they added.
  if (firstLoad) for (const n of tree.sortedChildren(tree.root)) if (n.children && n.name !== 'nix') expanded.add(n.id);
  treeChanged({ expanded });
}

function mergeClosureInfo(paths: StorePathInfo[]): void {
  const byPath = new Map(get().closure.map((p) => [p.path, p]));
  for (const p of paths) byPath.set(p.path, p);
  set({ closure: [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : 1)) });
}

export function targetFolder(): string {
  const { tree, selectedId } = get();
  const node = selectedId === null ? undefined : tree.byIdOrUndefined(selectedId);
  if (!node) return '/';
  return tree.pathOf(node.children ? node : (node.parent ?? tree.root));
}

/** "Add files": each file placed in the target folder. */
export function addFiles(files: readonly File[], at = targetFolder()): Promise<void> {
  if (files.length === 0) return Promise.resolve();
  const label = files.length === 1 ? files[0].name : `${formatCount(files.length)} files`;
  const item = addInputItem(
    'files',
    label,
    files.map((f) => f.name),
    at,
  );
  return resolveAndMerge(item, looseFilesInput(files, at));
}

/** "Add folder": files of an `<input webkitdirectory>`. */
export async function addFolderFiles(files: readonly File[], at = targetFolder()): Promise<void> {
  const inputs = folderPickerInputs(files, at);
  await Promise.all(
    inputs.map((input) => {
      if (input.kind !== 'tree') return undefined;
      const top = input.entries[0]?.origin ?? 'folder';
      const names = [
        top,
        ...new Set(
          input.entries.filter((e) => e.type === 'file').map((e) => e.path.slice(e.path.lastIndexOf('/') + 1)),
        ),
      ];
      return resolveAndMerge(addInputItem('folder', top, names, at), input);
    }),
  );
}

/** A folder walked from a drop. */
function addWalkedFolder(name: string, entries: TreeEntry[], at: string): Promise<void> {
  const item = addInputItem(
    'folder',
    name,
    [name, ...entries.filter((e) => e.type === 'file').map((e) => e.path.slice(e.path.lastIndexOf('/') + 1))],
    at,
  );
  return resolveAndMerge(item, { kind: 'tree', at: '/', entries: placeEntries(entries, at) });
}

/** "Add archive": each tar extracted into the target folder. */
export async function addArchives(files: readonly File[], at = targetFolder()): Promise<void> {
  await Promise.all(
    files.map((file) => {
      const item = addInputItem('archive', file.name, [file.name], at);
      return resolveAndMerge(item, { kind: 'archive', at, file: { name: file.name, blob: file } });
    }),
  );
}

/** "Add closure": every closure file so far is resolved together (manifests meet contents). */
export async function addClosureFiles(files: readonly File[]): Promise<void> {
  if (files.length === 0) return;
  const added = files.map((f) => ({ file: f, item: addInputItem('closure', f.name, [f.name], '/nix/store') }));
  for (const a of added) closureFiles.push(a);
  await resolveClosure();
}

const closureFiles: Array<{ file: File; item: InputItem }> = [];
let closureRun = 0;

async function resolveClosure(): Promise<void> {
  const run = ++closureRun;
  const all = closureFiles.filter((c) => get().inputs.some((i) => i.id === c.item.id));
  for (const c of all) patchInput(c.item.id, { status: 'resolving' });
  let resolved: ResolvedInputs;
  try {
    resolved = await resolveWithRetry(all.map((c) => ({ kind: 'closure', file: { name: c.file.name, blob: c.file } })));
  } catch (err) {
    if (run !== closureRun) return;
    const e = toEngineError(err);
    for (const c of all) {
      const mine = problemsFor(c.item, e.problems, all.length === 1);
      patchInput(c.item.id, {
        status: 'failed',
        failure: e.toFailure(),
        problems:
          mine.length > 0
            ? mine
            : [{ severity: 'error', code: e.code, input: c.item.label, message: e.message, hint: e.hint }],
      });
    }
    return;
  }
  if (run !== closureRun) return;
  const perOrigin = new Map<string, number>();
  for (const e of resolved.entries) perOrigin.set(e.origin, (perOrigin.get(e.origin) ?? 0) + 1);
  for (const c of all) {
    const mine = problemsFor(c.item, resolved.problems, all.length === 1);
    patchInput(c.item.id, {
      status: mine.some((p) => p.severity === 'error') ? 'failed' : 'ready',
      problems: mine,
      entryCount: perOrigin.get(c.file.name) ?? 0,
    });
  }
  // Unclaimed problems (not naming one file) go to the first closure input.
  const claimed = new Set(all.flatMap((c) => problemsFor(c.item, resolved.problems, false)));
  const rest = resolved.problems.filter((p) => !claimed.has(p));
  if (rest.length > 0 && all.length > 1)
    patchInput(all[0].item.id, { problems: [...get().inputs.find((i) => i.id === all[0].item.id)!.problems, ...rest] });

  get().tree.removeInput(CLOSURE_GROUP);
  set({ closure: [...resolved.closure].sort((a, b) => (a.path < b.path ? -1 : 1)) });
  treeChanged();
  queueMerge(
    all.length === 1 ? all[0].item.label : 'the closure',
    get().tree.planMerge(resolved.entries, CLOSURE_GROUP),
  );
}

/** A drop onto the page or a folder: folders walk in, archives ask, files go in as they are. */
export async function addDropped(items: DroppedItem[], at: string): Promise<void> {
  const loose: File[] = [];
  const archives: File[] = [];
  const work: Promise<void>[] = [];
  for (const it of items) {
    if (it.kind === 'folder') work.push(addWalkedFolder(it.name, it.entries, at));
    else if (isArchiveName(it.file.name)) archives.push(it.file);
    else loose.push(it.file);
  }
  if (loose.length > 0) work.push(addFiles(loose, at));
  if (archives.length > 0) set({ archivePrompt: { files: archives, at } });
  await Promise.all(work);
}

/** The answer to "extract here or keep as one file?". */
export function answerArchivePrompt(choice: 'extract' | 'keep' | 'cancel'): Promise<void> {
  const prompt = get().archivePrompt;
  set({ archivePrompt: null });
  if (!prompt || choice === 'cancel') return Promise.resolve();
  return choice === 'extract' ? addArchives(prompt.files, prompt.at) : addFiles(prompt.files, prompt.at);
}

/** Settles the first pending merge's conflicts. */
export function settleConflicts(choices: ReadonlyMap<string, ConflictChoice>, fallback: ConflictChoice): void {
  const [head, ...rest] = get().pendingMerges;
  if (!head) return;
  set({ pendingMerges: rest });
  applyPlan(head.plan, choices, fallback);
  // Later merges were planned against an older tree: plan them again.
  const again = rest.map((m) => ({ label: m.label, plan: get().tree.planMerge(m.plan.entries, m.plan.inputId) }));
  set({ pendingMerges: [] });
  for (const m of again) queueMerge(m.label, m.plan);
}

export function removeInput(id: number): void {
  const item = get().inputs.find((i) => i.id === id);
  if (!item) return;
  set({
    inputs: get().inputs.filter((i) => i.id !== id),
    pendingMerges: get().pendingMerges.filter((m) => m.plan.inputId !== id),
  });
  if (item.kind === 'closure') {
    const idx = closureFiles.findIndex((c) => c.item.id === id);
    if (idx >= 0) closureFiles.splice(idx, 1);
    if (closureFiles.length === 0) {
      closureRun++;
      get().tree.removeInput(CLOSURE_GROUP);
      set({ closure: [] });
      treeChanged();
    } else {
      void resolveClosure();
    }
    return;
  }
  get().tree.removeInput(id);
  treeChanged();
}

/** Empties everything (inputs, tree, closure, result). */
export function clearAll(): void {
  closureFiles.length = 0;
  closureRun++;
  release(get().result?.saved);
  set({
    inputs: [],
    tree: new FileTree(),
    treeVersion: 0,
    expanded: new Set(),
    selectedId: null,
    renamingId: null,
    treeMessage: null,
    closure: [],
    pendingMerges: [],
    archivePrompt: null,
    result: null,
    estimate: { state: 'idle' },
    build: get().build.status === 'running' ? get().build : idleBuild(),
  });
}

/** Adds entries straight to the tree (what a resolved input does), e.g. generated trees. */
export function mergeEntries(entries: TreeEntry[], label = 'entries'): void {
  const item = addInputItem('files', label, [label], '/');
  patchInput(item.id, { status: 'ready', entryCount: entries.length });
  queueMerge(label, get().tree.planMerge(entries, item.id));
}

// ---- tree edits -----------------------------------------------------------------------

function nodeOf(id: number) {
  return get().tree.byIdOrUndefined(id);
}

export function select(id: number | null): void {
  if (get().selectedId !== id) set({ selectedId: id });
}

export function setExpanded(id: number, open: boolean): void {
  const cur = get().expanded;
  if (cur.has(id) === open) return;
  const next = new Set(cur);
  if (open) next.add(id);
  else next.delete(id);
  set({ expanded: next });
}

export function toggleExpanded(id: number): void {
  setExpanded(id, !get().expanded.has(id));
}

export function collapseAll(): void {
  set({ expanded: new Set() });
}

export function startRename(id: number): void {
  set({ renamingId: id, selectedId: id, treeMessage: null });
}

export function cancelRename(): void {
  set({ renamingId: null });
}

/** Renames; returns the reason when it cannot (and keeps the editor open). */
export function commitRename(id: number, name: string): string | undefined {
  const node = nodeOf(id);
  if (!node) {
    set({ renamingId: null });
    return undefined;
  }
  const why = get().tree.rename(node, name);
  if (why) {
    set({ treeMessage: why });
    return why;
  }
  treeChanged({ renamingId: null, treeMessage: null });
  return undefined;
}

export function deleteNode(id: number): void {
  const { tree } = get();
  const node = nodeOf(id);
  if (!node || node === tree.root) return;
  // Select a neighbour so keyboard users keep their place.
  const rows = tree.visibleRows(get().expanded);
  const idx = rows.findIndex((r) => r.node === node);
  tree.remove(node);
  let next: number | null = null;
  for (let i = idx + 1; i < rows.length; i++)
    if (!tree.isWithin(rows[i].node, node)) {
      next = rows[i].node.id;
      break;
    }
  if (next === null && idx > 0) next = rows[idx - 1].node.id;
  treeChanged({ selectedId: next, renamingId: null, treeMessage: `Deleted ${node.name}.` });
}

/** Moves a node into a folder (drag and drop). */
export function moveNode(id: number, intoId: number | 'root'): string | undefined {
  const { tree } = get();
  const node = nodeOf(id);
  const into = intoId === 'root' ? tree.root : nodeOf(intoId);
  if (!node || !into) return undefined;
  const why = tree.move(node, into);
  if (why) {
    set({ treeMessage: why });
    return why;
  }
  const expanded = new Set(get().expanded);
  if (into !== tree.root) expanded.add(into.id);
  treeChanged({ expanded, selectedId: node.id, treeMessage: `Moved ${node.name} to ${tree.pathOf(into)}.` });
  return undefined;
}

/** Creates a folder in the selected folder (or the selected file's folder) and starts renaming it. */
export function newFolder(): void {
  const { tree } = get();
  const sel = get().selectedId === null ? undefined : nodeOf(get().selectedId!);
  const dir = sel ? (sel.children ? sel : (sel.parent ?? tree.root)) : tree.root;
  const node = tree.createFolder(dir);
  const expanded = new Set(get().expanded);
  if (dir !== tree.root) expanded.add(dir.id);
  treeChanged({ expanded, selectedId: node.id, renamingId: node.id, treeMessage: null });
}

export function setMode(id: number, mode: number): void {
  const node = nodeOf(id);
  if (!node) return;
  get().tree.setMode(node, mode);
  treeChanged();
}

export function toggleExec(id: number): void {
  const node = nodeOf(id);
  if (!node || node.entry.type === 'symlink') return;
  setMode(id, toggleExecutable(node.entry.mode));
}

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
      busy: useStudio((s) => s.build.status === 'running'),
    };
  },
  title: 'Image contents',
  emptyText: 'The image is empty. Add files, a folder, an archive or a closure, or drop them here.',
  select,
  setExpanded,
  toggleExpanded,
  collapseAll,
  startRename,
  cancelRename,
  commitRename,
  deleteNode,
  moveNode,
  toggleExec,
  newFolder,
  clearAll,
  drop: (items, at) => void addDropped(items, at),
};

// ---- options --------------------------------------------------------------------------

export function setOption<K extends keyof BuildOptions>(key: K, value: BuildOptions[K]): void {
  set({ options: { ...get().options, [key]: value } });
}

export function randomUuid(): void {
  setOption('uuid', crypto.randomUUID());
}

export function resetOptions(): void {
  set({ options: { ...DEFAULT_BUILD_OPTIONS } });
}

export function setSaveMode(mode: SaveMode): void {
  set({ saveMode: mode });
}

// ---- build ----------------------------------------------------------------------------

/** Why a build cannot start now, or undefined. */
export function buildBlocker(s: StudioState = get()): string | undefined {
  if (s.build.status === 'running') return 'A build is running.';
  if (s.tree.isEmpty && s.closure.length === 0) return 'Add files, a folder, an archive or a closure first.';
  if (s.inputs.some((i) => i.status === 'resolving')) return 'Still reading the inputs…';
  if (s.pendingMerges.length > 0) return 'Decide the conflicts first.';
  const bad = s.inputs.find((i) => i.status === 'failed' || i.problems.some((p) => p.severity === 'error'));
  if (bad) return `Fix or remove ${bad.label} first (see its problems above).`;
  const invalid = validateBuildOptions(s.options);
  if (invalid) return invalid.charAt(0).toUpperCase() + invalid.slice(1);
  return undefined;
}

/**
 * Builds the image. Call it straight from the click: when saving to a file, the file
 * picker needs the click's user activation.
 */
export async function startBuild(): Promise<void> {
  if (buildBlocker()) return;
  const { options, saveMode } = get();
  const fileName = outputFileName(options.label, options.compress);

  let target: SaveTarget | null;
  if (saveMode === 'file' && canPickFile()) {
    try {
      target = await pickFileTarget(fileName);
    } catch (err) {
      failBuild({
        code: 'internal',
        message: `Could not open the file to save to: ${err instanceof Error ? err.message : String(err)}`,
        hint: 'Choose "Download" instead, or pick another place.',
        problems: [],
      });
      return;
    }
    if (!target) return; // the person closed the picker
  } else {
    target = memoryTarget(fileName);
  }

  release(get().result?.saved);
  const controller = new AbortController();
  buildAbort = controller;
  set({
    build: { ...idleBuild(), status: 'running', startedAt: performance.now(), saveKind: target.kind },
    result: null,
  });

  const { tree, closure } = get();
  const request = { entries: tree.toEntries(), closure, options: { ...options } };
  const events = new EventBuffer();
  const sinkTarget = target;
  try {
    const result = await engine().build(
      request,
      (ev) => events.push(ev),
      (chunk) => sinkTarget.write(chunk),
      { signal: controller.signal },
    );
    events.flush();
    const saved = await target.finish(target.kind === 'file' ? target.fileName : result.fileName);
    const b = get().build;
    set({
      build: { ...b, status: 'done', finishedAt: performance.now(), stages: finishStages(b.stages) },
      result: { result, saved },
    });
    if (saved.kind === 'download') startDownload(saved);
  } catch (err) {
    events.flush();
    await target.abort();
    const e = toEngineError(err);
    if (e.aborted) {
      const b = get().build;
      set({
        build: { ...b, status: 'cancelled', finishedAt: performance.now(), stages: failStages(b.stages, 'pending') },
      });
    } else {
      failBuild(e.toFailure());
    }
  } finally {
    events.dispose();
    if (buildAbort === controller) buildAbort = null;
  }
}

function failBuild(failure: BuildFailure): void {
  const b = get().build;
  set({
    build: { ...b, status: 'failed', finishedAt: performance.now(), failure, stages: failStages(b.stages, 'failed') },
  });
}

function finishStages(stages: Record<StageName, StageState>): Record<StageName, StageState> {
  const out = { ...stages };
  for (const name of STAGES) {
    const s = out[name];
    if (s.state === 'running')
      out[name] = {
        ...s,
        state: 'done',
        progress: 1,
        elapsedMs: s.elapsedMs ?? (s.startedAt ? performance.now() - s.startedAt : null),
      };
  }
  return out;
}

function failStages(
  stages: Record<StageName, StageState>,
  running: StageState['state'],
): Record<StageName, StageState> {
  const out = { ...stages };
  for (const name of STAGES) {
    const s = out[name];
    if (s.state === 'running')
      out[name] = { ...s, state: running, elapsedMs: s.startedAt ? performance.now() - s.startedAt : null };
  }
  return out;
}

export function cancelBuild(): void {
  buildAbort?.abort();
}

/** Starts the download of the last result again. */
export function downloadAgain(): void {
  const saved = get().result?.saved;
  if (saved) startDownload(saved);
}

/**
 * Build events can come by the thousand (progress, tool output); they are applied to the
 * store in batches so the page stays responsive.
 */
class EventBuffer {
  private queue: BuildEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;

  push(ev: BuildEvent): void {
    this.queue.push(ev);
    this.timer ??= setTimeout(() => this.flush(), 50);
  }

  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.queue.length === 0) return;
    const events = this.queue;
    this.queue = [];
    set({ build: applyEvents(get().build, events) });
  }

  dispose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.queue = [];
  }
}

export function applyEvents(build: BuildState, events: readonly BuildEvent[]): BuildState {
  const stages = { ...build.stages };
  let log = build.log;
  let logDropped = build.logDropped;
  let problems = build.problems;
  const now = performance.now();
  for (const ev of events) {
    switch (ev.type) {
      case 'stage': {
        const s = stages[ev.stage];
        if (!s) break;
        if (ev.state === 'start')
          stages[ev.stage] = { state: 'running', progress: s.progress, startedAt: now, elapsedMs: null };
        else if (ev.state === 'done') stages[ev.stage] = { ...s, state: 'done', progress: 1, elapsedMs: ev.elapsedMs };
        else stages[ev.stage] = { ...s, state: 'skipped', progress: null, elapsedMs: null };
        break;
      }
      case 'progress': {
        const s = stages[ev.stage];
        if (!s) break;
        const progress = ev.total > 0 ? Math.min(1, Math.max(0, ev.done / ev.total)) : null;
        stages[ev.stage] = {
          ...s,
          progress,
          state: s.state === 'pending' ? 'running' : s.state,
          startedAt: s.startedAt ?? now,
        };
        break;
      }
      case 'log': {
        // Tools print line by line; a chunk without a line end is one line.
        const text = ev.text.endsWith('\n') ? ev.text : `${ev.text}\n`;
        if (log === build.log) log = [...log];
        const last = log[log.length - 1];
        if (last && last.stage === ev.stage && last.tool === ev.tool && last.stream === ev.stream) {
          log[log.length - 1] = { ...last, text: last.text + text };
        } else {
          log.push({ stage: ev.stage, tool: ev.tool, stream: ev.stream, text });
        }
        break;
      }
      case 'problem':
        problems = [...problems, ev.problem];
        break;
    }
  }
  if (log !== build.log) {
    let total = 0;
    for (const c of log) total += c.text.length;
    while (total > LOG_LIMIT_CHARS && log.length > 1) {
      const c = log.shift()!;
      total -= c.text.length;
      logDropped += c.text.length;
    }
  }
  return { ...build, stages, log, logDropped, problems };
}

// ---- estimate -------------------------------------------------------------------------

let estimateTimer: ReturnType<typeof setTimeout> | null = null;
let estimateRun = 0;

/** Keeps `estimate` in step with the tree and options (debounced, stale answers dropped). */
export function startEstimates(delayMs = 400): () => void {
  const unsubscribe = useStudio.subscribe((s, prev) => {
    if (
      s.treeVersion === prev.treeVersion &&
      s.options === prev.options &&
      s.closure === prev.closure &&
      !(prev.build.status === 'running' && s.build.status !== 'running')
    )
      return;
    schedule();
  });
  function schedule() {
    if (estimateTimer !== null) clearTimeout(estimateTimer);
    const run = ++estimateRun;
    const s = get();
    if (s.tree.isEmpty && s.closure.length === 0) {
      set({ estimate: { state: 'idle' } });
      return;
    }
    if (validateBuildOptions(s.options)) return;
    set({ estimate: { ...s.estimate, state: 'pending' } });
    estimateTimer = setTimeout(async () => {
      estimateTimer = null;
      const now = get();
      if (now.build.status === 'running') return; // the engine is busy; estimate again afterwards
      try {
        const value = await engine().estimate({
          entries: now.tree.toEntries(),
          closure: now.closure,
          options: { ...now.options },
        });
        if (run === estimateRun) set({ estimate: { state: 'ready', value } });
      } catch (err) {
        if (run !== estimateRun) return;
        const e = err instanceof EngineError ? err : toEngineError(err);
        if (e.aborted) return;
        set({ estimate: { state: 'error', message: e.message } });
      }
    }, delayMs);
  }
  return () => {
    unsubscribe();
    if (estimateTimer !== null) clearTimeout(estimateTimer);
  };
}
