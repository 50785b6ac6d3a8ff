/**
 * Looking into an existing image with e2fsprogs: its summary (dumpe2fs), an fsck verdict
 * (`e2fsck -fn`, never changing it), directory listings (debugfs `ls -p`, then one `stat`
 * run for the whole directory), file heads and file dumps, and command files for debugfs.
 *
 * Listings go through debugfs's captured stdout (see `runTool`'s `captureStdout`): a
 * directory of 10,000 entries is two tool runs and well under a second.
 */
import {
  parseLsP,
  parseStat,
  quoteArg,
  sectionAt,
  markCommands,
  newCommandMarker,
  splitCommandOutput,
  type LsRecord,
  type StatRecord,
} from '../../core/debugfs-output.ts';
import {
  parseSuperblock,
  SUPERBLOCK_OFFSET,
  SUPERBLOCK_SIZE,
  type Superblock,
  SuperblockError,
  summaryOf,
} from '../../core/ext-superblock.ts';
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK } from '../../core/file-mode.ts';
import { ImagePathError, joinImagePath, normalizeImagePath } from '../../core/image-path.ts';
import type {
  FilesystemSummary,
  FsckVerdict,
  ImageEntry,
  ImageEntryType,
  ImageListing,
} from '../../core/engine-contract.ts';
import {
  fillStore,
  memoryStorage,
  MemoryImageStore,
  type ImageStorage,
  type ImageStore,
} from '../runtime/image-store.ts';
import { runTool, type ToolMount, type ToolResult } from '../runtime/run-tool.ts';
import { decompressStream } from '../runtime/zstd-stream.ts';
import { EngineFailure } from './engine-failure.ts';

const IMAGE = '/image/disk.img';
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
/** ext4's root directory. */
export const ROOT_INODE = 2;
/** Symlink targets shorter than this live in the inode (`stat` prints them); longer ones are dumped. */
const FAST_LINK_MAX = 60;
const decoder = new TextDecoder();

