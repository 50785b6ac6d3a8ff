/**
 * Node only: writing an output file safely. The bytes go to a temporary file created
 * exclusively beside the output (`O_CREAT | O_EXCL | O_NOFOLLOW`, an unpredictable name),
 * so a link planted at a predictable name cannot redirect them; only a finished, checked
 * file is renamed over the output, so a failed or interrupted run leaves the old output
 * (or none) untouched. Writing is sparse: runs of zeros become holes of the file.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fdatasync,
  fstatSync,
  fsync,
  fsyncSync,
  ftruncateSync,
  lstatSync,
  openSync,
  realpathSync,
  renameSync,
  type Stats,
  statSync,
  unlink,
  unlinkSync,
  write,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { describeFileType } from '../../core/io/host-input-check.ts';

/** Holes are made per run of this many zero bytes (a filesystem block on every common filesystem). */
const HOLE_GRAIN = 4096;

/** Temporary files not yet committed or discarded, so an exit path can remove them. */
const pending = new Set<TempOutput>();

/** Why an output path cannot be used, in one sentence with the fix; `undefined` when it can. */
export function outputPathProblem(
  output: string,
  inputs: ReadonlyArray<{ path: string; folder: boolean }> = [],
): string | undefined {
  const abs = resolve(output);
  const dir = dirname(abs);
  let dirStat: Stats;
  try {
    dirStat = statSync(dir);
  } catch {
    return `the folder ${dir} does not exist; create it first or write elsewhere.`;
  }
  if (!dirStat.isDirectory()) return `${dir} is not a folder; give a path inside a folder.`;
  let st: Stats | undefined;
  try {
    st = statSync(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A dangling symlink: the rename replaces the link itself, never its target.
    if (code !== 'ENOENT' && code !== 'ELOOP') return `it cannot be examined (${code}).`;
  }
  if (st) {
    if (st.isDirectory()) return `it is a folder; give a file name such as ${join(output, 'nixos.img')}.`;
    if (!st.isFile())
      return `it is ${describeFileType(st)}, not a regular file; the image is written as a new file, so give a file name.`;
  }
  for (const input of inputs) {
    let ist: Stats;
    try {
      ist = statSync(input.path);
    } catch {
      continue;
    }
    if (st && st.dev === ist.dev && st.ino === ist.ino)
      return `it is the input ${input.path}; write the image to another file.`;
    if (input.folder && ist.isDirectory() && isInside(realDir(dir), realDir(input.path)))
      return `it lies inside the input folder ${input.path}, so the image would be built into itself; write it elsewhere.`;
  }
  return undefined;
}

function realDir(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith(sep));
}

/**
 * Creates a new, empty file exclusively in `dir` (mode 0600), open for reading and writing: its name is
 * `.<base>.<random>.partial`, and it is never an existing file or a link's target. Throws the errno error when the
 * folder cannot be written.
 */
export function createExclusive(dir: string, base: string): { path: string; fd: number } {
  for (let attempt = 0; ; attempt++) {
    const path = join(dir, `.${base}.${randomBytes(9).toString('base64url')}.partial`);
    try {
      const fd = openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_RDWR | constants.O_NOFOLLOW, 0o666);
      return { path, fd };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 8) continue;
      throw err;
    }
  }
}

/**
 * Writes a file's data to disk in the background (`fdatasync` in Node's thread pool), one
 * flush at a time, so that the fsync before the rename ({@link TempOutput.commitAsync})
 * finds little left: the disk then works while the image is checked and compressed, not
 * after it. Without it the CLI's `closure` build (357 MB of `.zst`) waited 0.15-0.2 s for
 * that fsync at the end on the bench's VM, and a slower disk waits seconds.
 *
 * A flush that fails is remembered and thrown by {@link throwIfFailed} and {@link settle}:
 * Linux reports a writeback error (EIO, ENOSPC on NFS) to each open file once, so the
 * final fsync would not see it again.
 */
export class BackgroundFlush {
  #running: Promise<void> | undefined;
  #again = false;
  /** The first flush's failure; no flush starts after one. */
  #error: NodeJS.ErrnoException | null = null;
  #flushes = 0;

  constructor(readonly fd: number) {}

