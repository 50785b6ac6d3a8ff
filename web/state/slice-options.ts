/**
 * The options slice: filesystem options (nixpkgs' defaults), where the image is saved, and the
 * size estimate kept in step with the tree and the options.
 */
import type { StateCreator, StoreApi } from 'zustand';
import type { BuildOptions, SizeEstimate } from '../../core/engine-contract.ts';
import { DEFAULT_BUILD_OPTIONS, validateBuildOptions } from '../../core/build-options.ts';
import { engine, toEngineError } from '../engine-client.ts';
import { canPickFile } from '../save/save-target.ts';
import type { StudioState } from './store.ts';
import { treeSource } from './file-tree.ts';

export interface Estimate {
  state: 'idle' | 'pending' | 'ready' | 'error';
  value?: SizeEstimate;
  message?: string;
}

export type SaveMode = 'file' | 'download';

export interface OptionsSlice {
  options: BuildOptions;
  estimate: Estimate;
  saveMode: SaveMode;
  /** Counts estimate requests, so a stale answer is dropped. */
  estimateRun: number;
  setOption<K extends keyof BuildOptions>(key: K, value: BuildOptions[K]): void;
  randomUuid(): void;
  resetOptions(): void;
  setSaveMode(mode: SaveMode): void;
  /** Asks the engine for a new estimate now (stale answers are dropped). */
  refreshEstimate(): Promise<void>;
}

export const createOptionsSlice: StateCreator<StudioState, [], [], OptionsSlice> = (set, get) => ({
  options: { ...DEFAULT_BUILD_OPTIONS },
  estimate: { state: 'idle' },
  saveMode: canPickFile() ? 'file' : 'download',
  estimateRun: 0,

  setOption(key, value) {
    set({ options: { ...get().options, [key]: value } });
  },
  randomUuid() {
    get().setOption('uuid', crypto.randomUUID());
  },
  resetOptions() {
    set({ options: { ...DEFAULT_BUILD_OPTIONS } });
  },
  setSaveMode(mode) {
    set({ saveMode: mode });
  },

  async refreshEstimate() {
    const run = get().estimateRun + 1;
    set({ estimateRun: run });
    const s = get();
    if (s.tree.isEmpty && s.closure.length === 0) {
      set({ estimate: { state: 'idle' } });
      return;
    }
    if (validateBuildOptions(s.options)) return;
    if (s.build.status === 'running') return; // the engine is busy; estimate again afterwards
    set({ estimate: { ...s.estimate, state: 'pending' } });
    try {
      const value = await engine().estimate({
        tree: treeSource(s.tree),
        closure: s.closure,
        options: { ...s.options },
      });
      if (run === get().estimateRun) set({ estimate: { state: 'ready', value } });
    } catch (err) {
      if (run !== get().estimateRun) return;
      const e = toEngineError(err);
      if (!e.aborted) set({ estimate: { state: 'error', message: e.message } });
    }
  },
});

/** Keeps `estimate` in step with the tree and options (debounced); returns the stop function. */
export function startEstimates(store: StoreApi<StudioState>, delayMs = 400): () => void {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const unsubscribe = store.subscribe((s, prev) => {
    if (
      s.treeVersion === prev.treeVersion &&
      s.options === prev.options &&
      s.closure === prev.closure &&
      !(prev.build.status === 'running' && s.build.status !== 'running')
    )
      return;
    if (timer !== null) clearTimeout(timer);
    if (s.tree.isEmpty && s.closure.length === 0) {
      void s.refreshEstimate();
      return;
    }
    if (!validateBuildOptions(s.options) && s.estimate.state !== 'pending')
      store.setState({ estimate: { ...s.estimate, state: 'pending' } });
    timer = setTimeout(() => {
      timer = null;
      void store.getState().refreshEstimate();
    }, delayMs);
  });
  return () => {
    unsubscribe();
    if (timer !== null) clearTimeout(timer);
  };
}
