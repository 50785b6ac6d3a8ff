/**
 * Typed loader of the wasm tools built in `wasm/`: locates each tool's `.wasm` and `.mjs`
 * next to this file's source (`new URL('../../wasm/...', import.meta.url)`, which Vite
 * turns into emitted assets and Node reads from disk), compiles each `.wasm` once and
 * keeps the `WebAssembly.Module` (a promise cache), and imports the emscripten factory
 * lazily. A tool run then instantiates the cached module (see `run-tool.ts`).
 */
import type { EmFactory } from './emscripten-types.ts';
import { nodeBuiltin } from '../../core/node-builtin.ts';
import { compileWithCodeCache } from './wasm-code-cache.ts';

/** The e2fsprogs programs. */
export type E2fsTool = 'mke2fs' | 'e2fsck' | 'resize2fs' | 'dumpe2fs' | 'debugfs' | 'tune2fs';
/** Every wasm program. */
export type WasmTool = E2fsTool | 'zstd';

/** The e2fsprogs programs, in pipeline order. */
export const E2FS_TOOLS: readonly E2fsTool[] = ['mke2fs', 'e2fsck', 'resize2fs', 'dumpe2fs', 'debugfs', 'tune2fs'];

// Literal URLs and import specifiers: bundlers only follow static strings. Each `.mjs` has
// its declarations beside it (`<tool>.d.mts`, from wasm/common/tool.d.mts).
const WASM_URLS: Record<WasmTool, () => URL> = {
  mke2fs: () => new URL('../../wasm/e2fsprogs/dist/mke2fs.wasm', import.meta.url),
  e2fsck: () => new URL('../../wasm/e2fsprogs/dist/e2fsck.wasm', import.meta.url),
  resize2fs: () => new URL('../../wasm/e2fsprogs/dist/resize2fs.wasm', import.meta.url),
  dumpe2fs: () => new URL('../../wasm/e2fsprogs/dist/dumpe2fs.wasm', import.meta.url),
  debugfs: () => new URL('../../wasm/e2fsprogs/dist/debugfs.wasm', import.meta.url),
  tune2fs: () => new URL('../../wasm/e2fsprogs/dist/tune2fs.wasm', import.meta.url),
  zstd: () => new URL('../../wasm/zstd/dist/zstd.wasm', import.meta.url),
};

type FactoryModule = { default: EmFactory };
const FACTORIES: Record<WasmTool, () => Promise<FactoryModule>> = {
  mke2fs: () => import('../../wasm/e2fsprogs/dist/mke2fs.mjs'),
  e2fsck: () => import('../../wasm/e2fsprogs/dist/e2fsck.mjs'),
  resize2fs: () => import('../../wasm/e2fsprogs/dist/resize2fs.mjs'),
  dumpe2fs: () => import('../../wasm/e2fsprogs/dist/dumpe2fs.mjs'),
  debugfs: () => import('../../wasm/e2fsprogs/dist/debugfs.mjs'),
  tune2fs: () => import('../../wasm/e2fsprogs/dist/tune2fs.mjs'),
  zstd: () => import('../../wasm/zstd/dist/zstd.mjs'),
};

const MKE2FS_CONF_URL = (): URL => new URL('../../wasm/e2fsprogs/dist/mke2fs.conf', import.meta.url);

/** Folders overriding where the outputs are looked up (see {@link setWasmDirs}). */
let overrideDirs: { e2fsprogs?: URL; zstd?: URL } = {};

/**
 * Looks the tools up in other folders (each holding `<tool>.wasm`, `<tool>.mjs` and, for
 * e2fsprogs, `mke2fs.conf`), e.g. a fresh build or a CDN; `{}` restores the defaults.
 * Clears the caches.
 */
export function setWasmDirs(dirs: { e2fsprogs?: URL | string; zstd?: URL | string }): void {
  const asDir = (u: URL | string | undefined): URL | undefined => {
    if (u === undefined) return undefined;
    const url = new URL(String(u));
    if (!url.pathname.endsWith('/')) url.pathname += '/';
    return url;
  };
  overrideDirs = { e2fsprogs: asDir(dirs.e2fsprogs), zstd: asDir(dirs.zstd) };
  compiled.clear();
  factories.clear();
  confPromise = undefined;
}

/** The folders set by {@link setWasmDirs}, as hrefs (to hand to another thread). */
export function wasmDirOverrides(): { e2fsprogs?: string; zstd?: string } {
  return { e2fsprogs: overrideDirs.e2fsprogs?.href, zstd: overrideDirs.zstd?.href };
}

function overrideDir(tool: WasmTool): URL | undefined {
  return tool === 'zstd' ? overrideDirs.zstd : overrideDirs.e2fsprogs;
}

/** URL of a tool's `.wasm`. */
export function toolWasmUrl(tool: WasmTool): URL {
  const dir = overrideDir(tool);
  if (dir) return new URL(`${tool}.wasm`, dir);
  const make = WASM_URLS[tool];
  if (!make) throw new Error(`unknown wasm tool ${JSON.stringify(tool)}`);
  return make();
}

/**
 * URL of a tool's emscripten loader (`.mjs`) as a file, for Node worker threads, which
 * import it themselves. Not for bundled browser code: there the loader is a bundled chunk.
 */
export function toolGlueUrl(tool: WasmTool): URL {
  const dir = overrideDir(tool);
  if (dir) return new URL(`${tool}.mjs`, dir);
  // Not a literal: bundlers must not turn this into an asset reference.
  const folder = tool === 'zstd' ? 'zstd' : 'e2fsprogs';
  return new URL(`../../wasm/${folder}/dist/${tool}.mjs`.toString(), import.meta.url);
}

