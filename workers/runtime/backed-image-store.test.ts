/**
 * The disk backend of the image store (a sparse host file) against the memory backend:
 * same bytes for the same operations, holes kept as holes in the file, temporary files
 * created exclusively and removed; and the undo log that rolls a failed change back on
 * either backend.
 */
import { existsSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BackedImageStore,
  isAllZero,
  MemoryImageStore,
  OverlayImageStore,
  UndoableImageStore,
  type ImageStore,
} from './image-store.ts';
import { createFileBacking, createTempImageStore, openImageFileStore } from './node-image-file.ts';
import { sameBytes, tempDir } from '../test-support/native.ts';
import { pseudoRandom } from '../test-support/tree-fixture.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

const tmp = tempDir('store-backed-');
afterAll(() => tmp.cleanup());

/** A deterministic random operation sequence applied to a store. */
function* operations(seed: number, count: number, span: number): Generator<(s: ImageStore) => void> {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  for (let i = 0; i < count; i++) {
    const kind = next();
    const offset = Math.floor(next() * span);
    const length = Math.floor(next() * 300 * KiB);
    if (kind < 0.5) {
      const data = next() < 0.3 ? new Uint8Array(length) : pseudoRandom(length, i + seed);
      yield (s) => s.write(offset, data);
    } else if (kind < 0.65) yield (s) => s.truncate(offset);
    else if (kind < 0.8) yield (s) => s.punchHole(offset, length);
    else if (kind < 0.9) yield (s) => s.zeroRange(offset, length);
    else yield (s) => s.truncate(offset + 2 * length);
  }
}

function contents(s: ImageStore): Uint8Array {
  return s.read(0, s.size);
}

