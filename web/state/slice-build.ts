/**
 * The build slice: a build's stages (each with its own duration), the tools' log (bounded),
 * warnings, the failure or the result, and how to cancel it.
 */
import type { StateCreator } from 'zustand';
import type { InputProblem } from '../../core/image-tree.ts';
import type { BuildEvent, BuildFailure, BuildResult, StageName } from '../../core/engine-contract.ts';
import { validateBuildOptions } from '../../core/build-options.ts';
import { engine, toEngineError } from '../engine-client.ts';
import { outputFileName } from '../lib/format.ts';
import {
  chooseSaveTarget,
  release,
  type SavedOutput,
  SaveTargetError,
  type SaveTarget,
  startDownload,
} from '../save/save-target.ts';
import type { StudioState } from './store.ts';
import { treeSource } from './file-tree.ts';

export const STAGES: readonly StageName[] = ['plan', 'mkfs', 'check', 'shrink', 'recheck', 'compress', 'save'];

export interface StageState {
  state: 'pending' | 'running' | 'done' | 'skipped' | 'failed';
  /** 0..1, or null when the stage reports no progress. */
  progress: number | null;
  /** `performance.now()` when it started (for a live clock). */
  startedAt: number | null;
  /** The engine's clock (ms since the build began) when the stage started. */
  engineStartMs: number | null;
  /** How long this stage took (not the time since the build began). */
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

export interface ResultState {
  result: BuildResult;
  saved: SavedOutput;
}

export interface BuildSlice {
  build: BuildState;
  result: ResultState | null;
  /** Aborts the running build. */
  buildAbort: AbortController | null;
  /** Builds the image. Call it straight from the click (the file picker needs its activation). */
  startBuild(): Promise<void>;
  cancelBuild(): void;
  downloadAgain(): void;
  /** Frees the last result's download. */
  releaseResult(): void;
}

export const LOG_LIMIT_CHARS = 1_000_000;

function freshStages(): Record<StageName, StageState> {
  const s = {} as Record<StageName, StageState>;
  for (const name of STAGES)
    s[name] = { state: 'pending', progress: null, startedAt: null, engineStartMs: null, elapsedMs: null };
  return s;
}

export function idleBuild(): BuildState {
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

/** Store paths of the closure that are no longer in the tree (deleted or moved away). */
export function closureGone(s: Pick<StudioState, 'closure' | 'tree'>): string[] {
  const out: string[] = [];
  for (const p of s.closure) if (p.contents !== 'missing' && !s.tree.get(p.path)) out.push(p.path);
  return out;
}

/** Why a build cannot start now, or undefined. */
export function buildBlocker(s: StudioState): string | undefined {
  if (s.build.status === 'running') return 'A build is running.';
  if (s.tree.isEmpty && s.closure.length === 0) return 'Add files, a folder, an archive or a closure first.';
  if (s.inputs.some((i) => i.status === 'resolving') || s.merging > 0) return 'Still reading the inputs…';
  if (s.pendingMerges.length > 0) return 'Decide the conflicts first.';
  const bad = s.inputs.find((i) => i.status === 'failed' || i.problems.some((p) => p.severity === 'error'));
  if (bad) return `Fix or remove ${bad.label} first (see its problems above).`;
  const gone = closureGone(s);
  if (gone.length > 0)
    return `${gone.length} ${gone.length === 1 ? 'store path' : 'store paths'} of the closure ${gone.length === 1 ? 'is' : 'are'} no longer in the tree (${gone[0]}${gone.length > 1 ? ', …' : ''}): undo (Ctrl+Z), or remove the closure input.`;
  const invalid = validateBuildOptions(s.options);
  if (invalid) return invalid.charAt(0).toUpperCase() + invalid.slice(1);
  return undefined;
}

export const createBuildSlice: StateCreator<StudioState, [], [], BuildSlice> = (set, get) => {
  const failBuild = (failure: BuildFailure): void => {
    const b = get().build;
    set({
      build: { ...b, status: 'failed', finishedAt: performance.now(), failure, stages: endStages(b.stages, 'failed') },
    });
  };

  return {
    build: idleBuild(),
    result: null,
    buildAbort: null,

    async startBuild() {
      if (buildBlocker(get())) return;
      const { options, saveMode } = get();
      const fileName = outputFileName(options.label, options.compress);
      let target: SaveTarget | null;
      try {
        target = await chooseSaveTarget(saveMode, fileName);
      } catch (err) {
        const e = err instanceof SaveTargetError ? err : new SaveTargetError(String(err), '');
        failBuild({ code: 'internal', message: e.message, hint: e.hint, problems: [] });
        return;
      }
      if (!target) return; // the person closed the picker

      get().releaseResult();
      const controller = new AbortController();
      set({
        buildAbort: controller,
        build: { ...idleBuild(), status: 'running', startedAt: performance.now(), saveKind: target.kind },
        result: null,
      });

      const { tree, closure } = get();
      const request = { tree: treeSource(tree), closure, options: { ...options } };
      const events = new EventBuffer((evs) => set({ build: applyEvents(get().build, evs) }));
      const sink = target;
      try {
        const result = await engine().build(
          request,
          (ev) => events.push(ev),
          (chunk) => sink.write(chunk),
          // A download is kept on disk by the engine (OPFS) and handed over as a File.
          { signal: controller.signal, keepFile: target.kind === 'download' },
        );
        events.flush();
        const saved = await target.finish(target.kind === 'file' ? target.fileName : result.fileName, result.file);
        const b = get().build;
        set({
          build: { ...b, status: 'done', finishedAt: performance.now(), stages: endStages(b.stages, 'done') },
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
            build: { ...b, status: 'cancelled', finishedAt: performance.now(), stages: endStages(b.stages, 'pending') },
          });
        } else {
          failBuild(e.toFailure());
        }
      } finally {
        events.dispose();
        if (get().buildAbort === controller) set({ buildAbort: null });
      }
    },

    cancelBuild() {
      get().buildAbort?.abort();
    },

    downloadAgain() {
      const saved = get().result?.saved;
      if (saved) startDownload(saved);
    },

    releaseResult() {
      release(get().result?.saved);
      if (get().result) set({ result: null });
    },
  };
};

/** Stages still running when a build ends become `to`, with the time they ran. */
function endStages(stages: Record<StageName, StageState>, to: StageState['state']): Record<StageName, StageState> {
  const out = { ...stages };
  for (const name of STAGES) {
    const s = out[name];
    if (s.state !== 'running') continue;
    const ran = s.startedAt !== null ? performance.now() - s.startedAt : null;
    out[name] = { ...s, state: to, progress: to === 'done' ? 1 : s.progress, elapsedMs: s.elapsedMs ?? ran };
  }
  return out;
}

/**
 * Build events can come by the thousand (progress, tool output); they are applied to the
 * store in batches so the page stays responsive.
 */
class EventBuffer {
  private queue: BuildEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly apply: (events: BuildEvent[]) => void) {}

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
    this.apply(events);
  }

  dispose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.queue = [];
  }
}

