/**
 * Native tools for the engine's Node tests (runtime, pipeline, CLI): e2fsprogs and zstd
 * wrappers, `debugfs stat` read by the shipped parser, a host walk of a `debugfs rdump` and
 * its comparison with a tree. The trees themselves are in `tree-fixture.ts`.
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
import { parseStat, quoteArg, splitCommandOutput, type StatRecord } from '../../core/debugfs-output.ts';
import type { TreeEntry } from '../../core/image-tree.ts';
import { entryBytes } from './tree-fixture.ts';

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

/** What native `debugfs stat` says of one path, read by the engine's own parser, with the raw text. */
export type NativeStat = StatRecord & { /** Permission bits, as `perm`. */ mode: number; text: string };

/**
 * Native debugfs `stat` of each path (one process), read with the parser the engine ships
 * (core/debugfs-output.ts), so the tests check that parser against native output too.
 */
export function nativeStat(image: string, paths: string[]): Map<string, NativeStat> {
  const sections = splitCommandOutput(
    nativeDebugfs(
      image,
      paths.map((p) => `stat ${quoteArg(p)}`),
    ),
  );
  if (sections.length !== paths.length)
    throw new Error(`debugfs stat: expected ${paths.length} answers, got ${sections.length}`);
  const decoder = new TextDecoder();
  return new Map(
    paths.map((p, i) => {
      const text = decoder.decode(sections[i].body);
      const st = parseStat(text);
      return [p, { ...st, mode: st.perm, text }];
    }),
  );
}

/** A fresh temporary folder and its cleanup. */
export function tempDir(prefix = 'rt-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));

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

/**
 * Walks a host path (lstat, no following; names in byte order). Keys are relative to `root`
 * and start with `/`; `/` itself (the root's own entry) is listed only with `withRoot`.
 * An explicit stack: no recursion by folder depth.
 */
export function walkHost(root: string, options: { withRoot?: boolean } = {}): Map<string, HostEntry> {
  const out = new Map<string, HostEntry>();
  const stack = ['/'];
  while (stack.length > 0) {
    const rel = stack.pop()!;
    const abs = rel === '/' ? root : join(root, rel);
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
      if (rel !== '/' || options.withRoot) out.set(rel, { type: 'directory', ...base });
      const names = readdirSync(abs).sort().reverse();
      for (const name of names) stack.push(rel === '/' ? `/${name}` : `${rel}/${name}`);
    } else throw new Error(`unexpected file type at ${abs}`);
  }
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
