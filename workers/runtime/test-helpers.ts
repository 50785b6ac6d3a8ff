/**
 * Shared by the runtime's Node tests: the fixture tree, native tool wrappers, and a
 * comparison of a `debugfs rdump` with the tree. Not part of the runtime itself.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ByteSource, TreeEntry } from '../../core/image-tree.ts';
import { setWasmDirs } from './wasm-modules.ts';

/** Lets a test run use outputs from another folder (`RUNTIME_WASM_DIR/{e2fsprogs,zstd}`). */
export function useWasmDirFromEnv(): void {
  const dir = process.env.RUNTIME_WASM_DIR;
  if (dir) setWasmDirs({ e2fsprogs: new URL(`file://${dir}/e2fsprogs/`), zstd: new URL(`file://${dir}/zstd/`) });
}

/** Path of a native program (e2fsprogs lives in /usr/sbin or /sbin). */
export function nativeTool(name: string): string {
  for (const dir of ['/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  throw new Error(`native ${name} not found (install e2fsprogs / zstd)`);
}

/** Runs a native program; never throws on a non-zero exit. */
export function runNative(
  name: string,
  args: string[],
  input?: Uint8Array,
): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(nativeTool(name), args, {
    input,
    maxBuffer: 1 << 28,
    env: { ...process.env, LANG: 'C', LC_ALL: 'C' },
  });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

/** Runs native debugfs (read-only) with commands, via a command file. */
export function nativeDebugfs(image: string, commands: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'dbg-'));
  try {
    const cmdFile = join(dir, 'cmds');
    writeFileSync(cmdFile, commands.join('\n') + '\n');
    return execFileSync(nativeTool('debugfs'), ['-f', cmdFile, image], {
      maxBuffer: 1 << 28,
      stdio: ['ignore', 'pipe', 'pipe'],
    }).toString('utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Parsed fields of `debugfs stat`. */
export interface DebugfsStat {
  inode: number;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  links: number;
  mtime: number;
  atime: number;
  ctime: number;
  /** Raw text. */
  text: string;
}

/** Runs native `debugfs -R "stat PATH"` for each path (one process). */
export function nativeStat(image: string, paths: string[]): Map<string, DebugfsStat> {
  const out = nativeDebugfs(
    image,
    paths.map((p) => `stat "${p.replace(/"/g, '\\"')}"`),
  );
  const parts = out.split(/^debugfs: /m).slice(1);
  const result = new Map<string, DebugfsStat>();
  if (parts.length !== paths.length)
    throw new Error(`debugfs stat: expected ${paths.length} answers, got ${parts.length}:\n${out}`);
  paths.forEach((p, i) => {
    const text = parts[i];
    const num = (re: RegExp): number => {
      const m = re.exec(text);
      if (!m) throw new Error(`debugfs stat ${p}: no ${re} in:\n${text}`);
      return m[1].startsWith('0x') ? parseInt(m[1], 16) : Number(m[1]);
    };
    result.set(p, {
      inode: num(/Inode: (\d+)/),
      type: /Type: (\w+)/.exec(text)?.[1] ?? '?',
      mode: parseInt(/Mode:\s+(\d+)/.exec(text)?.[1] ?? 'NaN', 8),
      uid: num(/User:\s+(\d+)/),
      gid: num(/Group:\s+(\d+)/),
      size: num(/Size: (\d+)/),
      links: num(/Links: (\d+)/),
      mtime: num(/ mtime: (0x[0-9a-f]+)/),
      atime: num(/ atime: (0x[0-9a-f]+)/),
      ctime: num(/ ctime: (0x[0-9a-f]+)/),
      text,
    });
  });
  return result;
}

/** A fresh temporary folder and its cleanup. */
export function tempDir(prefix = 'rt-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

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

export const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));

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

/** What a host walk of an rdump shows for one path. */
export interface HostEntry {
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  sha256?: string;
  target?: string;
}

/** Walks a host folder (lstat, no following). Paths relative to `root`, starting with `/`. */
export function walkHost(root: string): Map<string, HostEntry> {
  const out = new Map<string, HostEntry>();
  const visit = (rel: string): void => {
    const abs = join(root, rel);
    const st = lstatSync(abs);
    const base = {
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: Math.floor(st.mtimeMs / 1000),
      size: st.size,
    };
    if (st.isSymbolicLink())
      out.set(rel, { type: 'symlink', ...base, target: readlinkSync(abs, { encoding: 'buffer' }).toString('utf8') });
    else if (st.isFile()) out.set(rel, { type: 'file', ...base, sha256: sha256Hex(readFileSync(abs)) });
    else if (st.isDirectory()) {
      if (rel !== '/') out.set(rel, { type: 'directory', ...base });
      for (const name of readdirSync(abs)) visit(rel === '/' ? `/${name}` : `${rel}/${name}`);
    } else throw new Error(`unexpected file type at ${abs}`);
  };
  visit('/');
  return out;
}

/**
 * Compares an rdump of the image with the tree: the same set of paths (plus
 * `/lost+found`), types, rwx bits, symlink targets, file contents, owners and
 * (files, directories) mtimes. Hard links come back from rdump as separate copies.
 * Returns a list of differences (empty when equal).
 */
export function diffTree(entries: TreeEntry[], host: Map<string, HostEntry>, epoch: number): string[] {
  const diffs: string[] = [];
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const resolve = (e: TreeEntry): TreeEntry => {
    let cur = e;
    for (let i = 0; cur.type === 'hardlink' && i < 10; i++) cur = byPath.get(cur.target!)!;
    return cur;
  };
  const expected = new Set<string>(['/lost+found']);
  for (const e of entries) {
    if (e.path === '/') continue;
    expected.add(e.path);
    const h = host.get(e.path);
    if (!h) {
      diffs.push(`missing ${e.path}`);
      continue;
    }
    const r = resolve(e);
    const type = r.type === 'hardlink' ? 'file' : r.type;
    if (h.type !== type) diffs.push(`${e.path}: type ${h.type}, want ${type}`);
    // rdump restores only the rwx bits (debugfs dump.c mode_xlate); setuid/setgid/sticky are checked with debugfs stat.
    if (type !== 'symlink' && h.mode !== (r.mode & 0o777))
      diffs.push(`${e.path}: mode ${h.mode.toString(8)}, want ${(r.mode & 0o777).toString(8)}`);
    if (type !== 'symlink' && (h.uid !== r.uid || h.gid !== r.gid))
      diffs.push(`${e.path}: owner ${h.uid}:${h.gid}, want ${r.uid}:${r.gid}`);
    if (type !== 'symlink' && h.mtime !== epoch) diffs.push(`${e.path}: mtime ${h.mtime}, want ${epoch}`);
    if (type === 'symlink' && h.target !== r.target)
      diffs.push(`${e.path}: target ${JSON.stringify(h.target)}, want ${JSON.stringify(r.target)}`);
    if (type === 'file') {
      const want = sha256Hex(entryBytes(r));
      if (h.sha256 !== want) diffs.push(`${e.path}: content differs (size ${h.size}, want ${r.size})`);
    }
  }
  for (const p of host.keys()) {
    if (!expected.has(p) && !p.startsWith('/lost+found/')) diffs.push(`extra ${p}`);
  }
  return diffs;
}
