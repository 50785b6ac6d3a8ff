/**
 * Reading what debugfs prints, and writing what it reads.
 *
 * - `ls -p` records (`/inode/mode/uid/gid/name/size/`), parsed from raw bytes so that a
 *   name holding a newline or any byte but `/` and NUL still comes out whole.
 * - The output of a command file (`debugfs -f`), split per command at the
 *   `debugfs: <command>` lines debugfs echoes before running each one.
 * - `stat` (inode, type, permission bits, owner, size, links, times with their ext4 epoch
 *   bits, a fast symlink's target).
 * - Arguments for a command file: debugfs's parser (lib/ss) splits at blanks and takes
 *   `"..."` as one argument with `""` standing for a quote; a line is read with
 *   `fgets(buf, BUFSIZ)`, so a command must stay under {@link MAX_COMMAND_BYTES}.
 */

/** One record of `ls -p`. */
export interface LsRecord {
  inode: number;
  /** Full `i_mode`: type and permission bits. */
  mode: number;
  uid: number;
  gid: number;
  name: string;
  /** Bytes; debugfs prints none for directories (0 here). */
  size: number;
}

/** The output of one command of a command file. */
export interface CommandSection {
  /** The command as debugfs echoed it. */
  command: string;
  /** What it printed to stdout (raw bytes of the captured output). */
  body: Uint8Array;
  /** Offset of `body` in the whole output. */
  offset: number;
}

/** What `stat` says about an inode. */
export interface StatRecord {
  inode: number;
  type: 'regular' | 'directory' | 'symlink' | 'block special' | 'character special' | 'FIFO' | 'socket' | 'bad type';
  /** Permission bits (0o7777). */
  perm: number;
  flags: number;
  uid: number;
  gid: number;
  size: number;
  links: number;
  /** Seconds since 1970 (ext4 epoch bits applied). */
  mtime: number;
  atime: number;
  ctime: number;
  /** A fast (or inline) symlink's target; slow symlinks' targets are in their data blocks. */
  fastLinkTarget?: string;
}

/** Longest command line debugfs reads whole from a command file (`BUFSIZ` 1024, minus the newline and NUL). */
export const MAX_COMMAND_BYTES = 1022;

const SLASH = 0x2f;
const NL = 0x0a;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ECHO = encoder.encode('debugfs: ');

function startsWithAt(bytes: Uint8Array, at: number, prefix: Uint8Array): boolean {
  if (at + prefix.length > bytes.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[at + i] !== prefix[i]) return false;
  return true;
}

function toBytes(text: string | Uint8Array): Uint8Array {
  return typeof text === 'string' ? encoder.encode(text) : text;
}

/**
 * Splits the output of `debugfs -f FILE` into one section per command. Lines before the
 * first echo (none, normally) are dropped.
 *
 * With `marker` (a comment line `#...` written before every command, see
 * {@link markCommands}; debugfs prints comment lines as they are), sections start only at
 * that exact line: text an image controls (a file name holding a line break and
 * `debugfs: `) cannot fake a section, since it cannot know the marker. The line after the
 * marker is the command's echo.
 */
export function splitCommandOutput(output: string | Uint8Array, marker?: string): CommandSection[] {
  const bytes = toBytes(output);
  const markerLine = marker === undefined ? undefined : encoder.encode(`${marker}\n`);
  const sections: CommandSection[] = [];
  let at = 0;
  let current: { command: string; start: number } | null = null;
  const close = (end: number) => {
    if (current)
      sections.push({ command: current.command, body: bytes.subarray(current.start, end), offset: current.start });
  };
  while (at < bytes.length) {
    let nl = bytes.indexOf(NL, at);
    if (nl < 0) nl = bytes.length;
    if (markerLine) {
      if (nl - at + 1 === markerLine.length && startsWithAt(bytes, at, markerLine)) {
        close(at);
        // The echo line follows.
        let echoEnd = bytes.indexOf(NL, nl + 1);
        if (echoEnd < 0) echoEnd = bytes.length;
        const echo = bytes.subarray(nl + 1, echoEnd);
        current = {
          command: decoder.decode(startsWithAt(echo, 0, ECHO) ? echo.subarray(ECHO.length) : echo),
          start: Math.min(echoEnd + 1, bytes.length),
        };
        at = echoEnd + 1;
        continue;
      }
    } else if (startsWithAt(bytes, at, ECHO)) {
      close(at);
      current = {
        command: decoder.decode(bytes.subarray(at + ECHO.length, nl)),
        start: Math.min(nl + 1, bytes.length),
      };
    }
    at = nl + 1;
  }
  close(bytes.length);
  return sections;
}