  /** Flushes finished so far (diagnostics, tests). */
  get flushes(): number {
    return this.#flushes;
  }

  /** Flushes everything written so far: now, or right after the flush that is running. */
  start(): void {
    if (this.#error) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#loop();
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      this.#error = await new Promise<NodeJS.ErrnoException | null>((resolve) => fdatasync(this.fd, resolve));
      this.#flushes++;
    } while (this.#again && !this.#error);
    // In the same turn as the check above: a start() from now on begins a new loop.
    this.#running = undefined;
  }

  /** Throws the error of a flush that failed. */
  throwIfFailed(): void {
    if (this.#error) throw this.#error;
  }

  /** Waits for the flushes started; throws the error of one that failed. */
  async settle(): Promise<void> {
    while (this.#running) await this.#running;
    this.throwIfFailed();
  }
}

/** Writes sequential chunks to `fd` from offset 0, leaving zero runs as holes; `finish` sets the length. */
export class SparseWriter {
  #position = 0;
  #written = 0;
  #flushedAt = 0;
  readonly #flush: BackgroundFlush | undefined;
  constructor(
    readonly fd: number,
    /** Leave zero runs as holes. Default true. */
    readonly sparse = true,
    /**
     * With {@link writeAsync}: start a {@link BackgroundFlush} each time this many more bytes
     * have been written; {@link settle} waits for it. Default 0: never.
     */
    readonly flushEvery = 0,
  ) {
    this.#flush = flushEvery > 0 ? new BackgroundFlush(fd) : undefined;
  }

  /** Bytes of the logical file so far. */
  get position(): number {
    return this.#position;
  }

  /** Bytes actually written (the rest are holes). */
  get written(): number {
    return this.#written;
  }

  write(chunk: Uint8Array): void {
    for (const [bytes, at] of this.#runs(chunk)) this.#put(bytes, at);
  }

  /**
   * {@link write}, with the bytes written by Node's thread pool: the calling thread goes on
   * meanwhile. In the CLI that thread feeds the compression workers, and a disk that stalls
   * (seen on a VM: 20 MB writes taking 0.08-0.15 s each, 1.9 s of an 8 s build) then no
   * longer stalls them. `chunk` must stay unchanged until the promise settles, and each
   * call must be awaited before the next.
   */
  async writeAsync(chunk: Uint8Array): Promise<void> {
    this.#flush?.throwIfFailed();
    for (const [bytes, at] of this.#runs(chunk)) {
      for (let off = 0; off < bytes.length; ) off += await writeAt(this.fd, bytes, off, bytes.length - off, at + off);
      this.#written += bytes.length;
    }
    if (this.#flush && this.#written - this.#flushedAt >= this.flushEvery) {
      this.#flushedAt = this.#written;
      this.#flush.start();
    }
  }

  /** Background flushes finished so far (see `flushEvery`). */
  get flushes(): number {
    return this.#flush?.flushes ?? 0;
  }

  /** Waits for the background flushes started by {@link writeAsync}; throws the error of one that failed. */
  async settle(): Promise<void> {
    await this.#flush?.settle();
  }

  /** The runs of `chunk` to write, with their file offsets; moves the position past it. */
  #runs(chunk: Uint8Array): [Uint8Array, number][] {
    const start = this.#position;
    this.#position += chunk.length;
    if (!this.sparse) return chunk.length ? [[chunk, start]] : [];
    // Grains aligned to the file's offsets: an all-zero grain is skipped (it stays a hole).
    const runs: [Uint8Array, number][] = [];
    let i = 0;
    while (i < chunk.length) {
      const pos = start + i;
      const grainEnd = Math.min(chunk.length, i + (HOLE_GRAIN - (pos % HOLE_GRAIN)));
      let end = grainEnd;
      if (isZero(chunk, i, grainEnd)) {
        i = end;
        continue;
      }
      // Extend the data run over following non-zero grains, so writes stay large.
      while (end < chunk.length) {
        const next = Math.min(chunk.length, end + HOLE_GRAIN);
        if (isZero(chunk, end, next)) break;
        end = next;
      }
      runs.push([chunk.subarray(i, end), pos]);
      i = end;
    }
    return runs;
  }

  #put(bytes: Uint8Array, at: number): void {
    for (let off = 0; off < bytes.length; ) off += writeSync(this.fd, bytes, off, bytes.length - off, at + off);
    this.#written += bytes.length;
  }

  /** Sets the file's length to what was written (a trailing hole needs it). Returns the length. */
  finish(): number {
    ftruncateSync(this.fd, this.#position);
    return this.#position;
  }
}

/** `fs.write` as a promise of the bytes written. */
function writeAt(fd: number, bytes: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) =>
    write(fd, bytes, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))),
  );
}

