/**
 * Binary cache fetches in the worker: plans kept by id until fetched, NARs spooled to OPFS,
 * the result handed to the page as one export stream (`core/binary-cache/export-blob.ts`).
 * Requests go through the page (`PageHttp`), so its Content-Security-Policy applies.
 * A fetch stops by `cancel(id)`, not by ending the worker, so its spool is removed.
 */
import { exportBlob } from '../../core/binary-cache/export-blob.ts';
import {
  type ClosurePlan,
  FetchError,
  type FetchProgress,
  fetchClosure,
  type HttpGet,
  HttpError,
  planClosure,
} from '../../core/binary-cache/substitute.ts';
import type { CacheFetchPlan, CacheFetchRequest, CacheFetchResult, PageHttp } from '../../core/engine-contract.ts';
import { openSpool, removeStaleSessions } from '../runtime/opfs-spool.ts';
import { inputDecompressors } from '../runtime/zstd-stream.ts';
import { badInput } from './engine-failure.ts';

/** An `HttpGet` over the page's fetches. */
export function pageHttpGet(http: PageHttp): HttpGet {
  return async (url, signal) => {
    signal.throwIfAborted();
    let head: Awaited<ReturnType<PageHttp['open']>>;
    try {
      head = await http.open(url);
    } catch (err) {
      signal.throwIfAborted();
      const e = err as { httpError?: string; transient?: boolean; message?: string };
      throw new HttpError(e.httpError ?? e.message ?? String(err), e.transient ?? true);
    }
    const onAbort = () => void http.cancel(head.id).catch(() => {});
    signal.addEventListener('abort', onAbort, { once: true });
    return {
      status: head.status,
      url: head.url,
      contentType: head.contentType,
      contentLength: head.contentLength,
      body: new ReadableStream<Uint8Array>({
        async pull(c) {
          let chunk: Uint8Array | null;
          try {
            chunk = await http.read(head.id);
          } catch (err) {
            signal.removeEventListener('abort', onAbort);
            const e = err as { httpError?: string; message?: string };
            c.error(new Error(e.httpError ?? e.message ?? String(err)));
            return;
          }
          if (chunk === null) {
            signal.removeEventListener('abort', onAbort);
            c.close();
          } else c.enqueue(chunk);
        },
        cancel() {
          signal.removeEventListener('abort', onAbort);
          return http.cancel(head.id).catch(() => {});
        },
      }),
    };
  };
}

export class CacheFetches {
  private readonly plans = new Map<string, ClosurePlan>();
  private readonly running = new Map<string, AbortController>();
  private next = 1;

  /** Looks up the closure; the plan is kept for {@link fetch}. */
  async plan(request: CacheFetchRequest, http: PageHttp, runId: string): Promise<CacheFetchPlan> {
    const ac = this.start(runId);
    try {
      const plan = await planClosure(
        { roots: request.roots, have: new Set(request.have), known: new Map(request.known) },
        {
          caches: request.caches,
          requireSignatures: request.requireSignatures,
          http: pageHttpGet(http),
          signal: ac.signal,
        },
      );
      const id = `plan-${this.next++}`;
      this.plans.set(id, plan);
      return { ...plan, id };
    } finally {
      this.running.delete(runId);
    }
  }

  /** Fetches a plan into the session's spool; rejects with a bad-input failure naming each refused path. */
  async fetch(
    planId: string,
    session: string,
    runId: string,
    http: PageHttp,
    onProgress?: (p: FetchProgress) => void,
  ): Promise<CacheFetchResult> {
    const plan = this.plans.get(planId);
    if (!plan) throw new Error(`no plan ${planId}: estimate again`);
    const ac = this.start(runId);
    await removeStaleSessions().catch(() => {});
    const spool = await openSpool(session, runId);
    try {
      const fetched = await fetchClosure(plan, spool, {
        requireSignatures: plan.signaturesChecked,
        http: pageHttpGet(http),
        signal: ac.signal,
        decompressors: inputDecompressors,
        onProgress: throttle(onProgress),
      });
      this.plans.delete(planId);
      const nars = fetched.map((f) => ({ nar: (f.file as { blob: Blob }).blob, info: f.info }));
      const caches = [...new Set(fetched.map((f) => new URL(f.info.fetchedFrom!.cache).host))];
      const name = `${fetched.length} store paths from ${caches.join(', ') || 'binary caches'}.export`;
      return {
        file: { name, blob: exportBlob(nars, name) },
        paths: fetched.map((f) => ({
          path: f.info.path,
          cache: f.info.fetchedFrom!.cache,
          signedBy: f.info.fetchedFrom!.signedBy,
        })),
      };
    } catch (err) {
      await spool.remove().catch(() => {});
      if (err instanceof FetchError) throw badInput(err.problems);
      throw err;
    } finally {
      this.running.delete(runId);
    }
  }

  /** Stops a plan or fetch in progress (its spool is removed). */
  cancel(runId: string): void {
    this.running.get(runId)?.abort(new DOMException('The fetch was cancelled.', 'AbortError'));
  }

  private start(runId: string): AbortController {
    if (!/^[A-Za-z0-9-]{1,64}$/.test(runId)) throw new Error('bad run id');
    const ac = new AbortController();
    this.running.set(runId, ac);
    return ac;
  }
}

function throttle(fn?: (p: FetchProgress) => void): ((p: FetchProgress) => void) | undefined {
  if (!fn) return undefined;
  let last = 0;
  return (p) => {
    const t = performance.now();
    if (t - last < 100 && p.pathsDone < p.pathsTotal) return;
    last = t;
    fn(p);
  };
}
