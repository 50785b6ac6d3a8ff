/**
 * Reading picked Files ahead of mke2fs (`blob-read-ahead.ts`) in Debian's Chromium, on a page
 * served cross-origin isolated (COOP + COEP) and, for comparison, the same bundle served
 * without those headers (today's path). Real files on disk, picked into
 * `<input type=file multiple>`: the isolated page's image is the same bytes (sha256) as the
 * other page's and as Node's, with the bytes taken from the reader worker; a file changed on
 * disk while the build is under way (mke2fs held at a point the reader cannot have passed it)
 * still fails naming that file; an abort terminates the reader.
 */
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from '@playwright/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectInputChanged, PICKED_ENTRIES_SCRIPT, type PageBuildError } from '../test-support/picked-entries-page.ts';
import { mkfsFromBytes } from '../test-support/reference-mkfs.ts';
import { runNative, tempDir } from '../test-support/native.ts';
import { type ServedPage, servePage, serveWorkerPage, withServedPage } from '../test-support/worker-page.ts';
import { writeStoreToFile } from './node-image-file.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const RUNTIME = fileURLToPath(new URL('./index.ts', import.meta.url));
const UUID = '66666666-4444-4444-8888-888888888888';
// 128 MiB of 1 KiB blocks.
const MKFS = ['-t', 'ext4', '-F', '-U', UUID, '-E', `hash_seed=${UUID}`, '-d', '/tree', '/image/disk.img', '131072'];
const EPOCH = 1;
const MiB = 1 << 20;

interface HostFile {
  path: string;
  bytes: Uint8Array;
}

/**
 * In copy order: a 40 MiB file first (more than the reader's 32 MiB ring, so the reader
 * cannot be past what follows while mke2fs is inside it), then 400 small files in folders, a
 * 2.5 MiB file among them, and `/z/last` at the end.
 */
