/**
 * The Nix ARchive format: length-prefixed strings padded to 8 bytes, a deterministic
 * serialization of a file tree (`nix-store --dump`). Parsing yields file contents as slices of
 * the input; serializing a tree streams into sha256 for NAR hashes.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import type { ByteSource } from './image-tree.ts';
import { NarError } from './errors.ts';
import { type Cursor, RandomAccessCursor } from './io/cursor.ts';
import { formatNarHash } from './nix-base32.ts';
import { BlobReader, type RandomAccessReader, readChunks } from './io/random-access-reader.ts';
import type { TreeEntry } from './image-tree.ts';

/** One node of a NAR, in the NAR's own order (depth first, names sorted). */
export interface NarEntry {
  /** Relative to the NAR root: `''` for the root itself, `a/b` below it. */
  path: string;
  type: 'file' | 'directory' | 'symlink';
  /** Regular files only. */
  executable: boolean;
  /** Bytes of a file, length of a symlink target, 0 for a directory. */
  size: number;
  source?: ByteSource;
  target?: string;
}

export interface ParseNarOptions {
  /** Input name for errors. Default: the cursor's name. */
  input?: string;
  /** Deepest directory nesting accepted. Default 1024 (Linux paths end at 4096 bytes anyway). */
  maxDepth?: number;
  /** Where in the image the NAR root will go, to name paths in errors. Default `''`. */
  pathPrefix?: string;
}

/** Longest token / name / symlink target read as a string (names > 255 bytes fail on ext4 anyway). */
const MAX_NAME = 255;
const MAX_TARGET = 4095;
const MAX_TOKEN = 32;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const enc = new TextEncoder();

/** NAR root magic. */
export const NAR_MAGIC = 'nix-archive-1';

/** Error for a NAR that ends early. */
export function narEofError(input: string, at: number): NarError {
  return new NarError({
    code: 'nar-truncated',
    input,
    message: `The NAR in ${input} ends early (at byte ${at}).`,
    hint: 'The file is truncated or not a NAR; create it again with `nix-store --dump` or `nix-store --export`.',
  });
}

class NarReader {
  constructor(
    readonly cursor: Cursor,
    readonly input: string,
    readonly prefix: string,
  ) {}

  fail(code: string, message: string, path?: string, hint?: string): NarError {
    return new NarError({
      code,
      input: this.input,
      path: path === undefined ? undefined : this.prefix + (path ? '/' + path : ''),
      message,
      hint:
        hint ??
        'The NAR is corrupt or was not written by Nix; create it again with `nix-store --dump` or `nix-store --export`.',
    });
  }

  async u64(): Promise<number> {
    const b = await this.cursor.read(8);
    const lo = (b[0] | (b[1] << 8) | (b[2] << 16)) + b[3] * 0x1000000;
    const hi = (b[4] | (b[5] << 8) | (b[6] << 16)) + b[7] * 0x1000000;
    if (hi >= 0x200000)
      throw this.fail(
        'nar-bad-length',
        `A length field in the NAR is impossibly large (at byte ${this.cursor.position - 8}).`,
      );
    return hi * 0x100000000 + lo;
  }

  async padding(len: number, path: string): Promise<void> {
    const pad = (8 - (len % 8)) % 8;
    if (pad === 0) return;
    const p = await this.cursor.read(pad);
    for (let i = 0; i < pad; i++)
      if (p[i] !== 0)
        throw this.fail(
          'nar-bad-padding',
          `Non-zero padding in the NAR (at byte ${this.cursor.position - pad}).`,
          path,
        );
  }

  /** A string of at most `max` bytes, as raw bytes (copied). */
  async bytes(max: number, path: string, what: string): Promise<Uint8Array> {
    const len = await this.u64();
    if (len > max)
      throw this.fail(
        'nar-string-too-long',
        `A ${what} in the NAR is ${len} bytes long, more than the ${max} allowed (at byte ${this.cursor.position - 8}).`,
        path,
      );
    const b = (await this.cursor.read(len)).slice();
    await this.padding(len, path);
    return b;
  }

  async token(path: string): Promise<string> {
    const b = await this.bytes(MAX_TOKEN, path, 'keyword');
    let s = '';
    for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return s;
  }

  async expect(want: string, path: string): Promise<void> {
    const got = await this.token(path);
    if (got !== want)
      throw this.fail(
        'nar-bad-token',
        `Expected "${want}" in the NAR but found "${printable(got)}" (before byte ${this.cursor.position}).`,
        path,
      );
  }
}

