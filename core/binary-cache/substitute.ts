/**
 * Fetching store paths from Nix binary caches, as Nix's substituters do: `nix-cache-info`,
 * `<hash>.narinfo` with its ed25519 signatures, `nar/…` decompressed as it arrives.
 *
 * Two steps, so a person sees what will be fetched before it is: {@link planClosure} looks
 * up narinfos (following `References:` to the whole closure) and checks their signatures;
 * {@link fetchClosure} downloads the NARs a few at a time, checks FileSize/FileHash on the
 * compressed bytes and NarSize/NarHash on the NAR as it streams, and writes each NAR to a
 * spool (a temporary file, or OPFS in a browser) so memory stays bounded. Every refusal
 * names the store path, the cache and what did not match.
 */
import type { InputFile } from '../engine-contract.ts';
import type { InputProblem, StorePathInfo } from '../image-tree.ts';

export {
  type BinaryCache,
  DEFAULT_CACHE_KEY,
  DEFAULT_CACHE_URL,
  DEFAULT_CACHES,
  formatBytes,
  normalizeCacheUrl,
  substitutionRequest,
} from './caches.ts';
import { formatNarHash } from '../nix-base32.ts';
import { createSha256 } from '../sha256.ts';
import { storeBaseOf, storePathProblem } from '../store-path.ts';
import { type BinaryCache, normalizeCacheUrl } from './caches.ts';
import { decompressorFor, type NarDecompressors } from './decompress.ts';
import {
  checkPublicKeys,
  type CacheInfo,
  checkSignatures,
  looksLikeHtml,
  MAX_METADATA_BYTES,
  type NarCompression,
  type NarInfo,
  NarInfoError,
  parseCacheInfo,
  parseNarInfo,
  type PublicKey,
} from './narinfo.ts';

/** One HTTP GET as the fetcher needs it (the page passes the document's `fetch`, Node the global one). */
export interface HttpResponse {
  status: number;
  /** The final URL after redirects. */
  url: string;
  contentType: string;
  contentLength: number | null;
  body: ReadableStream<Uint8Array> | null;
}
export type HttpGet = (url: string, signal: AbortSignal) => Promise<HttpResponse>;

/** A request that failed before any response; `transient` ones are retried. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    message: string,
    readonly transient: boolean,
  ) {
    super(message);
  }
}

/**
 * `fetch` with no credentials, no referrer and no HTTP cache: a narinfo must be fresh and a
 * cache must not learn who asked (the page's cookies are never sent).
 */
export const fetchHttpGet: HttpGet = async (url, signal) => {
  let r: Response;
  try {
    r = await fetch(url, {
      signal,
      credentials: 'omit',
      redirect: 'follow',
      referrerPolicy: 'no-referrer',
      cache: 'no-store',
    });
  } catch (err) {
    signal.throwIfAborted();
    const cause = err instanceof Error ? ((err as Error & { cause?: unknown }).cause ?? err) : err;
    const text = cause instanceof Error ? cause.message : String(cause);
    if (/redirect count exceeded|redirect/i.test(text))
      throw new HttpError('it redirects in a loop (more than 20 redirects)', false);
    if (/Failed to fetch|NetworkError|Load failed/i.test(text))
      throw new HttpError(
        'the request failed: the cache is unreachable, redirects in a loop, or does not allow cross-origin requests (no Access-Control-Allow-Origin)',
        true,
      );
    throw new HttpError(`the request failed (${text})`, true);
  }
  const len = r.headers.get('content-length');
  return {
    status: r.status,
    url: r.url || url,
    contentType: r.headers.get('content-type') ?? '',
    contentLength: len !== null && /^[0-9]+$/.test(len) ? Number(len) : null,
    body: r.body,
  };
};

