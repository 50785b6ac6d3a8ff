/**
 * 400,000 entries through the real worker API (the worker module's `api`, in this process)
 * and the page's state: an archive and a dropped folder of a NixOS system's count are
 * resolved, merged into the tree and handed back for an estimate, with no message between
 * the page and the worker carrying more than one piece of entries, and the tree handed over
 * once per version. An opened image takes a 100,000-entry archive the same way, its entries
 * resolved and added in the worker without coming to the page (checked with native e2fsck
 * and debugfs).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TreeEntry } from '../../core/image-tree.ts';
import { tarTrailer } from '../../core/tar-writer.ts';
import { emptyFilesTar } from '../../core/test-support/empty-files-tar.ts';
import { api } from '../../workers/build-worker.ts';
import { EngineClient, type EngineRemote, PIECE, setEngine } from '../engine-client.ts';
import { until } from '../test-support/node-engine.ts';
import { nativeDebugfs, runNative } from '../../workers/test-support/native.ts';
import { addArchivesToImage, closeImage, openImageFile, useImage } from './opened-image.ts';
import { createStudioStore } from './store.ts';

/** Every call to the worker: its method and the most entries one of its arguments or its answer held. */
const calls: Array<{ method: string; entries: number }> = [];

function entriesIn(value: unknown): number {
  if (Array.isArray(value)) return value.length;
  let most = 0;
  if (value && typeof value === 'object')
    for (const v of Object.values(value)) if (Array.isArray(v)) most = Math.max(most, v.length);
  return most;
}

const recording = new Proxy(api, {
  get(target, key: string) {
    const f = (target as unknown as Record<string, unknown>)[key];
    if (typeof f !== 'function') return f;
    return async (...args: unknown[]) => {
      const result = await (f as (...a: unknown[]) => unknown)(...args);
      let most = entriesIn(result);
      for (const a of args) {
        most = Math.max(most, entriesIn(a));
        if (Array.isArray(a)) for (const x of a) most = Math.max(most, entriesIn(x));
      }
      calls.push({ method: key, entries: most });
      return result;
    };
  },
});

beforeAll(() => setEngine(new EngineClient(() => ({ remote: recording as unknown as EngineRemote, terminate() {} }))));
afterAll(() => setEngine(new EngineClient()));

/** A ustar stream of `count` empty files in folders of 200 (one header each, patched from a template). */
function systemTar(count: number): File {
  const members = emptyFilesTar(count, (i) => `sys/p${Math.floor(i / 200)}/lib/f${i}`);
  return new File([members, tarTrailer()] as BlobPart[], 'system.tar');
}

const N = 400_000;
const FOLDERS = N / 200;