function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 40);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/**
 * Parses exactly one NAR from the cursor, leaving it just after the NAR.
 * Throws `NarError` on anything Nix itself would refuse, and on names that cannot be a file
 * name (`.`, `..`, `/`, NUL, empty, unsorted or duplicate, not UTF-8).
 */
export async function parseNar(cursor: Cursor, options: ParseNarOptions = {}): Promise<NarEntry[]> {
  const input = options.input ?? cursor.name;
  const maxDepth = options.maxDepth ?? 1024;
  const r = new NarReader(cursor, input, options.pathPrefix ?? '');
  const magic = await r.token('');
  if (magic !== NAR_MAGIC) {
    throw r.fail(
      'nar-bad-magic',
      `${input} does not start with the NAR magic "${NAR_MAGIC}".`,
      undefined,
      'Give a file written by `nix-store --dump` or `nix-store --export`.',
    );
  }
  const out: NarEntry[] = [];

  /** An open directory: where its entries go, and the last name seen (they must be sorted). */
  interface OpenDir {
    path: string;
    depth: number;
    prev: Uint8Array | null;
  }
  /**
   * Reads a node's header; files and symlinks are read whole. A directory is returned open, and
   * its entries are read by the loop below with an explicit stack, not by recursion.
   */
  const readNode = async (path: string, depth: number): Promise<OpenDir | null> => {
    if (depth > maxDepth)
      throw r.fail('nar-too-deep', `The NAR nests directories deeper than ${maxDepth} levels.`, path);
    await r.expect('(', path);
    await r.expect('type', path);
    const type = await r.token(path);
    if (type === 'regular') {
      let tag = await r.token(path);
      let executable = false;
      if (tag === 'executable') {
        executable = true;
        const empty = await r.token(path);
        if (empty !== '')
          throw r.fail('nar-bad-token', 'The "executable" marker in the NAR is not followed by an empty string.', path);
        tag = await r.token(path);
      }
      if (tag !== 'contents')
        throw r.fail('nar-bad-token', `Expected "contents" in the NAR but found "${printable(tag)}".`, path);
      const size = await r.u64();
      const source = await cursor.take(size);
      await r.padding(size, path);
      out.push({ path, type: 'file', executable, size, source });
      await r.expect(')', path);
    } else if (type === 'symlink') {
      await r.expect('target', path);
      const raw = await r.bytes(MAX_TARGET, path, 'symlink target');
      if (raw.length === 0 || raw.includes(0))
        throw r.fail('nar-bad-symlink', 'A symlink in the NAR has an empty target or one with a NUL byte.', path);
      let target: string;
      try {
        target = utf8.decode(raw);
      } catch {
        throw r.fail(
          'nar-bad-symlink',
          'A symlink target in the NAR is not valid UTF-8.',
          path,
          'Rename the target on the host to UTF-8 and dump the path again.',
        );
      }
      out.push({ path, type: 'symlink', executable: false, size: raw.length, target });
      await r.expect(')', path);
    } else if (type === 'directory') {
      out.push({ path, type: 'directory', executable: false, size: 0 });
      return { path, depth, prev: null };
    } else {
      throw r.fail('nar-bad-type', `Unknown node type "${printable(type)}" in the NAR.`, path);
    }
    return null;
  };

  const stack: OpenDir[] = [];
  const top = await readNode('', 0);
  if (top) stack.push(top);
  while (stack.length > 0) {
    const dir = stack[stack.length - 1];
    const path = dir.path;
    const tag = await r.token(path);
    if (tag === ')') {
      // The directory ends; unless it is the root, so does the entry naming it.
      stack.pop();
      if (stack.length > 0) await r.expect(')', path);
      continue;
    }
    if (tag !== 'entry')
      throw r.fail('nar-bad-token', `Expected "entry" or ")" in the NAR but found "${printable(tag)}".`, path);
    await r.expect('(', path);
    await r.expect('name', path);
    const raw = await r.bytes(MAX_NAME, path, 'file name');
    let name: string;
    try {
      name = utf8.decode(raw);
    } catch {
      throw r.fail(
        'nar-bad-name',
        'A file name in the NAR is not valid UTF-8.',
        path,
        'Rename the file on the host to UTF-8 and dump the path again.',
      );
    }
    if (raw.length === 0 || name === '.' || name === '..' || raw.includes(0x2f) || raw.includes(0)) {
      throw r.fail(
        'nar-bad-name',
        `The NAR holds an invalid file name "${printable(name)}" (empty, ".", "..", or with "/" or NUL).`,
        path,
      );
    }
    const childPath = path ? `${path}/${name}` : name;
    if (dir.prev && compareBytes(dir.prev, raw) >= 0) {
      throw r.fail(
        'nar-unsorted',
        `The NAR's directory entries are not sorted and unique ("${printable(name)}" after "${printable(utf8.decode(dir.prev))}").`,
        childPath,
      );
    }
    dir.prev = raw;
    await r.expect('node', childPath);
    const child = await readNode(childPath, dir.depth + 1);
    if (child) stack.push(child);
    else await r.expect(')', childPath);
  }

  return out;
}

