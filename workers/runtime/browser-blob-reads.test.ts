/**
 * TREEFS reading disk-backed Files in Debian's Chromium, as the page hands them over: files
 * picked into `<input type=file multiple>` (Playwright `setInputFiles`, real files on disk),
 * one File per entry, or joined in mke2fs's copy order into one Blob or into Blobs of a few
 * files (each entry a range of one; a batch read as one range, or as slices of several). Either way the image is the
 * one Node makes from the same bytes, native `e2fsck -fn` finds it clean and a native
 * `debugfs rdump` shows exactly the tree; and a file changed on disk after it was picked is
 * reported by its path, not copied.
 */
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TreeEntry } from '../../core/image-tree.ts';
import { expectInputChanged, PICKED_ENTRIES_SCRIPT, type PageBuildError } from '../test-support/picked-entries-page.ts';
import { bytesEntries, mkfsFromBytes } from '../test-support/reference-mkfs.ts';
import { diffTree, runNative, sha256Hex, tempDir, walkHost } from '../test-support/native.ts';
import { type ServedPage, serveWorkerPage, withServedPage } from '../test-support/worker-page.ts';
import { writeStoreToFile } from './node-image-file.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const RUNTIME = fileURLToPath(new URL('./index.ts', import.meta.url));
const UUID = '55555555-4444-4444-8888-888888888888';
const MKFS = ['-t', 'ext4', '-F', '-U', UUID, '-E', `hash_seed=${UUID}`, '-d', '/tree', '/image/disk.img', '16384'];
const EPOCH = 1;

/** Names that sort differently by bytes than as written, so the copy order is not the listing order. */
const NAMES = ['b', 'B', 'a', 'Z', '10', '9', '_x', 'a.b'];

interface HostFile {
  path: string;
  size: number;
  bytes: Uint8Array;
}

/** 500 small files in nested folders, sizes 0 to 6 KiB, and a 2.5 MiB file read in pieces. */
function makeFiles(): HostFile[] {
  const out: HostFile[] = [];
  for (let i = 0; i < 500; i++) {
    const path = `/${NAMES[i % 8]}/${NAMES[(i >> 3) % 8]}/${NAMES[(i * 5) % 8]}${i}`;
    const size = (i * 131) % 6000;
    const bytes = new Uint8Array(size);
    for (let j = 0; j < size; j++) bytes[j] = (i * 29 + j * 13 + (j >> 7)) & 255;
    out.push({ path, size, bytes });
  }
  const big = new Uint8Array(5 << 19);
  for (let j = 0; j < big.length; j++) big[j] = (j * 2654435761) >>> 24;
  out.push({ path: '/a/big.bin', size: big.length, bytes: big });
  return out;
}