describe('400,000 entries in the page', () => {
  it('an archive: resolved in the worker, taken in pieces, merged in steps, handed back once per version', async () => {
    calls.length = 0;
    const s = createStudioStore();
    await s.getState().addArchives([systemTar(N)]);
    const st = s.getState();
    expect(st.inputs[0]).toMatchObject({ status: 'ready', entryCount: N + 2 * FOLDERS + 1 + 1 });
    expect(st.merging).toBe(0);
    // sys, its p* folders and their lib folders; the files.
    expect(st.tree.totals).toMatchObject({ files: N, directories: 1 + 2 * FOLDERS, others: 0 });
    expect(st.tree.get(`/sys/p${FOLDERS - 1}/lib/f${N - 1}`)?.entry.type).toBe('file');
    expect(st.inputs[0].placed).toBe(N + 2 * FOLDERS + 1);
    // One undo step takes the whole archive out again, and redo puts it back, each in steps.
    const idle = () => until(() => s.getState().merging === 0);
    expect(st.undoStack).toHaveLength(1);
    st.undo();
    expect(s.getState().merging).toBe(1);
    await idle();
    expect(s.getState().tree.totals.files).toBe(0);
    expect(s.getState().redoStack).toHaveLength(1);
    s.getState().redo();
    await idle();
    expect(s.getState().tree.totals.files).toBe(N);
    expect(s.getState().undoStack).toHaveLength(1);

    const took = calls.filter((c) => c.method === 'takeResolved');
    expect(took.length).toBe(Math.ceil((N + 2 * FOLDERS + 2) / PIECE));
    await s.getState().refreshEstimate();
    expect(s.getState().estimate.state).toBe('ready');
    expect(s.getState().estimate.value!.inodes).toBeGreaterThan(N);
    const sent = calls.filter((c) => c.method === 'keepTreePart');
    // Full pieces, then the rest with the end mark.
    expect(sent.length).toBe(Math.floor((N + 2 * FOLDERS + 1) / PIECE) + 1);
    // The same version again: named, not sent.
    await s.getState().refreshEstimate();
    expect(calls.filter((c) => c.method === 'keepTreePart')).toHaveLength(sent.length);
    expect(calls.filter((c) => c.method === 'keepTree' || c.method === 'resolveInputs')).toEqual([]);
    for (const c of calls) expect(c.entries, `${c.method} carried too many entries`).toBeLessThanOrEqual(PIECE);

    // Removing the input takes its 404,001 nodes out in steps; undo brings them back.
    s.getState().removeInput(s.getState().inputs[0].id);
    expect(s.getState().merging).toBe(1);
    await idle();
    expect(s.getState().tree.totals).toMatchObject({ files: 0, directories: 0 });
    s.getState().undo();
    await idle();
    expect(s.getState().tree.totals).toMatchObject({ files: N, directories: 1 + 2 * FOLDERS });
  }, 120_000);

  it('a dropped folder: its entries go to the worker in pieces and come back into the tree', async () => {
    calls.length = 0;
    const s = createStudioStore();
    const entries: TreeEntry[] = [
      { path: '/root', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0, origin: 'root' },
    ];
    const blob = new Blob(['x']);
    for (let i = 0; i < N; i++) {
      if (i % 200 === 0)
        entries.push({
          path: `/root/d${i / 200}`,
          type: 'directory',
          mode: 0o755,
          uid: 0,
          gid: 0,
          mtime: 0,
          size: 0,
          origin: 'root',
        });
      entries.push({
        path: `/root/d${Math.floor(i / 200)}/f${i}`,
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 0,
        size: 1,
        source: { kind: 'blob', blob, offset: 0, size: 1 },
        origin: 'root',
      });
    }
    await s.getState().addDropped([{ kind: 'folder', name: 'root', entries }], '/srv');
    await until(() => s.getState().merging === 0 && s.getState().inputs.every((i) => i.status !== 'resolving'));
    expect(s.getState().tree.totals).toMatchObject({ files: N, directories: 2 + FOLDERS, bytes: N });
    expect(s.getState().tree.get(`/srv/root/d${FOLDERS - 1}/f${N - 1}`)?.entry.size).toBe(1);
    expect(calls.filter((c) => c.method === 'stageEntries').length).toBe(Math.ceil(entries.length / PIECE));
    for (const c of calls) expect(c.entries, `${c.method} carried too many entries`).toBeLessThanOrEqual(PIECE);
  }, 120_000);

  it('an archive added to an opened image: resolved and added in the worker, no entries crossing to the page', async () => {
    const n = Number(process.env.OPENED_ADD_ENTRIES ?? 100_000);
    const folders = Math.ceil(n / 200);
    const work = `/tmp/opened-image-add-${process.pid}`;
    const g = globalThis as { FileReaderSync?: unknown };
    mkdirSync(work, { recursive: true });
    try {
      const img = join(work, 'empty.img');
      const made = runNative('mkfs.ext4', ['-q', '-F', '-N', String(n + 2 * folders + 1000), '-L', 'big', img, '384M']);
      expect(made.status, made.stderr).toBe(0);
      await openImageFile(new File([readFileSync(img)], 'empty.img'));
      await until(() => useImage.getState().status === 'open' && useImage.getState().busy === null);
      // The engine's tree mount wants a synchronous Blob reader (a dedicated worker's
      // FileReaderSync), which Node lacks; the archive's files are empty, so none is read.
      g.FileReaderSync = class {
        readAsArrayBuffer(): ArrayBuffer {
          throw new Error('no file of this archive has bytes to read');
        }
      };
      calls.length = 0;
      await addArchivesToImage([systemTar(n)], '/');
      const s = useImage.getState();
      expect(s.failure).toBeNull();
      expect(s.treeMessage).toBe('Added system.tar.');
      expect(s.image!.revision).toBe(1);
      // The entries stay in the worker: resolved there and added from there, then dropped.
      expect(calls.filter((c) => c.method === 'apply')).toEqual([]);
      expect(calls.filter((c) => c.method === 'takeResolved')).toEqual([{ method: 'takeResolved', entries: 0 }]);
      expect(calls.filter((c) => c.method === 'applyResolved')).toHaveLength(1);
      for (const c of calls) expect(c.entries, `${c.method} carried too many entries`).toBeLessThanOrEqual(PIECE);
      // The tree shows the image's root again, read back from it.
      expect(s.tree.get('/sys')?.image?.kind).toBe('directory');

      const parts: Uint8Array[] = [];
      await api.save(
        s.image!.id,
        { compress: false, level: 3 },
        () => {},
        (c) => {
          parts.push(c.slice());
        },
      );
      const out = join(work, 'out.img');
      writeFileSync(out, Buffer.concat(parts));
      const fsck = runNative('e2fsck', ['-fn', out]);
      expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
      // Every file, in its folder: one `ls` per folder of the archive.
      const listing = nativeDebugfs(
        out,
        Array.from({ length: folders }, (_, k) => `ls -p /sys/p${k}/lib`),
      );
      const files = listing.split('\n').filter((l) => /^\/\d+\/100644\/0\/0\/f\d+\/0\/$/.test(l));
      expect(files.length).toBe(n);
      expect(listing).toContain(`/f${n - 1}/0/`);
    } finally {
      g.FileReaderSync = undefined;
      // Closed without asking about the unsaved add.
      useImage.setState({ savedRevision: useImage.getState().image?.revision ?? 0 });
      closeImage();
      rmSync(work, { recursive: true, force: true });
    }
  }, 600_000);
});
