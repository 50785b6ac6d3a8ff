/**
 * Opened images, held in memory by id (in the Web Worker, or in Node). Each image is a
 * sparse {@link ImageStore}; every change is made by e2fsprogs (debugfs, tune2fs,
 * resize2fs, e2fsck -fy) and followed by `e2fsck -fn`, and an image is saved only while
 * that check is clean. Calls on one image run one at a time; a failed edit is rolled back
 * to a copy-on-write snapshot taken before it.
 */
import {
  BlobReader,
  readChunks,
  type HostAccess,
  type RandomAccessReader,
} from '../../core/io/random-access-reader.ts';
import { tarHeader, tarPadding, tarTrailer, type TarWriteEntry } from '../../core/tar-writer.ts';
import type {
  BuildEvent,
  BuildResult,
  ExportResult,
  FileHead,
  FsckVerdict,
  ImageEdit,
  ImageListing,
  ImageSaveOptions,
  ImageState,
  InputFile,
  RepairResult,
  StageName,
} from '../../core/engine-contract.ts';
import { labelProblem } from '../../core/build-options.ts';
import type { ImageApi } from '../engine-api.ts';
import { BlobBacking, fileReaderSync } from '../runtime/blob-backing.ts';
import {
  BackedImageStore,
  memoryStorage,
  OverlayImageStore,
  UndoableImageStore,
  type ImageStorage,
  type ImageStore,
} from '../runtime/image-store.ts';
import { runTool, type ToolMount, type ToolResult } from '../runtime/run-tool.ts';
import { streamImage } from './stream-image.ts';
import { EngineFailure } from './engine-failure.ts';
import { applyEdits } from './image-edit.ts';
import {
  checkImage,
  dumpInode,
  dumpInodes,
  entryTypeOf,
  listDirectory,
  listInodes,
  loadImage,
  checkedImagePath,
  resolvePath,
  statInodes,
  summarizeImage,
} from './image-inspect.ts';

const IMAGE = '/image/disk.img';
const MiB = 1024 * 1024;
/** Preview size when none is asked for. */
export const DEFAULT_PREVIEW_BYTES = 64 * 1024;
/** Files dumped per debugfs run while writing a tar: at most this many bytes... */
const EXPORT_BATCH_BYTES = 64 * MiB;
/** ...and this many files. */
const EXPORT_BATCH_FILES = 4096;

interface Session {
  id: string;
  name: string;
  store: ImageStore;
  state: ImageState;
  /** Calls on this image, chained: each waits for the previous one. */
  queue: Promise<unknown>;
}

/** Options of {@link ImageSessions}. */
export interface ImageSessionsOptions {
  /** Host access for `hostPath` inputs (Node). Default: none (blobs only). */
  host?: HostAccess;
  /** Where opened images are kept (and their undo data). Default: memory. */
  storage?: ImageStorage | (() => Promise<ImageStorage>);
}

type Sink = (chunk: Uint8Array) => Promise<void> | void;

/** The engine side of {@link ImageApi}: every opened image, by id. */
export class ImageSessions implements ImageApi {
  readonly #sessions = new Map<string, Session>();
  #next = 1;

  constructor(private readonly options: ImageSessionsOptions = {}) {}

  /** Opens a file (Blob or host path). */
  async openImage(file: InputFile, onProgress?: (done: number, total: number) => void): Promise<ImageState> {
    const blob = 'blob' in file ? file.blob : undefined;
    const inPlace = blob ? await this.#openInPlace(file.name, blob) : undefined;
    if (blob && inPlace) {
      try {
        onProgress?.(blob.size, blob.size);
        return await this.#adopt(file.name, inPlace);
      } catch (err) {
        inPlace.close();
        throw err;
      }
    }
    let reader: RandomAccessReader;
    if ('blob' in file) reader = new BlobReader(file.blob, file.name);
    else if (this.options.host) reader = await this.options.host.openFile(file.hostPath, file.name);
    else
      throw new EngineFailure({
        code: 'internal',
        message: 'Host files cannot be opened here.',
        hint: 'Give the image as a file.',
        problems: [],
      });
    const total = reader.size;
    let done = 0;
    let last = 0;
    const counted = (async function* () {
      for await (const piece of readChunks(reader)) {
        done += piece.length;
        const t = Date.now();
        if (onProgress && (t - last > 100 || done === total)) {
          last = t;
          onProgress(done, total);
        }
        yield piece;
      }
    })();
    return this.openStream(file.name, counted);
  }

