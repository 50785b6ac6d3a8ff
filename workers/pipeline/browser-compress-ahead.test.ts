/**
 * Compression ahead in a page (Chromium): while mke2fs and the checks run in the build's
 * worker, it sends the pieces of the image that look final to the compression workers and
 * keeps the frames they make; the output is the same bytes as without, and as Node's.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BUILD_OPTIONS } from '../../core/build-options.ts';
import type { BuildOptions } from '../../core/engine-contract.ts';
import type { TreeEntry } from '../../core/image-tree.ts';
import { tempDir } from '../test-support/native.ts';
import { useTestWasm } from '../test-support/wasm.ts';
import { type ServedPage, serveWorkerPage, withServedPage } from '../test-support/worker-page.ts';
import { buildImage } from './build-image.ts';

useTestWasm();
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const here = (p: string) => JSON.stringify(fileURLToPath(new URL(p, import.meta.url)));

/**
 * The tree both sides build (plain JavaScript: it runs in the page's worker too): 24 files
 * of 1.5 MiB, a third random, the rest text, in one folder: a 40 MiB image of 4 KiB blocks,
 * whose backup superblocks (128 MiB apart) leave every piece but the first to be made ahead.
 */
const ENTRIES_JS = `(() => {
  const base = { uid: 0, gid: 0, mtime: 1000, origin: 'test' };
  const entries = [
    { ...base, path: '/', type: 'directory', mode: 0o755, size: 0 },
    { ...base, path: '/data', type: 'directory', mode: 0o755, size: 0 },
  ];
  const n = 1536 * 1024;
  for (let i = 0; i < 24; i++) {
    const bytes = new Uint8Array(n);
    if (i % 3 === 0) {
      let x = (i * 2654435761) >>> 0 || 1;
      for (let j = 0; j < n; j++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; bytes[j] = x & 255; }
    } else {
      const line = new TextEncoder().encode('block ' + i + ' /nix/store/abc-hello-2.12 inode superblock\\n');
      for (let j = 0; j < n; j++) bytes[j] = line[j % line.length];
    }
    entries.push({ ...base, path: '/data/f' + i, type: 'file', mode: 0o644, size: n, source: { kind: 'bytes', bytes } });
  }
  return entries;
})()`;

const OPTIONS: BuildOptions = { ...DEFAULT_BUILD_OPTIONS, compress: true, blockSize: 4096 };

const WORKER = `
import { buildImage } from ${here('./build-image.ts')};
import { browserStorage } from ${here('./browser-storage.ts')};
import { prestartFrameWorkers } from ${here('../runtime/zstd-frames.ts')};
const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
self.onmessage = async (e) => {
  const { ahead, options } = e.data;
  try {
    // As the studio's engine does when the page starts it: the workers are up before a build
    // (a worker's child starts only while its parent's event loop is free, not during mkfs).
    await prestartFrameWorkers(2);
    const storage = await browserStorage();
    if (storage instanceof Error) throw storage;
    const logs = [];
    const parts = [];
    const r = await buildImage(
      { entries: ${ENTRIES_JS}, closure: [], options },
      {
        storage,
        compressionWorkers: 2,
        compressAhead: ahead,
        sink: (c) => void parts.push(c.slice()),
        onEvent: (ev) => {
          if (ev.type === 'log' && ev.text.startsWith('frames made ahead')) logs.push(ev.text);
        },
      },
    );
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { all.set(p, at); at += p.length; }
    self.postMessage({ isolated: self.crossOriginIsolated, sha: r.sha256, outSha: hex(await crypto.subtle.digest('SHA-256', all)), logs });
  } catch (err) {
    self.postMessage({ error: String(err && err.message || err) });
  }
};
`;

const MAIN = `
window.build = (ahead, options) => {
  const w = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  return new Promise((resolve) => {
    w.onmessage = (e) => { w.terminate(); resolve(e.data); };
    w.onerror = (e) => resolve({ error: String(e.message) });
    w.postMessage({ ahead, options });
  });
};
`;

interface Outcome {
  isolated?: boolean;
  sha?: string;
  outSha?: string;
  logs?: string[];
  error?: string;
}

describe.skipIf(!existsSync(CHROMIUM) && !process.env.REQUIRE_BROWSER)('compression ahead in a page', () => {
  const tmp = tempDir('page-ahead-');
  let served: ServedPage | undefined;
  let nodeSha = '';

  beforeAll(async () => {
    served = await serveWorkerPage(tmp.dir, { main: MAIN, worker: WORKER });
    const entries = new Function(`return ${ENTRIES_JS}`)() as TreeEntry[];
    nodeSha = (await buildImage({ entries, closure: [], options: OPTIONS }, { compressionWorkers: 2 })).sha256;
  }, 180_000);
  afterAll(async () => {
    await served?.close();
    tmp.cleanup();
  });

  it('makes frames while mke2fs runs and gives the same bytes as without, and as Node', async () => {
    const [on, off] = await withServedPage(served!, async (page) => {
      const build = (ahead: boolean) =>
        page.evaluate(
          ([a, o]) => (window as unknown as { build: (a: boolean, o: unknown) => Promise<Outcome> }).build(a, o),
          [ahead, OPTIONS] as const,
        );
      return [await build(true), await build(false)];
    });
    expect(on.error).toBeUndefined();
    expect(off.error).toBeUndefined();
    expect(on.isolated).toBe(true);
    expect(off.logs).toEqual([]);
    expect(on.logs).toHaveLength(1);
    const [, taken, pieces, queued] = /^frames made ahead: (\d+) of (\d+) pieces \((\d+) queued\)$/
      .exec(on.logs![0])!
      .map(Number);
    expect(pieces).toBeGreaterThan(8);
    expect(queued).toBeGreaterThanOrEqual(1);
    expect(taken).toBeGreaterThanOrEqual(1);
    expect(taken).toBeLessThanOrEqual(queued);
    // The same output: the digest the build reports, of the bytes it gave, and Node's.
    expect(on.sha).toBe(on.outSha);
    expect(on.sha).toBe(off.sha);
    expect(on.sha).toBe(nodeSha);
  }, 300_000);
});
