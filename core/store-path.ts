/** Nix store path syntax: `/nix/store/<32 nix-base32 chars>-<name>`. */
import { StorePathError } from './errors.ts';
import { isNixBase32 } from './nix-base32.ts';

/** The only store directory the image supports (the one `nix-store --load-db` expects). */
export const STORE_DIR = '/nix/store';
/** Longest name part Nix allows (a store path base is at most 32 + 1 + 211 = 244 bytes). */
export const MAX_STORE_NAME_LENGTH = 211;

const NAME_RE = /^[A-Za-z0-9+\-._?=]+$/;

/** Why a store path base (`<hash>-<name>`) is invalid, or null when it is valid. */
export function storeBaseProblem(base: string): string | null {
  if (base.length < 34) return 'it is shorter than a 32-character hash, a dash and a name';
  const hash = base.slice(0, 32);
  if (!isNixBase32(hash))
    return `its hash part "${hash}" has characters outside Nix's base32 alphabet (0-9 a-z without e o u t)`;
  if (base[32] !== '-') return 'the 32-character hash is not followed by a dash';
  const name = base.slice(33);
  if (name.length > MAX_STORE_NAME_LENGTH) return `its name is longer than ${MAX_STORE_NAME_LENGTH} characters`;
  if (!NAME_RE.test(name)) return 'its name has characters other than A-Z a-z 0-9 + - . _ ? =';
  if (name.startsWith('.')) return 'its name starts with a dot';
  return null;
}

/** True when `base` is a valid `<hash>-<name>`. */
export function isStoreBase(base: string): boolean {
  return storeBaseProblem(base) === null;
}

/** Why a full store path is invalid, or null when it is valid. */
export function storePathProblem(path: string): string | null {
  if (!path.startsWith(STORE_DIR + '/')) return `it does not start with ${STORE_DIR}/`;
  const base = path.slice(STORE_DIR.length + 1);
  if (base.includes('/')) return 'it names a file inside a store path, not a store path';
  return storeBaseProblem(base);
}

/** True when `path` is a valid `/nix/store/<hash>-<name>`. */
export function isStorePath(path: string): boolean {
  return storePathProblem(path) === null;
}

/**
 * Validates a full store path and returns it; throws `StorePathError` (`store-path-malformed`).
 */
export function parseStorePath(path: string, input: string): string {
  const why = storePathProblem(path);
  if (why) {
    throw new StorePathError({
      code: 'store-path-malformed',
      input,
      path,
      message: `"${path.slice(0, 300)}" is not a valid store path: ${why}.`,
      hint: 'Store paths look like /nix/store/<32 base32 chars>-<name>; check the file is a Nix closure manifest and was not edited.',
    });
  }
  return path;
}

/** `/nix/store/abc-foo` -> `abc-foo`; a base name is returned as is. */
export function storeBaseOf(pathOrBase: string): string {
  return pathOrBase.startsWith(STORE_DIR + '/') ? pathOrBase.slice(STORE_DIR.length + 1) : pathOrBase;
}

/** Full store path for a base or a full path (references in path-info JSON may be either). */
export function toStorePath(pathOrBase: string): string {
  return pathOrBase.startsWith('/') ? pathOrBase : `${STORE_DIR}/${pathOrBase}`;
}
