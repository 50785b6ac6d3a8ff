/**
 * "Fetch from a binary cache": the caches (kept in localStorage), the store paths asked
 * for, the plan the engine found (paths and bytes to fetch), the fetch's progress, and
 * which closure paths came from which cache with whose signature. The fetched paths reach
 * the tree as one `nix-store --export` input through `addClosureFiles`.
 */
import { create } from 'zustand';
import {
  DEFAULT_CACHES,
  type BinaryCache,
  normalizeCacheUrl,
  substitutionRequest,
} from '../../core/binary-cache/caches.ts';
import type { FetchProgress } from '../../core/binary-cache/substitute.ts';
import type { BuildFailure, CacheFetchPlan } from '../../core/engine-contract.ts';
import type { StorePathInfo } from '../../core/image-tree.ts';
import { createPageHttp } from '../cache/page-http.ts';
import { engine, toEngineError } from '../engine-client.ts';

/** Where the cache list is kept; `public/csp.js` reads it to set the page's connect-src. */
export const CACHES_KEY = 'disk-image-studio:caches';
const SPOOL_LOCK_PREFIX = 'disk-image-studio-spool-';

export type FetchPhase = 'idle' | 'planning' | 'planned' | 'fetching' | 'done' | 'failed';

export interface CacheFetchState {
  caches: BinaryCache[];
  /** Store paths as typed or pasted (whitespace-separated). */
  pathsText: string;
  checkSignatures: boolean;
  phase: FetchPhase;
  plan: CacheFetchPlan | null;
  progress: FetchProgress | null;
  failure: BuildFailure | null;
  /** Closure paths fetched so far: the cache and the key that signed (null: not checked). */
  fetchedFrom: Record<string, { cache: string; signedBy: string | null }>;
  runId: string | null;
  dialogOpen: boolean;
}

/** The caches saved in this browser, or the default (cache.nixos.org). */
export function loadCaches(storage: Pick<Storage, 'getItem'> | undefined = globalThis.localStorage): BinaryCache[] {
  try {
    const raw = storage?.getItem(CACHES_KEY);
    if (!raw) return DEFAULT_CACHES.map((c) => ({ ...c, publicKeys: [...c.publicKeys] }));
    const list = JSON.parse(raw) as unknown;
    if (!Array.isArray(list)) throw new Error('not a list');
    return list
      .filter((c): c is BinaryCache => typeof c?.url === 'string' && Array.isArray(c.publicKeys))
      .map((c) => ({ url: c.url, publicKeys: c.publicKeys.filter((k: unknown) => typeof k === 'string') }));
  } catch {
    return DEFAULT_CACHES.map((c) => ({ ...c, publicKeys: [...c.publicKeys] }));
  }
}

/** Origins the page's Content-Security-Policy lets it connect to (set by `public/csp.js` at load). */
export function allowedOrigins(doc: Document | undefined = globalThis.document): string[] {
  const meta = doc?.querySelector('meta[data-cache-origins]');
  try {
    return JSON.parse(meta?.getAttribute('data-cache-origins') ?? '[]') as string[];
  } catch {
    return [];
  }
}

/** Caches whose origin the page, as loaded, may not reach: saving and reloading allows them. */
export function originsNeedingReload(caches: readonly BinaryCache[], allowed: readonly string[]): string[] {
  const out: string[] = [];
  for (const c of caches) {
    const u = normalizeCacheUrl(c.url);
    if (typeof u === 'string') continue;
    const origin = new URL(u.url).origin;
    if (!allowed.includes(origin) && !out.includes(origin)) out.push(origin);
  }
  return out;
}

/** Store paths in a pasted text: `/nix/store/…` words (lines of `nix-store -qR`, a store-paths file). */
export function parseStorePathsText(text: string): string[] {
  return [...new Set(text.split(/\s+/).filter((w) => w.length > 0))];
}

let session: string | null = null;
/**
 * This page's spool session (fetched NARs, decompressed archive contents), locked while the
 * page lives so other tabs leave its files alone; a later start removes them once it is gone.
 */
export function spoolSession(): string {
  if (session) return session;
  session = crypto.randomUUID();
  void globalThis.navigator?.locks?.request(SPOOL_LOCK_PREFIX + session, () => new Promise<void>(() => {}));
  return session;
}

const http = createPageHttp();

