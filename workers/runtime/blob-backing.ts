/**
 * A Blob (a File the person opened) as a read-only {@link StoreBacking}, read synchronously
 * through `FileReaderSync` (dedicated workers only). It is the base of an
 * {@link OverlayImageStore}: the opened file is used in place, never copied or written.
 */
import type { StoreBacking } from './image-store.ts';

type SyncReader = { readAsArrayBuffer(blob: Blob): ArrayBuffer };

/** The `FileReaderSync` of this context, or undefined (pages, Node). */
export function fileReaderSync(): SyncReader | undefined {
  const FRS = (globalThis as { FileReaderSync?: new () => SyncReader }).FileReaderSync;
  return FRS ? new FRS() : undefined;
}

export class BlobBacking implements StoreBacking {
  constructor(
    readonly blob: Blob,
    readonly location: string,
    private readonly reader: SyncReader,
  ) {}

  read(position: number, target: Uint8Array): number {
    const end = Math.min(this.blob.size, position + target.length);
    if (end <= position) return 0;
    target.set(new Uint8Array(this.reader.readAsArrayBuffer(this.blob.slice(position, end))));
    return end - position;
  }

  write(): void {
    throw new Error(`${this.location} is read-only`);
  }

  truncate(size: number): void {
    if (size !== this.blob.size) throw new Error(`${this.location} is read-only`);
  }

  flush(): void {}

  close(): void {}
}
