/**
 * Looking into an existing image with e2fsprogs: its summary (dumpe2fs), an fsck verdict
 * (`e2fsck -fn`, never changing it), and directory listings (debugfs `ls -p`).
 */
import { parseDumpe2fsHeader } from '../../core/dumpe2fs-header.ts';
import type { FilesystemSummary } from '../build-api.ts';
import { ImageStore } from '../runtime/image-store.ts';
import { runTool, type ToolMount } from '../runtime/run-tool.ts';
import { decompressStream } from '../runtime/zstd-stream.ts';
import { EngineFailure } from './engine-failure.ts';

const IMAGE = '/image/disk.img';
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/** An entry of a directory inside an image. */
export interface ImageDirEntry {
  name: string;
  inode: number;
  /** Full st_mode: type and permission bits. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
}

export interface FsckVerdict {
  clean: boolean;
  exitCode: number;
  output: string;
}

/** Loads an image (raw or zstd, sniffed by magic) into a sparse store, decompressing as a stream. */
export async function loadImage(name: string, source: AsyncIterable<Uint8Array>): Promise<ImageStore> {
  const it = source[Symbol.asyncIterator]();
  const first = await it.next();
  const head = first.done ? new Uint8Array(0) : first.value;
  const rest = (async function* () {
    if (!first.done) yield head;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  })();
  const zstd = ZSTD_MAGIC.every((b, i) => head[i] === b);
  try {
    const store = await ImageStore.fromStream(zstd ? decompressStream(rest) : rest);
    if (store.size < 2048) throw notExt(name, `it is only ${store.size} bytes, too small for an ext2/3/4 filesystem`);
    return store;
  } catch (err) {
    if (err instanceof EngineFailure) throw err;
    throw notExt(name, `its zstd data cannot be read (${err instanceof Error ? err.message : String(err)})`);
  }
}

function notExt(name: string, why: string): EngineFailure {
  return new EngineFailure({
    code: 'bad-input', message: `${name} is not a usable disk image: ${why}.`,
    hint: 'Open an ext2, ext3 or ext4 image (.img), or one compressed with zstd (.img.zst).',
    problems: [{ severity: 'error', code: 'not-an-image', input: name, message: why, hint: 'Open an ext2/3/4 image.' }],
  });
}

const mounts = (store: ImageStore): ToolMount[] => [{ type: 'image', path: IMAGE, store }];

/** The superblock summary; an EngineFailure when the bytes are not an ext filesystem. */
export async function summarizeImage(name: string, store: ImageStore): Promise<FilesystemSummary> {
  const r = await runTool('dumpe2fs', ['-h', IMAGE], { mounts: mounts(store) });
  if (r.exitCode !== 0) {
    const said = r.stderr.trim().split('\n').filter(Boolean).pop() ?? '';
    throw notExt(name, `no ext2/3/4 superblock was found${said ? ` (dumpe2fs: ${said})` : ''}`);
  }
  const summary = parseDumpe2fsHeader(r.stdout);
  // A superblock is found in a truncated file too, and e2fsck -n only warns about a device
  // smaller than the filesystem (the tools read the missing end as zeros): say it here.
  const fsBytes = summary.blockCount * summary.blockSize;
  if (fsBytes > store.size) {
    throw notExt(name, `it is truncated: its ${summary.fsType} filesystem is ${summary.blockCount} blocks of ${summary.blockSize} bytes (${fsBytes} bytes) but the file holds only ${store.size} bytes`);
  }
  return summary;
}

/** Runs `e2fsck -fn`: reports, changes nothing. */
export async function checkImage(store: ImageStore): Promise<FsckVerdict> {
  const r = await runTool('e2fsck', ['-f', '-n', IMAGE], { mounts: mounts(store) });
  return { clean: r.exitCode === 0, exitCode: r.exitCode, output: r.stdout + r.stderr };
}

/** Lists one directory of the image (debugfs `ls -p`), without `.` and `..`. */
export async function listImageDir(store: ImageStore, path: string): Promise<ImageDirEntry[]> {
  const r = await runTool('debugfs', ['-R', `ls -p "${path.replace(/"/g, '\\"')}"`, IMAGE], { mounts: mounts(store) });
  const entries: ImageDirEntry[] = [];
  for (const line of r.stdout.split('\n')) {
    // /inode/mode(octal)/uid/gid/name/size/ ; names cannot hold '/', so splitting is safe.
    const m = /^\/(\d+)\/([0-7]+)\/(\d+)\/(\d+)\/(.*)\/(\d*)\/$/.exec(line);
    if (!m || m[5] === '.' || m[5] === '..') continue;
    entries.push({ inode: Number(m[1]), mode: parseInt(m[2], 8), uid: Number(m[3]), gid: Number(m[4]), name: m[5], size: Number(m[6] || 0) });
  }
  if (entries.length === 0 && /not found|File not found|Ext2 inode is not a directory/i.test(r.stderr)) {
    const why = /not a directory/i.test(r.stderr) ? 'not a directory' : 'no such directory';
    throw new EngineFailure({ code: 'bad-input', message: `${path}: ${why} in the image.`, hint: 'Give a directory that exists in the image, e.g. /.', problems: [] });
  }
  return entries;
}