  /** Opens an image from a byte stream (raw or zstd). */
  async openStream(name: string, source: AsyncIterable<Uint8Array>): Promise<ImageState> {
    const store = await loadImage(name, source, await this.#storage());
    try {
      return await this.#adopt(name, store);
    } catch (err) {
      store.close();
      throw err;
    }
  }

  /**
   * An uncompressed image in a dedicated worker is used in place: the File is the base of a
   * copy-on-write overlay (in `storage`), read synchronously, never copied or written.
   * Undefined where that cannot be done (zstd, no FileReaderSync, too small to be an image).
   */
  async #openInPlace(name: string, blob: Blob): Promise<ImageStore | undefined> {
    const reader = fileReaderSync();
    if (!reader || blob.size < 2048) return undefined;
    const head = new Uint8Array(await blob.slice(0, 4).arrayBuffer());
    if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return undefined;
    const base = new BackedImageStore(new BlobBacking(blob, name, reader), { size: blob.size, existing: true });
    return new OverlayImageStore(base, await (await this.#storage()).create(name));
  }

  async #storage(): Promise<ImageStorage> {
    const s = this.options.storage;
    return typeof s === 'function' ? s() : (s ?? memoryStorage);
  }

  async #adopt(name: string, store: ImageStore): Promise<ImageState> {
    const summary = await summarizeImage(name, store);
    const id = `image-${this.#next++}`;
    const session: Session = {
      id,
      name,
      store,
      queue: Promise.resolve(),
      state: { id, name, size: store.size, summary, fsck: { clean: false, exitCode: -1, output: '' }, revision: 0 },
    };
    await refresh(session, summary);
    this.#sessions.set(id, session);
    return session.state;
  }

  listDir(id: string, path: string): Promise<ImageListing> {
    return this.#run(id, (s) => listDirectory(s.store, checkedImagePath(path)));
  }