/** Where fetched NARs are written while they stream in. */
export interface NarSpool {
  /** A new, exclusive file named after the store path. */
  create(name: string): Promise<SpoolFile>;
}
export interface SpoolFile {
  write(chunk: Uint8Array): Promise<void>;
  /** Closes the file and gives it as an input file. */
  finish(): Promise<InputFile>;
  /** Closes and deletes it. */
  discard(): Promise<void>;
}

/** Progress of {@link fetchClosure}. */
export interface FetchProgress {
  pathsDone: number;
  pathsTotal: number;
  /** Bytes downloaded (compressed) of `bytesTotal`. */
  bytesDone: number;
  bytesTotal: number;
  /** Store paths downloading now. */
  active: string[];
}

export interface SubstituteOptions {
  /** In priority order (a cache's own `Priority:` sorts first, as in Nix). */
  caches: readonly BinaryCache[];
  /** Refuse narinfos without a valid signature by a trusted key. Default true. */
  requireSignatures?: boolean;
  /** Default {@link fetchHttpGet}. */
  http?: HttpGet;
  /** Stops lookups and downloads; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Downloads at once. Default 3 (narinfo lookups: twice that). */
  concurrency?: number;
  /** Retries of a transient failure (network error, 5xx, 429, broken-off download). Default 3. */
  retries?: number;
  /** First retry delay, doubling each time. Default 500 ms. */
  retryDelayMs?: number;
  decompressors?: NarDecompressors;
  onProgress?: (p: FetchProgress) => void;
}

/** A store path to fetch, with the narinfo that vouches for it. */
export interface PlannedPath {
  path: string;
  /** The cache it comes from. */
  cache: string;
  /** Absolute URL of the NAR file. */
  narUrl: string;
  compression: NarCompression;
  fileHash?: string;
  fileSize?: number;
  narHash: string;
  narSize: number;
  references: string[];
  deriver: string;
  /** Name of the trusted key whose signature verified; null when signatures were not checked. */
  signedBy: string | null;
}

/** What {@link planClosure} found: what to fetch, and what is wrong. */
export interface ClosurePlan {
  /** Paths to download, sorted. */
  paths: PlannedPath[];
  /** Closure paths other inputs already hold (not fetched). */
  present: string[];
  /** Bytes to download (FileSize, or NarSize where a cache does not say). */
  downloadBytes: number;
  /** Bytes of the NARs. */
  narBytes: number;
  /** The caches in the order used, with whether each could be used. */
  caches: { url: string; priority: number; usable: boolean }[];
  signaturesChecked: boolean;
  /** Errors mean nothing should be fetched. */
  problems: InputProblem[];
}

/** The fetch failed; `problems` name each path, cache and mismatch. */
export class FetchError extends Error {
  override name = 'FetchError';
  constructor(readonly problems: InputProblem[]) {
    super(problems.map((p) => p.message).join(' '));
  }
}

/** A fetched, verified store path: its NAR in the spool and its info (`fetchedFrom` set). */
export interface FetchedPath {
  file: InputFile;
  info: StorePathInfo;
}

function problem(code: string, input: string, message: string, hint: string, path?: string, warning = false) {
  const p: InputProblem = { severity: warning ? 'warning' : 'error', code, input, message, hint };
  if (path !== undefined) p.path = path;
  return p;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Reads a small body as text, at most {@link MAX_METADATA_BYTES}. */
async function readText(body: ReadableStream<Uint8Array> | null, what: string): Promise<string> {
  if (!body) return '';
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      n += value.length;
      if (n > MAX_METADATA_BYTES) throw new NarInfoError(`its ${what} is larger than ${MAX_METADATA_BYTES} bytes`);
      parts.push(value);
    }
  } catch (err) {
    await reader.cancel().catch(() => {});
    if (err instanceof NarInfoError) throw err;
    throw new HttpError(`the ${what} download broke off (${err instanceof Error ? err.message : String(err)})`, true);
  }
  const all = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(all);
}

async function discardBody(body: ReadableStream<Uint8Array> | null): Promise<void> {
  await body?.cancel().catch(() => {});
}

