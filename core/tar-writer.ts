/**
 * Tar writing: POSIX ustar headers, with a pax extended header (`x`) in front of an entry
 * only when ustar cannot hold it (a path that does not split into prefix/name, a link
 * target over 100 bytes, non-ASCII names, ids above 2097151, sizes of 8 GiB and more,
 * times outside 0..8^11-1). GNU tar, bsdtar and our own reader (core/tar.ts) read both.
 *
 * The writer is streaming: callers write `tarHeader(entry)`, then the entry's bytes
 * (exactly `entry.size` of them), then `tarPadding(entry.size)`, and `tarTrailer()` at the
 * end. Nothing is buffered here, so an archive of any size passes through in pieces.
 */

/** One entry of an archive to write. */
export interface TarWriteEntry {
  /** Path in the archive: relative, `/`-separated, without `.`/`..` parts (a leading `/` is dropped). */
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'hardlink';
  /** Permission bits (0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since 1970. */
  mtime: number;
  /** Bytes that follow the header (files only; 0 for the others). */
  size: number;
  /** A symlink's target, or for a hard link the archive path of the entry it shares. */
  linkTarget?: string;
  /** Owner names; default empty (readers then use the numeric ids). */
  uname?: string;
  gname?: string;
}

const BLOCK = 512;
const encoder = new TextEncoder();
const MAX_ID = 0o7777777;
const MAX_12 = 0o77777777777;

const TYPEFLAG: Record<TarWriteEntry['type'], string> = { file: '0', directory: '5', symlink: '2', hardlink: '1' };

function isAscii(s: string): boolean {
  return /^[\x01-\x7f]*$/.test(s);
}

/** `path` without a leading `/`, a directory with one trailing `/`. */
function archivePath(e: TarWriteEntry): string {
  let p = e.path.replace(/^\/+/, '').replace(/\/+$/, '');
  if (p === '') p = '.';
  return e.type === 'directory' ? `${p}/` : p;
}

/** Splits a path into ustar's prefix (155) and name (100) at a `/`, or null when it cannot. */
function splitUstar(path: Uint8Array): [Uint8Array, Uint8Array] | null {
  if (path.length <= 100) return [new Uint8Array(0), path];
  // Split at a '/' so that the name part (after it) fits in 100 and the prefix in 155.
  for (let i = Math.min(path.length - 1, 155); i > 0; i--) {
    if (path[i] === 0x2f && path.length - i - 1 <= 100 && path.length - i - 1 > 0)
      return [path.subarray(0, i), path.subarray(i + 1)];
  }
  return null;
}

function octal(value: number, width: number): string {
  // `width - 1` digits and a NUL.
  return value.toString(8).padStart(width - 1, '0');
}

/** One pax record: `"<len> key=value\n"`, its length counting itself. */
function paxRecord(key: string, value: string): Uint8Array {
  const body = encoder.encode(` ${key}=${value}\n`);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return encoder.encode(`${len}${new TextDecoder().decode(body)}`);
}

function putString(block: Uint8Array, at: number, width: number, bytes: Uint8Array): void {
  block.set(bytes.subarray(0, width), at);
}