  readFile(id: string, path: string, limit = DEFAULT_PREVIEW_BYTES): Promise<FileHead> {
    return this.#run(id, async (s) => {
      const norm = checkedImagePath(path);
      const r = await resolvePath(s.store, norm);
      if (!r.record) throw notFound(norm);
      const type = entryTypeOf(r.record.mode);
      if (type !== 'file')
        throw new EngineFailure({
          code: 'bad-input',
          message: `${norm} is a ${type === 'directory' ? 'folder' : type}, not a file.`,
          hint: 'Preview a regular file.',
          problems: [],
        });
      const head = await dumpInode(s.store, r.record.inode, limit);
      const bytes = head.read(0, Math.min(limit, head.size));
      return { path: norm, size: r.record.size, bytes, truncated: r.record.size > bytes.length };
    });
  }

  exportPath(id: string, path: string, sink: Sink): Promise<ExportResult> {
    return this.#run(id, (s) => exportPath(s, checkedImagePath(path), sink));
  }

  apply(id: string, edits: ImageEdit[]): Promise<ImageState> {
    return this.#change(id, 'change', (s) => applyEdits(s.store, edits, { blockSize: s.state.summary.blockSize }));
  }

  repair(id: string): Promise<RepairResult> {
    return this.#run(id, async (s) => {
      // Only ever on request: -y answers every question e2fsck asks with yes.
      const r = await runTool('e2fsck', ['-f', '-y', IMAGE], { mounts: mounts(s.store) });
      if (r.exitCode >= 8) throw toolFailed('e2fsck', r, 'e2fsck could not repair the filesystem.');
      s.state = { ...s.state, revision: s.state.revision + 1 };
      await refresh(s);
      return { state: s.state, exitCode: r.exitCode, output: r.stdout + r.stderr };
    });
  }

  resize(id: string, size: 'min' | number): Promise<ImageState> {
    return this.#change(id, 'resize', async (s) => {
      const { blockSize, blockCount } = s.state.summary;
      // resize2fs wants a checked filesystem; -f skips its own guess (the last-check time
      // of an image that was mounted) because e2fsck -fn has just found this one clean.
      if (size === 'min') {
        const r = await runTool('resize2fs', ['-f', '-M', IMAGE], { mounts: mounts(s.store) });
        if (r.exitCode !== 0) throw toolFailed('resize2fs', r, 'resize2fs could not shrink the filesystem.');
      } else {
        if (!Number.isSafeInteger(size) || size <= 0) throw badSize(`a size in bytes, got ${size}`);
        const blocks = Math.floor(size / blockSize);
        if (blocks === blockCount) return;
        if (blocks > blockCount) s.store.truncate(Math.max(s.store.size, blocks * blockSize));
        const r = await runTool('resize2fs', ['-f', IMAGE, String(blocks)], { mounts: mounts(s.store) });
        if (r.exitCode !== 0)
          throw toolFailed('resize2fs', r, `resize2fs could not resize the filesystem to ${blocks} blocks.`);
      }
      // The file is exactly the filesystem afterwards: no stale bytes past a shrink.
      const after = await summarizeImage(s.name, s.store);
      s.store.truncate(after.blockCount * after.blockSize);
    });
  }

  setLabel(id: string, label: string): Promise<ImageState> {
    return this.#change(id, 'label', async (s) => {
      const why = labelProblem(label);
      if (why)
        throw new EngineFailure({
          code: 'bad-input',
          message: `The ${why}`,
          hint: 'Choose another label.',
          problems: [],
        });
      const r = await runTool('tune2fs', ['-L', label, IMAGE], { mounts: mounts(s.store) });
      if (r.exitCode !== 0) throw toolFailed('tune2fs', r, 'tune2fs could not set the label.');
    });
  }

  save(id: string, options: ImageSaveOptions, onEvent: (event: BuildEvent) => void, sink: Sink): Promise<BuildResult> {
    return this.#run(id, (s) => saveImage(s, options, onEvent, sink));
  }

  async close(id: string): Promise<void> {
    const s = this.#sessions.get(id);
    this.#sessions.delete(id);
    if (s) await s.queue.finally(() => s.store.close());
  }

  /** Closes every image (their storage is released). */
  async closeAll(): Promise<void> {
    for (const id of [...this.#sessions.keys()]) await this.close(id);
  }

  /** The default file name a save would use. */
  static defaultFileName(openedName: string, label: string, compress: boolean): string {
    const base = openedName.replace(/\.zst$/i, '').replace(/\.img$/i, '') || label || 'image';
    return `${base}.img${compress ? '.zst' : ''}`;
  }

  /** Runs `work` when the image's earlier calls are done. */
  #run<T>(id: string, work: (s: Session) => Promise<T>): Promise<T> {
    const s = this.#sessions.get(id);
    if (!s) {
      return Promise.reject(
        new EngineFailure({
          code: 'bad-input',
          message: 'This image is not open any more (the engine was restarted or the image closed).',
          hint: 'Open the image file again.',
          problems: [],
        }),
      );
    }
    const next = s.queue.then(() => work(s));
    s.queue = next.catch(() => undefined);
    return next;
  }

  /** A change: only on a clean image; rolled back when it fails; checked after. */
  #change(id: string, what: 'change' | 'resize' | 'label', work: (s: Session) => Promise<void>): Promise<ImageState> {
    return this.#run(id, async (s) => {
      if (!s.state.fsck.clean) {
        throw new EngineFailure({
          code: 'check-failed',
          message: `${s.name} is not clean (e2fsck found problems), so it cannot be changed.`,
          hint: 'Repair it first (this runs e2fsck -fy on the copy in memory), then make the change.',
          problems: [],
          toolOutput: s.state.fsck.output,
        });
      }
      if (s.state.summary.features.includes('needs_recovery')) {
        throw new EngineFailure({
          code: 'check-failed',
          message: `${s.name} has a journal that was not replayed (it was not cleanly unmounted).`,
          hint: 'Repair it first: e2fsck replays the journal.',
          problems: [],
        });
      }
      // Every chunk the change touches is copied aside first (in memory, or to a temporary
      // file next to a disk-backed image), so a failed change is put back exactly.
      const base = s.store;
      const undo = await UndoableImageStore.begin(base);
      const prior = s.state;
      s.store = undo;
      try {
        await work(s);
        s.state = { ...s.state, revision: s.state.revision + 1 };
        await refresh(s);
      } catch (err) {
        undo.rollback();
        s.store = base;
        s.state = prior;
        throw err;
      }
      s.store = base;
      if (!s.state.fsck.clean) {
        // The tools left an inconsistent filesystem: keep the image as it was.
        const report = s.state.fsck.output;
        undo.rollback();
        s.state = prior;
        throw new EngineFailure({
          code: 'check-failed',
          message: `After the ${what}, e2fsck found problems in the filesystem, so the ${what} was undone.`,
          hint: "This is a defect; e2fsck's report is below. Please report it with the image.",
          problems: [],
          toolOutput: report,
        });
      }
      undo.commit();
      return s.state;
    });
  }
}