/** A NAR file's entries with its hash and size. */
export interface ParsedNarFile {
  entries: NarEntry[];
  /** `sha256:<nix base32>` of the whole NAR. */
  narHash: string;
  narSize: number;
}

/** Parses a whole `.nar` input, hashing it on the way; trailing bytes are an error. */
export async function parseNarFile(reader: RandomAccessReader, options: ParseNarOptions = {}): Promise<ParsedNarFile> {
  const input = options.input ?? reader.name;
  const cursor = new RandomAccessCursor(reader, (at) => narEofError(input, at));
  const h = sha256.create();
  cursor.tap = (c) => h.update(c);
  const entries = await parseNar(cursor, { ...options, input });
  if (!(await cursor.atEnd())) {
    throw new NarError({
      code: 'nar-trailing-data',
      input,
      message: `${input} has ${reader.size - cursor.position} bytes after the end of its NAR.`,
      hint: 'The file is not a single NAR; give what `nix-store --dump` wrote, unchanged.',
    });
  }
  return { entries, narHash: formatNarHash(h.digest()), narSize: cursor.position };
}

// ---- serialization ----------------------------------------------------------------------

/** A node to serialize; `children` need not be sorted. */
export interface NarTreeNode {
  type: 'file' | 'directory' | 'symlink';
  executable?: boolean;
  /** File size; must match what `readFile` yields. */
  size?: number;
  target?: string;
  children?: Map<string, NarTreeNode>;
  /** Anything the caller's `readFile` needs to find the bytes. */
  source?: ByteSource;
}

/** Reads a file's bytes for serialization, chunk by chunk. */
export type SourceChunks = (source: ByteSource | undefined, size: number) => AsyncIterable<Uint8Array>;

function strBytes(s: string | Uint8Array): Uint8Array {
  const b = typeof s === 'string' ? enc.encode(s) : s;
  const pad = (8 - (b.length % 8)) % 8;
  const out = new Uint8Array(8 + b.length + pad);
  writeU64(out, 0, b.length);
  out.set(b, 8);
  return out;
}

function writeU64(out: Uint8Array, at: number, n: number): void {
  const lo = n >>> 0;
  const hi = Math.floor(n / 0x100000000);
  out[at] = lo & 0xff;
  out[at + 1] = (lo >>> 8) & 0xff;
  out[at + 2] = (lo >>> 16) & 0xff;
  out[at + 3] = lo >>> 24;
  out[at + 4] = hi & 0xff;
  out[at + 5] = (hi >>> 8) & 0xff;
  out[at + 6] = (hi >>> 16) & 0xff;
  out[at + 7] = hi >>> 24;
}

/**
 * Streams the NAR serialization of a tree to `sink` (what `nix-store --dump` writes).
 * Directory children are emitted in byte order of their UTF-8 names.
 */
export async function serializeNar(
  root: NarTreeNode,
  readFile: SourceChunks,
  sink: (chunk: Uint8Array) => void,
): Promise<void> {
  // Small tokens are batched so hashing does not see thousands of 16-byte updates.
  let batch: Uint8Array[] = [];
  let batchLen = 0;
  const flush = () => {
    if (batchLen === 0) return;
    const all = new Uint8Array(batchLen);
    let at = 0;
    for (const b of batch) {
      all.set(b, at);
      at += b.length;
    }
    batch = [];
    batchLen = 0;
    sink(all);
  };
  const put = (s: string | Uint8Array) => {
    const b = strBytes(s);
    batch.push(b);
    batchLen += b.length;
    if (batchLen > 65536) flush();
  };
  interface OpenDir {
    kids: { raw: Uint8Array; node: NarTreeNode }[];
    next: number;
  }
  /** Writes a node; files and symlinks whole, a directory's header only (its entries follow from the loop). */
  const open = async (n: NarTreeNode): Promise<OpenDir | null> => {
    put('(');
    put('type');
    if (n.type === 'file') {
      put('regular');
      if (n.executable) {
        put('executable');
        put('');
      }
      put('contents');
      const size = n.size ?? 0;
      const len = new Uint8Array(8);
      writeU64(len, 0, size);
      batch.push(len);
      batchLen += 8;
      flush();
      let got = 0;
      for await (const chunk of readFile(n.source, size)) {
        got += chunk.length;
        if (got > size) throw new Error(`file source yields more than its size ${size}`);
        sink(chunk);
      }
      if (got !== size) throw new Error(`file source yields ${got} bytes, expected ${size}`);
      const pad = (8 - (size % 8)) % 8;
      if (pad) {
        batch.push(new Uint8Array(pad));
        batchLen += pad;
      }
    } else if (n.type === 'symlink') {
      put('symlink');
      put('target');
      put(n.target ?? '');
    } else {
      put('directory');
      const kids = [...(n.children ?? new Map<string, NarTreeNode>()).entries()].map(([name, node]) => ({
        raw: enc.encode(name),
        node,
      }));
      kids.sort((a, b) => compareBytes(a.raw, b.raw));
      return { kids, next: 0 };
    }
    put(')');
    return null;
  };
  put(NAR_MAGIC);
  // Directories with an explicit stack: no recursion by tree depth.
  const stack: OpenDir[] = [];
  const top = await open(root);
  if (top) stack.push(top);
  while (stack.length > 0) {
    const dir = stack[stack.length - 1];
    if (dir.next < dir.kids.length) {
      const k = dir.kids[dir.next++];
      put('entry');
      put('(');
      put('name');
      put(k.raw);
      put('node');
      const child = await open(k.node);
      if (child) stack.push(child);
      else put(')');
    } else {
      stack.pop();
      put(')'); // the directory node
      if (stack.length > 0) put(')'); // the entry naming it
    }
  }
  flush();
}

