/**
 * The inputs slice: what the person added (files, folders, archives, closure files), where each
 * goes, what the engine made of it, the closure, conflicts waiting for a decision and the
 * "extract this archive?" question. Every input is resolved by the engine and merged into the
 * tree as one undoable step.
 */
import type { StateCreator } from 'zustand';
import type { InputProblem, StorePathInfo, TreeEntry } from '../../core/image-tree.ts';
import type { BuildFailure, BuildInput, ResolvedInputs } from '../../core/engine-contract.ts';
import { engine, type PageInput, toEngineError } from '../engine-client.ts';
import {
  type DroppedItem,
  groupPickedFolders,
  isArchiveName,
  looseFilesInput,
  placeEntries,
} from '../input/collect.ts';
import { formatCount } from '../lib/format.ts';
import { runInSteps, yieldToPage } from '../lib/yield-to-page.ts';
import { joinImagePath } from '../../core/image-path.ts';
import { spoolSession } from './cache-fetch.ts';
import { type ConflictChoice, FileTree, type MergePlan } from './file-tree.ts';
import { destinationProblem } from './slice-tree.ts';
import type { StudioState } from './store.ts';

export type InputKind = 'files' | 'folder' | 'archive' | 'closure';

/** What a folder picker could not pass on, said on the folder's row. */
export interface FolderLosses {
  /** Files that came in with mode 0644 (browsers pass no modes). */
  files: number;
  /** Of those, the ones that look like programs (ELF, or starting with "#!"), by image path. */
  programs: string[];
  /** Whether the browser's picker (which leaves out empty folders and links) gave the folder. */
  fromPicker: boolean;
}

export interface InputItem {
  id: number;
  kind: InputKind;
  /** What the person sees: a file or folder name, or "3 files". */
  label: string;
  /** The engine's name for this input (`origin` of its entries), e.g. the file name. */
  origin: string;
  /** File names in this input; problems name one of them in `problem.input`. */
  names: string[];
  /** The folder it goes into. */
  at: string;
  /** Folders: the name the folder gets inside `at`. */
  top?: string;
  status: 'resolving' | 'ready' | 'failed';
  /** Entries the engine made of it. */
  entryCount: number;
  /** Its nodes in the tree right after it was merged (rows compare the tree with this). */
  placed?: number;
  problems: InputProblem[];
  failure?: BuildFailure;
  /** The engine input for a destination (undefined: the destination cannot change, as for closures). */
  request?: (at: string) => PageInput;
  /** Puts store paths under /nix/store: resolved with the closure when there is one. */
  storeContents?: boolean;
  losses?: FolderLosses;
}

export interface PendingMerge {
  label: string;
  plan: MergePlan;
}

export interface ArchivePrompt {
  files: File[];
  at: string;
}

export interface InputsSlice {
  inputs: InputItem[];
  /** Where the "Add …" buttons put things (changed by the person, never by the selection). */
  destination: string;
  closure: StorePathInfo[];
  /** Merges waiting for the person to settle conflicts; the first one is shown. */
  pendingMerges: PendingMerge[];
  archivePrompt: ArchivePrompt | null;
  nextInputId: number;
  /** Merges into the tree under way (made in steps, one after another); builds wait for them. */
  merging: number;
  /** Counts closure resolutions, so a stale answer is dropped. */
  closureRun: number;
  /** Closure files by input id (resolved together, so manifests meet their contents). */
  closureFiles: ReadonlyMap<number, File>;

  setDestination(path: string): string | undefined;
  addFiles(files: readonly File[], at?: string): Promise<void>;
  addFolderFiles(files: readonly File[], at?: string): Promise<void>;
  addArchives(files: readonly File[], at?: string): Promise<void>;
  addClosureFiles(files: readonly File[]): Promise<void>;
  addDropped(items: DroppedItem[], at: string): Promise<void>;
  answerArchivePrompt(choice: 'extract' | 'keep' | 'cancel'): Promise<void>;
  settleConflicts(choices: ReadonlyMap<string, ConflictChoice>, fallback: ConflictChoice): Promise<void>;
  /** Moves an input: its entries leave the tree and come back at `at`. Returns why not. */
  moveInput(id: number, at: string): string | undefined;
  removeInput(id: number): void;
  /** Replaces a folder input with a tar of the same folder (which keeps modes and links). */
  replaceWithArchive(id: number, file: File): Promise<void>;
  /** Adds entries straight to the tree (what a resolved input does), e.g. generated trees. */
  mergeEntries(entries: TreeEntry[], label?: string): void;
  clearAll(): void;
}