interface Cache {
  url: string;
  keys: PublicKey[];
  info?: CacheInfo;
  usable: boolean;
}

/** Runs `tasks` (which may add more) with at most `limit` at once; the first throw stops new ones. */
async function pool(limit: number, queue: Array<() => Promise<void>>, signal?: AbortSignal): Promise<void> {
  let failed: unknown = null;
  let failedSet = false;
  let running = 0;
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (!failedSet && running < limit && queue.length) {
        const task = queue.shift()!;
        running++;
        task()
          .catch((err) => {
            if (!failedSet) {
              failedSet = true;
              failed = err;
            }
          })
          .finally(() => {
            running--;
            if (signal?.aborted && !failedSet) {
              failedSet = true;
              failed = signal.reason;
            }
            pump();
          });
      }
      if (running === 0 && (failedSet || queue.length === 0)) resolve();
    };
    pump();
  });
  if (failedSet) throw failed;
}

function retrying(opts: SubstituteOptions) {
  const retries = opts.retries ?? 3;
  const delay = opts.retryDelayMs ?? 500;
  return async <T>(work: () => Promise<T>): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await work();
      } catch (err) {
        opts.signal?.throwIfAborted();
        if (!(err instanceof HttpError) || !err.transient || attempt >= retries) throw err;
        await sleep(delay * 2 ** attempt, opts.signal);
      }
    }
  };
}

const transientStatus = (s: number) => s === 408 || s === 429 || s >= 500;

/**
 * Looks up the closure of `roots` in the caches: narinfos, signatures, references followed
 * to completion. Paths in `have` (held by other inputs) are neither looked up nor fetched;
 * `known` NAR hashes (from a manifest) must match the caches'. Never throws for bad caches
 * or paths: they become problems. Rejects only when aborted.
 */