const mounts = (store: ImageStore): ToolMount[] => [{ type: 'image', path: IMAGE, store }];

/** Summary, fsck verdict and minimum size of the image as it is now. */
async function refresh(s: Session, known?: ImageState['summary']): Promise<void> {
  const summary = known ?? (await summarizeImage(s.name, s.store));
  const fsck: FsckVerdict = await checkImage(s.store);
  let minimumBytes: number | undefined;
  if (fsck.clean) {
    const p = await runTool('resize2fs', ['-P', IMAGE], { mounts: mounts(s.store) });
    const m = /^Estimated minimum size of the filesystem: (\d+)$/m.exec(p.stdout);
    if (p.exitCode === 0 && m) minimumBytes = Number(m[1]) * summary.blockSize;
  }
  s.state = { ...s.state, size: s.store.size, summary, fsck, minimumBytes };
  if (minimumBytes === undefined) delete s.state.minimumBytes;
}

function notFound(path: string): EngineFailure {
  return new EngineFailure({
    code: 'bad-input',
    message: `${path}: no such file or folder in the image.`,
    hint: 'It may have been moved or deleted; reload the folder.',
    problems: [],
  });
}

function badSize(why: string): EngineFailure {
  return new EngineFailure({
    code: 'bad-input',
    message: `The new size must be ${why}.`,
    hint: 'Give a size larger than the minimum.',
    problems: [],
  });
}

