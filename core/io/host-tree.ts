/**
 * Node only: walks host folders into tree entries with their real metadata (lstat): modes,
 * owners, times, raw symlink targets (readlink), hard links by inode.
 */
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.ts';
import { compareNames } from '../image-path.ts';
import type { InputProblem, TreeEntry } from '../image-tree.ts';
import { hostInputProblem } from './host-input-check.ts';
import { openHostFile } from './host-file-reader.ts';
import type { HostAccess } from './random-access-reader.ts';

export type { HostAccess };

/**
 * A number as a small integer where it is one. Stat fields come as doubles, and an object
 * field that has held a double keeps every value boxed (16 bytes more per field and entry):
 * 400,000 entries held 60 MiB of such boxes.
 */
const int = (n: number): number => (n >= -0x40000000 && n < 0x40000000 ? n | 0 : n);

/** Owner given to every entry instead of the host's (make-ext4-fs.nix's fakeroot: 0:0). */
export interface WalkOwner {
  uid: number;
  gid: number;
}

/**
 * Walks `root` depth first (names in byte order). The first name of a multiply-linked file
 * is its file entry; later names become hard links to it. Sockets, devices and FIFOs, and
 * names that are not UTF-8 (a tree path is text), are left out: each one becomes a warning
 * in `problems` naming it, when given. With `owner`, every entry gets that owner instead of
 * the host's.
 *
 * Memory: this is what a 400,000-entry tree is held as until the build ends, so each entry
 * is one object literal of a fixed shape with small-integer fields, and nothing is copied
 * (no per-name Buffers, no second pass over the list).
 */
export async function walkHostDir(
  root: string,
  origin: string,
  problems?: InputProblem[],
  owner?: WalkOwner,
): Promise<TreeEntry[]> {
  const skipped = { special: 0, names: 0 };
  const warn = (kind: 'special' | 'names', path: string, message: string, hint: string) => {
    if (!problems || ++skipped[kind] > 20) return;
    problems.push({
      severity: 'warning',
      code: `host-${kind === 'special' ? 'special-skipped' : 'name-not-utf8'}`,
      input: origin,
      path,
      message,
      hint,
    });
  };
  const ownerUid = owner ? int(owner.uid) : undefined;
  const ownerGid = owner ? int(owner.gid) : undefined;
  // Synchronous calls: a promise per lstat made a 24,000-entry walk take 3 s instead of 0.3 s.
  const out: TreeEntry[] = [];
  const seen = new Map<string, string>();
  // Depth first with an explicit stack (pre-order, names in byte order): no recursion by folder depth.
  const stack: { host: string; path: string }[] = [{ host: root, path: '/' }];
  while (stack.length > 0) {
    const { host, path } = stack.pop()!;
    const st = lstatSync(host);
    const mode = int(st.mode & 0o7777);
    const uid = ownerUid ?? int(st.uid);
    const gid = ownerGid ?? int(st.gid);
    const mtime = int(Math.floor(st.mtimeMs / 1000));
    if (st.isDirectory()) {
      out.push({ path, type: 'directory', mode, uid, gid, mtime, size: 0, origin });
      const names = listNames(host, path, warn);
      names.sort(compareNames);
      const prefix = path === '/' ? '/' : `${path}/`;
      const hostPrefix = host.endsWith('/') ? host : `${host}/`;
      for (let i = names.length - 1; i >= 0; i--) stack.push({ host: hostPrefix + names[i], path: prefix + names[i] });
    } else if (st.isSymbolicLink()) {
      const target = readlinkSync(host);
      out.push({ path, type: 'symlink', mode, uid, gid, mtime, size: int(Buffer.byteLength(target)), origin, target });
    } else if (!st.isFile()) {
      const what = st.isFIFO()
        ? 'a FIFO'
        : st.isSocket()
          ? 'a socket'
          : st.isCharacterDevice()
            ? 'a character device'
            : st.isBlockDevice()
              ? 'a block device'
              : 'a special file';
      warn(
        'special',
        path,
        `Left out ${path}: it is ${what}, and images built here hold only files, folders and links.`,
        'Create it at boot instead (systemd-tmpfiles, udev), or leave it out of the folder.',
      );
    } else {
      const key = st.nlink > 1 ? `${st.dev}:${st.ino}` : '';
      const first = key ? seen.get(key) : undefined;
      if (first) out.push({ path, type: 'hardlink', mode, uid, gid, mtime, size: 0, origin, target: first });
      else {
        if (key) seen.set(key, path);
        const size = int(st.size);
        const identity = { dev: int(st.dev), ino: int(st.ino), size, mtimeMs: st.mtimeMs };
        const source = { kind: 'host-file' as const, path: host, offset: 0, size, identity };
        out.push({ path, type: 'file', mode, uid, gid, mtime, size, origin, source });
      }
    }
  }
  for (const kind of ['special', 'names'] as const) {
    if (problems && skipped[kind] > 20)
      problems.push({
        severity: 'warning',
        code: kind === 'special' ? 'host-special-skipped' : 'host-name-not-utf8',
        input: origin,
        message: `${skipped[kind] - 20} more ${kind === 'special' ? 'special files (FIFOs, sockets, devices)' : 'entries with names that are not UTF-8'} were left out of ${origin}.`,
        hint: 'See the entries named above.',
      });
  }
  return out;
}

/**
 * The UTF-8 names in a folder. Listed as text (no Buffer per name); only a folder where
 * some name decoded to U+FFFD, which Node puts for bytes that are not UTF-8, is listed
 * again as bytes to tell real U+FFFD characters from names that are not UTF-8.
 */
function listNames(
  host: string,
  path: string,
  warn: (kind: 'names', path: string, message: string, hint: string) => void,
): string[] {
  const names = readdirSync(host);
  if (!names.some((n) => n.includes('\uFFFD'))) return names;
  const out: string[] = [];
  for (const raw of readdirSync(host, { encoding: 'buffer' })) {
    const name = utf8Name(raw);
    if (name !== undefined) out.push(name);
    else
      warn(
        'names',
        `${path === '/' ? '' : path}/${raw.toString('latin1')}`,
        `Left out ${join(host, raw.toString('latin1'))}: its name is not UTF-8, and the studio keeps names as UTF-8 text.`,
        'Rename it to UTF-8 (e.g. convmv -f latin1 -t utf8), or give the folder as a tar archive.',
      );
  }
  return out;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
function utf8Name(raw: Buffer): string | undefined {
  try {
    return strictUtf8.decode(raw);
  } catch {
    return undefined;
  }
}

/** Host access through Node's fs. */
export const nodeHost: HostAccess = {
  openFile: openHostFile,
  walk: walkHostDir,
  list: async (path) => {
    const why = hostInputProblem(path, 'folder');
    if (why)
      throw new InputError({
        code: 'input-not-usable',
        input: path,
        message: `${path}: ${why}`,
        hint: 'Give a folder of <hash>-<name> store paths.',
      });
    return (await readdir(path)).sort(compareNames);
  },
};
