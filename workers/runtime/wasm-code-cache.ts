/**
 * Node only: keeps the machine code V8 made of the wasm tools' hot functions between
 * processes, as browsers do for a page's wasm (Node 20 has no such cache).
 *
 * Why: a process starts each tool on V8's baseline code and recompiles the functions that
 * turn out hot with its optimizing compiler, on the same two cores as the build. On the
 * bench's `small` workload that made a build's first run in a process about twice its
 * second (0.77 s against 0.37 s). With the code kept, a new process starts from the
 * optimized code of earlier runs.
 *
 * How: the addon in `addon/` (built by `scripts/build-addon.mjs` at install) serializes a
 * compiled module and feeds saved code back through V8's streaming compilation. Without the
 * addon, or with the cache off, tools compile as before.
 *
 * Where: `DISK_IMAGE_STUDIO_WASM_CACHE` names the folder, or `off` turns the cache off;
 * default `$XDG_CACHE_HOME/disk-image-studio/wasm-code` (`~/.cache/...`). A file per tool,
 * Node version and tool build: `<tool>-<sha256 of the .wasm, 16 hex>-v8-<version>-<arch>.code`.
 * A file unused for 30 days (another tool build or Node version) is removed at the next save.
 *
 * The files hold machine code that runs in this process, so they are read only from a
 * folder of this user's that nobody else can write to, from regular files of this user's
 * that nobody else can write to (not through a link), and only whole: each starts with a
 * header holding the sha256 of the `.wasm` it was made from and of the code that follows.
 * They are written to a new temporary file (exclusive creation) and renamed into place, so a
 * reader never sees half a file. V8 itself refuses code made by another V8 version, with
 * other flags or for other CPU features (it then compiles the wire bytes).
 */
import { nodeBuiltin } from '../../core/node-builtin.ts';
import { toHex } from '../../core/nix-base32.ts';

type NodeFs = typeof import('node:fs');
type NodeCrypto = typeof import('node:crypto');
type NodeModule = typeof import('node:module');
type NodeOs = typeof import('node:os');
type NodePath = typeof import('node:path');
type NodeUrl = typeof import('node:url');

/** The addon's exports (`addon/wasm-code-cache.cc`). */
interface CodeCacheAddon {
  install(fallback: (source: unknown, handle: StreamingHandle) => void): void;
  serialize(module: WebAssembly.Module): Uint8Array;
}

/** What the addon hands the fallback for a compileStreaming call that is not ours. */
interface StreamingHandle {
  feed(bytes: Uint8Array): void;
  finish(): void;
  abort(error: unknown): void;
}

/** The request passed through `WebAssembly.compileStreaming` to the addon's callback. */
interface CacheRequest {
  wasmCodeCacheRequest: true;
  wire: Uint8Array;
  cached?: Uint8Array;
  /** Set by the addon: whether V8 took the cached code's header (version, flags, CPU). */
  accepted?: boolean;
}

/** How one tool's module came to be, in this thread. */
export interface ToolCodeCacheState {
  /** `cache`: V8 took the saved code; `compiled`: compiled from the wire bytes. */
  source: 'cache' | 'compiled';
  /** Bytes of saved code read (0 when there was none). */
  cachedBytes: number;
  /** Why saved code was not used, when there was some. */
  refused?: string;
  /** Bytes written by the last {@link saveWasmCodeCache}, if it wrote. */
  savedBytes?: number;
  /** Why the last {@link saveWasmCodeCache} could not write it, if it could not. */
  notSaved?: string;
}

/** The cache in this thread: whether it is on, where, and what each tool did. */
export interface WasmCodeCacheState {
  enabled: boolean;
  /** The folder, when enabled. */
  dir?: string;
  /** Why it is off, when it is. */
  reason?: string;
  tools: Record<string, ToolCodeCacheState>;
}

const MAGIC = new TextEncoder().encode('DIS-WASM-CODE-1\n');
const HEADER_BYTES = MAGIC.length + 32 + 32;
/** Larger files are refused: the tools' optimized code is well under 2 MB. */
const MAX_FILE_BYTES = 64 * 1024 * 1024;
/** Saved code grows as more functions get optimized; smaller growth is not written again. */
const MIN_GROWTH_BYTES = 4096;

interface Entry {
  module: WebAssembly.Module;
  file: string;
  wireHash: Uint8Array;
  /** Size of the code this module was made from (or last saved); 0 when compiled. */
  baseBytes: number;
  state: ToolCodeCacheState;
}

