/**
 * The runtime bundled by Vite and run in a module Web Worker in Debian's Chromium: the
 * browser paths (compileStreaming of emitted .wasm assets, FileReaderSync reads of a
 * File, no node: modules) give the same image, byte for byte, as Node does.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TreeEntry } from '../../core/image-tree.ts';
import { MemoryImageStore } from './image-store.ts';
import { writeStoreToFile } from './node-image-file.ts';
import { runTool } from './run-tool.ts';
import { runNative, sha256Hex, tempDir } from '../test-support/native.ts';
import { type ServedPage, serveWorkerPage } from '../test-support/worker-page.ts';
import { compressFrames, storeSource } from './zstd-frames.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const RUNTIME = fileURLToPath(new URL('./index.ts', import.meta.url));
const UUID = '44444444-4444-4444-8888-888888888888';
const MKFS = ['-t', 'ext4', '-F', '-U', UUID, '-E', `hash_seed=${UUID}`, '-d', '/tree', '/image/disk.img', '16384'];

/** The bytes both sides use: the page puts them in a File after a 100-byte prefix. */
const BIG_SNIPPET =
  'const big = new Uint8Array(3 << 20); for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;';
function bigBytes(): Uint8Array {
  const big = new Uint8Array(3 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  return big;
}
/** The same tree as the worker's (kept in step with WORKER below). */
function tree(source: TreeEntry['source']): TreeEntry[] {
  const base = { uid: 0, gid: 0, mtime: 1, origin: 'test' };
  return [
    { ...base, path: '/', type: 'directory', mode: 0o755, size: 0 },
    { ...base, path: '/big.bin', type: 'file', mode: 0o644, size: 3 << 20, source },
    { ...base, path: '/l', type: 'symlink', mode: 0o777, size: 7, target: 'big.bin' },
    { ...base, path: '/h', type: 'hardlink', mode: 0o644, size: 0, target: '/big.bin' },
  ];
}

/**
 * 300 small files in folders whose names sort differently by bytes than as written, for
 * TREEFS's batched Blob reads (which follow mke2fs's byte-order walk). `make` turns each
 * file's bytes into a source; the function's text also runs in the worker.
 */
function smallTree(make: (bytes: Uint8Array) => TreeEntry['source']): TreeEntry[] {
  const base = { uid: 0, gid: 0, mtime: 1, origin: 'test' };
  const names = ['b', 'B', 'a', 'Z', '\u00e9', '10', '9', '_x'];
  const out: TreeEntry[] = [{ ...base, path: '/', type: 'directory', mode: 0o755, size: 0 }];
  for (let i = 0; i < 300; i++) {
    const d = '/' + names[i % 8];
    if (i < 8) out.push({ ...base, path: d, type: 'directory', mode: 0o755, size: 0 });
    const size = (i * 37) % 3000;
    const bytes = new Uint8Array(size);
    for (let j = 0; j < size; j++) bytes[j] = (i * 31 + j * 7) & 255;
    out.push({
      ...base,
      path: `${d}/${names[(i * 3) % 8]}${i}`,
      type: 'file',
      mode: 0o644,
      size,
      source: size ? make(bytes) : undefined,
    });
  }
  return out;
}

const WORKER = `
import { runTool, MemoryImageStore, compressStream, decompressStream, compressFrames, storeSource, frameWorkersStarted, lastPoolError, createStreamHash, MAX_PENDING, IN_THREAD_HASH_MAX } from ${JSON.stringify(RUNTIME)};
async function hashOffThread() {
  // Chunks larger than MAX_PENDING (the sender waits within one), of odd sizes; each changed
  // once update() has settled.
  const h = await createStreamHash();
  const buf = new Uint8Array(MAX_PENDING + 12345);
  const sizes = [buf.length, 1, 3 << 20, buf.length, 77777];
  const all = new Uint8Array(sizes.reduce((n, s) => n + s, 0));
  let at = 0;
  for (let k = 0; k < sizes.length; k++) {
    const chunk = buf.subarray(0, sizes[k]);
    chunk.fill(k + 1);
    chunk[(k * 1000) % chunk.length] = 0x55;
    all.set(chunk, at);
    at += chunk.length;
    await h.update(chunk);
    buf.fill(0xee);
  }
  const ref = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
  // A hashing worker that cannot start (a blocked script): the hash is made here instead.
  const RealWorker = self.Worker;
  self.Worker = class { constructor() { setTimeout(() => this.onerror && this.onerror({ message: 'blocked' }), 0); } postMessage() {} terminate() {} };
  let fallback;
  try {
    const f = await createStreamHash();
    await f.update(all.subarray(0, 1000));
    await f.update(all.subarray(1000));
    fallback = { offThread: f.offThread, hex: await f.digestHex() };
  } finally {
    self.Worker = RealWorker;
  }
  // Known to be small: hashed in this thread as each chunk comes (the sender changes it
  // afterwards), as is one fed more than it said. Larger: on a worker.
  const part = all.subarray(0, 5 << 20);
  const partRef = new Uint8Array(await crypto.subtle.digest('SHA-256', part));
  const small = await createStreamHash(part.length);
  const over = await createStreamHash(part.length - 5000);
  for (const h2 of [small, over]) {
    for (let at = 0; at < part.length; at += 1 << 20) {
      const chunk = part.slice(at, at + (1 << 20));
      await h2.update(chunk);
      chunk.fill(0xee);
    }
  }
  const large = await createStreamHash(IN_THREAD_HASH_MAX + 1);
  large.dispose();
  const kinds = { plain: h.kind, small: small.kind, over: over.kind, large: large.kind };
  return { offThread: h.offThread, hex: await h.digestHex(), ref: Array.from(ref, (b) => b.toString(16).padStart(2, '0')).join(''), fallback,
    small: await small.digestHex(), over: await over.digestHex(), kinds, partRef: Array.from(partRef, (b) => b.toString(16).padStart(2, '0')).join('') };
}
async function framesSha(store, workers) {
  const parts = [];
  for await (const f of compressFrames(storeSource(store), { workers })) parts.push(f.slice());
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { all.set(p, at); at += p.length; }
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}
function tree(source) {
  const base = { uid: 0, gid: 0, mtime: 1, origin: 'test' };
  return [
    { ...base, path: '/', type: 'directory', mode: 0o755, size: 0 },
    { ...base, path: '/big.bin', type: 'file', mode: 0o644, size: 3 << 20, source },
    { ...base, path: '/l', type: 'symlink', mode: 0o777, size: 7, target: 'big.bin' },
    { ...base, path: '/h', type: 'hardlink', mode: 0o644, size: 0, target: '/big.bin' },
  ];
}
self.onmessage = async (e) => {
  try {
    const entries = tree({ kind: 'blob', blob: e.data.file, offset: 100, size: 3 << 20 });
    const store = new MemoryImageStore(64 << 20);
    const img = { type: 'image', path: '/image/disk.img', store };
    const mk = await runTool('mke2fs', ${JSON.stringify(MKFS)}, { epoch: 1, mounts: [img, { type: 'tree', path: '/tree', entries }] });
    const ck = await runTool('e2fsck', ['-fn', '/image/disk.img'], { epoch: 1, mounts: [img] });
    const rs = await runTool('resize2fs', ['-M', '/image/disk.img'], { epoch: 1, mounts: [img] });
    const parts = [];
    for await (const p of compressStream(store.chunks(), { contentSize: store.size })) parts.push(p);
    let back = 0;
    for await (const p of decompressStream(parts)) back += p.length;
    const frames = { inThread: await framesSha(store, 0), pooled: await framesSha(store, 2), started: frameWorkersStarted(), why: String(lastPoolError) };
    const smallTree = ${smallTree.toString()};
    const small = new MemoryImageStore(16 << 20);
    const smallEntries = smallTree((bytes) => ({ kind: 'blob', blob: new File([bytes], 'f'), offset: 0, size: bytes.length }));
    const sm = await runTool('mke2fs', ${JSON.stringify(MKFS)}, { epoch: 1, mounts: [{ type: 'image', path: '/image/disk.img', store: small }, { type: 'tree', path: '/tree', entries: smallEntries }] });
    const hashed = await hashOffThread();
    self.postMessage({ hashed, exits: [mk.exitCode, ck.exitCode, rs.exitCode, sm.exitCode], blobReads: mk.treeStats['/tree'].blobReads, sha: await store.sha256(), size: store.size, zstBytes: parts.reduce((n, p) => n + p.length, 0), back, frames,
      small: { sha: await small.sha256(), blobReads: sm.treeStats['/tree'].blobReads } });
  } catch (err) {
    self.postMessage({ error: String(err && err.stack || err) });
  }
};
`;
const MAIN = `
${BIG_SNIPPET}
const w = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
window.result = new Promise((resolve) => {
  w.onmessage = (e) => resolve(e.data);
  w.onerror = (e) => resolve({ error: String(e.message) });
});
w.postMessage({ file: new File([new Uint8Array(100), big], 'input.bin') });
`;

describe.skipIf(!existsSync(CHROMIUM) && !process.env.REQUIRE_BROWSER)('the runtime in a browser worker', () => {
  const tmp = tempDir('rt-browser-');
  let served: ServedPage | undefined;
  let port = 0;

  beforeAll(async () => {
    // Not cross-origin isolated: the worker's own FileReaderSync reads (counted below);
    // browser-read-ahead.test.ts covers an isolated page.
    served = await serveWorkerPage(tmp.dir, { main: MAIN, worker: WORKER }, { isolated: false });
    port = served.port;
  });
  afterAll(async () => {
    await served?.close();
    tmp.cleanup();
  });

  it('makes, checks, shrinks and compresses an image; the same bytes as in Node', async () => {
    const bundle = readFileSync(join(tmp.dir, 'out', 'index.html'), 'utf8');
    expect(bundle).toMatch(/<script/);
    const { chromium } = await import('@playwright/test');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu'],
    });
    let result: {
      error?: string;
      exits: number[];
      blobReads: number;
      sha: string;
      size: number;
      zstBytes: number;
      back: number;
      frames: { inThread: string; pooled: string; started: number };
      small: { sha: string; blobReads: number };
      hashed: {
        offThread: boolean;
        hex: string;
        ref: string;
        fallback: { offThread: boolean; hex: string };
        small: string;
        over: string;
        partRef: string;
        kinds: Record<string, string>;
      };
    };
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${port}/`);
      result = await page.evaluate(() => (window as unknown as { result: Promise<never> }).result);
    } finally {
      await browser.close();
    }
    expect(result.error).toBeUndefined();
    expect(result.exits).toEqual([0, 0, 0, 0]);
    // The output's hash on a worker of its own: the digest of what was passed, however the
    // sender's array changed once update() had settled.
    expect(result.hashed.offThread).toBe(true);
    expect(result.hashed.hex).toBe(result.hashed.ref);
    expect(result.hashed.fallback).toEqual({ offThread: false, hex: result.hashed.ref });
    // A small output hashed in the calling thread, and one larger than said, give the same digest.
    expect(result.hashed.kinds).toEqual({ plain: 'worker', small: 'in-thread', over: 'in-thread', large: 'worker' });
    expect(result.hashed.small).toBe(result.hashed.partRef);
    expect(result.hashed.over).toBe(result.hashed.partRef);
    expect(result.blobReads).toBeGreaterThanOrEqual(3);
    expect(result.back).toBe(result.size);
    expect(result.zstBytes).toBeGreaterThan(0);

    // Node, same tree from bytes instead of a File.
    const store = new MemoryImageStore(64 << 20);
    const img = { type: 'image' as const, path: '/image/disk.img', store };
    const big = bigBytes();
    expect(
      (
        await runTool('mke2fs', MKFS, {
          epoch: 1,
          mounts: [img, { type: 'tree', path: '/tree', entries: tree({ kind: 'bytes', bytes: big }) }],
        })
      ).exitCode,
    ).toBe(0);
    expect((await runTool('resize2fs', ['-M', '/image/disk.img'], { epoch: 1, mounts: [img] })).exitCode).toBe(0);
    expect(store.size).toBe(result.size);
    expect(await store.sha256()).toBe(result.sha);
    // zstd frames from a pool of nested Web Workers: the same bytes as in the worker's own
    // thread, and as Node's.
    expect(result.frames.started, (result.frames as { why?: string }).why).toBe(2);
    expect(result.frames.pooled).toBe(result.frames.inThread);
    const frames: Uint8Array[] = [];
    for await (const f of compressFrames(storeSource(store), { workers: 0 })) frames.push(f.slice());
    expect(sha256Hex(Buffer.concat(frames))).toBe(result.frames.inThread);
    // ... so the browser's image is this one, which native e2fsck accepts.
    const path = join(tmp.dir, 'node.img');
    writeStoreToFile(store, path);
    const fsck = runNative('e2fsck', ['-fn', path]);
    expect(fsck.status, fsck.stdout).toBe(0);

    // Many small Files: fetched a batch at a time, and still the very image Node makes.
    const small = new MemoryImageStore(16 << 20);
    const sm = await runTool('mke2fs', MKFS, {
      epoch: 1,
      mounts: [
        { type: 'image', path: '/image/disk.img', store: small },
        { type: 'tree', path: '/tree', entries: smallTree((bytes) => ({ kind: 'bytes', bytes })) },
      ],
    });
    expect(sm.exitCode, sm.stderr).toBe(0);
    expect(result.small.sha).toBe(await small.sha256());
    expect(result.small.blobReads).toBeGreaterThan(0);
    expect(result.small.blobReads).toBeLessThanOrEqual(5);
  }, 120_000);
});