function toolFailed(tool: string, r: ToolResult, message: string): EngineFailure {
  const last = (
    r.stderr
      .trim()
      .split('\n')
      .filter((l) => l && !/^\S+ \d+\.\d+\.\d+ \(/.test(l))
      .pop() ?? ''
  )
    .split(IMAGE)
    .join('the image')
    .trim();
  return new EngineFailure({
    code: 'tool-failed',
    message: `${message}${last ? ` ${tool} said: ${last}` : ''}`,
    hint: "Nothing was changed. The tool's full output is below.",
    problems: [],
    toolOutput: r.stdout + r.stderr,
  });
}

// ---- save ---------------------------------------------------------------------------------

async function saveImage(
  s: Session,
  options: ImageSaveOptions,
  onEvent: (e: BuildEvent) => void,
  sink: Sink,
): Promise<BuildResult> {
  const t0 = performance.now();
  const stage = (name: StageName, state: 'start' | 'done' | 'skipped') =>
    onEvent({ type: 'stage', stage: name, state, elapsedMs: performance.now() - t0 });
  stage('check', 'start');
  onEvent({ type: 'log', stage: 'check', tool: 'e2fsck', stream: 'stdout', text: '$ e2fsck -fn' });
  const fsck = await checkImage(s.store);
  s.state = { ...s.state, fsck };
  if (!fsck.clean) {
    throw new EngineFailure({
      code: 'check-failed',
      message: `e2fsck found problems in ${s.name} (exit ${fsck.exitCode}); it was not saved.`,
      hint: 'Repair it (e2fsck -fy) and save again.',
      problems: [],
      toolOutput: fsck.output,
    });
  }
  stage('check', 'done');
  const level = options.level ?? 3;
  if (options.compress && (!Number.isInteger(level) || level < 1 || level > 19)) {
    throw new EngineFailure({
      code: 'bad-input',
      message: `The zstd level must be 1 to 19, got ${level}.`,
      hint: 'Pick a level from 1 to 19.',
      problems: [],
    });
  }
  const streaming: StageName[] = options.compress ? ['compress', 'save'] : ['save'];
  if (!options.compress) stage('compress', 'skipped');
  for (const n of streaming) stage(n, 'start');
  const out = await streamImage(s.store, sink, {
    compress: options.compress,
    level,
    onProgress: (done, total) => {
      for (const n of streaming) onEvent({ type: 'progress', stage: n, done, total });
    },
  });
  for (const n of streaming) stage(n, 'done');
  return {
    fileName: options.fileName ?? ImageSessions.defaultFileName(s.name, s.state.summary.label, options.compress),
    ...out,
    compressed: options.compress,
    summary: s.state.summary,
  };
}

// ---- export -------------------------------------------------------------------------------

interface TarItem {
  entry: TarWriteEntry;
  /** Inode whose bytes follow (files). */
  inode?: number;
}

async function exportPath(s: Session, path: string, sink: Sink): Promise<ExportResult> {
  const r = await resolvePath(s.store, path);
  if (!r.record) throw notFound(path);
  const type = entryTypeOf(r.record.mode);
  const baseName = path === '/' ? s.state.summary.label || 'image' : r.name;
  if (type === 'file') {
    const data = await dumpInode(s.store, r.record.inode, undefined, r.record.size);
    for await (const piece of data.chunks({ pieceSize: 4 * MiB })) await sink(piece);
    return { fileName: baseName, kind: 'file', size: data.size, entries: 1, skipped: 0 };
  }

  // Walk the folder (one listing run per level, one stat run per level), then write the
  // archive depth first, dumping file bytes in batches.
  const children = new Map<
    number,
    Array<{ name: string; inode: number; mode: number; size: number; uid: number; gid: number }>
  >();
  const stats = await statInodes(s.store, [r.record]);
  let level = type === 'directory' ? [r.record.inode] : [];
  while (level.length > 0) {
    const listed = await listInodes(s.store, level);
    const next: number[] = [];
    const all = [...listed.values()].flat();
    for (const [ino, st] of await statInodes(s.store, all)) stats.set(ino, st);
    for (const [ino, records] of listed) {
      children.set(
        ino,
        records.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
      );
      for (const c of records) if (entryTypeOf(c.mode) === 'directory' && !children.has(c.inode)) next.push(c.inode);
    }
    level = next;
  }
  const items: TarItem[] = [];
  let skipped = 0;
  const firstPath = new Map<number, string>();
  type Rec = { name: string; inode: number; mode: number; uid: number; gid: number };
  // Depth first (pre-order) with an explicit stack: no recursion by folder depth.
  const stack: Array<{ rec: Rec; archivePath: string }> = [
    { rec: { ...r.record, name: baseName }, archivePath: baseName },
  ];
  while (stack.length > 0) {
    const { rec, archivePath } = stack.pop()!;
    const t = entryTypeOf(rec.mode);
    const st = stats.get(rec.inode);
    const base = {
      path: archivePath,
      mode: rec.mode & 0o7777,
      uid: rec.uid,
      gid: rec.gid,
      mtime: st?.mtime ?? 0,
      size: 0,
    };
    if (t === 'directory') {
      items.push({ entry: { ...base, type: 'directory' } });
      const kids = children.get(rec.inode) ?? [];
      for (let i = kids.length - 1; i >= 0; i--)
        stack.push({ rec: kids[i], archivePath: `${archivePath}/${kids[i].name}` });
    } else if (t === 'symlink') {
      items.push({ entry: { ...base, type: 'symlink', linkTarget: st?.target ?? '' } });
    } else if (t === 'file') {
      const seen = firstPath.get(rec.inode);
      if (seen !== undefined) {
        items.push({ entry: { ...base, type: 'hardlink', linkTarget: seen } });
      } else {
        firstPath.set(rec.inode, archivePath);
        items.push({ entry: { ...base, type: 'file', size: st?.size ?? 0 }, inode: rec.inode });
      }
    } else {
      skipped++;
    }
  }

  let size = 0;
  const out = async (bytes: Uint8Array) => {
    size += bytes.length;
    await sink(bytes);
  };
  let batch: TarItem[] = [];
  let batchBytes = 0;
  let batchFiles = 0;
  const flush = async () => {
    const data = await dumpInodes(
      s.store,
      batch.filter((i) => i.inode !== undefined).map((i) => ({ inode: i.inode!, size: i.entry.size })),
    );
    for (const item of batch) {
      await out(tarHeader(item.entry));
      if (item.inode === undefined || item.entry.size === 0) continue;
      const store = data.get(item.inode)!;
      if (store.size !== item.entry.size)
        throw new Error(`${item.entry.path}: debugfs gave ${store.size} bytes, the inode says ${item.entry.size}`);
      for await (const piece of store.chunks({ pieceSize: 4 * MiB })) await out(piece);
      await out(tarPadding(item.entry.size));
    }
    batch = [];
    batchBytes = 0;
    batchFiles = 0;
  };
  for (const item of items) {
    batch.push(item);
    if (item.inode !== undefined) {
      batchBytes += item.entry.size;
      batchFiles++;
    }
    if (batchBytes >= EXPORT_BATCH_BYTES || batchFiles >= EXPORT_BATCH_FILES) await flush();
  }
  await flush();
  await out(tarTrailer());
  return { fileName: `${baseName}.tar`, kind: 'tar', size, entries: items.length, skipped };
}