interface Setup {
  fs: NodeFs;
  crypto: NodeCrypto;
  path: NodePath;
  addon: CodeCacheAddon;
  dir: string;
}

let setup: Setup | undefined;
let offReason: string | undefined;
let decided = false;
const entries = new Map<string, Entry>();

/** Node's `process` (only reached once `node:` built-ins were found). */
function nodeProcess(): NodeJS.Process {
  return (globalThis as { process: NodeJS.Process }).process;
}

function describe(e: unknown): string {
  const err = e as { code?: string; message?: string };
  return err?.code ?? err?.message ?? String(e);
}

/** The folder named by the environment, or the default; undefined when turned off. */
function configuredDir(os: NodeOs, path: NodePath): string | undefined {
  const env = nodeProcess().env;
  const value = env.DISK_IMAGE_STUDIO_WASM_CACHE;
  if (value !== undefined && value !== '') {
    if (/^(off|0|false|no)$/i.test(value)) return undefined;
    return path.resolve(value);
  }
  const xdg = env.XDG_CACHE_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache');
  return path.join(base, 'disk-image-studio', 'wasm-code');
}

/** The addon built for this Node (see scripts/build-addon.mjs for the name). */
function addonUrl(): URL {
  const proc = nodeProcess();
  const name = `wasm-code-cache-${proc.platform}-${proc.arch}-abi${proc.versions.modules}.node`;
  // Not a literal URL: bundlers must not turn the addon into an asset. This file and the
  // CLI's bundle (.cache/cli/main.mjs) both sit two folders below the repository root.
  const relative = ['..', '..', '.cache', 'addon', name].join('/');
  return new URL(relative, import.meta.url);
}

/** Checks the folder is this user's and nobody else can write to it; the reason if not. */
function unsafeFolder(fs: NodeFs, dir: string): string | undefined {
  const st = fs.lstatSync(dir);
  if (!st.isDirectory()) return `${dir} is not a folder`;
  const uid = nodeProcess().getuid?.();
  if (uid !== undefined && st.uid !== uid) return `${dir} belongs to another user`;
  if ((st.mode & 0o022) !== 0) return `${dir} can be written by other users`;
  return undefined;
}

function init(): Setup | undefined {
  if (decided) return setup;
  decided = true;
  const fs = nodeBuiltin<NodeFs>('node:fs');
  const crypto = nodeBuiltin<NodeCrypto>('node:crypto');
  const nodeModule = nodeBuiltin<NodeModule>('node:module');
  const os = nodeBuiltin<NodeOs>('node:os');
  const path = nodeBuiltin<NodePath>('node:path');
  const nodeUrl = nodeBuiltin<NodeUrl>('node:url');
  if (!fs || !crypto || !nodeModule || !os || !path || !nodeUrl) {
    offReason = 'not in Node';
    return undefined;
  }
  const dir = configuredDir(os, path);
  if (dir === undefined) {
    offReason = 'turned off by DISK_IMAGE_STUDIO_WASM_CACHE';
    return undefined;
  }
  let addon: CodeCacheAddon;
  const addonPath = nodeUrl.fileURLToPath(addonUrl());
  try {
    addon = nodeModule.createRequire(import.meta.url)(addonPath) as CodeCacheAddon;
  } catch (e) {
    offReason = `the addon ${addonPath} did not load (${describe(e)}); build it with \`node scripts/build-addon.mjs\``;
    return undefined;
  }
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const unsafe = unsafeFolder(fs, dir);
    if (unsafe) {
      offReason = unsafe;
      return undefined;
    }
  } catch (e) {
    offReason = `cannot use ${dir} (${describe(e)})`;
    return undefined;
  }
  addon.install(streamResponse);
  setup = { fs, crypto, path, addon, dir };
  return setup;
}

/**
 * The addon takes over this thread's `WebAssembly.compileStreaming`; anything but our own
 * requests (a fetch `Response`, as Node's own handler takes) is compiled here, from its bytes.
 */