/** mke2fs -d's copy order: depth first, names in byte order (ASCII names here). */
function copyOrder(files: HostFile[]): HostFile[] {
  const parts = new Map(files.map((f) => [f, f.path.split('/')]));
  return [...files].sort((a, b) => {
    const x = parts.get(a)!;
    const y = parts.get(b)!;
    for (let i = 0; i < x.length && i < y.length; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
    return x.length - y.length;
  });
}

const WORKER = `
import { runTool, MemoryImageStore } from ${JSON.stringify(RUNTIME)};
self.onmessage = async (e) => {
  const { entries } = e.data;
  try {
    const store = new MemoryImageStore(16 << 20);
    const r = await runTool('mke2fs', ${JSON.stringify(MKFS)}, { epoch: ${EPOCH}, mounts: [{ type: 'image', path: '/image/disk.img', store }, { type: 'tree', path: '/tree', entries }] });
    const image = new Uint8Array(store.size);
    let at = 0;
    for await (const c of store.chunks()) { image.set(c, at); at += c.length; }
    self.postMessage({ exit: r.exitCode, stderr: r.stderr, blobReads: r.treeStats['/tree'].blobReads, image }, [image.buffer]);
  } catch (err) {
    self.postMessage({ error: { name: err.name, message: String(err.message), path: err.path } });
  }
};
`;

const MAIN = `
${PICKED_ENTRIES_SCRIPT}
window.build = (mode, meta) => {
  // joined: one Blob of all files; groups: Blobs of 7 files; separate: each File on its own.
  const entries = pickedEntries(Array.from(document.getElementById('f').files), mode, meta);
  const w = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  return new Promise((resolve) => {
    w.onmessage = (e) => {
      w.terminate();
      const d = e.data;
      if (d.error) return resolve(d);
      const reader = new FileReader();
      reader.onload = () => resolve({ exit: d.exit, stderr: d.stderr, blobReads: d.blobReads, b64: String(reader.result).slice(String(reader.result).indexOf(',') + 1) });
      reader.readAsDataURL(new Blob([d.image]));
    };
    w.onerror = (e) => resolve({ error: { name: 'WorkerError', message: String(e.message) } });
    w.postMessage({ entries });
  });
};
`;

type Mode = 'joined' | 'groups' | 'separate';

interface BuildOutcome {
  exit?: number;
  stderr?: string;
  blobReads?: number;
  b64?: string;
  error?: PageBuildError;
}

describe.skipIf(!existsSync(CHROMIUM) && !process.env.REQUIRE_BROWSER)(
  'TREEFS reading picked Files in Chromium',
  () => {
    const tmp = tempDir('rt-blob-reads-');
    let served: ServedPage | undefined;
    let port = 0;
    const files = copyOrder(makeFiles());
    const treeDir = join(tmp.dir, 'tree');

    beforeAll(async () => {
      for (const f of files) {
        mkdirSync(dirname(join(treeDir, f.path)), { recursive: true });
        writeFileSync(join(treeDir, f.path), f.bytes);
      }
      // Not cross-origin isolated: TREEFS reads every File itself (browser-read-ahead.test.ts
      // covers the reader worker of an isolated page).
      served = await serveWorkerPage(
        tmp.dir,
        {
          bodyHtml: '<input id="f" type="file" multiple>',
          main: MAIN,
          worker: WORKER,
        },
        { isolated: false },
      );
      port = served.port;
    }, 120_000);
    afterAll(async () => {
      await served?.close();
      tmp.cleanup();
    });

    /** Picks the tree's files (in copy order) into the page and builds in a worker, once per mode. */
    async function buildInPage(modes: Mode[], before?: () => void): Promise<BuildOutcome[]> {
      return withServedPage(
        port,
        async (page) => {
          before?.();
          const meta = files.map((f) => ({ path: f.path, size: f.size }));
          const out: BuildOutcome[] = [];
          for (const mode of modes)
            out.push(
              await page.evaluate(
                ([m, list]) =>
                  (window as unknown as { build: (m: string, l: unknown) => Promise<BuildOutcome> }).build(m, list),
                [mode, meta] as const,
              ),
            );
          return out;
        },
        files.map((f) => join(treeDir, f.path)),
      );
    }

    it('gives the image Node makes from the same bytes, one range read per batch when joined', async () => {
      const { exitCode, stderr, store } = await mkfsFromBytes(files, MKFS, 16 << 20, EPOCH);
      expect(exitCode, stderr).toBe(0);
      const want = await store.sha256();

      const [joined, groups, separate] = await buildInPage(['joined', 'groups', 'separate']);
      for (const r of [joined, groups, separate]) {
        expect(r.error).toBeUndefined();
        expect(r.exit, r.stderr).toBe(0);
        expect(sha256Hex(Buffer.from(r.b64!, 'base64'))).toBe(want);
      }
      // 500 small files (about 1.5 MiB) come in a few batches; the big file in 1 MiB pieces.
      expect(joined.blobReads).toBeLessThanOrEqual(12);
      expect(groups.blobReads).toBeLessThanOrEqual(12);
      expect(separate.blobReads).toBeLessThanOrEqual(12);

      const img = join(tmp.dir, 'joined.img');
      writeFileSync(img, Buffer.from(joined.b64!, 'base64'));
      expect(runNative('e2fsck', ['-fn', img]).status).toBe(0);
      const dump = join(tmp.dir, 'rdump');
      mkdirSync(dump);
      const r = runNative('debugfs', ['-R', `rdump / ${dump}`, img]);
      expect(r.status, r.stderr).toBe(0);
      const dirs = new Set<string>();
      for (const f of files) for (let p = dirname(f.path); p !== '/'; p = dirname(p)) dirs.add(p);
      const tree: TreeEntry[] = [
        ...[...dirs].map((p) => ({
          path: p,
          type: 'directory' as const,
          mode: 0o755,
          uid: 0,
          gid: 0,
          mtime: 0,
          size: 0,
          origin: '',
        })),
        ...bytesEntries(files),
      ];
      // rdump restores owners as the caller: compare with this process's uid/gid.
      const host = walkHost(dump);
      for (const h of host.values()) {
        h.uid = 0;
        h.gid = 0;
      }
      expect(diffTree(tree, host, EPOCH)).toEqual([]);
      writeStoreToFile(store, join(tmp.dir, 'node.img'));
    }, 180_000);

    it.each(['joined', 'groups', 'separate'] as const)(
      'reports a file changed on disk after it was picked, by its path (%s)',
      async (mode) => {
        // A small file in the middle of the copy order (inside a batch), rewritten after the pick.
        const victim = files[Math.floor(files.length / 2)];
        expect(victim.size).toBeGreaterThan(0);
        const host = join(treeDir, victim.path);
        const original = readFileSync(host);
        try {
          const [r] = await buildInPage([mode], () => {
            const changed = Buffer.from(original);
            changed[0] ^= 0xff;
            writeFileSync(host, changed);
            const later = new Date(Date.now() + 5000);
            utimesSync(host, later, later);
          });
          expectInputChanged(r, victim.path);
        } finally {
          writeFileSync(host, original);
        }
      },
      180_000,
    );
  },
);
