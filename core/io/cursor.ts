/**
 * Sequential reading for the parsers, over either a random-access input (member bytes become
 * slices of the input) or a decompressed stream (member bytes are collected into Blobs,
 * counted against an expansion limit). A `tap` sees every byte consumed, for hashing.
 */
import type { ByteSource } from '../image-tree.ts';
import { DecompressError, type InputError } from '../errors.ts';
import { READ_CHUNK, type RandomAccessReader } from './random-access-reader.ts';

/** Builds the parser's typed error for input that ends early. */
export type EofErrorFactory = (position: number, wanted: number) => InputError;

export interface Cursor {
  readonly name: string;
  /** Bytes consumed so far. */
  readonly position: number;
  /** Called with every byte consumed (read, skipped or taken), in order. */
  tap: ((chunk: Uint8Array) => void) | null;
  /** Exactly `n` bytes; the array is only valid until the next call (copy to keep). */
  read(n: number): Promise<Uint8Array>;
  skip(n: number): Promise<void>;
  /** The next `n` bytes as a `ByteSource` (a slice for random access, a Blob for streams). */
  take(n: number): Promise<ByteSource>;
  /** True when no byte is left. */
  atEnd(): Promise<boolean>;
}

/** Cursor over a random-access input; `take` returns slices of it. */
export class RandomAccessCursor implements Cursor {
  tap: ((chunk: Uint8Array) => void) | null = null;
  private pos = 0;
  private buf: Uint8Array = new Uint8Array(0);
  private bufStart = 0;

  constructor(
    private readonly reader: RandomAccessReader,
    private readonly eof: EofErrorFactory,
    private readonly chunk = 256 * 1024,
  ) {}

  get name(): string {
    return this.reader.name;
  }
  get position(): number {
    return this.pos;
  }

  private check(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0 || this.pos + n > this.reader.size) throw this.eof(this.pos, n);
  }

  async read(n: number): Promise<Uint8Array> {
    this.check(n);
    const rel = this.pos - this.bufStart;
    if (rel < 0 || rel + n > this.buf.length) {
      this.buf = await this.reader.read(this.pos, Math.max(n, this.chunk));
      this.bufStart = this.pos;
      if (this.buf.length < n) throw this.eof(this.pos, n);
    }
    const out = this.buf.subarray(this.pos - this.bufStart, this.pos - this.bufStart + n);
    this.pos += n;
    this.tap?.(out);
    return out;
  }

  async skip(n: number): Promise<void> {
    this.check(n);
    if (!this.tap) {
      this.pos += n;
      return;
    }
    let left = n;
    while (left > 0) {
      const step = Math.min(left, READ_CHUNK);
      await this.read(step);
      left -= step;
    }
  }

  async take(n: number): Promise<ByteSource> {
    this.check(n);
    const src = this.reader.sourceAt(this.pos, n);
    await this.skip(n);
    return src;
  }

  async atEnd(): Promise<boolean> {
    return this.pos >= this.reader.size;
  }
}

/**
 * Where a stream cursor keeps the member bytes it takes. Default: Blobs (browsers keep
 * large ones on disk); in Node a temporary file (`host-content-spool.ts`), so decompressed
 * contents never sit in memory.
 */
export interface ContentSpool {
  /** Stores `size` bytes, given through `fill`'s callback in order, and names them as a ByteSource. */
  append(size: number, fill: (write: (part: Uint8Array) => void) => Promise<void>): Promise<ByteSource>;
  /**
   * Makes what was appended so far readable through the sources `append` returned (a
   * browser spool can hand out a readable File only once its writes are done). Called
   * when a parse of an input ends, before its sources are read. Default: always readable.
   */
  seal?(): Promise<void>;
}

/** Options of a stream cursor. */
export interface StreamCursorOptions {
  /** Where taken bytes go. Default: Blobs. */
  spool?: ContentSpool;
  /** Most bytes `take` may collect into memory in total. Default 8 GiB. */
  maxExpandedBytes?: number;
  /** The option name people use to raise the limit, for the message. Default `maxExpandedBytes`. */
  limitOptionName?: string;
  /** The message's hint when the limit is passed, where there is no option to raise it. */
  limitHint?: string;
}

/** Default limit of bytes a compressed input may expand to in memory: 8 GiB. */
export const DEFAULT_MAX_EXPANDED_BYTES = 8 * 1024 ** 3;

function formatBytes(n: number): string {
  if (n >= 1024 ** 3 && n % 1024 ** 3 === 0) return `${n / 1024 ** 3} GiB`;
  if (n >= 1024 ** 2 && n % 1024 ** 2 === 0) return `${n / 1024 ** 2} MiB`;
  return `${n} bytes`;
}

