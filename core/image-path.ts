/**
 * Paths and names inside an image, one set of rules for every layer: what a name may be
 * (ext4: any bytes but `/` and NUL, at most 255 bytes, never `.` or `..`), the normal form of
 * an image path (`/a/b`: absolute, no empty, `.` or `..` parts, no trailing `/`), and the
 * order images and NARs list names in.
 */
import { InputError } from './errors.ts';
import type { InputProblem } from './image-tree.ts';

/** Longest file name ext4 stores, bytes (EXT4_NAME_LEN). */
export const MAX_NAME_BYTES = 255;

/**
 * Bytes of `s` as UTF-8, as TextEncoder writes it (a lone surrogate becomes U+FFFD, 3
 * bytes), counted without encoding: names are checked by the million on large trees.
 */
export function utf8ByteLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/** Why `name` cannot be one file name in an ext filesystem, as a sentence for people, or undefined. */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return 'A name cannot be empty.';
  if (name === '.' || name === '..') return `"${name}" is reserved.`;
  if (name.includes('/')) return 'A name cannot contain "/".';
  if (name.includes('\0')) return 'A name cannot contain a NUL character.';
  // A UTF-16 unit is at most 3 bytes of UTF-8: only long names need counting.
  if (name.length * 3 > MAX_NAME_BYTES && utf8ByteLength(name) > MAX_NAME_BYTES)
    return `A name can be at most ${MAX_NAME_BYTES} bytes long.`;
  return undefined;
}

/** A sentence as a clause to follow a colon: `A name cannot be empty.` -> `a name cannot be empty`. */
export function asClause(sentence: string): string {
  return sentence.charAt(0).toLowerCase() + sentence.slice(1).replace(/\.$/, '');
}

/**
 * Whether `path` is an image path in normal form below `/` (`/a/b`: no empty, `.` or `..`
 * names, every name a valid one): {@link imagePathProblem} without building anything, for
 * the 400,000 paths of a walked folder.
 */
export function isNormalImagePath(path: string): boolean {
  if (path.length < 2 || path.charCodeAt(0) !== 0x2f) return false;
  let start = 1;
  for (let i = 1; i <= path.length; i++) {
    const c = i < path.length ? path.charCodeAt(i) : 0x2f;
    if (c === 0) return false;
    if (c !== 0x2f) continue;
    const len = i - start;
    if (len === 0) return false;
    if (len <= 2 && path.charCodeAt(start) === 0x2e && (len === 1 || path.charCodeAt(start + 1) === 0x2e)) return false;
    if (len * 3 > MAX_NAME_BYTES && utf8ByteLength(path.slice(start, i)) > MAX_NAME_BYTES) return false;
    start = i + 1;
  }
  return true;
}

/** Why `path` is not an image path in normal form (`/`, `/a/b`), or undefined. */
export function imagePathProblem(path: string): string | undefined {
  if (path === '/') return undefined;
  if (!path.startsWith('/') || path.endsWith('/')) return `"${path}" is not an absolute path in normal form (/a/b).`;
  for (const name of path.slice(1).split('/')) {
    const why = nameProblem(name);
    if (why) return why;
  }
  return undefined;
}

/** A path given to the engine that cannot name anything in an image. */
export class ImagePathError extends InputError {
  constructor(
    readonly imagePath: string,
    /** What is wrong, as a clause (`"." is reserved`). */
    readonly reason: string,
  ) {
    super({
      code: 'path-invalid',
      input: 'image',
      path: imagePath,
      message: `"${imagePath}" is not a valid image path: ${reason}.`,
      hint: 'Use an absolute path such as /etc/hosts, without "." or ".." parts.',
    });
  }
}

/**
 * Normalizes a path given by people or code to the normal form: `//etc/x/` -> `/etc/x`.
 * Throws {@link ImagePathError} when it is relative or has a `.` or `..` part or a name that
 * cannot be (strict: a path that does not say exactly where it goes is refused, not guessed).
 */
export function normalizeImagePath(path: string): string {
  if (!path.startsWith('/')) throw new ImagePathError(path, 'paths in the image start with /');
  const names: string[] = [];
  for (const name of path.split('/')) {
    if (name === '') continue;
    const why = nameProblem(name);
    if (why) throw new ImagePathError(path, asClause(why));
    names.push(name);
  }
  return '/' + names.join('/');
}

/**
 * Normalizes a path as an archive names it, relative to where the archive goes: `./a//b/`
 * -> `a/b`, `.` or `./` -> `` (the root itself). Returns a reason (a clause) instead when it is
 * absolute, climbs out with `..`, or has a name that cannot be.
 */
export function normalizeRelativePath(raw: string): { path: string } | { reason: string } {
  if (raw.startsWith('/')) return { reason: 'it is absolute' };
  const names: string[] = [];
  for (const name of raw.split('/')) {
    if (name === '' || name === '.') continue;
    if (name === '..') return { reason: 'it climbs out with ".."' };
    const why = nameProblem(name);
    if (why) return { reason: asClause(why) };
    names.push(name);
  }
  return { path: names.join('/') };
}

/** A problem for an archive member whose name cannot be placed where the archive goes. */
export function pathEscapesProblem(input: string, raw: string, reason: string): InputProblem {
  return {
    severity: 'error',
    code: 'path-escapes',
    input,
    path: raw.slice(0, 4096),
    message: `The member "${raw.slice(0, 200)}" cannot be placed: ${reason}.`,
    hint: 'Recreate the archive with relative paths inside it (tar -C dir -cf x.tar .), or remove this member.',
  };
}

/** `dir` + a relative path or one name (`''` is `dir` itself). */
export function joinImagePath(dir: string, rel: string): string {
  if (!rel) return dir;
  return dir === '/' ? `/${rel}` : `${dir}/${rel}`;
}

/** The folder holding `path` (`/` for `/` and its children). */
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** The last name of `path` (`''` for `/`). */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** The names of an absolute path; `/` gives `[]`. */
export function splitImagePath(path: string): string[] {
  return path.split('/').filter((name) => name.length > 0);
}

/**
 * Compares file names in UTF-8 byte order (what ext4 and NAR sort by). JS compares UTF-16
 * units, which differs only for astral characters (surrogates sort after U+E000..U+FFFF in UTF-8).
 */
export function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      const xs = x >= 0xd800 && x <= 0xdfff;
      const ys = y >= 0xd800 && y <= 0xdfff;
      if (xs !== ys) return xs ? 1 : -1;
      return x - y;
    }
  }
  return a.length - b.length;
}

/** Depth-first order of image paths: parents before children, siblings by `compareNames`. */
export function compareImagePaths(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '/') return -1;
  if (b === '/') return 1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      if (x === 0x2f) return -1; // `/a/b` (inside a) before `/a-c`
      if (y === 0x2f) return 1;
      const ea = a.indexOf('/', i);
      const eb = b.indexOf('/', i);
      const sa = a.lastIndexOf('/', i) + 1;
      return compareNames(a.slice(sa, ea < 0 ? undefined : ea), b.slice(sa, eb < 0 ? undefined : eb));
    }
  }
  return a.length - b.length;
}