function makeFiles(): HostFile[] {
  const out: HostFile[] = [];
  const first = new Uint8Array(40 * MiB);
  for (let j = 0; j < first.length; j += 4096) first.fill((j >>> 12) & 255, j, j + 4096 - ((j >>> 12) % 7));
  out.push({ path: '/0first.bin', bytes: first });
  for (let i = 0; i < 400; i++) {
    const size = (i * 131) % 6000;
    const bytes = new Uint8Array(size);
    for (let j = 0; j < size; j++) bytes[j] = (i * 29 + j * 13 + (j >> 7)) & 255;
    out.push({ path: `/d${i % 7}/f${String(i).padStart(3, '0')}`, bytes });
  }
  const mid = new Uint8Array(5 << 19);
  for (let j = 0; j < mid.length; j++) mid[j] = (j * 2654435761) >>> 24;
  out.push({ path: '/d3/mid.bin', bytes: mid });
  out.push({ path: '/z/last', bytes: new TextEncoder().encode('the last file mke2fs copies\n') });
  // mke2fs -d's order: depth first, names in byte order (ASCII names here).
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

const WORKER = `
import { runTool, MemoryImageStore, prestartBlobReadAhead, readAheadWorkersStarted } from ${JSON.stringify(RUNTIME)};
self.onmessage = async (e) => {
  const { entries, gate, pauseAt, abortAt, prestart } = e.data;
  // A reader started before the run, as the engine starts one when the page starts it.
  if (prestart) await prestartBlobReadAhead();
  const ac = new AbortController();
  let reader;
  let aliveAtStart;
  let paused = false;
  const onRead = (n) => {
    if (gate && !paused && n >= pauseAt) {
      // Hold mke2fs here (inside its copy) until the page says the file was changed.
      paused = true;
      self.postMessage({ paused: true });
      Atomics.wait(gate, 0, 0, 120000);
    }
    if (abortAt !== undefined && n >= abortAt) ac.abort(new Error('stopped by the test'));
  };
  const isolated = self.crossOriginIsolated;
  try {
    const store = new MemoryImageStore(128 << 20);
    const r = await runTool('mke2fs', ${JSON.stringify(MKFS)}, {
      epoch: ${EPOCH},
      signal: ac.signal,
      mounts: [
        { type: 'image', path: '/image/disk.img', store },
        { type: 'tree', path: '/tree', entries, onRead, readAhead: true, onReadAhead: (x) => {
          reader = x;
          x.alive(5000).then((v) => { aliveAtStart = v; });
        } },
      ],
    });
    self.postMessage({ isolated, reader: !!reader, started: readAheadWorkersStarted(), exit: r.exitCode, stderr: r.stderr, stats: r.treeStats['/tree'], sha: await store.sha256() });
  } catch (err) {
    const out = { isolated, reader: !!reader, started: readAheadWorkersStarted(), error: { name: err.name, message: String(err.message), path: err.path } };
    if (reader) {
      out.aliveAfter = await reader.alive(1500);
      out.aliveAtStart = aliveAtStart;
    }
    self.postMessage(out);
  }
};
`;

const MAIN = `
${PICKED_ENTRIES_SCRIPT}
window.isolated = () => self.crossOriginIsolated;
window.build = (mode, meta, opts = {}) => {
  // joined: one Blob of all files; groups: Blobs of 7 files; separate: each File on its own.
  const entries = pickedEntries(Array.from(document.getElementById('f').files), mode, meta);
  const gate = opts.pauseAt !== undefined ? new Int32Array(new SharedArrayBuffer(4)) : undefined;
  window.paused = false;
  window.release = () => { Atomics.store(gate, 0, 1); Atomics.notify(gate, 0); };
  const w = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  return new Promise((resolve) => {
    w.onmessage = (e) => {
      if (e.data.paused) { window.paused = true; return; }
      w.terminate();
      resolve(e.data);
    };
    w.onerror = (e) => resolve({ error: { name: 'WorkerError', message: String(e.message) } });
    w.postMessage({ entries, gate, pauseAt: opts.pauseAt, abortAt: opts.abortAt, prestart: opts.prestart });
  });
};
`;

type Mode = 'joined' | 'groups' | 'separate';

interface Outcome {
  isolated?: boolean;
  reader?: boolean;
  /** Reader workers the build's worker started. */
  started?: number;
  exit?: number;
  stderr?: string;
  sha?: string;
  stats?: { blobReads: number; readAhead: number; bytesRead: number };
  error?: PageBuildError;
  aliveAtStart?: boolean;
  aliveAfter?: boolean;
}

describe.skipIf(!existsSync(CHROMIUM) && !process.env.REQUIRE_BROWSER)(
  'reading picked Files ahead of mke2fs in Chromium',
  () => {
    const tmp = tempDir('rt-read-ahead-');
    const files = makeFiles();
    const treeDir = join(tmp.dir, 'tree');
    const meta = files.map((f) => ({ path: f.path, size: f.bytes.length }));
    let isolated: ServedPage | undefined;
    let plain: ServedPage | undefined;
    let nodeSha = '';

    beforeAll(async () => {
      for (const f of files) {
        mkdirSync(dirname(join(treeDir, f.path)), { recursive: true });
        writeFileSync(join(treeDir, f.path), f.bytes);
      }
      isolated = await serveWorkerPage(tmp.dir, {
        bodyHtml: '<input id="f" type="file" multiple>',
        main: MAIN,
        worker: WORKER,
      });
      plain = await servePage(join(tmp.dir, 'out'), { isolated: false });

      // Node's image of the same bytes, checked by native e2fsck.
      const { exitCode, stderr, store } = await mkfsFromBytes(files, MKFS, 128 * MiB, EPOCH);
      expect(exitCode, stderr).toBe(0);
      nodeSha = await store.sha256();
      const img = join(tmp.dir, 'node.img');
      writeStoreToFile(store, img);
      expect(runNative('e2fsck', ['-fn', img]).status).toBe(0);
    }, 180_000);
    afterAll(async () => {
      await isolated?.close();
      await plain?.close();
      tmp.cleanup();
    });

    /** Opens `served` in Chromium with the tree's files picked and runs `work` on the page. */
    async function withPage<T>(served: ServedPage, work: (page: Page) => Promise<T>): Promise<T> {
      return withServedPage(
        served,
        work,
        files.map((f) => join(treeDir, f.path)),
      );
    }

    const build = (page: Page, mode: Mode, opts: { pauseAt?: number; abortAt?: number; prestart?: boolean } = {}) =>
      page.evaluate(
        ([m, list, o]) =>
          (window as unknown as { build: (m: string, l: unknown, o: unknown) => Promise<Outcome> }).build(m, list, o),
        [mode, meta, opts] as const,
      );

    it('gives the same image with the bytes read ahead as without, and as Node', async () => {
      const ahead = await withPage(isolated!, async (page) => {
        expect(await page.evaluate(() => (window as unknown as { isolated: () => boolean }).isolated())).toBe(true);
        const out: Outcome[] = [];
        for (const mode of ['joined', 'groups', 'separate'] as const) out.push(await build(page, mode));
        return out;
      });
      const [without] = await withPage(plain!, async (page) => {
        expect(await page.evaluate(() => (window as unknown as { isolated: () => boolean }).isolated())).toBe(false);
        return [await build(page, 'joined')];
      });

      expect(without.error).toBeUndefined();
      expect(without.exit, without.stderr).toBe(0);
      expect(without.isolated).toBe(false);
      expect(without.reader).toBe(false);
      expect(without.stats!.readAhead).toBe(0);
      expect(without.sha).toBe(nodeSha);

      const pieces = files.reduce((n, f) => n + Math.ceil(f.bytes.length / MiB), 0);
      for (const r of ahead) {
        expect(r.error).toBeUndefined();
        expect(r.exit, r.stderr).toBe(0);
        expect(r.isolated).toBe(true);
        expect(r.reader).toBe(true);
        expect(r.sha).toBe(nodeSha);
        // Every piece came from the reader worker; none was read in the build's thread.
        expect(r.stats!.readAhead).toBe(pieces);
        expect(r.stats!.blobReads).toBe(0);
      }
    }, 300_000);

    it('names a file changed on disk while the build is under way', async () => {
      const victim = files.find((f) => f.path === '/d3/f003')!;
      const host = join(treeDir, victim.path);
      const original = readFileSync(host);
      try {
        const r = await withPage(isolated!, async (page) => {
          // mke2fs is held 1 MiB into the 40 MiB file: the reader is at most its ring (32 MiB)
          // further, short of the victim.
          const result = build(page, 'joined', { pauseAt: MiB });
          await page.waitForFunction(() => (window as unknown as { paused: boolean }).paused, null, {
            timeout: 60_000,
          });
          const changed = Buffer.from(original);
          changed[0] ^= 0xff;
          writeFileSync(host, changed);
          const later = new Date(Date.now() + 5000);
          utimesSync(host, later, later);
          await page.evaluate(() => (window as unknown as { release: () => void }).release());
          return result;
        });
        expect(r.reader).toBe(true);
        expectInputChanged(r, victim.path);
      } finally {
        writeFileSync(host, original);
      }
    }, 180_000);

    it('takes the reader started ahead: the same image, and the abort still terminates it', async () => {
      const [whole, aborted] = await withPage(isolated!, async (page) => [
        await build(page, 'groups', { prestart: true }),
        await build(page, 'groups', { prestart: true, abortAt: 2 * MiB }),
      ]);
      expect(whole.error).toBeUndefined();
      expect(whole.exit, whole.stderr).toBe(0);
      expect(whole.sha).toBe(nodeSha);
      // One reader in all: the run took the one started before it instead of starting its own.
      expect(whole.reader).toBe(true);
      expect(whole.started).toBe(1);
      expect(whole.stats!.readAhead).toBeGreaterThan(0);
      expect(aborted.error?.message).toBe('stopped by the test');
      expect(aborted.started).toBe(1);
      expect(aborted.aliveAtStart).toBe(true);
      expect(aborted.aliveAfter).toBe(false);
    }, 180_000);

    it('terminates the reader when the build is aborted', async () => {
      const r = await withPage(isolated!, (page) => build(page, 'groups', { abortAt: 2 * MiB }));
      expect(r.error?.message).toBe('stopped by the test');
      expect(r.reader).toBe(true);
      // The reader answered before; after the abort it does not (terminated, not just idle).
      expect(r.aliveAtStart).toBe(true);
      expect(r.aliveAfter).toBe(false);
    }, 180_000);
  },
);