/** A marker no image can predict (a comment line for a command file). */
export function newCommandMarker(): string {
  const r = new Uint8Array(16);
  crypto.getRandomValues(r);
  return `#section-${Array.from(r, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** The command-file lines: `marker` before each command (see {@link splitCommandOutput}). */
export function markCommands(commands: readonly string[], marker: string): string[] {
  const lines: string[] = [];
  for (const c of commands) lines.push(marker, c);
  return lines;
}

/** Index of the section whose body holds output offset `offset` (-1 before the first). */
export function sectionAt(sections: readonly CommandSection[], offset: number): number {
  let found = -1;
  for (let i = 0; i < sections.length; i++) {
    if (sections[i].offset - 1 <= offset) found = i;
    else break;
  }
  return found;
}

/** Reads an unsigned or signed decimal at `at`; returns [value, next index] or null. */
function readInt(b: Uint8Array, at: number, radix: 8 | 10): [number, number] | null {
  let i = at;
  let neg = false;
  if (radix === 10 && b[i] === 0x2d) {
    neg = true;
    i++;
  }
  const start = i;
  let v = 0;
  while (i < b.length && b[i] >= 0x30 && b[i] <= (radix === 8 ? 0x37 : 0x39)) v = v * radix + (b[i++] - 0x30);
  if (i === start) return null;
  return [neg ? -v : v, i];
}

/**
 * Parses `ls -p` output (the records of one or more listings; echo lines and blank lines
 * are skipped). debugfs prints ids with `%d`, so ids above 2^31 come out negative: they
 * are read back as unsigned. `.` and `..` are kept; callers drop them.
 */
export function parseLsP(output: string | Uint8Array): LsRecord[] {
  const b = toBytes(output);
  const out: LsRecord[] = [];
  let i = 0;
  const expect = (c: number) => {
    if (b[i] !== c) throw new Error(`debugfs ls -p: unexpected output at byte ${i}`);
    i++;
  };
  while (i < b.length) {
    if (b[i] === NL) {
      i++;
      continue;
    }
    if (b[i] !== SLASH) {
      // An echoed command or a message: skip the line.
      const nl = b.indexOf(NL, i);
      i = nl < 0 ? b.length : nl + 1;
      continue;
    }
    i++;
    const num = (radix: 8 | 10): number => {
      const r = readInt(b, i, radix);
      if (!r) throw new Error(`debugfs ls -p: expected a number at byte ${i}`);
      i = r[1];
      expect(SLASH);
      return r[0];
    };
    const inode = num(10);
    const mode = num(8);
    const uid = num(10) >>> 0;
    const gid = num(10) >>> 0;
    const end = b.indexOf(SLASH, i);
    if (end < 0) throw new Error('debugfs ls -p: unterminated name');
    const name = decoder.decode(b.subarray(i, end));
    i = end + 1;
    let size = 0;
    if (b[i] === SLASH) {
      i++;
    } else {
      size = num(10);
    }
    if (i < b.length) expect(NL);
    out.push({ inode, mode, uid, gid, name, size });
  }
  return out;
}

const STAT_TYPES = new Set<StatRecord['type']>([
  'regular',
  'directory',
  'symlink',
  'block special',
  'character special',
  'FIFO',
  'socket',
  'bad type',
]);

/** Seconds from a `stat` time field: `0xLO:EXTRA` (large inodes) or `0xLO`. */
function statTime(text: string, name: string): number {
  const m = new RegExp(`^ ?${name}: 0x([0-9a-f]{8})(?::([0-9a-f]{8}))?`, 'm').exec(text);
  if (!m) throw new Error(`debugfs stat: no ${name}`);
  const lo = parseInt(m[1], 16) | 0; // signed 32 bits
  const epochBits = m[2] ? parseInt(m[2], 16) & 3 : 0;
  return lo + epochBits * 2 ** 32;
}

/** Parses the output of one `stat` command. Throws when it is not a stat report. */
export function parseStat(output: string | Uint8Array): StatRecord {
  const text = typeof output === 'string' ? output : decoder.decode(output);
  const head = /^Inode: (\d+)\s+Type: (.+?)\s+Mode:\s+(\d+)\s+Flags: 0x([0-9a-f]+)$/m.exec(text);
  if (!head) throw new Error(`debugfs stat: not a stat report: ${JSON.stringify(text.slice(0, 120))}`);
  const type = head[2] as StatRecord['type'];
  if (!STAT_TYPES.has(type)) throw new Error(`debugfs stat: unknown type ${head[2]}`);
  const owner = /^User:\s+(-?\d+)\s+Group:\s+(-?\d+)(?:\s+Project:\s+-?\d+)?\s+Size: (\d+)$/m.exec(text);
  const links = /^Links: (\d+)/m.exec(text);
  if (!owner || !links) throw new Error('debugfs stat: no owner, size or links');
  const rec: StatRecord = {
    inode: Number(head[1]),
    type,
    perm: parseInt(head[3], 8) & 0o7777,
    flags: parseInt(head[4], 16),
    uid: Number(owner[1]) >>> 0,
    gid: Number(owner[2]) >>> 0,
    size: Number(owner[3]),
    links: Number(links[1]),
    mtime: statTime(text, 'mtime'),
    atime: statTime(text, 'atime'),
    ctime: statTime(text, 'ctime'),
  };
  // `Fast link dest: "<target>"` holds the raw bytes: the target runs to the last quote.
  const dest = text.indexOf('Fast link dest: "');
  if (dest >= 0) {
    const start = dest + 'Fast link dest: "'.length;
    const nl = text.lastIndexOf('"\n');
    const end = nl >= start ? nl : text.lastIndexOf('"');
    if (end >= start) rec.fastLinkTarget = text.slice(start, end);
  }
  return rec;
}

/** Why `text` cannot be one argument of a debugfs command-file line, or undefined. */
export function argumentProblem(text: string): string | undefined {
  if (text.includes('\n') || text.includes('\r')) return 'contains a line break';
  if (text.includes('\0')) return 'contains a NUL byte';
  return undefined;
}

/** One argument for a command-file line: always quoted, `"` doubled. Throws on line breaks and NUL. */
export function quoteArg(text: string): string {
  const why = argumentProblem(text);
  if (why) throw new Error(`${JSON.stringify(text)} ${why}`);
  return `"${text.replace(/"/g, '""')}"`;
}

/** True when `line` fits in debugfs's command-file line buffer. */
export function fitsCommandLine(line: string): boolean {
  return encoder.encode(line).length <= MAX_COMMAND_BYTES;
}