describe('BackedImageStore over a sparse host file', () => {
  it('matches the memory store byte for byte under random writes, truncations and hole punches', () => {
    const mem = new MemoryImageStore(0, { chunkSize: 64 * KiB });
    const file = createTempImageStore(tmp.dir, 'fuzz', { chunkSize: 64 * KiB });
    for (const op of operations(7, 400, 3 * MiB)) {
      op(mem);
      op(file);
      expect(file.size).toBe(mem.size);
    }
    expect(sameBytes(contents(file), contents(mem))).toBe(true);
    // Streaming gives the same bytes too.
    const streamed = Buffer.concat([...file.chunksSync({ pieceSize: 100 * KiB })]);
    expect(sameBytes(streamed, contents(mem))).toBe(true);
    file.close();
  });

  it('keeps holes: zeros are not written, reads of holes do no I/O, the file stays sparse past 4 GiB', () => {
    const store = createTempImageStore(tmp.dir, 'sparse');
    const path = store.location;
    store.truncate(6 * GiB);
    store.write(0, new Uint8Array(64 * MiB)); // zeros into a hole: nothing
    const data = pseudoRandom(3 * MiB + 5, 3);
    store.write(5 * GiB - 1000, data);
    expect(store.allocatedBytes).toBe(4 * MiB);
    expect([...store.extents()]).toEqual([{ offset: 5 * GiB - MiB, length: 4 * MiB }]);
    expect(sameBytes(store.read(5 * GiB - 1000, data.length), data)).toBe(true);
    expect(isAllZero(store.read(4 * GiB, MiB))).toBe(true);
    store.flush();
    const st = statSync(path);
    expect(st.size).toBe(6 * GiB);
    expect(st.blocks * 512).toBeLessThan(8 * MiB);
    // A write past the end of zeros only grows the size; flush sets the file's length.
    store.write(7 * GiB, new Uint8Array(4096));
    expect(store.size).toBe(7 * GiB + 4096);
    store.flush();
    expect(statSync(path).size).toBe(7 * GiB + 4096);
    store.close();
    expect(existsSync(path)).toBe(false);
  });

  it('creates temporary files exclusively under random names and refuses planted files and links', () => {
    const a = createTempImageStore(tmp.dir, 'x');
    const b = createTempImageStore(tmp.dir, 'x');
    expect(a.location).not.toBe(b.location);
    expect(statSync(a.location).mode & 0o777).toBe(0o600);
    a.close();
    b.close();
    const planted = join(tmp.dir, 'planted');
    writeFileSync(planted, 'keep me');
    expect(() => createFileBacking(planted)).toThrow(/EEXIST/);
    const link = join(tmp.dir, 'link');
    symlinkSync(join(tmp.dir, 'elsewhere'), link);
    expect(() => createFileBacking(link)).toThrow(/EEXIST/);
    expect(existsSync(join(tmp.dir, 'elsewhere'))).toBe(false);
    expect(readdirSync(tmp.dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('opens an existing file in place, without copying it', () => {
    const path = join(tmp.dir, 'existing.img');
    const data = pseudoRandom(3 * MiB, 9);
    writeFileSync(path, data);
    const store = openImageFileStore(path);
    expect(store.size).toBe(data.length);
    expect(sameBytes(contents(store), data)).toBe(true);
    store.close();
    expect(existsSync(path)).toBe(true);
  });
});

describe('UndoableImageStore', () => {
  const backends: Array<[string, () => ImageStore]> = [
    ['memory', () => new MemoryImageStore(0, { chunkSize: 64 * KiB })],
    ['file', () => createTempImageStore(tmp.dir, 'undo', { chunkSize: 64 * KiB })],
  ];
  for (const [name, make] of backends) {
    it(`rolls any change back exactly and keeps committed changes (${name})`, async () => {
      const base = make();
      for (const op of operations(11, 60, 2 * MiB)) op(base);
      for (let round = 0; round < 6; round++) {
        const before = contents(base);
        const undo = await UndoableImageStore.begin(base);
        for (const op of operations(100 + round, 40, 3 * MiB)) op(undo);
        const changed = contents(base);
        if (round % 2 === 0) {
          undo.rollback();
          expect(base.size).toBe(before.length);
          expect(sameBytes(contents(base), before)).toBe(true);
        } else {
          undo.commit();
          expect(sameBytes(contents(base), changed)).toBe(true);
        }
        expect(() => undo.write(0, Uint8Array.of(1))).toThrow(/already/);
      }
      base.close();
      if (base instanceof BackedImageStore) expect(existsSync(base.location)).toBe(false);
      expect(readdirSync(tmp.dir).filter((n) => n.includes('undo'))).toEqual([]);
    });
  }
});

describe('OverlayImageStore', () => {
  it('reads the base until changed, then its own copy; the base is never written', () => {
    const path = join(tmp.dir, 'base.img');
    const mem = new MemoryImageStore(0, { chunkSize: 64 * KiB });
    for (const op of operations(3, 80, 3 * MiB)) op(mem);
    writeFileSync(path, contents(mem));
    const before = contents(mem);
    const base = openImageFileStore(path, false, { chunkSize: 64 * KiB });
    const overlay = new OverlayImageStore(base, createTempImageStore(tmp.dir, 'overlay', { chunkSize: 64 * KiB }));
    expect(sameBytes(contents(overlay), before)).toBe(true);
    expect(overlay.ownedChunks).toBe(0);
    for (const op of operations(21, 300, 4 * MiB)) {
      op(mem);
      op(overlay);
      expect(overlay.size).toBe(mem.size);
    }
    expect(sameBytes(contents(overlay), contents(mem))).toBe(true);
    const streamed = Buffer.concat([...overlay.chunksSync({ pieceSize: 96 * KiB })]);
    expect(sameBytes(streamed, contents(mem))).toBe(true);
    overlay.close();
    expect(sameBytes(readFileSync(path), before)).toBe(true);
    expect(readdirSync(tmp.dir).filter((n) => n.includes('overlay'))).toEqual([]);
  });

  it('rolls back changes made through an undo log on top of it', async () => {
    const path = join(tmp.dir, 'base2.img');
    writeFileSync(path, pseudoRandom(2 * MiB + 77, 5));
    const overlay = new OverlayImageStore(
      openImageFileStore(path, false, { chunkSize: 64 * KiB }),
      new MemoryImageStore(0, { chunkSize: 64 * KiB }),
    );
    const before = contents(overlay);
    const undo = await UndoableImageStore.begin(overlay);
    for (const op of operations(9, 60, 3 * MiB)) op(undo);
    undo.rollback();
    expect(sameBytes(contents(overlay), before)).toBe(true);
    overlay.close();
  });
});
