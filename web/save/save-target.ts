/**
 * Where a build's output goes, chunk by chunk, as the engine produces it.
 *
 * - `pickFileTarget`: the File System Access API. The person picks a file first (this must
 *   run inside the click that started the build), then every chunk is written to it as it
 *   arrives, so even a large image never sits in memory.
 * - `memoryTarget`: everywhere else, or when the person chose "Download". A build's output
 *   normally arrives as a disk-backed File from the engine's browser storage (OPFS), handed
 *   to `finish`; otherwise chunks are kept as Blob parts (no concatenation into one big
 *   buffer). Either goes to the browser's download machinery through an object URL.
 */

export interface SavedOutput {
  kind: 'file' | 'download';
  fileName: string;
  /** Set for downloads: the finished Blob and its object URL (revoke with `release`). */
  blob?: Blob;
  url?: string;
}

export interface SaveTarget {
  readonly kind: 'file' | 'download';
  readonly fileName: string;
  write(chunk: Uint8Array): Promise<void>;
  /** Closes the file, or assembles the Blob (or takes `file`, the output the engine kept on disk). */
  finish(fileName: string, file?: File): Promise<SavedOutput>;
  /** Drops whatever was written (a cancelled or failed build leaves nothing behind). */
  abort(): Promise<void>;
}

interface WritableLike {
  write(data: BufferSource | Blob): Promise<void>;
  close(): Promise<void>;
  abort(reason?: unknown): Promise<void>;
}
interface FileHandleLike {
  name: string;
  createWritable(options?: { keepExistingData?: boolean }): Promise<WritableLike>;
}
type SaveFilePicker = (options?: {
  suggestedName?: string;
  types?: Array<{ description: string; accept: Record<string, string[]> }>;
  id?: string;
}) => Promise<FileHandleLike>;

function picker(): SaveFilePicker | undefined {
  const w = globalThis as unknown as { showSaveFilePicker?: SaveFilePicker };
  return typeof w.showSaveFilePicker === 'function' ? w.showSaveFilePicker.bind(globalThis) : undefined;
}

/** True when this browser can stream straight into a file the person picks. */
export function canPickFile(): boolean {
  return picker() !== undefined && globalThis.isSecureContext !== false;
}

/**
 * Asks where to save (call it directly from a click handler). Resolves to null when the
 * person closes the picker.
 */
export async function pickFileTarget(suggestedName: string): Promise<SaveTarget | null> {
  const show = picker();
  if (!show) throw new Error('This browser cannot save straight to a file.');
  const compressed = suggestedName.endsWith('.zst');
  let handle: FileHandleLike;
  try {
    handle = await show({
      suggestedName,
      id: 'disk-image',
      types: [
        compressed
          ? { description: 'zstd-compressed disk image', accept: { 'application/zstd': ['.zst'] } }
          : { description: 'Raw disk image', accept: { 'application/octet-stream': ['.img'] } },
      ],
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') return null;
    throw err;
  }
  const writable = await handle.createWritable({ keepExistingData: false });
  let closed = false;
  return {
    kind: 'file',
    fileName: handle.name,
    async write(chunk) {
      await writable.write(chunk as Uint8Array<ArrayBuffer>);
    },
    async finish() {
      closed = true;
      await writable.close();
      return { kind: 'file', fileName: handle.name };
    },
    async abort() {
      if (closed) return;
      closed = true;
      try {
        await writable.abort();
      } catch {
        /* the stream may already be errored */
      }
    },
  };
}

/** Collects chunks as Blob parts for a download when the build is done. */
export function memoryTarget(fileName: string): SaveTarget {
  let parts: BlobPart[] = [];
  return {
    kind: 'download',
    fileName,
    async write(chunk) {
      // Each chunk becomes a Blob as it arrives: the browser copies it into blob storage
      // now, a few MiB at a time, instead of all at once in `finish` (a main-thread stall
      // of hundreds of ms for a large image), and the JS copy can be freed.
      parts.push(new Blob([chunk as Uint8Array<ArrayBuffer>]));
    },
    async finish(name, file) {
      const blob =
        file ?? new Blob(parts, { type: name.endsWith('.zst') ? 'application/zstd' : 'application/octet-stream' });
      parts = [];
      return { kind: 'download', fileName: name, blob, url: URL.createObjectURL(blob) };
    },
    async abort() {
      parts = [];
    },
  };
}

/** Starts a browser download of a finished output. */
export function startDownload(saved: SavedOutput): void {
  if (!saved.url || typeof document === 'undefined') return;
  const a = document.createElement('a');
  a.href = saved.url;
  a.download = saved.fileName;
  a.rel = 'noopener';
  a.style.display = 'none';
  document.body.append(a);
  a.click();
  a.remove();
}

export function release(saved: SavedOutput | null | undefined): void {
  if (saved?.url) URL.revokeObjectURL(saved.url);
}

/**
 * Where a build or a save of an opened image goes: the file the person picks when `mode` is
 * `file` and the browser can, else memory for a download. Resolves to null when the person
 * closes the picker; rejects with a message saying what to do when the file cannot be opened.
 * Call it from the click (the picker needs the click's user activation).
 */
export async function chooseSaveTarget(mode: 'file' | 'download', fileName: string): Promise<SaveTarget | null> {
  if (mode !== 'file' || !canPickFile()) return memoryTarget(fileName);
  try {
    return await pickFileTarget(fileName);
  } catch (err) {
    throw new SaveTargetError(
      `Could not open the file to save to: ${err instanceof Error ? err.message : String(err)}`,
      'Choose "Download" instead, or pick another place.',
    );
  }
}

/** The file picked to save to could not be opened. */
export class SaveTargetError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'SaveTargetError';
  }
}
