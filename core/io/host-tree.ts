/**
 * Node only: walks host folders into tree entries with their real metadata (lstat): modes,
 * owners, times, raw symlink targets (readlink), hard links by inode.
 */
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TreeEntry } from '../image-tree.ts';
import { identityOf, openHostFile } from './host-file-reader.ts';
import type { HostAccess } from './random-access-reader.ts';

export type { HostAccess };

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * Walks `root` depth first (names in byte order). The first name of a multiply-linked file
 * is its file entry; later names become hard links to it. Sockets, devices and FIFOs are skipped.
 */
export async function walkHostDir(root: string, origin: string): Promise<TreeEntry[]> {
  // Synchronous calls: a promise per lstat made a 24,000-entry walk take 3 s instead of 0.3 s.
  const out: TreeEntry[] = [];
  const seen = new Map<string, string>();
  // Depth first with an explicit stack (pre-order, names in byte order): no recursion by folder depth.
  const stack: { host: string; path: string }[] = [{ host: root, path: '/' }];
  while (stack.length > 0) {
    const { host, path } = stack.pop()!;
    const st = lstatSync(host);
    const base = {
      path,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: Math.floor(st.mtimeMs / 1000),
      origin,
    };
    if (st.isDirectory()) {
      out.push({ ...base, type: 'directory', size: 0 });
      const names = readdirSync(host).sort(byteOrder);
      for (let i = names.length - 1; i >= 0; i--)
        stack.push({ host: join(host, names[i]), path: path === '/' ? '/' + names[i] : `${path}/${names[i]}` });
    } else if (st.isSymbolicLink()) {
      const target = readlinkSync(host);
      out.push({ ...base, type: 'symlink', size: Buffer.byteLength(target), target });
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? seen.get(key) : undefined;
      if (first) out.push({ ...base, type: 'hardlink', size: 0, target: first });
      else {
        if (st.nlink > 1) seen.set(key, path);
        out.push({
          ...base,
          type: 'file',
          size: st.size,
          source: { kind: 'host-file', path: host, offset: 0, size: st.size, identity: identityOf(st) },
        });
      }
    }
  }
  return out;
}

/** Host access through Node's fs. */
export const nodeHost: HostAccess = {
  openFile: openHostFile,
  walk: walkHostDir,
  list: async (path) => (await readdir(path)).sort(byteOrder),
};