export async function planClosure(
  request: { roots: readonly string[]; have?: ReadonlySet<string>; known?: ReadonlyMap<string, string> },
  opts: SubstituteOptions,
): Promise<ClosurePlan> {
  const http = opts.http ?? fetchHttpGet;
  const signal = opts.signal ?? new AbortController().signal;
  const retry = retrying(opts);
  const requireSigs = opts.requireSignatures ?? true;
  const problems: InputProblem[] = [];
  const have = request.have ?? new Set<string>();

  // Caches: URL, keys, nix-cache-info.
  const caches: Cache[] = [];
  for (const c of opts.caches) {
    const u = normalizeCacheUrl(c.url);
    if (typeof u === 'string') {
      problems.push(
        problem('cache-bad-url', c.url, `The cache ${c.url}: ${u}.`, 'Give the cache as https://host[/path].'),
      );
      continue;
    }
    const keys = checkPublicKeys(c.publicKeys);
    for (const bad of keys.problems)
      problems.push(
        problem(
          'cache-bad-key',
          u.url,
          `A trusted key of ${u.url} cannot be used: ${bad}.`,
          'Give public keys as Nix prints them: <name>:<base64>, e.g. cache.nixos.org-1:6NCH…=.',
        ),
      );
    if (requireSigs && keys.keys.length === 0 && keys.problems.length === 0)
      problems.push(
        problem(
          'cache-no-keys',
          u.url,
          `No trusted public key is given for ${u.url}, so none of its paths can be verified.`,
          "Add the cache's public key (its operator publishes it), or switch off signature checks for a private cache.",
          undefined,
          true,
        ),
      );
    caches.push({ url: u.url, keys: keys.keys, usable: false });
  }
  await Promise.all(
    caches.map(async (c) => {
      try {
        const r = await retry(async () => {
          const res = await http(`${c.url}/nix-cache-info`, signal);
          if (transientStatus(res.status)) {
            await discardBody(res.body);
            throw new HttpError(`it answered HTTP ${res.status}`, true);
          }
          return res;
        });
        if (r.status !== 200) {
          await discardBody(r.body);
          throw new NarInfoError(
            r.status === 404
              ? 'it has no nix-cache-info (HTTP 404), so it is not a Nix binary cache; check the URL'
              : `its nix-cache-info answered HTTP ${r.status}`,
          );
        }
        const text = await readText(r.body, 'nix-cache-info');
        if (looksLikeHtml(text, r.contentType))
          throw new NarInfoError(
            'it answered its nix-cache-info with an HTML page, not a Nix binary cache; check the URL (it should be the cache itself, not a web page about it)',
          );
        c.info = parseCacheInfo(text);
        if (c.info.storeDir !== '/nix/store') throw new NarInfoError(`its store is ${c.info.storeDir}, not /nix/store`);
        c.usable = true;
      } catch (err) {
        signal.throwIfAborted();
        problems.push(
          problem(
            'cache-unusable',
            c.url,
            `The cache ${c.url} cannot be used: ${err instanceof Error ? err.message : String(err)}.`,
            'Check the URL and that the cache is reachable; paths are looked up in the other caches.',
            undefined,
            true,
          ),
        );
      }
    }),
  );
  // Nix sorts substituters by priority; equal priorities keep the order given.
  const usable = caches
    .filter((c) => c.usable)
    .map((c, i) => ({ c, i }))
    .sort((a, b) => (a.c.info!.priority - b.c.info!.priority) | (a.i - b.i))
    .map((x) => x.c);

  const planned = new Map<string, PlannedPath>();
  const present = new Set<string>();
  const seen = new Set<string>();
  const queue: Array<() => Promise<void>> = [];

  const lookup = async (path: string): Promise<void> => {
    const reasons: string[] = [];
    let all404 = true;
    for (const c of usable) {
      const url = `${c.url}/${storeBaseOf(path).slice(0, 32)}.narinfo`;
      let text: string;
      try {
        const r = await retry(async () => {
          const res = await http(url, signal);
          if (transientStatus(res.status)) {
            await discardBody(res.body);
            throw new HttpError(`it answered HTTP ${res.status}`, true);
          }
          return res;
        });
        if (r.status === 404 || r.status === 403) {
          await discardBody(r.body);
          reasons.push(`${c.url} does not have it (HTTP ${r.status})`);
          continue;
        }
        all404 = false;
        if (r.status !== 200) {
          await discardBody(r.body);
          reasons.push(`${c.url} answered HTTP ${r.status}`);
          continue;
        }
        text = await readText(r.body, 'narinfo');
        if (looksLikeHtml(text, r.contentType)) {
          reasons.push(`${c.url} answered with an HTML page instead of a narinfo`);
          continue;
        }
      } catch (err) {
        signal.throwIfAborted();
        all404 = false;
        reasons.push(`${c.url}: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      let info: NarInfo;
      try {
        info = parseNarInfo(text, path);
      } catch (err) {
        reasons.push(`the narinfo from ${c.url} is malformed: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      let signedBy: string | null = null;
      if (requireSigs) {
        const v = checkSignatures(info, c.keys);
        if (!v.ok) {
          reasons.push(
            v.reason === 'unsigned'
              ? `the narinfo from ${c.url} is not signed`
              : v.reason === 'untrusted'
                ? `the narinfo from ${c.url} is signed only by keys not trusted for it (${v.keyNames.join(', ')})`
                : `the signature by ${v.keyNames.filter((n) => c.keys.some((k) => k.name === n)).join(', ')} on the narinfo from ${c.url} does not match its contents (StorePath, NarHash, NarSize, References)`,
          );
          continue;
        }
        signedBy = v.signedBy;
      }
      const want = request.known?.get(path);
      if (want && want !== info.narHash) {
        reasons.push(`${c.url} has NarHash ${info.narHash}, but the manifest says ${want} (another build of it)`);
        continue;
      }
      const narUrl = resolveNarUrl(c.url, info.url);
      if (typeof narUrl !== 'string') {
        reasons.push(`the narinfo from ${c.url} has URL "${info.url.slice(0, 100)}", ${narUrl.reason}`);
        continue;
      }
      const p: PlannedPath = {
        path,
        cache: c.url,
        narUrl,
        compression: info.compression,
        narHash: info.narHash,
        narSize: info.narSize,
        references: info.references,
        deriver: info.deriver,
        signedBy,
      };
      if (info.fileHash) p.fileHash = info.fileHash;
      if (info.fileSize !== undefined) p.fileSize = info.fileSize;
      planned.set(path, p);
      for (const ref of info.references) visit(ref);
      return;
    }
    if (usable.length === 0) return; // reported once below
    if (all404 && reasons.length > 0)
      problems.push(
        problem(
          'fetch-missing',
          usable.map((c) => c.url).join(', '),
          `${path} is in none of the caches (${usable.map((c) => c.url).join(', ')}).`,
          'Add a cache that has it, or give its contents as an input (a nix-store --export, its .nar, a store folder).',
          path,
        ),
      );
    else
      problems.push(
        problem(
          'fetch-refused',
          usable.map((c) => c.url).join(', '),
          `${path} cannot be fetched: ${reasons.join('; ')}.`,
          'Only narinfos signed by a trusted key and matching the closure are used; check the trusted keys and the caches.',
          path,
        ),
      );
  };

  const visit = (path: string) => {
    if (seen.has(path)) return;
    seen.add(path);
    if (have.has(path)) {
      present.add(path);
      return;
    }
    queue.push(() => lookup(path));
  };
  for (const r of request.roots) {
    const why = storePathProblem(r);
    if (why) {
      problems.push(
        problem(
          'store-path-malformed',
          'store paths',
          `"${r.slice(0, 300)}" is not a store path: ${why}.`,
          'Store paths look like /nix/store/<32 base32 chars>-<name>.',
          r.slice(0, 300),
        ),
      );
      continue;
    }
    visit(r);
  }
  if (usable.length === 0 && queue.length > 0)
    problems.push(
      problem(
        'cache-none-usable',
        caches.map((c) => c.url).join(', ') || 'caches',
        `No binary cache can be used, so ${queue.length} store paths cannot be fetched.`,
        'Check the cache URLs (each must serve nix-cache-info) and that they are reachable.',
      ),
    );
  else await pool((opts.concurrency ?? 3) * 2, queue, signal);
  signal.throwIfAborted();

  const paths = [...planned.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return {
    paths,
    present: [...present].sort(),
    downloadBytes: paths.reduce((n, p) => n + (p.fileSize ?? p.narSize), 0),
    narBytes: paths.reduce((n, p) => n + p.narSize, 0),
    caches: caches.map((c) => ({ url: c.url, priority: c.info?.priority ?? 50, usable: c.usable })),
    signaturesChecked: requireSigs,
    problems,
  };
}

/** A narinfo's `URL:` relative to its cache (Nix: `<cache>/<url>`), or absolute on the cache's own origin. */
export function resolveNarUrl(cacheUrl: string, url: string): string | { reason: string } {
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return { reason: 'which is not a URL' };
    }
    if (u.origin !== new URL(cacheUrl).origin) return { reason: 'which points outside the cache' };
    return u.href;
  }
  if (
    url.startsWith('/') ||
    url.split('/').some((s) => s === '..' || s === '.') ||
    !/^[A-Za-z0-9._~+=,@\-/]+$/.test(url)
  )
    return { reason: 'which is not a plain path inside the cache' };
  return `${cacheUrl}/${url}`;
}

/** A mismatch that must not be retried: the bytes are not what the narinfo promised. */
class Mismatch extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Downloads and verifies every path of `plan` into `spool`, a few at a time. Resolves with
 * the fetched paths (sorted); rejects with a {@link FetchError} naming each path, cache and
 * mismatch, or with the signal's reason when aborted. Either way, nothing it wrote is left
 * in the spool unless it resolved.
 */
export async function fetchClosure(
  plan: ClosurePlan,
  spool: NarSpool,
  opts: Omit<SubstituteOptions, 'caches'>,
): Promise<FetchedPath[]> {
  const http = opts.http ?? fetchHttpGet;
  const outer = opts.signal;
  const inner = new AbortController();
  const onAbort = () => inner.abort(outer!.reason);
  if (outer?.aborted) throw outer.reason;
  outer?.addEventListener('abort', onAbort, { once: true });
  const signal = inner.signal;
  const retries = opts.retries ?? 3;
  const delay = opts.retryDelayMs ?? 500;
  const created: SpoolFile[] = [];
  const results = new Map<string, FetchedPath>();
  const failures: InputProblem[] = [];
  const progress: FetchProgress = {
    pathsDone: 0,
    pathsTotal: plan.paths.length,
    bytesDone: 0,
    bytesTotal: plan.downloadBytes,
    active: [],
  };
  const report = () => opts.onProgress?.({ ...progress, active: [...progress.active] });

  const downloadOnce = async (p: PlannedPath, counted: { n: number }): Promise<InputFile> => {
    const decompress = decompressorFor(p.compression, opts.decompressors ?? {});
    if (!decompress) throw new Mismatch('fetch-compression', `${p.compression} decompression is not available here`);
    const file = await spool.create(`${storeBaseOf(p.path)}.nar`);
    created.push(file);
    try {
      const res = await http(p.narUrl, signal);
      if (res.status !== 200) {
        await discardBody(res.body);
        if (transientStatus(res.status)) throw new HttpError(`its NAR answered HTTP ${res.status}`, true);
        throw new Mismatch(
          res.status === 404 ? 'fetch-nar-missing' : 'fetch-http',
          res.status === 404
            ? `its narinfo is there but its NAR ${p.narUrl} is not (HTTP 404)`
            : `its NAR ${p.narUrl} answered HTTP ${res.status}`,
        );
      }
      if (!res.body) throw new HttpError('its NAR came with no body', true);
      if (res.contentType && /text\/html/i.test(res.contentType))
        throw new Mismatch('fetch-html', `its NAR ${p.narUrl} answered with an HTML page`);
      const fileHasher = await createSha256();
      const narHasher = await createSha256();
      const expectedFile = p.fileSize ?? (p.compression === 'none' ? p.narSize : undefined);
      let fileBytes = 0;
      let bodyError: unknown = null;
      const bodyReader = res.body.getReader();
      const compressed = new ReadableStream<Uint8Array>({
        async pull(controller) {
          let r: ReadableStreamReadResult<Uint8Array>;
          try {
            r = await bodyReader.read();
          } catch (err) {
            bodyError = err;
            controller.error(err);
            return;
          }
          if (r.done) {
            controller.close();
            return;
          }
          fileBytes += r.value.length;
          counted.n += r.value.length;
          progress.bytesDone += r.value.length;
          report();
          if (expectedFile !== undefined && fileBytes > expectedFile) {
            const e = new Mismatch(
              'fetch-file-size',
              `the cache sent more than the ${expectedFile} bytes its narinfo's FileSize says`,
            );
            bodyError = e;
            controller.error(e);
            await bodyReader.cancel().catch(() => {});
            return;
          }
          fileHasher.update(r.value);
          controller.enqueue(r.value);
        },
        cancel(reason) {
          return bodyReader.cancel(reason);
        },
      });
      const nar = decompress(compressed).getReader();
      let narBytes = 0;
      try {
        for (;;) {
          const { done, value } = await nar.read();
          if (done) break;
          narBytes += value.length;
          if (narBytes > p.narSize)
            throw new Mismatch(
              'fetch-nar-size',
              `its NAR is larger than the ${p.narSize} bytes its narinfo's NarSize says`,
            );
          narHasher.update(value);
          await file.write(value);
        }
      } catch (err) {
        await nar.cancel().catch(() => {});
        if (err instanceof Mismatch) throw err;
        if (bodyError instanceof Mismatch) throw bodyError;
        signal.throwIfAborted();
        if (bodyError !== null || (expectedFile !== undefined && fileBytes < expectedFile))
          throw new HttpError(
            `the download broke off after ${fileBytes}${expectedFile !== undefined ? ` of ${expectedFile}` : ''} bytes (truncated)`,
            true,
          );
        throw new Mismatch(
          'fetch-corrupt',
          `its ${p.compression} data could not be decompressed (${err instanceof Error ? err.message : String(err)})`,
        );
      }
      if (expectedFile !== undefined && fileBytes !== expectedFile)
        throw new HttpError(
          `the download ended after ${fileBytes} of the ${expectedFile} bytes its FileSize says (truncated)`,
          true,
        );
      if (p.fileHash) {
        const got = formatNarHash(fileHasher.digestBytes());
        if (got !== p.fileHash)
          throw new Mismatch(
            'fetch-file-hash',
            `the downloaded file has hash ${got}, but its narinfo's FileHash is ${p.fileHash}`,
          );
      }
      if (narBytes !== p.narSize)
        throw new Mismatch(
          'fetch-nar-size',
          `its NAR has ${narBytes} bytes, but its narinfo's NarSize says ${p.narSize}`,
        );
      const got = formatNarHash(narHasher.digestBytes());
      if (got !== p.narHash)
        throw new Mismatch(
          'fetch-nar-hash',
          `its NAR has hash ${got}, but its ${p.signedBy ? 'signed ' : ''}narinfo's NarHash is ${p.narHash}`,
        );
      return await file.finish();
    } catch (err) {
      await file.discard().catch(() => {});
      throw err;
    }
  };

  const download = async (p: PlannedPath): Promise<void> => {
    progress.active.push(p.path);
    report();
    try {
      for (let attempt = 0; ; attempt++) {
        const counted = { n: 0 };
        try {
          const file = await downloadOnce(p, counted);
          const info: StorePathInfo = {
            path: p.path,
            narHash: p.narHash,
            narSize: p.narSize,
            references: [...p.references],
            deriver: p.deriver,
            contents: 'present',
            hashChecked: true,
            fetchedFrom: { cache: p.cache, signedBy: p.signedBy },
          };
          results.set(p.path, { file, info });
          return;
        } catch (err) {
          progress.bytesDone -= counted.n;
          signal.throwIfAborted();
          if (err instanceof HttpError && err.transient && attempt < retries) {
            await sleep(delay * 2 ** attempt, signal);
            continue;
          }
          const code = err instanceof Mismatch ? err.code : err instanceof HttpError ? 'fetch-network' : 'fetch-failed';
          failures.push(
            problem(
              code,
              p.cache,
              `${p.path} from ${p.cache} was refused: ${err instanceof Error ? err.message : String(err)}.`,
              code === 'fetch-network'
                ? 'The cache or the connection failed; try again later or use another cache.'
                : 'The cache serves bytes that do not match its signed narinfo; do not use this path from this cache.',
              p.path,
            ),
          );
          inner.abort(new FetchError(failures));
          throw err;
        }
      }
    } finally {
      progress.active.splice(progress.active.indexOf(p.path), 1);
      if (results.has(p.path)) progress.pathsDone++;
      report();
    }
  };

  try {
    report();
    await pool(
      opts.concurrency ?? 3,
      plan.paths.map((p) => () => download(p)),
      signal,
    );
  } catch (err) {
    await Promise.all(created.map((f) => f.discard().catch(() => {})));
    if (outer?.aborted) throw outer.reason;
    if (failures.length) throw new FetchError(failures);
    throw err;
  } finally {
    outer?.removeEventListener('abort', onAbort);
  }
  return plan.paths.map((p) => results.get(p.path)!);
}
