/**
 * Nix's public keys for binary caches (`trusted-public-keys`), parsed without the
 * signature code: the command line checks `--trusted-public-key` before it knows whether
 * it will fetch, and the ed25519 package is loaded only by what verifies (narinfo.ts).
 */

/** A trusted public key: `<name>:<base64 of 32 bytes>` as in Nix's `trusted-public-keys`. */
export interface PublicKey {
  name: string;
  key: Uint8Array;
}

/** `s` with everything but printable ASCII as `?`, at most 80 characters (for messages). */
export function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 80);
}

/** Strict base64 (padded, standard alphabet) to bytes; null when it is not. */
export function base64Bytes(s: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) return null;
  try {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}

/** Parses `name:base64`; returns what is wrong with it as a string. */
export function parsePublicKey(text: string): PublicKey | string {
  const t = text.trim();
  const colon = t.indexOf(':');
  if (colon <= 0) return `"${printable(t)}" is not of the form <name>:<base64 key>`;
  const key = base64Bytes(t.slice(colon + 1));
  if (key?.length !== 32)
    return `the key "${printable(t)}" is not 32 bytes of base64 after its name (it may be a secret key)`;
  return { name: t.slice(0, colon), key };
}

/** Parses a list of public keys; duplicates by name keep the first. */
export function checkPublicKeys(texts: readonly string[]): { keys: PublicKey[]; problems: string[] } {
  const keys: PublicKey[] = [];
  const problems: string[] = [];
  for (const t of texts) {
    if (!t.trim()) continue;
    const k = parsePublicKey(t);
    if (typeof k === 'string') problems.push(k);
    else if (!keys.some((x) => x.name === k.name)) keys.push(k);
  }
  return { keys, problems };
}
