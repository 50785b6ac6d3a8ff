/**
 * Nix binary cache metadata: `nix-cache-info` and `<hash>.narinfo` as Nix's HTTP binary
 * caches serve them, parsed strictly (every byte comes from a server), and the signature
 * check Nix applies to a narinfo before it trusts it.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { formatNarHash, parseSha256 } from '../nix-base32.ts';
import { STORE_DIR, storeBaseProblem, storePathProblem } from '../store-path.ts';
import { base64Bytes, type PublicKey, printable } from './public-key.ts';

export { checkPublicKeys, type PublicKey, parsePublicKey } from './public-key.ts';

/** `Compression:` values the studio can decompress. */
export type NarCompression = 'xz' | 'zstd' | 'bzip2' | 'none';
const COMPRESSIONS: readonly NarCompression[] = ['xz', 'zstd', 'bzip2', 'none'];

/** What `nix-cache-info` says. */
export interface CacheInfo {
  storeDir: string;
  /** Lower is preferred, as in Nix (default 50). */
  priority: number;
}

/** A parsed narinfo. Paths are full store paths; hashes are `sha256:<nix base32>`. */
export interface NarInfo {
  storePath: string;
  /** Where the NAR is, relative to the cache (or absolute on the cache's origin). */
  url: string;
  compression: NarCompression;
  /** sha256 of the compressed file, when the cache says. */
  fileHash?: string;
  fileSize?: number;
  narHash: string;
  narSize: number;
  /** Full store paths, sorted, without duplicates. */
  references: string[];
  /** Full store path of the deriver, or `''`. */
  deriver: string;
  /** `Sig:` lines, `<key name>:<base64 signature>`. */
  sigs: string[];
}

/** A narinfo or cache-info that cannot be used; `message` says what is wrong, in a sentence fragment. */
export class NarInfoError extends Error {
  override name = 'NarInfoError';
}

/** Longest metadata file accepted (a narinfo lists references; 4 MiB is over 100,000 of them). */
export const MAX_METADATA_BYTES = 4 << 20;

/** True when a body looks like an HTML page (a web server's index or error page) rather than metadata. */
export function looksLikeHtml(text: string, contentType = ''): boolean {
  return /text\/html/i.test(contentType) || /^\s*<(!doctype|html|head|body|\?xml|!--)/i.test(text.slice(0, 512));
}

function fields(text: string, what: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, '');
    if (line === '') continue;
    const colon = line.indexOf(': ');
    if (colon <= 0) throw new NarInfoError(`line ${i + 1} of the ${what} is not "Key: value": "${printable(line)}"`);
    const key = line.slice(0, colon);
    if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(key))
      throw new NarInfoError(`line ${i + 1} of the ${what} has a malformed key "${printable(key)}"`);
    let list = out.get(key);
    if (!list) out.set(key, (list = []));
    list.push(line.slice(colon + 2));
  }
  return out;
}

function one(f: Map<string, string[]>, key: string, what: string): string | undefined {
  const v = f.get(key);
  if (!v) return undefined;
  if (v.length > 1) throw new NarInfoError(`the ${what} has ${v.length} "${key}" lines`);
  return v[0];
}