let zeroRef: Uint8Array | undefined;
function isZero(bytes: Uint8Array, start: number, end: number): boolean {
  const n = end - start;
  if (!zeroRef || zeroRef.length < n) zeroRef = new Uint8Array(Math.max(n, HOLE_GRAIN));
  return Buffer.compare(bytes.subarray(start, end), zeroRef.subarray(0, n)) === 0;
}

/**
 * A temporary output beside `target`: write through `fd` (or {@link SparseWriter}), then
 * {@link commit} (size check, fsync, rename over the target) or {@link discard}.
 */
export class TempOutput {
  readonly path: string;
  readonly fd: number;
  #open = true;
  #done = false;

  private constructor(
    readonly target: string,
    created: { path: string; fd: number },
  ) {
    this.path = created.path;
    this.fd = created.fd;
  }

  /** Creates the temporary file beside `target`. Throws an errno error (EACCES, EROFS, ENOSPC...). */
  static create(target: string): TempOutput {
    const abs = resolve(target);
    const t = new TempOutput(abs, createExclusive(dirname(abs), basename(abs)));
    pending.add(t);
    return t;
  }

  /**
   * Checks the file is `expectedSize` bytes (when given), flushes it and renames it over
   * the target. Throws (and discards) when the size differs.
   */
  commit(expectedSize?: number): void {
    try {
      const st = this.#checked(expectedSize);
      fsyncSync(this.fd);
      this.#rename(st);
    } catch (err) {
      this.discard();
      throw err;
    }
  }

  /** {@link commit} with the flush to disk in the thread pool, so other work goes on meanwhile. */
  async commitAsync(expectedSize?: number): Promise<void> {
    try {
      const st = this.#checked(expectedSize);
      await new Promise<void>((resolve, reject) => fsync(this.fd, (err) => (err ? reject(err) : resolve())));
      this.#rename(st);
    } catch (err) {
      this.discard();
      throw err;
    }
  }

  #checked(expectedSize: number | undefined): Stats {
    if (this.#done) throw new Error(`${this.path} was already committed or discarded`);
    const st = fstatSync(this.fd);
    if (expectedSize !== undefined && st.size !== expectedSize)
      throw new Error(`the output came to ${st.size} bytes instead of ${expectedSize}`);
    return st;
  }

  #rename(st: Stats): void {
    // Private (0600) while written; the output gets the usual mode of a new file.
    fchmodSync(this.fd, 0o666 & ~process.umask());
    this.#close();
    // The temporary file must still be ours: a regular file, not replaced by a link.
    const now = lstatSync(this.path);
    if (!now.isFile() || now.ino !== st.ino || now.dev !== st.dev)
      throw new Error(`${this.path} was replaced while the image was written`);
    renameSync(this.path, this.target);
    this.#done = true;
    pending.delete(this);
  }

  /** Closes and removes the temporary file (idempotent; never touches the target). */
  discard(): void {
    this.#close();
    if (this.#done) return;
    this.#done = true;
    pending.delete(this);
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }

  /**
   * {@link discard} with the removal in the thread pool: freeing a large file's blocks and
   * cached pages is the kernel's work (0.05 s for 600 MiB), which other work can overlap.
   */
  async discardAsync(): Promise<void> {
    this.#close();
    if (this.#done) return;
    this.#done = true;
    pending.delete(this);
    await new Promise<void>((resolve) => unlink(this.path, () => resolve()));
  }

  #close(): void {
    if (!this.#open) return;
    this.#open = false;
    try {
      closeSync(this.fd);
    } catch {
      // closed already
    }
  }
}

/** Removes every temporary output not yet committed (for exit and signal paths). */
export function discardPendingOutputs(): void {
  for (const t of [...pending]) t.discard();
}