/** Tree nodes of inputs resolved together as one closure. */
export const CLOSURE_GROUP = -1;

/** Where the engine spools what an input's compressed archives expand to (see `releaseContents`). */
const contentsId = (inputId: number) => `input-${inputId}`;
const CLOSURE_CONTENTS = 'closure';

/** Removes spooled contents no input needs any more (the whole session's without `id`). */
function releaseContents(id?: string): void {
  void engine()
    .releaseContents(spoolSession(), id)
    .catch(() => {});
}

const STORE_PATH_RE = /^\/nix\/store\/[0-9a-df-np-sv-z]{32}-[^/]+/;

/** Each input's names as a set (a folder has one per file: a lookup per problem must not scan them). */
const nameSets = new WeakMap<readonly string[], Set<string>>();
function nameSet(names: readonly string[]): Set<string> {
  let set = nameSets.get(names);
  if (!set) nameSets.set(names, (set = new Set(names)));
  return set;
}

/** True when a problem's `input` names this input item (one of its files, its label or origin). */
export function namesInput(item: InputItem, input: string): boolean {
  return input === item.label || input === item.origin || nameSet(item.names).has(input);
}

/** Problems named by file, spread over the inputs they belong to. */
function problemsFor(item: InputItem, problems: readonly InputProblem[], only: boolean): InputProblem[] {
  return problems.filter((p) => only || namesInput(item, p.input));
}

/**
 * Cancelling a build ends the worker, and with it any input still being read: those are
 * read again on the fresh worker rather than failing.
 */
async function resolveWithRetry(inputs: PageInput[], contents: string): Promise<ResolvedInputs> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await engine().resolveInPieces(inputs, { contents: { session: spoolSession(), input: contents } });
    } catch (err) {
      if (attempt < 2 && toEngineError(err).aborted) continue;
      throw err;
    }
  }
}

/** How many of the first files to look into for programs that lost their executable bit. */
const PROGRAM_SNIFF_LIMIT = 5000;

/** Paths of files that start like programs (ELF or "#!"), among the first {@link PROGRAM_SNIFF_LIMIT}. */
async function programsAmong(files: Iterable<{ path: string; blob: Blob }>): Promise<string[]> {
  const out: string[] = [];
  let seen = 0;
  for (const { path, blob } of files) {
    if (++seen > PROGRAM_SNIFF_LIMIT) break;
    // One file per task: in Chromium a picked File's size is a call to the browser.
    const head = new Uint8Array(await blob.slice(0, 4).arrayBuffer());
    if (head.length < 2) continue;
    const elf = head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
    if (elf || (head[0] === 0x23 && head[1] === 0x21)) out.push(path);
  }
  return out.sort();
}

/** The files of an entry list with a readable source, for {@link programsAmong}. */
function* blobFiles(entries: readonly TreeEntry[]): Generator<{ path: string; blob: Blob }> {
  for (const e of entries)
    if (e.type === 'file' && e.source?.kind === 'blob' && e.size >= 2) yield { path: e.path, blob: e.source.blob };
}

/** Entries checked or merged per step before the page gets a turn (a few ms each). */
const MERGE_STEP = 2000;
const PLAN_STEP = 10000;
/** Inputs of more nodes than this are taken out of the tree in steps. */
const LARGE_INPUT = 20000;

/** True when an entry list puts something under /nix/store/<hash>-<name>. */
function holdsStorePaths(entries: readonly TreeEntry[]): boolean {
  for (const e of entries) if (e.path.startsWith('/nix/store/') && STORE_PATH_RE.test(e.path)) return true;
  return false;
}

