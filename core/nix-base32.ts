/**
 * Nix's base32: alphabet without e, o, u, t and the bits taken from the END of the digest
 * first, so it is not RFC 4648. Also parses the hash spellings Nix accepts for sha256.
 */
import { StorePathError } from './errors.ts';

/** The 32 characters of Nix's base32 alphabet, in digit order. */
export const NIX_BASE32_ALPHABET = '0123456789abcdfghijklmnpqrsvwxyz';

const DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < NIX_BASE32_ALPHABET.length; i++) DIGIT[NIX_BASE32_ALPHABET.charCodeAt(i)] = i;

/** Length of the Nix base32 encoding of `bytes` bytes (52 for sha256, 32 for a store path hash). */
export function nixBase32Length(bytes: number): number {
  return Math.floor((bytes * 8 - 1) / 5) + 1;
}

/** Encodes bytes the way Nix's `printHash32` does. */
export function encodeNixBase32(bytes: Uint8Array): string {
  const len = nixBase32Length(bytes.length);
  let out = '';
  for (let n = len - 1; n >= 0; n--) {
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    const c = (bytes[i] >> j) | (i >= bytes.length - 1 ? 0 : bytes[i + 1] << (8 - j));
    out += NIX_BASE32_ALPHABET[c & 0x1f];
  }
  return out;
}

/** True when every character of `s` is in the Nix base32 alphabet. */
export function isNixBase32(s: string): boolean {
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c >= 128 || DIGIT[c] < 0) return false;
  }
  return true;
}

/**
 * Decodes Nix base32 into `size` bytes; returns null on a bad character, a wrong length or
 * set bits beyond the digest (Nix refuses those too).
 */
export function decodeNixBase32(s: string, size: number): Uint8Array | null {
  if (s.length !== nixBase32Length(size)) return null;
  const out = new Uint8Array(size);
  for (let n = 0; n < s.length; n++) {
    const c = s.charCodeAt(s.length - n - 1);
    const digit = c < 128 ? DIGIT[c] : -1;
    if (digit < 0) return null;
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    out[i] |= (digit << j) & 0xff;
    const carry = digit >> (8 - j);
    if (i < size - 1) out[i + 1] |= carry;
    else if (carry) return null;
  }
  return out;
}

/** Lowercase hex. */
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += bytes[i].toString(16).padStart(2, '0');
  return s;
}

function fromHex(s: string): Uint8Array | null {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return null;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function fromBase64(s: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) return null;
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Formats a sha256 digest as Nix stores NAR hashes in manifests: `sha256:<nix base32>`. */
export function formatNarHash(digest: Uint8Array): string {
  return 'sha256:' + encodeNixBase32(digest);
}

/**
 * Parses a sha256 in any spelling Nix accepts: `sha256:<base32|base16|base64>`, SRI
 * `sha256-<base64>`, or untyped base32 (52 chars) / base16 (64 chars).
 * Returns the 32-byte digest, or null when it is not a sha256.
 */
export function parseSha256(text: string): Uint8Array | null {
  let s = text.trim();
  if (s.startsWith('sha256-')) {
    const d = fromBase64(s.slice(7));
    return d && d.length === 32 ? d : null;
  }
  if (s.startsWith('sha256:')) s = s.slice(7);
  else if (s.includes(':') || s.includes('-')) return null;
  if (s.length === 64) return fromHex(s);
  if (s.length === 52) return decodeNixBase32(s, 32);
  if (s.length === 44) {
    const d = fromBase64(s);
    return d && d.length === 32 ? d : null;
  }
  return null;
}

/**
 * Normalizes a NAR hash to `sha256:<nix base32>`; throws `StorePathError` (`hash-malformed`)
 * when it is not a sha256 in a spelling Nix accepts.
 */
export function normalizeNarHash(text: string, input: string, path?: string): string {
  const d = parseSha256(text);
  if (!d) {
    throw new StorePathError({
      code: 'hash-malformed',
      input,
      path,
      message: `"${text.slice(0, 80)}" is not a sha256 NAR hash.`,
      hint: 'Use sha256:<52 base32 chars>, sha256:<64 hex chars> or sha256-<base64> as Nix prints them.',
    });
  }
  return formatNarHash(d);
}
