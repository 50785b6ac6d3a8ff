/**
 * The disk-backed store joins consecutive block writes into one file write (a file's blocks
 * come from mke2fs one by one), and never lets a read, resize or flush miss a queued write;
 * and it truncates a file to 0 only when the file holds data (ext4's auto_da_alloc).
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BackedImageStore, MemoryImageStore, type StoreBacking } from './image-store.ts';
import { createFileBacking } from './node-image-file.ts';
import { sha256Hex, tempDir } from '../test-support/native.ts';
import { pseudoRandom } from '../test-support/tree-fixture.ts';

const tmp = tempDir('store-batching-');
afterAll(() => tmp.cleanup());

function counted(backing: StoreBacking): StoreBacking & { writes: number; truncations: number[] } {
  const c: StoreBacking & { writes: number; truncations: number[] } = {
    writes: 0,
    truncations: [],
    location: backing.location,
    read: (position, target) => backing.read(position, target),
    write: (position, data) => {
      c.writes++;
      backing.write(position, data);
    },
    truncate: (size) => {
      c.truncations.push(size);
      backing.truncate(size);
    },
    flush: () => backing.flush(),
    close: () => backing.close(),
  };
  return c;
}

describe('disk-backed store write batching', () => {
  it('writes a run of 1 KiB blocks with a few file writes, and reads see every block', () => {
    const path = join(tmp.dir, 'run.img');
    const backing = counted(createFileBacking(path));
    const store = new BackedImageStore(backing, { size: 8 << 20 });
    const mirror = new MemoryImageStore(8 << 20);
    const data = pseudoRandom(4 << 20, 3);
    for (let off = 0; off < data.length; off += 1024) {
      const block = data.subarray(off, off + 1024);
      store.write(4096 + off, block);
      mirror.write(4096 + off, block);
      if (off === 2 << 20) {
        // A read inside the queued run sees it.
        expect(sha256Hex(store.read(4096, off + 1024))).toBe(sha256Hex(data.subarray(0, off + 1024)));
      }
    }
    expect(backing.writes).toBeLessThan(16);
    // Out of order and overlapping writes keep their order.
    store.write(5000, new Uint8Array(3000).fill(7));
    mirror.write(5000, new Uint8Array(3000).fill(7));
    store.write(4096, new Uint8Array(2048).fill(9));
    mirror.write(4096, new Uint8Array(2048).fill(9));
    expect(sha256Hex(store.read(0, store.size))).toBe(sha256Hex(mirror.read(0, mirror.size)));
    store.flush();
    expect(sha256Hex(readFileSync(path))).toBe(sha256Hex(mirror.read(0, mirror.size)));
    store.close();
  });

  it('writes queued blocks before a truncate, so the file ends where the image does', () => {
    const path = join(tmp.dir, 'trunc.img');
    const store = new BackedImageStore(createFileBacking(path), { size: 0 });
    store.write(0, pseudoRandom(3000, 5));
    store.write(3000, pseudoRandom(3000, 6));
    store.truncate(4000);
    store.flush();
    const onDisk = readFileSync(path);
    expect(onDisk.length).toBe(4000);
    expect(sha256Hex(onDisk)).toBe(sha256Hex(store.read(0, 4000)));
    store.close();
  });

  it('empties a file that holds only holes without truncating it to 0, and one with data by truncating it', () => {
    // On ext4 a truncation to 0 makes the file's next close write back every page written
    // since (auto_da_alloc): mkfs empties the new image store before its first attempt.
    const path = join(tmp.dir, 'empty.img');
    const backing = counted(createFileBacking(path));
    const store = new BackedImageStore(backing, { size: 0 });
    store.truncate(8 << 20);
    store.truncate(0);
    store.truncate(6 << 20);
    // The constructor sets the length (0, 0), then no 0 until something was written.
    expect(backing.truncations).toEqual([0, 0, 8 << 20, 6 << 20]);
    expect(statSync(path).size).toBe(6 << 20);
    store.truncate(0);
    store.flush();
    expect(backing.truncations.at(-1)).toBe(0);
    expect(statSync(path).size).toBe(0);
    // With data in the file, emptying it truncates the file: no old byte survives.
    store.write(1 << 20, pseudoRandom(5000, 8));
    store.truncate(0);
    expect(backing.truncations.at(-1)).toBe(0);
    store.truncate(2 << 20);
    expect(isZeros(store.read(0, 2 << 20))).toBe(true);
    expect(isZeros(readFileSync(path))).toBe(true);
    store.close();
  });

  it('a file backing left empty is not truncated again (an empty new file stays untouched)', () => {
    const path = join(tmp.dir, 'new.img');
    const backing = createFileBacking(path);
    const before = statSync(path).ctimeMs;
    backing.truncate(0);
    expect(statSync(path).size).toBe(0);
    expect(statSync(path).ctimeMs).toBe(before);
    backing.write(0, pseudoRandom(100, 9));
    backing.truncate(0);
    expect(statSync(path).size).toBe(0);
    writeFileSync(path, 'x');
    backing.truncate(0);
    expect(readFileSync(path).length).toBe(0);
    backing.close();
  });
});

function isZeros(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === 0);
}
