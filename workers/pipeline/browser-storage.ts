/**
 * Browsers: builds and opened images in the Origin Private File System (see
 * `workers/runtime/opfs-image-store.ts`), with the fallback to memory where OPFS is missing or
 * refuses, said as a warning. A build asked to keep its output (`keepFile`) leaves it in an
 * OPFS file and returns it as a disk-backed `File`: an uncompressed image is the very file
 * it was built in; a compressed one is streamed into a second file.
 */
import type { BuildEvent, BuildRequest, BuildResult, OutputOptions } from '../../core/engine-contract.ts';
import type { InputProblem } from '../../core/image-tree.ts';
import { isAllZero, MemoryImageStore, type ImageStorage, type ImageStore } from '../runtime/image-store.ts';
import { type OpfsBacking, OpfsStorage, StorageUnavailableError } from '../runtime/opfs-image-store.ts';
import { buildImage } from './build-image.ts';

type Sink = (chunk: Uint8Array) => Promise<void> | void;

let opened: Promise<OpfsStorage | StorageUnavailableError> | null = null;

/**
 * The worker's OPFS storage, opened once; on the first open, files that cancelled or
 * finished builds of earlier sessions left behind are removed. Resolves to the reason when
 * OPFS cannot be used.
 */
export function browserStorage(): Promise<OpfsStorage | StorageUnavailableError> {
  opened ??= OpfsStorage.open().then(
    async (s) => {
      await s.removeStale();
      return s;
    },
    (err: unknown) =>
      err instanceof StorageUnavailableError ? err : new StorageUnavailableError(`OPFS failed: ${String(err)}`),
  );
  return opened;
}

/** Bytes of memory the fallback can be expected to hold, from the device's memory (Chromium caps it at 8 GiB). */
function memoryHint(): string {
  const gb = (globalThis as { navigator?: { deviceMemory?: number } }).navigator?.deviceMemory;
  return gb ? ` (this device reports ${gb} GB of memory; the image's data must fit in part of it)` : '';
}

function fallbackProblem(why: string): InputProblem {
  return {
    severity: 'warning',
    code: 'storage-fallback',
    input: 'browser storage',
    message: `The image is kept in memory, not on disk: ${why}.`,
    hint: `Images larger than the memory the tab can use will fail${memoryHint()}. Use a browser with the Origin Private File System and free disk space, or the command line (disk-image-studio build), for large images.`,
  };
}

/**
 * A storage that makes stores in OPFS and falls back to memory (once saying why through
 * `onFallback`) when OPFS is missing or refuses.
 */
export function storageWithFallback(onFallback: (problem: InputProblem) => void): ImageStorage {
  let warned = false;
  const fallBack = (why: string): ImageStore => {
    if (!warned) onFallback(fallbackProblem(why));
    warned = true;
    return new MemoryImageStore();
  };
  return {
    kind: 'opfs',
    async create(hint, expectedBytes) {
      const opfs = await browserStorage();
      if (opfs instanceof StorageUnavailableError) return fallBack(opfs.message);
      try {
        return await opfs.create(hint, expectedBytes);
      } catch (err) {
        if (err instanceof StorageUnavailableError) return fallBack(err.message);
        throw err;
      }
    },
  };
}

/** Outputs of earlier builds kept for a download; removed when the next build starts. */
const keptOutputs = new Set<string>();

/**
 * Builds in OPFS (or memory, with a warning). With `keepFile`, the output stays in an OPFS
 * file returned as `result.file`, and `sink` is not called; otherwise it goes to `sink`.
 */
