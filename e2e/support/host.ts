/**
 * Host-side helpers for the browser tests: input fixtures made with native tools, and the
 * checks of a downloaded image with native e2fsprogs, zstd and nix-store.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SBIN = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];

/** Path of a native tool (e2fsck lives in /usr/sbin, often not on a test runner's PATH). */
export function tool(name: string): string {
  for (const dir of SBIN) {
    try {
      lstatSync(join(dir, name));
      return join(dir, name);
    } catch {
      /* next */
    }
  }
  return name;
}

export function run(cmd: string, args: string[], opts: { input?: Buffer | string; cwd?: string } = {}): string {
  return execFileSync(tool(cmd), args, {
    input: opts.input,
    cwd: opts.cwd,
    maxBuffer: 1 << 28,
    stdio: ['pipe', 'pipe', 'pipe'],
  }).toString();
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `dis-e2e-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** One entry of a walked tree: type, permission bits and what it holds. */
export interface Walked {
  type: 'dir' | 'file' | 'symlink';
  mode: number;
  /** sha256 of a file, target of a symlink. */
  content?: string;
}

/** Walks a host folder into `relative path → entry` (paths start with "/"). */
export function walk(root: string, prefix = ''): Map<string, Walked> {
  const out = new Map<string, Walked>();
  const visit = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      const r = `${rel}/${name}`;
      const st = lstatSync(full);
      const mode = st.mode & 0o7777;
      if (st.isSymbolicLink()) out.set(prefix + r, { type: 'symlink', mode, content: readlinkSync(full) });
      else if (st.isDirectory()) {
        out.set(prefix + r, { type: 'dir', mode });
        visit(full, r);
      } else
        out.set(prefix + r, {
          type: 'file',
          mode,
          content: createHash('sha256').update(readFileSync(full)).digest('hex'),
        });
    }
  };
  visit(root, '');
  return out;
}

/** A folder to add with "Add folder": nested, binary, unicode and empty files. */
export function makeFolder(parent: string, name = 'site', bigBytes = 0): string {
  const root = join(parent, name);
  const files: Record<string, string | Buffer> = {
    'index.html': '<!doctype html><title>hello</title>\n',
    'assets/logo.bin': randomBytes(200_000),
    'assets/empty.txt': '',
    'docs/ünïcödé notes.md': '# Grüße\n',
    'docs/with space & <angle>.txt': 'escaped?\n',
    'deep/a/b/c/d/e/leaf.txt': 'deep\n',
  };
  if (bigBytes > 0) files['big.bin'] = randomBytes(bigBytes);
  for (const [rel, data] of Object.entries(files)) {
    const full = join(root, rel);
    mkdirSync(join(full, '..'), { recursive: true });
    writeFileSync(full, data);
    chmodSync(full, 0o644);
  }
  return root;
}

/** What a folder added through a browser looks like in the image: modes are the studio's defaults. */
export function expectedFromBrowserFolder(root: string, at: string): Map<string, Walked> {
  const out = new Map<string, Walked>();
  out.set(at, { type: 'dir', mode: 0o755 });
  for (const [p, w] of walk(root, at)) out.set(p, { ...w, mode: w.type === 'dir' ? 0o755 : 0o644 });
  return out;
}

// ---- Nix closures ---------------------------------------------------------------------

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}
function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  return Buffer.concat([u64(b.length), b, Buffer.alloc((8 - (b.length % 8)) % 8)]);
}

export interface ClosureFixture {
  /** A `nix-store --export` stream of the whole closure, with references. */
  exportFile: string;
  /** The private store's real folder holding the store paths. */
  storeDir: string;
  /** Store path → its references. */
  paths: Map<string, string[]>;
}

/**
 * Makes a small closure in a private store (`nix-store --store DIR --add`), then writes an
 * export stream of it with references (hello → lib), checked by importing it natively.
 */
export function makeClosure(parent: string): ClosureFixture {
  const src = join(parent, 'closure-src');
  const store = join(parent, 'closure-store');
  mkdirSync(join(src, 'hello/bin'), { recursive: true });
  mkdirSync(join(src, 'hello/share/doc'), { recursive: true });
  writeFileSync(join(src, 'hello/bin/hello'), '#!/bin/sh\necho hello\n');
  chmodSync(join(src, 'hello/bin/hello'), 0o755);
  symlinkSync('hello', join(src, 'hello/bin/hi'));
  writeFileSync(join(src, 'hello/share/doc/README'), 'A greeting.\n');
  mkdirSync(join(src, 'libgreet/lib'), { recursive: true });
  writeFileSync(join(src, 'libgreet/lib/libgreet.so'), randomBytes(50_000));
  writeFileSync(join(src, 'motd'), 'Welcome.\n');

  const add = (p: string) => run('nix-store', ['--store', store, '--add', p]).trim();
  const hello = add(join(src, 'hello'));
  const lib = add(join(src, 'libgreet'));
  const motd = add(join(src, 'motd'));
  const paths = new Map<string, string[]>([
    [lib, []],
    [hello, [lib, hello]],
    [motd, []],
  ]);
  const storeDir = join(store, 'nix/store');

  const parts: Buffer[] = [];
  for (const [path, refs] of paths) {
    const nar = execFileSync(tool('nix-store'), ['--dump', join(storeDir, path.slice('/nix/store/'.length))], {
      maxBuffer: 1 << 28,
    });
    parts.push(u64(1), nar, u64(0x4558494e), str(path), u64(refs.length), ...refs.map((r) => str(r)), str(''), u64(0));
  }
  parts.push(u64(0));
  const exportFile = join(parent, 'closure.export');
  writeFileSync(exportFile, Buffer.concat(parts));
  // Native Nix must accept it as it is.
  const check = join(parent, 'closure-import-check');
  run('nix-store', ['--store', check, '--import'], { input: readFileSync(exportFile) });
  removeDir(check);
  return { exportFile, storeDir, paths };
}

/** What the closure looks like in an image: store paths as in the store (Nix's read-only modes). */
export function expectedFromClosure(c: ClosureFixture): Map<string, Walked> {
  const out = new Map<string, Walked>();
  out.set('/nix', { type: 'dir', mode: 0o755 });
  out.set('/nix/store', { type: 'dir', mode: 0o755 });
  for (const path of c.paths.keys()) {
    const base = path.slice('/nix/store/'.length);
    const top = lstatSync(join(c.storeDir, base));
    out.set(
      path,
      top.isDirectory()
        ? { type: 'dir', mode: 0o555 }
        : {
            type: 'file',
            mode: top.mode & 0o7777,
            content: createHash('sha256')
              .update(readFileSync(join(c.storeDir, base)))
              .digest('hex'),
          },
    );
    if (top.isDirectory()) for (const [p, w] of walk(join(c.storeDir, base), path)) out.set(p, w);
  }
  return out;
}

// ---- images ---------------------------------------------------------------------------

export interface ImageCheck {
  fsckOutput: string;
  tree: Map<string, Walked>;
  dumpDir: string;
}

/** `e2fsck -fn` must be clean; `debugfs -R 'rdump / DIR'` gives the tree to compare. */
export function checkImage(image: string, work: string): ImageCheck {
  const fsck = spawnSync(tool('e2fsck'), ['-fn', image], { encoding: 'utf8' });
  if (fsck.status !== 0) throw new Error(`e2fsck -fn exited ${fsck.status}:\n${fsck.stdout}\n${fsck.stderr}`);
  const dumpDir = join(work, 'rdump');
  removeDir(dumpDir);
  mkdirSync(dumpDir);
  run('debugfs', ['-R', `rdump / ${dumpDir}`, image]);
  return { fsckOutput: fsck.stdout + fsck.stderr, tree: walk(dumpDir), dumpDir };
}

export function dumpe2fsHeader(image: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of run('dumpe2fs', ['-h', image]).split('\n')) {
    const m = /^([^:]+):\s+(.*)$/.exec(line);
    if (m) out[m[1].trim()] = m[2].trim();
  }
  return out;
}

export function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Map → sorted plain object, for readable diffs. */
export function plain(m: Map<string, Walked>): Record<string, string> {
  const o: Record<string, string> = {};
  for (const [k, v] of [...m].sort(([a], [b]) => (a < b ? -1 : 1)))
    o[k] = `${v.type} ${v.mode.toString(8)}${v.content ? ` ${v.content}` : ''}`;
  return o;
}
