/**
 * Binary cache settings without the fetcher's weight (no crypto, no decompressors), for
 * the page's main bundle: the default cache, URL checks, and what a closure lacks.
 */
import type { StorePathInfo } from '../image-tree.ts';

/** A binary cache and the keys trusted to sign for it (Nix's `substituters` and `trusted-public-keys`). */
export interface BinaryCache {
  /** `https://…` or `http://…`, without a trailing slash. */
  url: string;
  /** `<name>:<base64>` public keys. */
  publicKeys: string[];
}

export const DEFAULT_CACHE_URL = 'https://cache.nixos.org';
export const DEFAULT_CACHE_KEY = 'cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=';
/** Nix's defaults: cache.nixos.org and its key. */
export const DEFAULT_CACHES: readonly BinaryCache[] = Object.freeze([
  { url: DEFAULT_CACHE_URL, publicKeys: [DEFAULT_CACHE_KEY] },
]);

/** Normalizes a cache URL; returns what is wrong as a string. */
export function normalizeCacheUrl(text: string): string | { url: string } {
  let u: URL;
  try {
    u = new URL(text.trim());
  } catch {
    return `"${text.slice(0, 200)}" is not a URL`;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:')
    return `${u.protocol} caches cannot be used here; give an http:// or https:// URL`;
  if (u.username || u.password) return 'a cache URL must not carry a user name or password';
  if (u.search || u.hash) return 'a cache URL must not have a query or fragment';
  return { url: u.href.replace(/\/+$/, '') };
}

/**
 * What to look up for a resolved set of inputs plus store paths named on their own: the
 * closure's paths without contents (their manifest NAR hashes must match the caches'),
 * references of present paths that nothing holds, and the named paths; paths with contents
 * are not fetched.
 */
export function substitutionRequest(
  closure: readonly StorePathInfo[],
  storePaths: readonly string[],
): { roots: string[]; have: Set<string>; known: Map<string, string> } {
  const have = new Set<string>();
  const known = new Map<string, string>();
  const roots: string[] = [];
  const inClosure = new Set(closure.map((c) => c.path));
  for (const c of closure) {
    if (c.contents === 'present') have.add(c.path);
    else {
      roots.push(c.path);
      if (c.narHash) known.set(c.path, c.narHash);
    }
  }
  for (const c of closure) for (const r of c.references) if (!inClosure.has(r)) roots.push(r);
  for (const p of storePaths) roots.push(p.trim());
  return { roots: [...new Set(roots)], have, known };
}

/** `1.2 MB`-style sizes for messages. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} bytes`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}