function ustarBlock(fields: {
  name: Uint8Array;
  prefix: Uint8Array;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: Uint8Array;
  uname: Uint8Array;
  gname: Uint8Array;
}): Uint8Array {
  const b = new Uint8Array(BLOCK);
  const ascii = (at: number, width: number, text: string) => putString(b, at, width, encoder.encode(text));
  putString(b, 0, 100, fields.name);
  ascii(100, 8, octal(fields.mode & 0o7777, 8));
  ascii(108, 8, octal(fields.uid, 8));
  ascii(116, 8, octal(fields.gid, 8));
  ascii(124, 12, octal(fields.size, 12));
  ascii(136, 12, octal(fields.mtime, 12));
  ascii(148, 8, '        ');
  ascii(156, 1, fields.typeflag);
  putString(b, 157, 100, fields.linkname);
  ascii(257, 6, 'ustar');
  ascii(263, 2, '00');
  putString(b, 265, 32, fields.uname);
  putString(b, 297, 32, fields.gname);
  ascii(329, 8, octal(0, 8));
  ascii(337, 8, octal(0, 8));
  putString(b, 345, 155, fields.prefix);
  let sum = 0;
  for (const x of b) sum += x;
  ascii(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return b;
}

/** Why `entry` cannot be written, or undefined. */
export function tarEntryProblem(entry: TarWriteEntry): string | undefined {
  const p = entry.path.replace(/^\/+/, '');
  if (p.split('/').some((part) => part === '..')) return 'a path in an archive cannot contain ".."';
  if (entry.path.includes('\0') || entry.linkTarget?.includes('\0')) return 'names cannot contain NUL';
  if (!Number.isSafeInteger(entry.size) || entry.size < 0) return 'bad size';
  if (entry.type !== 'file' && entry.size !== 0) return 'only files have bytes';
  if ((entry.type === 'symlink' || entry.type === 'hardlink') && !entry.linkTarget) return 'a link needs a target';
  for (const v of [entry.uid, entry.gid, entry.mtime])
    if (!Number.isSafeInteger(v)) return 'ids and times must be integers';
  if (entry.uid < 0 || entry.gid < 0) return 'ids cannot be negative';
  return undefined;
}

/**
 * The header block(s) of one entry: a pax `x` header with its records when needed, then
 * the ustar header. Throws on an entry {@link tarEntryProblem} refuses.
 */
export function tarHeader(entry: TarWriteEntry): Uint8Array {
  const why = tarEntryProblem(entry);
  if (why) throw new Error(`${entry.path}: ${why}`);
  const path = archivePath(entry);
  const pathBytes = encoder.encode(path);
  const link = entry.linkTarget ?? '';
  const linkBytes = encoder.encode(link);
  const uname = entry.uname ?? '';
  const gname = entry.gname ?? '';
  const records: Uint8Array[] = [];

  let split = isAscii(path) ? splitUstar(pathBytes) : null;
  if (!split) {
    records.push(paxRecord('path', path));
    // A readable stand-in for readers without pax: the tail of the path.
    const tail = encoder.encode(path.slice(-99).replace(/[^\x20-\x7e]/g, '_'));
    split = [new Uint8Array(0), tail];
  }
  let linkname = linkBytes;
  if (linkBytes.length > 100 || !isAscii(link)) {
    records.push(paxRecord('linkpath', link));
    linkname = new Uint8Array(0);
  }
  const id = (key: 'uid' | 'gid', v: number) => {
    if (v <= MAX_ID) return v;
    records.push(paxRecord(key, String(v)));
    return 0;
  };
  const uid = id('uid', entry.uid);
  const gid = id('gid', entry.gid);
  let size = entry.size;
  if (size > MAX_12) {
    records.push(paxRecord('size', String(size)));
    size = 0;
  }
  let mtime = entry.mtime;
  if (mtime < 0 || mtime > MAX_12) {
    records.push(paxRecord('mtime', String(mtime)));
    mtime = mtime < 0 ? 0 : MAX_12;
  }
  const name = (key: 'uname' | 'gname', v: string) => {
    const bytes = encoder.encode(v);
    if (bytes.length <= 31 && isAscii(v)) return bytes;
    records.push(paxRecord(key, v));
    return new Uint8Array(0);
  };
  const unameBytes = name('uname', uname);
  const gnameBytes = name('gname', gname);

  const main = ustarBlock({
    name: split[1],
    prefix: split[0],
    mode: entry.mode,
    uid,
    gid,
    size,
    mtime,
    typeflag: TYPEFLAG[entry.type],
    linkname,
    uname: unameBytes,
    gname: gnameBytes,
  });
  if (records.length === 0) return main;

  let paxLen = 0;
  for (const r of records) paxLen += r.length;
  const base = path.replace(/\/$/, '').split('/').pop() ?? 'entry';
  const paxName = encoder.encode(`PaxHeaders/${base.replace(/[^\x20-\x7e]/g, '_')}`.slice(0, 100));
  const paxHeader = ustarBlock({
    name: paxName,
    prefix: new Uint8Array(0),
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: paxLen,
    mtime: Math.min(Math.max(mtime, 0), MAX_12),
    typeflag: 'x',
    linkname: new Uint8Array(0),
    uname: new Uint8Array(0),
    gname: new Uint8Array(0),
  });
  const out = new Uint8Array(BLOCK + paddedSize(paxLen) + BLOCK);
  out.set(paxHeader, 0);
  let at = BLOCK;
  for (const r of records) {
    out.set(r, at);
    at += r.length;
  }
  out.set(main, BLOCK + paddedSize(paxLen));
  return out;
}

function paddedSize(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

/** Zeros after `size` bytes of an entry, up to the next 512-byte boundary. */
export function tarPadding(size: number): Uint8Array {
  return new Uint8Array(paddedSize(size) - size);
}

/** The end of an archive: two zero blocks. */
export function tarTrailer(): Uint8Array {
  return new Uint8Array(2 * BLOCK);
}
