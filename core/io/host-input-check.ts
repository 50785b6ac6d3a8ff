/**
 * Node only: what kind of thing a host path is, checked before anything is read. A FIFO, a
 * socket or a device given where a file belongs would make a read wait forever (a FIFO
 * without a writer) or never end (`/dev/zero`, `/dev/urandom`), so only regular files and
 * folders are accepted. The command line and the engine's host inputs share these checks
 * and their messages.
 */
import { constants, type Stats, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { InputError } from '../errors.ts';

/** What a host input must be. */
export type HostInputKind = 'file' | 'folder';

/** "a FIFO (named pipe)", "a character device", ... */
export function describeFileType(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a folder';
  return 'a regular file';
}

/** Why a path of type `st` cannot be used as `want`, or `undefined` when it can. */
export function wrongKindProblem(st: Stats, want: HostInputKind): string | undefined {
  if (want === 'folder') return st.isDirectory() ? undefined : `not a folder but ${describeFileType(st)}.`;
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return 'a folder, not a file.';
  return `${describeFileType(st)}, not a regular file: reading it could wait forever or never end. Save the data to a regular file and give that.`;
}

/** The message for a failed stat/open of a host input. */
export function accessProblem(err: unknown): string {
  if (err instanceof InputError) return err.message;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or folder.';
  if (code === 'EACCES' || code === 'EPERM')
    return 'permission denied; make it readable or run as a user who can read it.';
  if (code === 'ELOOP') return 'a loop of symbolic links.';
  if (code === 'ENOTDIR') return 'a part of the path is not a folder.';
  return `it cannot be read (${code ?? (err as Error).message}).`;
}

/** Why `path` cannot be used as a `want` input (following a final symlink), or `undefined`. */
export function hostInputProblem(path: string, want: HostInputKind): string | undefined {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (err) {
    return accessProblem(err);
  }
  return wrongKindProblem(st, want);
}

/**
 * Opens a host file for reading, refusing anything but a regular file without blocking
 * (`O_NONBLOCK`: opening a FIFO with no writer returns at once instead of waiting);
 * `noFollow` also refuses a symlink at `path` (ELOOP). Throws an {@link InputError} naming
 * `name` and `path`.
 */
export async function openRegularFile(path: string, name: string, options: { noFollow?: boolean } = {}) {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | (options.noFollow ? constants.O_NOFOLLOW : 0));
  } catch (err) {
    throw notUsable(path, name, accessProblem(err));
  }
  const st = await fh.stat();
  const why = wrongKindProblem(st, 'file');
  if (why) {
    await fh.close();
    throw notUsable(path, name, why);
  }
  return { fh, st };
}

function notUsable(path: string, name: string, why: string): InputError {
  return new InputError({
    code: 'input-not-usable',
    input: name,
    message: `${path}: ${why}`,
    hint: 'Give a regular file that can be read.',
  });
}