type NodeFs = typeof import('node:fs');

/**
 * Reads a file URL (Node) or fetches an http(s)/blob URL (browser, worker).
 *
 * Node reads synchronously (under 1 ms for the largest tool): an asynchronous read needs
 * four turns of the event loop (open, stat, read, close), and a build's thread turns only
 * between tool runs, so the zstd workers, which wait for their module, started only after
 * mkfs and both checks, instead of while mkfs runs.
 */
async function fetchBytes(url: URL): Promise<Uint8Array> {
  if (url.protocol === 'file:') {
    const fs = nodeBuiltin<NodeFs>('node:fs');
    if (!fs) throw new Error(`cannot read ${url.href}: no node:fs here`);
    // A copy, not a view: a small file's Buffer is a slice of Node's shared allocation pool.
    return new Uint8Array(fs.readFileSync(url));
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetching ${url.href} failed: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function compile(tool: WasmTool, url: URL): Promise<WebAssembly.Module> {
  if (url.protocol !== 'file:' && typeof WebAssembly.compileStreaming === 'function') {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`fetching ${url.href} failed: HTTP ${response.status}`);
    try {
      return await WebAssembly.compileStreaming(response.clone());
    } catch (e) {
      // A server without the application/wasm MIME type: compile from bytes instead.
      if (!(e instanceof TypeError)) throw e;
      return WebAssembly.compile(await response.arrayBuffer());
    }
  }
  const bytes = await fetchBytes(url);
  // Node: from the optimized code an earlier process saved, when there is some.
  const fromCache = url.protocol === 'file:' ? compileWithCodeCache(tool, bytes) : undefined;
  if (fromCache) return fromCache;
  // Node: compiled here, synchronously (V8 compiles function bodies lazily, so this is a
  // few ms). The async form queues behind the background pool's optimizing recompilation
  // of the tools already run, which on a busy 2-core machine delayed a tool's start by
  // 0.1-0.2 s.
  if (url.protocol === 'file:') return new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  return WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
}

/**
 * Instantiates a compiled module for emscripten's `instantiateWasm` hook: synchronously
 * where allowed (the async form waits for a task of V8's background pool, which queues it
 * behind the optimizing recompilation of the previous run's hot functions: 0.2-0.3 s for
 * e2fsck's second instance on a busy 2-core machine), else asynchronously (a page's main
 * thread refuses synchronous instantiation of large modules).
 */
export function instantiateNow(
  wasmModule: WebAssembly.Module,
  imports: WebAssembly.Imports,
  receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
  failed: (e: unknown) => void,
): WebAssembly.Exports {
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(wasmModule, imports);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    WebAssembly.instantiate(wasmModule, imports).then((i) => receive(i, wasmModule), failed);
    return {};
  }
  receive(instance, wasmModule);
  return instance.exports;
}

const compiled = new Map<WasmTool, Promise<WebAssembly.Module>>();
const factories = new Map<WasmTool, Promise<EmFactory>>();
let confPromise: Promise<Uint8Array> | undefined;

/** The tool's compiled `WebAssembly.Module`, compiled once per tool (promise cache; a failure is not cached). */
export function compileTool(tool: WasmTool): Promise<WebAssembly.Module> {
  let p = compiled.get(tool);
  if (!p) {
    p = compile(tool, toolWasmUrl(tool));
    compiled.set(tool, p);
    p.catch(() => compiled.delete(tool));
  }
  return p;
}

/** The tool's emscripten factory (the `.mjs` default export), imported once. */
export function loadToolFactory(tool: WasmTool): Promise<EmFactory> {
  let p = factories.get(tool);
  if (!p) {
    const dir = overrideDir(tool);
    const load: (() => Promise<FactoryModule>) | undefined = dir
      ? () => import(/* @vite-ignore */ new URL(`${tool}.mjs`, dir).href) as Promise<FactoryModule>
      : FACTORIES[tool];
    if (!load) return Promise.reject(new Error(`unknown wasm tool ${JSON.stringify(tool)}`));
    p = load().then((m) => {
      if (typeof m.default !== 'function') throw new Error(`${tool}.mjs has no default export factory`);
      return m.default;
    });
    factories.set(tool, p);
    p.catch(() => factories.delete(tool));
  }
  return p;
}

/** The shipped `mke2fs.conf` (upstream's, as native mkfs.ext4 uses), read once. */
export function loadMke2fsConf(): Promise<Uint8Array> {
  if (!confPromise) {
    confPromise = fetchBytes(
      overrideDirs.e2fsprogs ? new URL('mke2fs.conf', overrideDirs.e2fsprogs) : MKE2FS_CONF_URL(),
    );
    confPromise.catch(() => (confPromise = undefined));
  }
  return confPromise;
}

/**
 * Compiles and imports the given tools ahead of use (default: every e2fsprogs tool). zstd is
 * only compiled: its module goes to the compression workers, which import their own loader
 * (this thread needs it only to compress by itself, where no worker can start), and the
 * import took 8-13 ms of the build's thread.
 */
export async function preloadTools(tools: readonly WasmTool[] = E2FS_TOOLS): Promise<void> {
  await Promise.all([
    ...tools.map((t) => compileTool(t)),
    ...tools.filter((t) => t !== 'zstd').map((t) => loadToolFactory(t)),
    loadMke2fsConf(),
  ]);
}
