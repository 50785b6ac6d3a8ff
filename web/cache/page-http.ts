/**
 * The page's side of binary cache requests: the document makes each GET (so the page's
 * Content-Security-Policy decides which hosts can be reached), without credentials or
 * referrer, and the worker reads the body chunk by chunk.
 */
import * as Comlink from 'comlink';
import type { PageHttp } from '../../core/engine-contract.ts';

export function createPageHttp(): PageHttp {
  const open = new Map<number, { reader: ReadableStreamDefaultReader<Uint8Array>; abort: AbortController }>();
  let next = 1;
  return {
    async open(url) {
      const abort = new AbortController();
      let r: Response;
      try {
        r = await fetch(url, {
          credentials: 'omit',
          redirect: 'follow',
          referrerPolicy: 'no-referrer',
          cache: 'no-store',
          signal: abort.signal,
        });
      } catch (err) {
        // Browsers give one opaque error for refused connections, CORS, CSP and redirect loops.
        throw {
          httpError: `the request failed (${err instanceof Error ? err.message : String(err)}): the cache is unreachable, redirects in a loop, does not allow cross-origin requests (no Access-Control-Allow-Origin), or is not allowed by the page (reload after adding it)`,
          transient: true,
        };
      }
      const id = next++;
      if (r.body) open.set(id, { reader: r.body.getReader(), abort });
      const len = r.headers.get('content-length');
      return {
        id,
        status: r.status,
        url: r.url || url,
        contentType: r.headers.get('content-type') ?? '',
        contentLength: len !== null && /^[0-9]+$/.test(len) ? Number(len) : null,
      };
    },
    async read(id) {
      const e = open.get(id);
      if (!e) return null;
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await e.reader.read();
      } catch (err) {
        open.delete(id);
        throw { httpError: `the download broke off (${err instanceof Error ? err.message : String(err)})` };
      }
      if (chunk.done) {
        open.delete(id);
        return null;
      }
      const copy = chunk.value.slice();
      return Comlink.transfer(copy, [copy.buffer]);
    },
    async cancel(id) {
      const e = open.get(id);
      open.delete(id);
      e?.abort.abort();
      await e?.reader.cancel().catch(() => {});
    },
  };
}