/** A build's state after `events` (pure: the store applies them in batches). */
export function applyEvents(build: BuildState, events: readonly BuildEvent[], now = performance.now()): BuildState {
  const stages = { ...build.stages };
  let log = build.log;
  let logDropped = build.logDropped;
  let problems = build.problems;
  for (const ev of events) {
    switch (ev.type) {
      case 'stage': {
        const s = stages[ev.stage];
        if (!s) break;
        if (ev.state === 'start')
          stages[ev.stage] = {
            state: 'running',
            progress: s.progress,
            startedAt: now,
            engineStartMs: ev.elapsedMs,
            elapsedMs: null,
          };
        else if (ev.state === 'done')
          stages[ev.stage] = {
            ...s,
            state: 'done',
            progress: 1,
            // The engine's clock runs from the build's start: a stage's own time is the difference.
            elapsedMs: Math.max(0, ev.elapsedMs - (s.engineStartMs ?? ev.elapsedMs)),
          };
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
    let drop = 0;
    while (total > LOG_LIMIT_CHARS && drop < log.length - 1) {
      total -= log[drop].text.length;
      logDropped += log[drop].text.length;
      drop++;
    }
    if (drop > 0) log = log.slice(drop);
  }
  return { ...build, stages, log, logDropped, problems };
}
