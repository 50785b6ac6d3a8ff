/**
 * Tar reading: ustar, pax (`x` and global `g` headers: path, linkpath, size, mtime, uid,
 * gid) and GNU (`L` long names, `K` long links, base-256 numbers). Uncompressed archives are
 * read in place (member bytes are slices of the input); `.tar.gz`/`.tar.zst` are streamed and
 * member bytes collected into Blobs, within an expansion limit.
 */
import type { ByteSource, InputProblem } from './image-tree.ts';
import { TarError } from './errors.ts';
import type { Cursor } from './io/cursor.ts';
import { type Compression, type OpenCursorOptions, openCursor } from './io/open-cursor.ts';
import type { RandomAccessReader } from './io/random-access-reader.ts';

/** One member of an archive, after pax/GNU overrides are applied. */
export interface TarMember {
  /** The member's name as the archive spells it (not yet normalized: may be `./x`, `/x`, `a/../b`). */
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'hardlink';
  /** Permission bits (mask 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch (pax fractions dropped). */
  mtime: number;
  /** Bytes of a file; 0 for others. */
  size: number;
  source?: ByteSource;
  /** Symlink target, or for a hard link the archive name of the file it shares. */
  linkTarget?: string;
}

export interface ParsedTar {
  members: TarMember[];
  /** Skipped devices/fifos and other oddities, as warnings. */
  warnings: InputProblem[];
  compression: Compression;
}

export interface ParseTarOptions {
  /** Input name for messages. Default: the cursor's / reader's name. */
  input?: string;
  /** Largest pax or GNU long-name header accepted, bytes. Default 1 MiB. */
  maxMetaHeaderBytes?: number;
}

const BLOCK = 512;
const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeName(b: Uint8Array, lossy?: { names: boolean }): string {
  try {
    return utf8.decode(b);
  } catch {
    // Pre-UTF-8 archives: keep every byte as one character rather than failing (a warning
    // names the member: its name in the image is the UTF-8 form of those characters).
    if (lossy) lossy.names = true;
    return latin1.decode(b);
  }
}

function cstr(b: Uint8Array, at: number, len: number): Uint8Array {
  const f = b.subarray(at, at + len);
  const nul = f.indexOf(0);
  return nul < 0 ? f : f.subarray(0, nul);
}

/** Error for a tar that ends early. */
export function tarEofError(input: string, at: number): TarError {
  return new TarError({
    code: 'tar-truncated',
    input,
    message: `${input} ends in the middle of a tar member (at byte ${at} of the archive).`,
    hint: 'The archive is truncated; download or create it again.',
  });
}

interface PaxState {
  path?: string;
  linkpath?: string;
  size?: number;
  mtime?: number;
  uid?: number;
  gid?: number;
}

/**
 * Parses a tar stream from `cursor` to its end marker (or the end of input at a header).
 * Throws `TarError` for corrupt headers, bad checksums, truncation and sparse members.
 */