/** An entry of a directory inside an image (`ls -p` only). */
export interface ImageDirEntry {
  name: string;
  inode: number;
  /** Full st_mode: type and permission bits. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
}

/**
 * Loads an image (raw or zstd, sniffed by magic) into a new store of `storage` (default
 * memory), decompressing as a stream: memory stays bounded by the pieces in flight, and
 * zeros become holes.
 */
export async function loadImage(
  name: string,
  source: AsyncIterable<Uint8Array>,
  storage: ImageStorage = memoryStorage,
): Promise<ImageStore> {
  const it = source[Symbol.asyncIterator]();
  const first = await it.next();
  const head = first.done ? new Uint8Array(0) : first.value;
  const rest = (async function* () {
    if (!first.done) yield head;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  })();
  const zstd = ZSTD_MAGIC.every((b, i) => head[i] === b);
  const store = await storage.create(name);
  try {
    await fillStore(store, zstd ? decompressStream(rest) : rest);
    if (store.size < 2048) throw notExt(name, `it is only ${store.size} bytes, too small for an ext2/3/4 filesystem`);
    return store;
  } catch (err) {
    store.close();
    if (err instanceof EngineFailure) throw err;
    throw notExt(name, `its zstd data cannot be read (${err instanceof Error ? err.message : String(err)})`);
  }
}

function notExt(name: string, why: string): EngineFailure {
  return new EngineFailure({
    code: 'bad-input',
    message: `${name} is not a usable disk image: ${why}.`,
    hint: 'Open an ext2, ext3 or ext4 image (.img), or one compressed with zstd (.img.zst).',
    problems: [{ severity: 'error', code: 'not-an-image', input: name, message: why, hint: 'Open an ext2/3/4 image.' }],
  });
}

const mounts = (store: ImageStore): ToolMount[] => [{ type: 'image', path: IMAGE, store }];

/** The tool's last stderr line (not its version banner), with our mount path replaced by `name`. */
function lastError(r: ToolResult, name = 'the image'): string {
  const lines = r.stderr
    .trim()
    .split('\n')
    .filter((l) => l && !/^\S+ \d+\.\d+\.\d+ \(/.test(l));
  return (lines.pop() ?? '').split(IMAGE).join(name).trim();
}

/**
 * The superblock summary, read from the image's bytes (a label or name inside the image
 * cannot fake what a tool's text output would say); an EngineFailure when the bytes are
 * not an ext filesystem or the file is shorter than the filesystem it holds.
 */
export async function summarizeImage(name: string, store: ImageStore): Promise<FilesystemSummary> {
  let sb: Superblock;
  try {
    sb = parseSuperblock(store.read(SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE));
  } catch (err) {
    if (!(err instanceof SuperblockError)) throw err;
    throw notExt(name, err.message.startsWith('no ') ? err.message : `its superblock is damaged: ${err.message}`);
  }
  // A superblock is found in a truncated file too, and e2fsck -n only warns about a device
  // smaller than the filesystem (the tools read the missing end as zeros): say it here.
  if (sb.filesystemBytes > store.size) {
    throw notExt(
      name,
      `it is truncated: its ${sb.fsType} filesystem is ${sb.blockCount} blocks of ${sb.blockSize} bytes (${sb.filesystemBytes} bytes) but the file holds only ${store.size} bytes`,
    );
  }
  return summaryOf(sb);
}

/** Runs `e2fsck -fn`: reports, changes nothing. */
export async function checkImage(store: ImageStore): Promise<FsckVerdict> {
  const r = await runTool('e2fsck', ['-f', '-n', IMAGE], { mounts: mounts(store) });
  return { clean: r.exitCode === 0, exitCode: r.exitCode, output: r.stdout + r.stderr };
}

/** Lists one directory of the image (debugfs `ls -p`), without `.` and `..`. */
export async function listImageDir(store: ImageStore, path: string): Promise<ImageDirEntry[]> {
  const { records } = await lsPath(store, path);
  return records;
}

/** Real entries: not `.`/`..`, and not the empty slots (inode 0) `ls` also prints. */
const realEntry = (e: LsRecord) => e.inode !== 0 && e.name !== '.' && e.name !== '..';

/** `ls -p PATH` in one run: the directory's own inode and its records (without `.` and `..`). */
export async function lsPath(store: ImageStore, path: string): Promise<{ inode: number; records: LsRecord[] }> {
  // -R takes the command as one argument: no command-file line limit for long paths.
  const r = await runTool('debugfs', ['-R', `ls -p ${quoteArg(path)}`, IMAGE], {
    mounts: mounts(store),
    captureStdout: true,
  });
  const all = parseLsP(r.stdoutBytes!);
  const self = all.find((e) => e.name === '.');
  if (!self) {
    const why = /not a directory/i.test(r.stderr) ? 'not a directory' : 'no such directory';
    throw new EngineFailure({
      code: 'bad-input',
      message: `${path}: ${why} in the image.`,
      hint: 'Give a directory that exists in the image, e.g. /.',
      problems: [],
    });
  }
  return { inode: self.inode, records: all.filter(realEntry) };
}

/** A debugfs error line and the command (index into the sections) that printed it; -1 before the first. */
export interface CommandError {
  line: string;
  section: number;
}

/**
 * Runs a debugfs command file and returns stdout split per command (captured, so long
 * outputs are fast) and the error lines with the command each belongs to. `write` opens
 * the image read-write; `extra` mounts go alongside.
 */
export async function runCommands(
  store: ImageStore,
  commands: readonly string[],
  opts: { write?: boolean; extra?: ToolMount[] } = {},
) {
  const out = new MemoryImageStore(0);
  const errors: Array<CommandError & { at: number }> = [];
  // Sections are split at a marker line the image cannot know, not at `debugfs: ` echoes
  // that a file name with a line break could imitate.
  const marker = newCommandMarker();
  const r = await runTool('debugfs', [...(opts.write ? ['-w'] : []), '-f', '/commands', IMAGE], {
    mounts: [
      ...mounts(store),
      { type: 'file', path: '/commands', data: markCommands(commands, marker).join('\n') + '\n' },
      ...(opts.extra ?? []),
    ],
    captureStdout: out,
    // stdout is unbuffered in command-file mode: its size here says which command printed the line.
    onStderr: (line) => errors.push({ line, section: -1, at: out.size }),
  });
  const sections = splitCommandOutput(r.stdoutBytes ?? new Uint8Array(0), marker);
  for (const e of errors) e.section = sectionAt(sections, e.at);
  return {
    result: r,
    sections,
    errors: errors
      .filter((e) => !(e.section < 0 && /^debugfs \d/.test(e.line)))
      .map(({ line, section }): CommandError => ({ line, section })),
  };
}

/** `ls -p <ino>` for each directory inode, in one run: records by inode (without `.` and `..`). */
export async function listInodes(store: ImageStore, inodes: readonly number[]): Promise<Map<number, LsRecord[]>> {
  const out = new Map<number, LsRecord[]>();
  if (inodes.length === 0) return out;
  const { sections } = await runCommands(
    store,
    inodes.map((i) => `ls -p <${i}>`),
  );
  if (sections.length !== inodes.length)
    throw new Error(`debugfs listed ${sections.length} of ${inodes.length} directories`);
  for (let i = 0; i < inodes.length; i++) out.set(inodes[i], parseLsP(sections[i].body).filter(realEntry));
  return out;
}

/** `stat` for each inode in one run, plus the targets of slow symlinks (dumped in the same run). */
export async function statInodes(
  store: ImageStore,
  records: readonly Pick<LsRecord, 'inode' | 'mode' | 'size'>[],
): Promise<Map<number, StatRecord & { target?: string }>> {
  const result = new Map<number, StatRecord & { target?: string }>();
  const unique = [...new Map(records.map((r) => [r.inode, r])).values()];
  if (unique.length === 0) return result;
  const slow = unique.filter((r) => (r.mode & S_IFMT) === S_IFLNK && r.size >= FAST_LINK_MAX);
  const linkStores = new Map(slow.map((r) => [r.inode, storeFor(r.size)]));
  const commands = [
    ...unique.map((r) => `stat <${r.inode}>`),
    ...slow.map((r) => `dump <${r.inode}> /links/${r.inode}`),
  ];
  const extra: ToolMount[] = slow.map((r) => ({
    type: 'image',
    path: `/links/${r.inode}`,
    store: linkStores.get(r.inode)!,
  }));
  const { sections } = await runCommands(store, commands, { extra });
  if (sections.length !== commands.length)
    throw new Error(`debugfs answered ${sections.length} of ${commands.length} commands`);
  for (let i = 0; i < unique.length; i++) result.set(unique[i].inode, parseStat(sections[i].body));
  for (const [ino, s] of linkStores) {
    const rec = result.get(ino)!;
    rec.target = decoder.decode(s.read(0, s.size));
  }
  for (const rec of result.values())
    if (rec.target === undefined && rec.fastLinkTarget !== undefined) rec.target = rec.fastLinkTarget;
  return result;
}

const TYPE_OF: Record<number, ImageEntryType> = {
  [S_IFREG]: 'file',
  [S_IFDIR]: 'directory',
  [S_IFLNK]: 'symlink',
  [S_IFCHR]: 'char-device',
  [S_IFBLK]: 'block-device',
  [S_IFIFO]: 'fifo',
  [S_IFSOCK]: 'socket',
};

/** The entry type of a full `i_mode`. */
export function entryTypeOf(mode: number): ImageEntryType {
  return TYPE_OF[mode & S_IFMT] ?? 'file';
}

/** Listing records and their stats as `ImageEntry`s, sorted by name. */
export function toImageEntries(
  dir: string,
  records: readonly LsRecord[],
  stats: ReadonlyMap<number, StatRecord & { target?: string }>,
): ImageEntry[] {
  return records
    .map((r) => {
      const s = stats.get(r.inode);
      const type = entryTypeOf(r.mode);
      const e: ImageEntry = {
        name: r.name,
        path: joinImagePath(dir, r.name),
        inode: r.inode,
        type,
        mode: r.mode & 0o7777,
        uid: r.uid,
        gid: r.gid,
        size: s?.size ?? r.size,
        mtime: s?.mtime ?? 0,
        links: s?.links ?? 1,
      };
      if (type === 'symlink' && s?.target !== undefined) e.target = s.target;
      return e;
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** One directory with every entry's type, mode, owner, size, mtime, links and symlink target: two debugfs runs. */
export async function listDirectory(store: ImageStore, path: string): Promise<ImageListing> {
  const { inode, records } = await lsPath(store, path);
  const stats = await statInodes(store, records);
  return { path, inode, entries: toImageEntries(path, records, stats) };
}

/** Looks a path up: its record and its parent directory's inode (one debugfs run); null record when it does not exist. */
export async function resolvePath(
  store: ImageStore,
  path: string,
): Promise<{ parent: number; name: string; record: LsRecord | null }> {
  const norm = checkedImagePath(path);
  if (norm === '/')
    return {
      parent: ROOT_INODE,
      name: '',
      record: { inode: ROOT_INODE, mode: 0o40755, uid: 0, gid: 0, name: '', size: 0 },
    };
  const i = norm.lastIndexOf('/');
  const dir = i === 0 ? '/' : norm.slice(0, i);
  const name = norm.slice(i + 1);
  const { inode, records } = await lsPath(store, dir);
  return { parent: inode, name, record: records.find((r) => r.name === name) ?? null };
}

/** The normal form of a path given to the engine (`/a//b/` -> `/a/b`); refuses anything else as bad input. */
export function checkedImagePath(path: string): string {
  try {
    return normalizeImagePath(path);
  } catch (err) {
    if (err instanceof ImagePathError) throw badPath(path, err.reason);
    throw err;
  }
}

function badPath(path: string, why: string): EngineFailure {
  return new EngineFailure({
    code: 'bad-input',
    message: `${path}: ${why}.`,
    hint: 'Give an absolute path inside the image.',
    problems: [],
  });
}

/** A store for `size` bytes: small files get small chunks (a 1 MiB chunk per 10-byte file adds up). */
export function storeFor(size: number): ImageStore {
  let chunk = 4096;
  while (chunk < size && chunk < 1 << 20) chunk *= 2;
  return new MemoryImageStore(0, { chunkSize: chunk });
}

/**
 * Dumps a file's bytes into a store (debugfs `dump`); with `limit`, stops once that many
 * bytes are out, without reading the rest of the file. `size`, when known, sizes the store's chunks.
 */
export async function dumpInode(
  store: ImageStore,
  inode: number,
  limit?: number,
  size = limit ?? 1 << 20,
): Promise<ImageStore> {
  const out = storeFor(Math.min(size, limit ?? size));
  const r = await runTool('debugfs', ['-R', `dump <${inode}> /out/file`, IMAGE], {
    mounts: [...mounts(store), { type: 'image', path: '/out/file', store: out, maxBytes: limit }],
  });
  if (r.stoppedAt === undefined && /while (reading|opening)/.test(r.stderr)) {
    throw new EngineFailure({
      code: 'tool-failed',
      message: `debugfs could not read inode ${inode}: ${lastError(r)}`,
      hint: 'Check the image (e2fsck); it may need a repair.',
      problems: [],
      toolOutput: r.stderr,
    });
  }
  return out;
}

/** Dumps several files (inode and size) in one run, each into its own store. */
export async function dumpInodes(
  store: ImageStore,
  files: ReadonlyArray<{ inode: number; size: number }>,
): Promise<Map<number, ImageStore>> {
  const stores = new Map(files.map((f) => [f.inode, storeFor(f.size)]));
  const inodes = [...stores.keys()];
  if (inodes.length === 0) return stores;
  const extra: ToolMount[] = [...stores].map(([i, s]) => ({ type: 'image', path: `/out/${i}`, store: s }));
  const { errors } = await runCommands(
    store,
    inodes.map((i) => `dump <${i}> /out/${i}`),
    { extra },
  );
  if (errors.length > 0) {
    throw new EngineFailure({
      code: 'tool-failed',
      message: `debugfs could not read a file: ${errors[0].line}`,
      hint: 'Check the image (e2fsck); it may need a repair.',
      problems: [],
      toolOutput: errors.map((e) => e.line).join('\n'),
    });
  }
  return stores;
}
