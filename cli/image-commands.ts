/** `disk-image-studio inspect IMG` and `ls IMG [PATH]`. */
import { closeSync, createReadStream, openSync, readSync, realpathSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename } from 'node:path';
import { InputError } from '../core/errors.ts';
import { openRegularFile } from '../core/io/host-input-check.ts';
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK } from '../core/file-mode.ts';
import type { ImageStore } from '../workers/runtime/image-store.ts';
import { openImageFileStore, tempFileStorage } from '../workers/runtime/node-image-file.ts';
import { checkImage, listImageDir, loadImage, summarizeImage } from '../workers/pipeline/image-inspect.ts';
import { EngineFailure } from '../workers/pipeline/engine-failure.ts';
import { saveWasmCodeCache } from '../workers/runtime/wasm-code-cache.ts';
import { escapeControls } from './escape.ts';
import type { CliIo } from './main.ts';

/**
 * The image as a store without holding it in memory: an uncompressed image is read in place
 * (read-only: these commands never change it); an `.img.zst` is decompressed into a sparse
 * temporary file. Close the store when done.
 */
async function open(path: string): Promise<ImageStore> {
  // Only a regular file is read: a FIFO would wait for a writer forever and /dev/zero or
  // /dev/urandom would be read without end. Checked through a descriptor opened without blocking.
  let st: Stats;
  try {
    const opened = await openRegularFile(path, basename(path));
    st = opened.st;
    await opened.fh.close();
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    throw new EngineFailure({
      code: 'bad-input',
      message: err.message,
      hint: 'Give the path of an .img or .img.zst file.',
      problems: [],
    });
  }
  if (st.isFile() && !isZstd(path)) {
    const store = openImageFileStore(realpathSync(path));
    if (store.size < 2048) {
      store.close();
      // loadImage says why such a file is not an image.
      return loadImage(basename(path), createReadStream(path) as AsyncIterable<Uint8Array>);
    }
    return store;
  }
  return loadImage(
    basename(path),
    createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Uint8Array>,
    tempFileStorage(process.env.TMPDIR || tmpdir()),
  );
}

function isZstd(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = new Uint8Array(4);
    const n = readSync(fd, head, 0, 4, 0);
    return n === 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd;
  } finally {
    closeSync(fd);
  }
}

/** Prints the summary and the fsck verdict; exit 0 only for a clean filesystem. */
export async function inspectCommand(path: string, io: CliIo): Promise<number> {
  const store = await open(path);
  try {
    return await inspect(path, store, io);
  } finally {
    store.close();
    // The tools' optimized code, for the next command (workers/runtime/wasm-code-cache.ts).
    saveWasmCodeCache();
  }
}

async function inspect(path: string, store: ImageStore, io: CliIo): Promise<number> {
  const s = await summarizeImage(basename(path), store);
  const v = await checkImage(store);
  io.stdout(
    [
      `image:        ${path} (${store.size} bytes)`,
      `type:         ${s.fsType}`,
      `label:        ${s.label ? escapeControls(s.label) : '(none)'}`,
      `uuid:         ${s.uuid}`,
      `block size:   ${s.blockSize}`,
      `blocks:       ${s.blockCount} (${s.blockCount - s.freeBlocks} used, ${s.freeBlocks} free)`,
      `inodes:       ${s.inodeCount} (${s.inodeCount - s.freeInodes} used, ${s.freeInodes} free)`,
      `features:     ${s.features.join(' ')}`,
      `fsck:         ${v.clean ? 'clean' : `NOT clean (e2fsck exit ${v.exitCode})`}`,
      '',
    ].join('\n'),
  );
  if (!v.clean) io.stdout(v.output);
  return v.clean ? 0 : 1;
}

const TYPE: Record<number, string> = {
  [S_IFDIR]: 'd',
  [S_IFLNK]: 'l',
  [S_IFREG]: '-',
  [S_IFCHR]: 'c',
  [S_IFBLK]: 'b',
  [S_IFIFO]: 'p',
  [S_IFSOCK]: 's',
};

function modeString(mode: number): string {
  const rwx = (b: number) => `${b & 4 ? 'r' : '-'}${b & 2 ? 'w' : '-'}${b & 1 ? 'x' : '-'}`;
  return (TYPE[mode & S_IFMT] ?? '?') + rwx(mode >> 6) + rwx(mode >> 3) + rwx(mode);
}

/** Lists a directory of the image like `ls -l`: mode, owner, size, name (control characters escaped). */
export async function lsCommand(path: string, dir: string, io: CliIo): Promise<number> {
  const store = await open(path);
  try {
    return await list(path, store, dir, io);
  } finally {
    store.close();
    // The tools' optimized code, for the next command (workers/runtime/wasm-code-cache.ts).
    saveWasmCodeCache();
  }
}

async function list(path: string, store: ImageStore, dir: string, io: CliIo): Promise<number> {
  await summarizeImage(basename(path), store);
  for (const e of await listImageDir(store, dir)) {
    io.stdout(
      `${modeString(e.mode)} ${String(e.uid).padStart(5)} ${String(e.gid).padStart(5)} ${String(e.size).padStart(12)} ${escapeControls(e.name)}\n`,
    );
  }
  return 0;
}