export const createInputsSlice: StateCreator<StudioState, [], [], InputsSlice> = (set, get) => {
  /** Merges run one after another, each in steps. */
  let mergeChain: Promise<void> = Promise.resolve();
  const patchInput = (id: number, patch: Partial<InputItem>): void => {
    set({ inputs: get().inputs.map((i) => (i.id === id ? { ...i, ...patch } : i)) });
  };

  const addInputItem = (fields: Omit<InputItem, 'id' | 'status' | 'entryCount' | 'problems'>): InputItem => {
    const item: InputItem = { id: get().nextInputId, status: 'resolving', entryCount: 0, problems: [], ...fields };
    set({ inputs: [...get().inputs, item], nextInputId: item.id + 1 });
    return item;
  };

  const failInput = (item: InputItem, err: unknown): void => {
    const e = toEngineError(err);
    patchInput(item.id, {
      status: 'failed',
      failure: e.toFailure(),
      problems:
        e.problems.length > 0
          ? e.problems
          : [{ severity: 'error', code: e.code, input: item.label, message: e.message, hint: e.hint }],
    });
  };

  /** What follows a merge: input rows learn what of theirs is in the tree; a first load opens its folders. */
  const afterMerge = (plan: MergePlan, firstLoad: boolean): void => {
    const { tree } = get();
    const counts = tree.inputCounts;
    const closureIds = new Set(
      get()
        .inputs.filter((i) => i.kind === 'closure' || i.storeContents)
        .map((i) => i.id),
    );
    set({
      inputs: get().inputs.map((i) => {
        if (plan.inputId === CLOSURE_GROUP && closureIds.has(i.id))
          return { ...i, placed: counts.get(`closure:${i.origin}`) ?? 0 };
        return i.id === plan.inputId ? { ...i, placed: counts.get(i.id) ?? 0 } : i;
      }),
    });
    // Open the top folders of a first load, so people see what they added.
    if (firstLoad) {
      const expanded = new Set(get().expanded);
      for (const n of tree.sortedChildren(tree.root)) if (n.children && n.name !== 'nix') expanded.add(n.id);
      set({ expanded });
    }
  };

  /** Applies a plan in steps, the page getting its turn in between. */
  const applyPlan = async (
    label: string,
    plan: MergePlan,
    choices: ReadonlyMap<string, ConflictChoice>,
    fallback: ConflictChoice = 'replace',
  ): Promise<void> => {
    const { tree } = get();
    const firstLoad = tree.isEmpty;
    await get().editTreeInSteps(`add ${label}`, tree.mergeSteps(plan, choices, fallback, MERGE_STEP));
    // The tree's render and the input rows' in separate tasks.
    await yieldToPage();
    if (get().tree === tree) afterMerge(plan, firstLoad);
  };

  /** Runs `work` after the merges before it, counted in `merging` until it ends. */
  const inMergeOrder = (work: () => Promise<void>): Promise<void> => {
    set({ merging: get().merging + 1 });
    const run = mergeChain.then(work).finally(() => set({ merging: get().merging - 1 }));
    mergeChain = run.catch(() => {});
    return run;
  };

  /**
   * Plans a merge of `entries` (in steps) and applies it at once when nothing conflicts,
   * or queues it for the person. `normalized`: the engine's lists, parents first.
   */
  const mergeResolved = (label: string, entries: TreeEntry[], inputId: number, normalized: boolean): Promise<void> =>
    inMergeOrder(async () => {
      if (entries.length === 0) return;
      const plan = await runInSteps(get().tree.planSteps(entries, inputId, normalized, PLAN_STEP));
      const queue = get().pendingMerges;
      if (plan.conflicts.length === 0 && queue.length === 0) {
        await applyPlan(label, plan, new Map());
        return;
      }
      set({ pendingMerges: [...queue, { label, plan }] });
    });

  /**
   * Takes an input's nodes out of the tree as one undoable step: at once, or for a large
   * input in steps (after the merges before it), the page getting its turn in between.
   */
  const takeOut = (item: InputItem, label: string): void => {
    if ((item.placed ?? item.entryCount) <= LARGE_INPUT) {
      get().editTree(label, (t) => t.removeInput(item.id));
      return;
    }
    void inMergeOrder(async () => {
      await get().editTreeInSteps(label, get().tree.removeInputSteps(item.id, MERGE_STEP));
    });
  };

  const hasClosureFiles = () => get().inputs.some((i) => i.kind === 'closure');

  /** Resolves one input and merges what it yields (store contents wait for the closure). */
  const resolveAndMerge = async (
    item: InputItem,
    input: PageInput,
    onResolved?: (entries: readonly TreeEntry[]) => void,
  ): Promise<void> => {
    let resolved: ResolvedInputs;
    try {
      resolved = await resolveWithRetry([input], contentsId(item.id));
    } catch (err) {
      failInput(item, err);
      return;
    }
    if (!get().inputs.some((i) => i.id === item.id)) return; // removed meanwhile
    onResolved?.(resolved.entries);
    const problems = resolved.problems;
    const hasError = problems.some((p) => p.severity === 'error');
    const storeContents = holdsStorePaths(resolved.entries);
    patchInput(item.id, {
      status: hasError && resolved.entries.length === 0 ? 'failed' : 'ready',
      problems,
      entryCount: resolved.entries.length,
      storeContents,
    });
    if (storeContents && hasClosureFiles()) {
      await resolveClosure();
      return;
    }
    await mergeResolved(item.label, resolved.entries, item.id, true);
  };

  /** Every closure file and every input holding store paths, resolved together. */
  const resolveClosure = async (): Promise<void> => {
    const run = get().closureRun + 1;
    set({ closureRun: run });
    const files = get().closureFiles;
    const group = get().inputs.filter(
      (i) => (i.kind === 'closure' && files.has(i.id)) || (i.storeContents && i.request),
    );
    const requests = group.map(
      (i): PageInput =>
        i.kind === 'closure' ? { kind: 'closure', file: { name: i.origin, blob: files.get(i.id)! } } : i.request!(i.at),
    );
    for (const c of group) if (c.kind === 'closure') patchInput(c.id, { status: 'resolving' });
    let resolved: ResolvedInputs;
    try {
      resolved = await resolveWithRetry(requests, CLOSURE_CONTENTS);
    } catch (err) {
      if (run !== get().closureRun) return;
      const e = toEngineError(err);
      for (const c of group) {
        if (c.kind !== 'closure') continue;
        const mine = problemsFor(c, e.problems, group.length === 1);
        patchInput(c.id, {
          status: 'failed',
          failure: e.toFailure(),
          problems:
            mine.length > 0
              ? mine
              : [{ severity: 'error', code: e.code, input: c.label, message: e.message, hint: e.hint }],
        });
      }
      return;
    }
    if (run !== get().closureRun) return;
    const perOrigin = new Map<string, number>();
    for (const e of resolved.entries) perOrigin.set(e.origin, (perOrigin.get(e.origin) ?? 0) + 1);
    for (const c of group) {
      const mine = problemsFor(c, resolved.problems, group.length === 1);
      patchInput(c.id, {
        status: mine.some((p) => p.severity === 'error') ? 'failed' : 'ready',
        problems: mine,
        entryCount: perOrigin.get(c.origin) ?? 0,
      });
    }
    // Unclaimed problems (not naming one file) go to the first closure input.
    const claimed = new Set(group.flatMap((c) => problemsFor(c, resolved.problems, false)));
    const rest = resolved.problems.filter((p) => !claimed.has(p));
    const first = group.find((c) => c.kind === 'closure');
    if (rest.length > 0 && group.length > 1 && first)
      patchInput(first.id, { problems: [...get().inputs.find((i) => i.id === first.id)!.problems, ...rest] });

    get().editTree('read the closure again', (t) => {
      t.removeInput(CLOSURE_GROUP);
      for (const c of group) if (c.kind !== 'closure') t.removeInput(c.id);
    });
    set({ closure: [...resolved.closure].sort((a, b) => (a.path < b.path ? -1 : 1)) });
    await mergeResolved(group.length === 1 ? group[0].label : 'the closure', resolved.entries, CLOSURE_GROUP, true);
  };

  const addWalkedFolder = (name: string, entries: TreeEntry[], at: string): Promise<void> => {
    const request = (to: string): BuildInput => ({ kind: 'tree', at: '/', entries: placeEntries(entries, to) });
    const item = addInputItem({
      kind: 'folder',
      label: name,
      origin: name,
      top: name,
      names: [name, ...entries.filter((e) => e.type === 'file').map((e) => e.path.slice(e.path.lastIndexOf('/') + 1))],
      at,
      request,
    });
    void programsAmong(blobFiles(entries)).then((programs) =>
      patchInput(item.id, {
        losses: {
          files: entries.filter((e) => e.type === 'file').length,
          programs: placedPaths(programs, at),
          fromPicker: false,
        },
      }),
    );
    return resolveAndMerge(item, request(at));
  };

  /** Entry paths rooted at `/<folder>` as they land under `at`. */
  const placedPaths = (paths: string[], at: string) => (at === '/' ? paths : paths.map((p) => at + p));

  return {
    inputs: [],
    destination: '/',
    closure: [],
    pendingMerges: [],
    archivePrompt: null,
    nextInputId: 1,
    merging: 0,
    closureRun: 0,
    closureFiles: new Map(),

    setDestination(path) {
      const why = destinationProblem(path);
      if (!why) set({ destination: path });
      return why;
    },

    addFiles(files, at = get().destination) {
      if (files.length === 0) return Promise.resolve();
      const label = files.length === 1 ? files[0].name : `${formatCount(files.length)} files`;
      const request = (to: string) => looseFilesInput(files, to);
      const item = addInputItem({
        kind: 'files',
        label,
        origin: files[0].name,
        names: files.map((f) => f.name),
        at,
        request,
      });
      return resolveAndMerge(item, request(at));
    },

    async addFolderFiles(files, at = get().destination) {
      // One input per top folder: each is the folder itself, placed in `at`.
      const byTop = await groupPickedFolders(files);
      await Promise.all(
        [...byTop].map(([top, list]) => {
          // Sizes and times are read by the engine: in Chromium each costs a call to the browser.
          const request = (to: string): PageInput => ({ kind: 'picked-files', at: to, origin: top, files: list });
          const names = new Set<string>([top]);
          for (const p of list) names.add(p.path.slice(p.path.lastIndexOf('/') + 1));
          const item = addInputItem({
            kind: 'folder',
            label: top,
            origin: top,
            top,
            names: [...names],
            at,
            request,
          });
          // Looked into once the engine has read the Files: their sizes are known by then, so
          // reading their first bytes asks the browser nothing more.
          return resolveAndMerge(item, request(at), (entries) => {
            void programsAmong(blobFiles(entries)).then((programs) =>
              patchInput(item.id, { losses: { files: list.length, programs, fromPicker: true } }),
            );
          });
        }),
      );
    },

    async addArchives(files, at = get().destination) {
      await Promise.all(
        files.map((file) => {
          const request = (to: string): BuildInput => ({
            kind: 'archive',
            at: to,
            file: { name: file.name, blob: file },
          });
          const item = addInputItem({
            kind: 'archive',
            label: file.name,
            origin: file.name,
            names: [file.name],
            at,
            request,
          });
          return resolveAndMerge(item, request(at));
        }),
      );
    },

    async addClosureFiles(files) {
      if (files.length === 0) return;
      const map = new Map(get().closureFiles);
      for (const f of files) {
        const item = addInputItem({
          kind: 'closure',
          label: f.name,
          origin: f.name,
          names: [f.name],
          at: '/nix/store',
        });
        map.set(item.id, f);
      }
      set({ closureFiles: map });
      await resolveClosure();
    },

    async addDropped(items, at) {
      const loose: File[] = [];
      const archives: File[] = [];
      const work: Promise<void>[] = [];
      for (const it of items) {
        if (it.kind === 'folder') work.push(addWalkedFolder(it.name, it.entries, at));
        else if (isArchiveName(it.file.name)) archives.push(it.file);
        else loose.push(it.file);
      }
      if (loose.length > 0) work.push(get().addFiles(loose, at));
      if (archives.length > 0) set({ archivePrompt: { files: archives, at } });
      await Promise.all(work);
    },

    answerArchivePrompt(choice) {
      const prompt = get().archivePrompt;
      set({ archivePrompt: null });
      if (!prompt || choice === 'cancel') return Promise.resolve();
      return choice === 'extract'
        ? get().addArchives(prompt.files, prompt.at)
        : get().addFiles(prompt.files, prompt.at);
    },

    settleConflicts(choices, fallback) {
      const [head, ...rest] = get().pendingMerges;
      if (!head) return Promise.resolve();
      // Later merges were planned against an older tree: they are planned again after this one.
      set({ pendingMerges: [] });
      const done = inMergeOrder(() => applyPlan(head.label, head.plan, choices, fallback));
      const again = rest.map((m) => mergeResolved(m.label, m.plan.entries, m.plan.inputId, true));
      return Promise.all([done, ...again]).then(() => {});
    },

    moveInput(id, at) {
      const item = get().inputs.find((i) => i.id === id);
      if (!item?.request) return 'This input has a fixed place.';
      const why = destinationProblem(at);
      if (why) return why;
      if (at === item.at) return undefined;
      set({ pendingMerges: get().pendingMerges.filter((m) => m.plan.inputId !== id) });
      if (item.storeContents && hasClosureFiles()) {
        // Its entries are part of the closure's: the closure is read again with it in its new place.
        patchInput(id, { at });
        void resolveClosure();
        return undefined;
      }
      takeOut(item, `move ${item.label} to ${at}`);
      patchInput(id, { at, status: 'resolving' });
      const moved = get().inputs.find((i) => i.id === id)!;
      void resolveAndMerge(moved, item.request(at));
      return undefined;
    },

    removeInput(id) {
      const item = get().inputs.find((i) => i.id === id);
      if (!item) return;
      set({
        inputs: get().inputs.filter((i) => i.id !== id),
        pendingMerges: get().pendingMerges.filter((m) => m.plan.inputId !== id),
      });
      const inGroup = item.kind === 'closure' || (item.storeContents && hasClosureFiles());
      if (!inGroup) releaseContents(contentsId(id));
      if (item.kind === 'closure') {
        const map = new Map(get().closureFiles);
        map.delete(id);
        set({ closureFiles: map });
      }
      if (!inGroup) {
        takeOut(item, `remove ${item.label}`);
        return;
      }
      if (hasClosureFiles()) {
        void resolveClosure();
        return;
      }
      // The last closure file went: store contents of other inputs stand on their own again.
      releaseContents(CLOSURE_CONTENTS);
      set({ closureRun: get().closureRun + 1, closure: [] });
      get().editTree(`remove ${item.label}`, (t) => t.removeInput(CLOSURE_GROUP));
      for (const other of get().inputs)
        if (other.storeContents && other.request) {
          patchInput(other.id, { status: 'resolving' });
          void resolveAndMerge(other, other.request(other.at));
        }
    },

    async replaceWithArchive(id, file) {
      const item = get().inputs.find((i) => i.id === id);
      if (!item) return;
      get().removeInput(id);
      await get().addArchives([file], item.at);
    },

    mergeEntries(entries, label = 'entries') {
      const item = addInputItem({ kind: 'files', label, origin: label, names: [label], at: '/' });
      patchInput(item.id, { status: 'ready', entryCount: entries.length });
      if (get().merging > 0) {
        void mergeResolved(label, entries, item.id, false);
        return;
      }
      // Generated trees (tests, development previews) merge at once, as one task.
      const plan = get().tree.planMerge(entries, item.id);
      if (plan.entries.length === 0) return;
      if (plan.conflicts.length > 0 || get().pendingMerges.length > 0) {
        set({ pendingMerges: [...get().pendingMerges, { label, plan }] });
        return;
      }
      const firstLoad = get().tree.isEmpty;
      get().editTree(`add ${label}`, (t) => t.applyMerge(plan, new Map()));
      afterMerge(plan, firstLoad);
    },

    clearAll() {
      get().releaseResult();
      releaseContents();
      set({
        inputs: [],
        closure: [],
        closureFiles: new Map(),
        closureRun: get().closureRun + 1,
        pendingMerges: [],
        archivePrompt: null,
        deletePrompt: null,
        undoStack: [],
        redoStack: [],
        tree: new FileTree(),
        treeVersion: 0,
        expanded: new Set(),
        selectedId: null,
        renamingId: null,
        treeMessage: null,
        estimate: { state: 'idle' },
      });
    },
  };
};

/** Where a folder input's folder ends up. */
export function inputPlace(item: InputItem): string {
  return item.top ? joinImagePath(item.at, item.top) : item.at;
}