export const useCacheFetch = create<CacheFetchState>(() => ({
  caches: loadCaches(),
  pathsText: '',
  checkSignatures: true,
  phase: 'idle',
  plan: null,
  progress: null,
  failure: null,
  fetchedFrom: {},
  runId: null,
  dialogOpen: false,
}));

const set = useCacheFetch.setState;
const get = useCacheFetch.getState;

export function setDialogOpen(open: boolean): void {
  set({ dialogOpen: open });
}

export function setCaches(caches: BinaryCache[]): void {
  set({ caches, phase: get().phase === 'planned' ? 'idle' : get().phase, plan: null });
}

/** Saves the cache list for the next load (the Content-Security-Policy is set from it). */
export function saveCaches(storage: Pick<Storage, 'setItem'> | undefined = globalThis.localStorage): void {
  storage?.setItem(CACHES_KEY, JSON.stringify(get().caches));
}

export function setPathsText(text: string): void {
  set({ pathsText: text, plan: null, phase: get().phase === 'planned' ? 'idle' : get().phase });
}

export function setCheckSignatures(on: boolean): void {
  set({ checkSignatures: on, plan: null, phase: get().phase === 'planned' ? 'idle' : get().phase });
}

const newRun = () => crypto.randomUUID();

/** Looks up what the typed paths and the closure's missing paths need: the estimate. */
export async function estimateFetch(closure: readonly StorePathInfo[]): Promise<void> {
  const { caches, pathsText, checkSignatures } = get();
  const req = substitutionRequest(closure, parseStorePathsText(pathsText));
  if (req.roots.length === 0) {
    set({
      phase: 'failed',
      failure: {
        code: 'bad-input',
        message: 'Nothing to fetch: type or paste store paths, or add a manifest whose paths no input holds.',
        hint: 'Store paths look like /nix/store/<hash>-<name>.',
        problems: [],
      },
    });
    return;
  }
  const runId = newRun();
  set({ phase: 'planning', plan: null, failure: null, progress: null, runId });
  try {
    const plan = await engine().planCacheFetch(
      {
        roots: req.roots,
        have: [...req.have],
        known: [...req.known],
        caches,
        requireSignatures: checkSignatures,
      },
      http,
      runId,
    );
    if (get().runId !== runId) return;
    set({ phase: 'planned', plan, runId: null });
  } catch (err) {
    if (get().runId !== runId) return;
    const e = toEngineError(err);
    set({ phase: e.aborted ? 'idle' : 'failed', failure: e.aborted ? null : e.toFailure(), runId: null });
  }
}

/**
 * Fetches the planned paths; on success hands the export stream to `addClosure` (the
 * store's `addClosureFiles`) and records where each path came from.
 */
export async function runFetch(addClosure: (files: File[]) => Promise<void>): Promise<void> {
  const plan = get().plan;
  if (!plan) return;
  const runId = newRun();
  set({
    phase: 'fetching',
    failure: null,
    runId,
    progress: { pathsDone: 0, pathsTotal: plan.paths.length, bytesDone: 0, bytesTotal: plan.downloadBytes, active: [] },
  });
  try {
    const result = await engine().runCacheFetch(plan.id, spoolSession(), runId, http, (p) => {
      if (get().runId === runId) set({ progress: p });
    });
    if (get().runId !== runId) return;
    const fetchedFrom = { ...get().fetchedFrom };
    for (const p of result.paths) fetchedFrom[p.path] = { cache: p.cache, signedBy: p.signedBy };
    set({ phase: 'done', fetchedFrom, runId: null, plan: null });
    const blob = (result.file as { blob: Blob }).blob;
    const file = blob instanceof File ? blob : new File([blob], result.file.name);
    await addClosure([file]);
  } catch (err) {
    if (get().runId !== runId) return;
    const e = toEngineError(err);
    set({ phase: e.aborted ? 'planned' : 'failed', failure: e.aborted ? null : e.toFailure(), runId: null });
  }
}

/** Stops the estimate or fetch in progress; nothing it wrote is kept. */
export function cancelFetch(): void {
  const runId = get().runId;
  if (!runId) return;
  void engine().cancelCacheFetch(runId);
}

/** Back to the start (the dialog closed). */
export function resetFetch(): void {
  cancelFetch();
  set({ phase: 'idle', plan: null, progress: null, failure: null, runId: null });
}