export async function buildInBrowser(
  request: BuildRequest,
  onEvent: (e: BuildEvent) => void,
  sink: Sink,
  output: OutputOptions = {},
): Promise<BuildResult> {
  const opfs = await browserStorage();
  if (!(opfs instanceof StorageUnavailableError)) {
    for (const name of keptOutputs) await opfs.remove(name);
    keptOutputs.clear();
    await opfs.removeStale();
  }
  const warn = (problem: InputProblem) => onEvent({ type: 'problem', problem });
  const fallback = storageWithFallback(warn);
  const fileName = `${request.options.label || 'image'}.img${request.options.compress ? '.zst' : ''}`;
  if (!output.keepFile || opfs instanceof StorageUnavailableError) {
    if (output.keepFile && opfs instanceof StorageUnavailableError) warn(fallbackProblem(opfs.message));
    return buildImage(request, { onEvent, sink, storage: output.keepFile ? undefined : fallback });
  }

  let kept: OpfsBacking | undefined;
  const remove = async () => {
    if (kept) await opfs.remove(kept.file.name);
  };
  try {
    if (!request.options.compress) {
      // The image is built in the file that becomes the download.
      let inMemory = false;
      const storage: ImageStorage = {
        kind: 'opfs',
        async create(hint, expectedBytes) {
          const free = await OpfsStorage.available();
          if (expectedBytes !== undefined && free !== undefined && free < expectedBytes) {
            inMemory = true;
            return fallback.create(hint, expectedBytes);
          }
          try {
            const made = await opfs.createStore(fileName, false);
            kept = made.backing;
            return made.store;
          } catch (err) {
            if (!(err instanceof StorageUnavailableError)) throw err;
            inMemory = true;
            return fallback.create(hint);
          }
        },
      };
      const result = await buildImage(request, {
        onEvent,
        storage,
        sink: (chunk) => (inMemory ? sink(chunk) : undefined),
      });
      if (inMemory || !kept) return result;
      keptOutputs.add(kept.file.name);
      return { ...result, file: await kept.file.getFile() };
    }
    // Compressed: the image in a temporary OPFS file, the .zst streamed into a kept one.
    try {
      kept = await opfs.createBacking('output', false, fileName);
    } catch (err) {
      if (!(err instanceof StorageUnavailableError)) throw err;
      warn(fallbackProblem(err.message));
      return buildImage(request, { onEvent, sink, storage: fallback });
    }
    const out = kept;
    let position = 0;
    const result = await buildImage(request, {
      onEvent,
      storage: fallback,
      sink: (chunk) => {
        out.write(position, chunk);
        position += chunk.length;
      },
    });
    out.truncate(position);
    out.flush();
    out.close();
    keptOutputs.add(out.file.name);
    return { ...result, file: await out.file.getFile() };
  } catch (err) {
    kept?.close();
    await remove();
    throw err;
  }
}

/** Outputs of earlier saves of opened images kept for a download; removed at the next save. */
const keptSaves = new Set<string>();
const EMPTY = new Uint8Array(0);

/**
 * Saves an opened image (`save` streams it to the sink it is given). With `keepFile`, the
 * output goes into a new OPFS file (zero pieces left as holes) returned as `result.file`;
 * `sink` then gets an empty chunk per piece, so the page can still stop the save by
 * rejecting. Without OPFS the output goes to `sink`, with a warning.
 */
export async function saveInBrowser(
  save: (sink: Sink) => Promise<BuildResult>,
  fileName: string,
  onEvent: (e: BuildEvent) => void,
  sink: Sink,
  output: OutputOptions = {},
): Promise<BuildResult> {
  if (!output.keepFile) return save(sink);
  const opfs = await browserStorage();
  const warn = (why: string) => onEvent({ type: 'problem', problem: fallbackProblem(why) });
  if (opfs instanceof StorageUnavailableError) {
    warn(opfs.message);
    return save(sink);
  }
  for (const name of keptSaves) await opfs.remove(name);
  keptSaves.clear();
  let out: OpfsBacking;
  try {
    out = await opfs.createBacking('output', false, fileName);
  } catch (err) {
    if (!(err instanceof StorageUnavailableError)) throw err;
    warn(err.message);
    return save(sink);
  }
  let position = 0;
  try {
    const result = await save(async (chunk) => {
      if (!isAllZero(chunk)) out.write(position, chunk);
      position += chunk.length;
      await sink(EMPTY);
    });
    out.truncate(position);
    out.flush();
    out.close();
    keptSaves.add(out.file.name);
    return { ...result, file: await out.file.getFile() };
  } catch (err) {
    out.close();
    await opfs.remove(out.file.name);
    throw err;
  }
}
