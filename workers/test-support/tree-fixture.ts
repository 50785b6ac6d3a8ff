/**
 * Trees for the engine's Node tests: entry builders, deterministic bytes, and the fixture
 * tree (every kind of entry and name mke2fs -d has to get right).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ByteSource, TreeEntry } from '../../core/image-tree.ts';

/** Deterministic pseudo-random bytes. */
export function pseudoRandom(n: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const enc = new TextEncoder();

interface EntryInit {
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
}

export const dir = (path: string, init: EntryInit = {}): TreeEntry => ({
  path,
  type: 'directory',
  mode: init.mode ?? 0o755,
  uid: init.uid ?? 0,
  gid: init.gid ?? 0,
  mtime: init.mtime ?? 1000,
  size: 0,
  origin: 'test',
});
export const file = (path: string, content: Uint8Array | string | ByteSource, init: EntryInit = {}): TreeEntry => {
  const source: ByteSource =
    typeof content === 'string'
      ? { kind: 'bytes', bytes: enc.encode(content) }
      : content instanceof Uint8Array
        ? { kind: 'bytes', bytes: content }
        : content;
  const size = source.kind === 'bytes' ? source.bytes.length : source.size;
  return {
    path,
    type: 'file',
    mode: init.mode ?? 0o644,
    uid: init.uid ?? 0,
    gid: init.gid ?? 0,
    mtime: init.mtime ?? 1000,
    size,
    source: size ? source : undefined,
    origin: 'test',
  };
};
export const symlink = (path: string, target: string, init: EntryInit = {}): TreeEntry => ({
  path,
  type: 'symlink',
  mode: 0o777,
  uid: init.uid ?? 0,
  gid: init.gid ?? 0,
  mtime: init.mtime ?? 1000,
  size: enc.encode(target).length,
  target,
  origin: 'test',
});
export const hardlink = (path: string, target: string): TreeEntry => ({
  path,
  type: 'hardlink',
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: 1000,
  size: 0,
  target,
  origin: 'test',
});

/** The bytes of a file entry's source (test side, eager). */
export function entryBytes(entry: TreeEntry): Uint8Array {
  const s = entry.source;
  if (!s) return new Uint8Array(0);
  if (s.kind === 'bytes') return s.bytes;
  if (s.kind === 'host-file') return new Uint8Array(readFileSync(s.path).subarray(s.offset, s.offset + s.size));
  throw new Error('blob sources are not readable here');
}

/**
 * The fixture: nested and empty directories; relative, absolute, dangling and long
 * symlinks; hard links; executables, setuid/setgid/sticky; unicode and 255-byte names;
 * empty and multi-MB files (one with a 1 MiB zero run, one from a host file slice).
 */
export function fixtureTree(hostDir: string): TreeEntry[] {
  const big = new Uint8Array(5 << 20);
  big.set(pseudoRandom(2 << 20, 7), 0);
  big.set(pseudoRandom(2 << 20, 8), 3 << 20); // [2 MiB, 3 MiB) stays zero
  const hostPath = join(hostDir, 'host-source.bin');
  const hostBytes = pseudoRandom(3 * 1024 * 1024 + 4321, 11);
  writeFileSync(hostPath, hostBytes);
  const longName = 'n'.repeat(251) + '.txt'; // 255 bytes
  const longUtf8 = 'é'.repeat(127) + 'x'; // 255 bytes of UTF-8
  const longTarget = '../' + 'a-rather-long-directory-name/'.repeat(4) + 'target-file'; // > 60 bytes: not a fast symlink
  return [
    dir('/', { mode: 0o755 }),
    dir('/bin'),
    file('/bin/tool', '#!/bin/sh\necho tool\n', { mode: 0o755 }),
    file('/bin/suid', pseudoRandom(3000, 2), { mode: 0o4755 }),
    file('/bin/sgid', pseudoRandom(5000, 3), { mode: 0o2711 }),
    dir('/tmp', { mode: 0o1777 }),
    dir('/empty'),
    dir('/a'),
    dir('/a/b'),
    dir('/a/b/c'),
    dir('/a/b/c/d'),
    dir('/a/b/c/d/e'),
    file('/a/b/c/d/e/deep.txt', 'deep\n'),
    dir('/a/b/c/d/empty-too'),
    dir('/data'),
    file('/data/empty', ''),
    file('/data/big.bin', big),
    file('/data/from-host.bin', { kind: 'host-file', path: hostPath, offset: 4321, size: 3 * 1024 * 1024 }),
    file('/data/private', 'secret\n', { mode: 0o600, uid: 1000, gid: 100 }),
    file('/data/one-byte', 'x'),
    file('/data/block', pseudoRandom(4096, 5)),
    file('/data/hl-a', 'shared inode\n', { mode: 0o640 }),
    dir('/hl'),
    hardlink('/hl/hl-b', '/data/hl-a'),
    hardlink('/hl/hl-c', '/data/hl-a'),
    dir('/locked', { mode: 0o500 }),
    file('/locked/inside', 'in a dir without write permission\n', { mode: 0o400 }),
    dir('/links'),
    symlink('/links/rel', '../data/empty'),
    symlink('/links/abs', '/data/big.bin'),
    symlink('/links/dangling', '../no/such/thing'),
    symlink('/links/long', longTarget),
    symlink('/links/dir', '../a/b'),
    symlink('/links/unicode', 'ünï/cødé ✓'),
    dir('/unicode'),
    file('/unicode/héllo wörld ✓ 日本語.txt', 'unicode name\n'),
    file(`/unicode/${longName}`, '255 ascii bytes\n'),
    file(`/unicode/${longUtf8}`, '255 utf-8 bytes\n'),
    file('/unicode/-dash and space', 'dash\n'),
    dir('/nix'),
    dir('/nix/store'),
    dir('/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-2.12'),
    dir('/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-2.12/bin'),
    file('/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-2.12/bin/hello', pseudoRandom(70000, 13), { mode: 0o555 }),
  ];
}