function size(text: string, key: string): number {
  if (!/^[0-9]{1,16}$/.test(text)) throw new NarInfoError(`its ${key} "${printable(text)}" is not a size`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new NarInfoError(`its ${key} ${printable(text)} is too large`);
  return n;
}

function sha256Field(text: string, key: string): string {
  if (!text.startsWith('sha256:')) throw new NarInfoError(`its ${key} "${printable(text)}" is not a sha256 hash`);
  const d = parseSha256(text);
  if (!d) throw new NarInfoError(`its ${key} "${printable(text)}" is not a sha256 hash`);
  return formatNarHash(d);
}

/** Parses `nix-cache-info`. Throws {@link NarInfoError}. */
export function parseCacheInfo(text: string): CacheInfo {
  const f = fields(text, 'nix-cache-info');
  const storeDir = one(f, 'StoreDir', 'nix-cache-info');
  if (storeDir === undefined) throw new NarInfoError('its nix-cache-info has no StoreDir');
  const p = one(f, 'Priority', 'nix-cache-info');
  const priority = p === undefined ? 50 : size(p, 'Priority');
  return { storeDir, priority };
}

/**
 * Parses a narinfo that should describe `expectedPath`. Throws {@link NarInfoError} when it is
 * malformed or describes another path. A missing `Compression:` means bzip2, as in Nix.
 */
export function parseNarInfo(text: string, expectedPath: string): NarInfo {
  const f = fields(text, 'narinfo');
  const storePath = one(f, 'StorePath', 'narinfo');
  if (storePath === undefined) throw new NarInfoError('the narinfo has no StorePath');
  const bad = storePathProblem(storePath);
  if (bad) throw new NarInfoError(`its StorePath "${printable(storePath)}" is not a store path: ${bad}`);
  if (storePath !== expectedPath) throw new NarInfoError(`it describes ${printable(storePath)} instead`);
  const url = one(f, 'URL', 'narinfo');
  if (!url) throw new NarInfoError('the narinfo has no URL');
  const comp = one(f, 'Compression', 'narinfo') ?? 'bzip2';
  if (!COMPRESSIONS.includes(comp as NarCompression))
    throw new NarInfoError(`its Compression "${printable(comp)}" is not one of ${COMPRESSIONS.join(', ')}`);
  const narHashText = one(f, 'NarHash', 'narinfo');
  if (!narHashText) throw new NarInfoError('the narinfo has no NarHash');
  const narSizeText = one(f, 'NarSize', 'narinfo');
  if (!narSizeText) throw new NarInfoError('the narinfo has no NarSize');
  const narSize = size(narSizeText, 'NarSize');
  if (narSize === 0) throw new NarInfoError('its NarSize is 0');
  const info: NarInfo = {
    storePath,
    url,
    compression: comp as NarCompression,
    narHash: sha256Field(narHashText, 'NarHash'),
    narSize,
    references: [],
    deriver: '',
    sigs: f.get('Sig') ?? [],
  };
  const fileHash = one(f, 'FileHash', 'narinfo');
  if (fileHash !== undefined) info.fileHash = sha256Field(fileHash, 'FileHash');
  const fileSize = one(f, 'FileSize', 'narinfo');
  if (fileSize !== undefined) info.fileSize = size(fileSize, 'FileSize');
  const refs = one(f, 'References', 'narinfo') ?? '';
  const set = new Set<string>();
  for (const r of refs.split(' ')) {
    if (r === '') continue;
    const why = storeBaseProblem(r);
    if (why) throw new NarInfoError(`its reference "${printable(r)}" is not a store path: ${why}`);
    set.add(`${STORE_DIR}/${r}`);
  }
  info.references = [...set].sort();
  const deriver = one(f, 'Deriver', 'narinfo');
  if (deriver && deriver !== 'unknown-deriver') {
    const why = storeBaseProblem(deriver);
    if (why) throw new NarInfoError(`its Deriver "${printable(deriver)}" is not a store path: ${why}`);
    info.deriver = `${STORE_DIR}/${deriver}`;
  }
  return info;
}

// ---- signatures -------------------------------------------------------------------------

/**
 * Nix's signed fingerprint of a path (`ValidPathInfo::fingerprint`):
 * `1;<store path>;<sha256:base32 NarHash>;<NarSize>;<sorted full references, comma-separated>`.
 */
export function fingerprint(info: Pick<NarInfo, 'storePath' | 'narHash' | 'narSize' | 'references'>): string {
  return `1;${info.storePath};${info.narHash};${info.narSize};${[...info.references].sort().join(',')}`;
}

/** The outcome of checking a narinfo's signatures against trusted keys. */
export type SignatureVerdict =
  | { ok: true; signedBy: string }
  | { ok: false; reason: 'unsigned' | 'untrusted' | 'invalid'; keyNames: string[] };

/** A narinfo counts when one `Sig:` by a trusted key verifies over its fingerprint. */
export function checkSignatures(info: NarInfo, trusted: readonly PublicKey[]): SignatureVerdict {
  if (info.sigs.length === 0) return { ok: false, reason: 'unsigned', keyNames: [] };
  const msg = new TextEncoder().encode(fingerprint(info));
  const names: string[] = [];
  let invalid = false;
  for (const sig of info.sigs) {
    const colon = sig.indexOf(':');
    const name = colon > 0 ? sig.slice(0, colon) : '';
    names.push(printable(name || sig));
    const key = trusted.find((k) => k.name === name);
    if (!key) continue;
    const bytes = base64Bytes(sig.slice(colon + 1));
    let good = false;
    try {
      // Strict RFC 8032 verification, as libsodium's crypto_sign_verify_detached in Nix.
      good = bytes !== null && bytes.length === 64 && ed25519.verify(bytes, msg, key.key, { zip215: false });
    } catch {
      good = false;
    }
    if (good) return { ok: true, signedBy: name };
    invalid = true;
  }
  return { ok: false, reason: invalid ? 'invalid' : 'untrusted', keyNames: names };
}