function streamResponse(source: unknown, handle: StreamingHandle): void {
  (async () => {
    if (!(source instanceof Response)) throw new TypeError('WebAssembly.compileStreaming: argument must be a Response');
    const type = source.headers.get('content-type') ?? '';
    if (!/^application\/wasm\s*(;|$)/i.test(type)) {
      throw new TypeError(`WebAssembly.compileStreaming: the response's Content-Type is not application/wasm`);
    }
    if (!source.ok) throw new TypeError(`WebAssembly.compileStreaming: HTTP status ${source.status}`);
    handle.feed(new Uint8Array(await source.arrayBuffer()));
    handle.finish();
  })().catch((e) => handle.abort(e));
}

function sha256(crypto: NodeCrypto, bytes: Uint8Array): Uint8Array {
  return new Uint8Array(crypto.createHash('sha256').update(bytes).digest());
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Reads a saved file: its code, or why it was refused (`undefined`: there is none). */
function readSaved(s: Setup, file: string, wireHash: Uint8Array): { code?: Uint8Array; refused?: string } | undefined {
  const { fs, crypto } = s;
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return undefined;
    return { refused: `cannot open it (${describe(e)})` };
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return { refused: 'not a regular file' };
    const uid = nodeProcess().getuid?.();
    if (uid !== undefined && st.uid !== uid) return { refused: 'it belongs to another user' };
    if ((st.mode & 0o022) !== 0) return { refused: 'other users can write to it' };
    if (st.size < HEADER_BYTES || st.size > MAX_FILE_BYTES)
      return { refused: `its size (${st.size} bytes) is out of range` };
    const bytes = new Uint8Array(st.size);
    let at = 0;
    while (at < bytes.length) {
      const n = fs.readSync(fd, bytes, at, bytes.length - at, at);
      if (n === 0) break;
      at += n;
    }
    if (at !== bytes.length) return { refused: 'it was cut short while read' };
    if (!equalBytes(bytes.subarray(0, MAGIC.length), MAGIC)) return { refused: 'not a saved code file' };
    const savedWire = bytes.subarray(MAGIC.length, MAGIC.length + 32);
    if (!equalBytes(savedWire, wireHash)) return { refused: 'made from another build of the tool' };
    const code = bytes.subarray(HEADER_BYTES);
    if (!equalBytes(bytes.subarray(MAGIC.length + 32, HEADER_BYTES), sha256(crypto, code))) {
      return { refused: 'its contents do not match their checksum' };
    }
    // Used now: files unused for a month are removed (removeStale).
    const now = Date.now() / 1000;
    try {
      fs.futimesSync(fd, now, now);
    } catch {
      // a read-only folder: kept, only not marked
    }
    return { code };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Compiles a tool's wire bytes, from the code saved by an earlier process when there is
 * some. Returns undefined when the cache is off (the caller compiles as usual).
 */
export function compileWithCodeCache(tool: string, wire: Uint8Array): Promise<WebAssembly.Module> | undefined {
  const s = init();
  if (!s) return undefined;
  const proc = nodeProcess();
  const wireHash = sha256(s.crypto, wire);
  const version = proc.versions.v8.replace(/[^0-9A-Za-z.-]/g, '_');
  const file = s.path.join(s.dir, `${tool}-${toHex(wireHash.subarray(0, 8))}-v8-${version}-${proc.arch}.code`);
  const saved = readSaved(s, file, wireHash);
  const record = (module: WebAssembly.Module, state: ToolCodeCacheState, baseBytes: number) => {
    entries.set(tool, { module, file, wireHash, baseBytes, state });
    return module;
  };
  if (!saved?.code) {
    // Compiled here, synchronously, as without the cache (see wasm-modules.ts).
    const module = new WebAssembly.Module(wire as Uint8Array<ArrayBuffer>);
    return Promise.resolve(record(module, { source: 'compiled', cachedBytes: 0, refused: saved?.refused }, 0));
  }
  const request: CacheRequest = { wasmCodeCacheRequest: true, wire, cached: saved.code };
  return WebAssembly.compileStreaming(request as unknown as Response).then((module) => {
    const accepted = request.accepted === true;
    const state: ToolCodeCacheState = {
      source: accepted ? 'cache' : 'compiled',
      cachedBytes: saved.code!.length,
      refused: accepted
        ? undefined
        : 'V8 refused it (made by another Node version, with other flags, or for another CPU)',
    };
    return record(module, state, accepted ? saved.code!.length : 0);
  });
}

/**
 * Writes out the code of every tool compiled in this thread whose optimized code grew since
 * it was loaded or last saved. Call it after a build: V8 optimizes functions as they run.
 * Never throws: the cache only saves time.
 */
export function saveWasmCodeCache(): void {
  const s = setup;
  if (!s) return;
  let wrote = false;
  for (const entry of entries.values()) {
    try {
      const code = s.addon.serialize(entry.module);
      // V8 serializes only optimized functions, and nothing when there are none yet.
      if (code.length === 0) entry.state.notSaved = 'no optimized code yet';
      if (code.length === 0 || (entry.baseBytes > 0 && code.length < entry.baseBytes + MIN_GROWTH_BYTES)) continue;
      entry.state.notSaved = undefined;
      writeSaved(s, entry.file, entry.wireHash, code);
      wrote = true;
      entry.baseBytes = code.length;
      entry.state.savedBytes = code.length;
    } catch (e) {
      // Not written (full disk, folder removed, ...): the next process compiles again.
      entry.state.notSaved = describe(e);
    }
  }
  if (wrote) removeStale(s);
}

const STALE_CODE_MS = 30 * 24 * 3600 * 1000;
const STALE_TEMPORARY_MS = 3600 * 1000;

/**
 * Removes saved code unused for 30 days (made from another build of a tool, or by another
 * Node version: files in use are marked when read) and temporary files a killed process left
 * an hour ago. Other files in the folder are not touched.
 */
function removeStale(s: Setup): void {
  const now = Date.now();
  try {
    for (const name of s.fs.readdirSync(s.dir)) {
      const code = /^[a-z0-9]+-[0-9a-f]{16}-v8-[0-9A-Za-z._-]+\.code$/.test(name);
      const temporary = /^[a-z0-9]+-[0-9a-f]{16}-v8-[0-9A-Za-z._-]+\.code\.\d+-[0-9a-f]{16}\.tmp$/.test(name);
      if (!code && !temporary) continue;
      const file = s.path.join(s.dir, name);
      const st = s.fs.lstatSync(file, { throwIfNoEntry: false });
      if (st && now - st.mtimeMs > (code ? STALE_CODE_MS : STALE_TEMPORARY_MS)) s.fs.rmSync(file, { force: true });
    }
  } catch {
    // Left for the next save.
  }
}

function writeSaved(s: Setup, file: string, wireHash: Uint8Array, code: Uint8Array): void {
  const { fs, crypto } = s;
  const proc = nodeProcess();
  const header = new Uint8Array(HEADER_BYTES);
  header.set(MAGIC, 0);
  header.set(wireHash, MAGIC.length);
  header.set(sha256(crypto, code), MAGIC.length + 32);
  const tmp = `${file}.${proc.pid}-${toHex(crypto.randomBytes(8))}.tmp`;
  // 'wx': created new, never through an existing file or link.
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    for (const part of [header, code]) {
      for (let at = 0; at < part.length; ) at += fs.writeSync(fd, part, at, part.length - at);
    }
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.closeSync(fd);
    } catch {
      // already closed
    }
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** What the cache did in this thread, for the CLI's `--debug`, the bench and tests. */
export function wasmCodeCacheState(): WasmCodeCacheState {
  const tools: Record<string, ToolCodeCacheState> = {};
  for (const [tool, entry] of entries) tools[tool] = { ...entry.state };
  if (setup) return { enabled: true, dir: setup.dir, tools };
  return { enabled: false, reason: decided ? offReason : 'no tool compiled yet in this thread', tools };
}

/**
 * One line on the cache, for the CLI's `--debug` and the bench: where each tool's compiled code
 * came from and what was saved, e.g.
 * `wasm code cache /root/.cache/disk-image-studio/wasm-code: mke2fs from saved code (169911 bytes), saved 301378 bytes; ...`.
 */
export function describeWasmCodeCache(state: WasmCodeCacheState): string {
  if (!state.enabled) return `wasm code cache off: ${state.reason ?? 'unknown reason'}`;
  const tools = Object.entries(state.tools).map(([tool, t]) => {
    let s = `${tool} ${t.source === 'cache' ? `from saved code (${t.cachedBytes} bytes)` : 'compiled'}`;
    if (t.refused) s += ` (saved code refused: ${t.refused})`;
    if (t.savedBytes !== undefined) s += `, saved ${t.savedBytes} bytes`;
    if (t.notSaved) s += `, not saved: ${t.notSaved}`;
    return s;
  });
  return `wasm code cache ${state.dir ?? ''}: ${tools.join('; ')}`;
}