/** Hashes a tree's NAR: `{ narHash: 'sha256:<nix base32>', narSize }`. */
export async function hashNarTree(
  root: NarTreeNode,
  readFile: SourceChunks,
): Promise<{ narHash: string; narSize: number }> {
  const h = sha256.create();
  let size = 0;
  await serializeNar(root, readFile, (c) => {
    size += c.length;
    h.update(c);
  });
  return { narHash: formatNarHash(h.digest()), narSize: size };
}

/** `SourceChunks` for in-memory and Blob sources; pass a reader opener for host files. */
export function sourceChunks(open?: (source: ByteSource) => Promise<RandomAccessReader>): SourceChunks {
  return async function* (source, size) {
    if (size === 0) return;
    if (!source) throw new Error('file without a source');
    if (source.kind === 'bytes') {
      yield source.bytes.subarray(0, size);
      return;
    }
    if (source.kind === 'blob') {
      yield* readChunks(new BlobReader(source.blob, 'blob', source.offset, source.size), 0, size);
      return;
    }
    if (!open) throw new Error(`host file ${source.path} cannot be read here`);
    yield* readChunks(await open(source), 0, size);
  };
}

/**
 * The NAR tree of the subtree of `entries` at `root` (an image path). Nix keeps only the
 * owner-execute bit of files; hard links serialize as copies of their target file.
 */
export function narTreeFromEntries(entries: Iterable<TreeEntry>, root: string): NarTreeNode {
  const byPath = new Map<string, TreeEntry>();
  for (const e of entries) byPath.set(e.path, e);
  const prefix = root === '/' ? '/' : root + '/';
  const nodes = new Map<string, NarTreeNode>();
  const toNode = (e: TreeEntry): NarTreeNode => {
    let f = e;
    for (let hops = 0; f.type === 'hardlink' && hops < 64; hops++) {
      const t = f.target !== undefined ? byPath.get(f.target) : undefined;
      if (!t) throw new Error(`hard link ${e.path} points to missing ${f.target}`);
      f = t;
    }
    if (f.type === 'file') return { type: 'file', executable: (f.mode & 0o100) !== 0, size: f.size, source: f.source };
    if (f.type === 'symlink') return { type: 'symlink', target: f.target ?? '' };
    if (f.type === 'directory') return { type: 'directory', children: new Map() };
    throw new Error(`hard link ${e.path} does not resolve to a file`);
  };
  const rootEntry = byPath.get(root);
  if (!rootEntry) throw new Error(`no entry at ${root}`);
  const rootNode = toNode(rootEntry);
  nodes.set(root, rootNode);
  const below = [...byPath.values()]
    .filter((e) => e.path !== root && e.path.startsWith(prefix))
    .sort((a, b) => a.path.length - b.path.length);
  for (const e of below) {
    const cut = e.path.lastIndexOf('/');
    const parent = nodes.get(cut === 0 ? '/' : e.path.slice(0, cut));
    if (parent?.type !== 'directory') throw new Error(`${e.path} has no parent directory in the tree`);
    const n = toNode(e);
    parent.children!.set(e.path.slice(cut + 1), n);
    nodes.set(e.path, n);
  }
  return rootNode;
}