export async function parseTar(
  cursor: Cursor,
  options: ParseTarOptions = {},
): Promise<{ members: TarMember[]; warnings: InputProblem[] }> {
  const input = options.input ?? cursor.name;
  const maxMeta = options.maxMetaHeaderBytes ?? 1 << 20;
  const members: TarMember[] = [];
  const warnings: InputProblem[] = [];
  /** Set when a name or link target of the member being read was not UTF-8. */
  const lossy = { names: false };
  let lossyMembers = 0;
  const fail = (code: string, message: string, path?: string, hint?: string) =>
    new TarError({
      code,
      input,
      path,
      message,
      hint: hint ?? 'The archive is corrupt or not a tar; create it again with tar (ustar, pax or GNU format).',
    });

  const num = (h: Uint8Array, at: number, len: number, what: string, path?: string): number => {
    const f = h.subarray(at, at + len);
    if (f[0] & 0x80) {
      // GNU base-256: 0x80 positive, 0xff negative, big-endian two's complement.
      const neg = f[0] === 0xff;
      if (!neg && f[0] !== 0x80)
        throw fail('tar-bad-number', `The ${what} field of a tar header has an invalid base-256 marker.`, path);
      let v = 0;
      for (let i = 1; i < len; i++) {
        v = v * 256 + (neg ? 255 - f[i] : f[i]);
        if (v > Number.MAX_SAFE_INTEGER)
          throw fail('tar-bad-number', `The ${what} field of a tar header is too large.`, path);
      }
      return neg ? -v - 1 : v;
    }
    let i = 0;
    while (i < len && (f[i] === 0x20 || f[i] === 0)) {
      if (f[i] === 0 && i === 0) return 0; // an all-NUL field reads as 0
      i++;
    }
    let v = 0;
    let digits = 0;
    for (; i < len; i++) {
      const c = f[i];
      if (c === 0 || c === 0x20) break;
      if (c < 0x30 || c > 0x37)
        throw fail('tar-bad-number', `The ${what} field of a tar header is not an octal number.`, path);
      v = v * 8 + (c - 0x30);
      digits++;
    }
    for (; i < len; i++) {
      if (f[i] !== 0 && f[i] !== 0x20)
        throw fail('tar-bad-number', `The ${what} field of a tar header has junk after its number.`, path);
    }
    return digits ? v : 0;
  };

  const parsePax = (data: Uint8Array, into: PaxState): void => {
    let at = 0;
    while (at < data.length) {
      if (data[at] === 0) break; // some writers pad with NULs
      const sp = data.indexOf(0x20, at);
      if (sp < 0 || sp - at > 20) throw fail('tar-bad-pax', 'A pax extended header has a record without a length.');
      const lenText = latin1.decode(data.subarray(at, sp));
      if (!/^[0-9]+$/.test(lenText))
        throw fail('tar-bad-pax', 'A pax extended header has a record with a non-numeric length.');
      const len = Number(lenText);
      if (len < sp - at + 3 || at + len > data.length || data[at + len - 1] !== 0x0a)
        throw fail('tar-bad-pax', 'A pax extended header has a record whose length does not match its contents.');
      const rec = data.subarray(sp + 1, at + len - 1);
      const eq = rec.indexOf(0x3d);
      if (eq <= 0) throw fail('tar-bad-pax', 'A pax extended header has a record without "key=value".');
      const key = latin1.decode(rec.subarray(0, eq));
      const valBytes = rec.subarray(eq + 1);
      const val = decodeName(valBytes, key === 'path' || key === 'linkpath' ? lossy : undefined);
      const int = (what: string): number => {
        if (!/^-?[0-9]+(\.[0-9]*)?$/.test(val))
          throw fail('tar-bad-pax', `The pax ${what} "${val.slice(0, 40)}" is not a number.`);
        const n = Math.floor(Number(val));
        if (!Number.isSafeInteger(n))
          throw fail('tar-bad-pax', `The pax ${what} "${val.slice(0, 40)}" is out of range.`);
        return n;
      };
      switch (key) {
        case 'path':
          into.path = val;
          break;
        case 'linkpath':
          into.linkpath = val;
          break;
        case 'size': {
          const n = int('size');
          if (n < 0) throw fail('tar-bad-pax', 'A pax size is negative.');
          into.size = n;
          break;
        }
        case 'mtime':
          into.mtime = int('mtime');
          break;
        case 'uid':
          into.uid = int('uid');
          break;
        case 'gid':
          into.gid = int('gid');
          break;
        default:
          if (key.startsWith('GNU.sparse.')) {
            throw fail(
              'tar-unsupported',
              'The archive holds a sparse file (GNU.sparse pax records), which is not supported.',
              into.path,
              'Create the archive without --sparse.',
            );
          }
        // Other keys (atime, ctime, uname, gname, SCHILY.*, LIBARCHIVE.*) do not affect the image.
      }
      at += len;
    }
  };

  const readMeta = async (size: number, what: string): Promise<Uint8Array> => {
    if (size > maxMeta) throw fail('tar-bad-pax', `A ${what} is ${size} bytes, more than the ${maxMeta} accepted.`);
    const b = (await cursor.read(size)).slice();
    await cursor.skip((BLOCK - (size % BLOCK)) % BLOCK);
    return b;
  };

  const global: PaxState = {};
  let local: PaxState = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  let first = true;

  for (;;) {
    if (await cursor.atEnd()) {
      if (first)
        throw fail('tar-not-tar', `${input} is empty.`, undefined, 'Give a tar archive (.tar, .tar.gz, .tar.zst).');
      break;
    }
    const headerAt = cursor.position;
    let h: Uint8Array;
    try {
      h = (await cursor.read(BLOCK)).slice();
    } catch (err) {
      if (first && err instanceof TarError && err.code === 'tar-truncated')
        throw fail(
          'tar-not-tar',
          `${input} is too short to be a tar archive.`,
          undefined,
          'Give a tar archive (.tar, .tar.gz, .tar.zst).',
        );
      throw err;
    }
    let zero = true;
    for (let i = 0; i < BLOCK; i++)
      if (h[i] !== 0) {
        zero = false;
        break;
      }
    if (zero) {
      if (first)
        throw fail(
          'tar-not-tar',
          `${input} starts with an empty block, not a tar header.`,
          undefined,
          'Give a tar archive (.tar, .tar.gz, .tar.zst).',
        );
      break; // end of archive; a second zero block and any padding after it are not read
    }
    // Checksum: header bytes summed with the checksum field as spaces (signed sums accepted too).
    let sumU = 0;
    let sumS = 0;
    for (let i = 0; i < BLOCK; i++) {
      const c = i >= 148 && i < 156 ? 0x20 : h[i];
      sumU += c;
      sumS += c > 127 ? c - 256 : c;
    }
    let stored: number;
    try {
      stored = num(h, 148, 8, 'checksum');
    } catch {
      stored = -1;
    }
    if (stored !== sumU && stored !== sumS) {
      if (first)
        throw fail(
          'tar-not-tar',
          `${input} is not a tar archive (its first header's checksum does not match).`,
          undefined,
          'Give a tar archive (.tar, .tar.gz, .tar.zst), or a closure file as a closure input.',
        );
      throw fail('tar-bad-checksum', `A tar header's checksum does not match (header at byte ${headerAt}).`);
    }
    first = false;
    const typeflag = String.fromCharCode(h[156] || 0x30);
    const magic = latin1.decode(h.subarray(257, 263));
    const isUstar = magic === 'ustar\0' && h[263] === 0x30 && h[264] === 0x30;
    let name = decodeName(cstr(h, 0, 100), lossy);
    if (isUstar) {
      const prefix = cstr(h, 345, 155);
      if (prefix.length) name = decodeName(prefix, lossy) + '/' + name;
    }
    const pathForErr = longName ?? local.path ?? name;
    let size = num(h, 124, 12, 'size', pathForErr);
    if (size < 0) throw fail('tar-bad-number', 'A tar header has a negative size.', pathForErr);
    const paddingOf = (n: number) => (BLOCK - (n % BLOCK)) % BLOCK;

    // Metadata members that apply to the next header.
    if (typeflag === 'x' || typeflag === 'g') {
      const data = await readMeta(size, 'pax extended header');
      parsePax(data, typeflag === 'x' ? local : global);
      continue;
    }
    if (typeflag === 'L' || typeflag === 'K') {
      const data = await readMeta(size, 'GNU long name');
      const v = decodeName(cstr(data, 0, data.length), lossy);
      if (typeflag === 'L') longName = v;
      else longLink = v;
      continue;
    }

    const pax: PaxState = { ...global, ...local };
    const path = longName ?? pax.path ?? name;
    const linkTarget = longLink ?? pax.linkpath ?? decodeName(cstr(h, 157, 100), lossy);
    if (pax.size !== undefined) size = pax.size;
    const mode = num(h, 100, 8, 'mode', path) & 0o7777;
    const uid = pax.uid ?? num(h, 108, 8, 'uid', path);
    const gid = pax.gid ?? num(h, 116, 8, 'gid', path);
    const mtime = pax.mtime ?? num(h, 136, 12, 'mtime', path);
    local = {};
    longName = undefined;
    longLink = undefined;

    for (const [what, id] of [
      ['uid', uid],
      ['gid', gid],
    ] as const) {
      // ext4 keeps 32-bit owners: a larger or negative one would wrap to another owner.
      if (id < 0 || id > 0xffffffff)
        throw fail(
          'tar-bad-owner',
          `The member ${path} has ${what} ${id}, outside 0..4294967295 (the 32-bit owners ext4 stores).`,
          path,
          'Recreate the archive with real owners (or --owner=0 --group=0).',
        );
    }
    if (lossy.names) {
      lossy.names = false;
      if (++lossyMembers <= 20)
        warnings.push({
          severity: 'warning',
          code: 'tar-name-not-utf8',
          input,
          path,
          message: `The name or link target of ${path} is not UTF-8 in the archive; its bytes were read as Latin-1 and go into the image as the UTF-8 name shown.`,
          hint: 'Recreate the archive from names in UTF-8 (e.g. convmv -f latin1 -t utf8) if the original bytes matter.',
        });
    }
    const base = { path, mode, uid, gid, mtime };
    const skipData = async () => {
      await cursor.skip(size);
      await cursor.skip(paddingOf(size));
    };
    switch (typeflag) {
      case '0':
      case '7': {
        if (path.endsWith('/')) {
          // Old tars mark directories only by a trailing slash.
          members.push({ ...base, type: 'directory', size: 0 });
          await skipData();
          break;
        }
        const source = await cursor.take(size);
        await cursor.skip(paddingOf(size));
        members.push({ ...base, type: 'file', size, source });
        break;
      }
      case '5':
      case 'D':
        members.push({ ...base, type: 'directory', size: 0 });
        await skipData(); // GNU dumpdir lists names as data
        break;
      case '2':
        if (!linkTarget) throw fail('tar-bad-header', 'A symlink in the archive has an empty target.', path);
        members.push({ ...base, type: 'symlink', size: new TextEncoder().encode(linkTarget).length, linkTarget });
        await skipData();
        break;
      case '1':
        if (!linkTarget) throw fail('tar-bad-header', 'A hard link in the archive names no target.', path);
        members.push({ ...base, type: 'hardlink', size: 0, linkTarget });
        await skipData();
        break;
      case '3':
      case '4':
      case '6':
        warnings.push({
          severity: 'warning',
          code: 'tar-special-skipped',
          input,
          path,
          message: `Skipped ${typeflag === '6' ? 'a FIFO' : typeflag === '3' ? 'a character device' : 'a block device'} (${path}); images built here hold only files, directories and links.`,
          hint: 'Create device nodes at boot (udev/devtmpfs) instead of in the image.',
        });
        await skipData();
        break;
      case 'S':
        throw fail(
          'tar-unsupported',
          'The archive holds a GNU sparse file, which is not supported.',
          path,
          'Create the archive without --sparse.',
        );
      case 'M':
        throw fail(
          'tar-unsupported',
          'The archive is one volume of a multi-volume set, which is not supported.',
          path,
          'Create a single-volume archive.',
        );
      default:
        warnings.push({
          severity: 'warning',
          code: 'tar-unknown-type',
          input,
          path,
          message: `Skipped a member of unknown type "${typeflag.replace(/[^\x20-\x7e]/g, '?')}" (${path}).`,
          hint: 'Recreate the archive with a standard tar (ustar, pax or GNU format) if this member is needed.',
        });
        await skipData();
    }
  }
  if (lossyMembers > 20)
    warnings.push({
      severity: 'warning',
      code: 'tar-name-not-utf8',
      input,
      message: `${lossyMembers - 20} more members of ${input} have names that are not UTF-8 (read as Latin-1).`,
      hint: 'Recreate the archive from names in UTF-8 if the original bytes matter.',
    });
  return { members, warnings };
}

export interface ReadTarOptions extends ParseTarOptions, OpenCursorOptions {}

/**
 * Reads a tar archive from any input: sniffs gzip/zstd, streams through the decompressor
 * (member bytes become Blobs, at most `maxExpandedBytes`, default 8 GiB) or reads in place.
 */
export async function readTarArchive(reader: RandomAccessReader, options: ReadTarOptions = {}): Promise<ParsedTar> {
  const input = options.input ?? reader.name;
  const { cursor, compression } = await openCursor(reader, (at) => tarEofError(input, at), options);
  try {
    const { members, warnings } = await parseTar(cursor, { ...options, input });
    if (compression !== 'none') await options.spool?.seal?.();
    return { members, warnings, compression };
  } finally {
    if ('cancel' in cursor && typeof cursor.cancel === 'function')
      await (cursor as { cancel(): Promise<void> }).cancel();
  }
}