/** Cursor over a (decompressed) stream; `take` collects bytes into a Blob. */
export class StreamCursor implements Cursor {
  tap: ((chunk: Uint8Array) => void) | null = null;
  private pos = 0;
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private done = false;
  private expanded = 0;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly limit: number;
  private readonly limitName: string;
  private readonly limitHint: string | undefined;
  private readonly spool: ContentSpool | undefined;

  constructor(
    stream: ReadableStream<Uint8Array>,
    readonly name: string,
    private readonly eof: EofErrorFactory,
    options: StreamCursorOptions = {},
  ) {
    this.reader = stream.getReader();
    this.limit = options.maxExpandedBytes ?? DEFAULT_MAX_EXPANDED_BYTES;
    this.limitName = options.limitOptionName ?? 'maxExpandedBytes';
    this.limitHint = options.limitHint;
    this.spool = options.spool;
  }

  get position(): number {
    return this.pos;
  }

  /** Pulls until `n` bytes are buffered or the stream ends; false on end. */
  private async fill(n: number): Promise<boolean> {
    while (this.buffered < n && !this.done) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await this.reader.read();
      } catch (err) {
        throw new DecompressError({
          code: 'decompress-failed',
          input: this.name,
          message: `Decompressing ${this.name} failed at byte ${this.pos + this.buffered} of its contents: ${err instanceof Error ? err.message : String(err)}.`,
          hint: 'The file is corrupt or truncated; download or create it again.',
        });
      }
      if (r.done) this.done = true;
      else if (r.value.length > 0) {
        this.chunks.push(r.value);
        this.buffered += r.value.length;
      }
    }
    return this.buffered >= n;
  }

  /** Removes up to `n` buffered bytes, as the chunks they are in. */
  private consume(n: number, sink: (part: Uint8Array) => void): void {
    let left = n;
    while (left > 0) {
      const head = this.chunks[0];
      if (head.length <= left) {
        this.chunks.shift();
        sink(head);
        left -= head.length;
        this.buffered -= head.length;
      } else {
        sink(head.subarray(0, left));
        this.chunks[0] = head.subarray(left);
        this.buffered -= left;
        left = 0;
      }
    }
    this.pos += n;
  }

  private checkN(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw this.eof(this.pos, n);
  }

  async read(n: number): Promise<Uint8Array> {
    this.checkN(n);
    if (!(await this.fill(n))) throw this.eof(this.pos, n);
    let out: Uint8Array;
    if (this.chunks.length > 0 && this.chunks[0].length >= n) {
      out = this.chunks[0].subarray(0, n);
      this.consume(n, () => {});
    } else {
      out = new Uint8Array(n);
      let at = 0;
      this.consume(n, (p) => {
        out.set(p, at);
        at += p.length;
      });
    }
    this.tap?.(out);
    return out;
  }

  private async stream(n: number, sink: (part: Uint8Array) => void): Promise<void> {
    this.checkN(n);
    let left = n;
    while (left > 0) {
      if (this.buffered === 0 && !(await this.fill(1))) throw this.eof(this.pos, left);
      const step = Math.min(left, this.buffered);
      this.consume(step, (p) => {
        this.tap?.(p);
        sink(p);
      });
      left -= step;
    }
  }

  async skip(n: number): Promise<void> {
    await this.stream(n, () => {});
  }

  async take(n: number): Promise<ByteSource> {
    this.checkN(n);
    if (this.expanded + n > this.limit) {
      throw new DecompressError({
        code: 'expansion-limit',
        input: this.name,
        message: `${this.name} expands to more than the limit of ${formatBytes(this.limit)} of file contents ${this.spool ? 'kept' : 'held in memory'}.`,
        hint:
          this.limitHint ??
          `Raise the limit with the "${this.limitName}" option (bytes), or give the archive uncompressed so its files are read in place.`,
      });
    }
    this.expanded += n;
    if (this.spool) return this.spool.append(n, (write) => this.stream(n, write));
    const parts: Uint8Array[] = [];
    await this.stream(n, (p) => parts.push(p));
    return { kind: 'blob', blob: new Blob(parts as BlobPart[]), offset: 0, size: n };
  }

  async atEnd(): Promise<boolean> {
    return !(await this.fill(1));
  }

  /** Stops reading the stream (after a parse error or an early end). */
  async cancel(): Promise<void> {
    try {
      await this.reader.cancel();
    } catch {
      /* already errored */
    }
  }
}
