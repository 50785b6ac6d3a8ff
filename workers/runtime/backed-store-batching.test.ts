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

function counted(backing: StoreBacking): StoreBacking & { writes: number; reads: number; truncations: number[] } {
  const c: StoreBacking & { writes: number; reads: number; truncations: number[] } = {
    writes: 0,
    reads: 0,
    truncations: [],
    location: backing.location,
    read: (position, target) => {
      c.reads++;
      return backing.read(position, target);
    },
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

  it('keeps rewritten metadata blocks in memory: one file write per run of pages', () => {
    // mke2fs rewrites inode table, bitmap and directory blocks again and again, 1 KiB at a time.
    const path = join(tmp.dir, 'meta.img');
    const backing = counted(createFileBacking(path));
    const store = new BackedImageStore(backing, { size: 16 << 20 });
    const mirror = new MemoryImageStore(16 << 20);
    const before = pseudoRandom(16 << 20, 77);
    store.write(0, before);
    mirror.write(0, before);
    store.flush();
    backing.writes = 0;
    // Two blocks of one page with a gap between them: the gap keeps the file's bytes.
    store.write(8192, pseudoRandom(1024, 1));
    mirror.write(8192, pseudoRandom(1024, 1));
    store.write(8192 + 3072, pseudoRandom(512, 2));
    mirror.write(8192 + 3072, pseudoRandom(512, 2));
    const page = 9 << 20;
    const blocks = [2048, 3072, page, page + 1024, page + 2048, page + 3072, page + 4096, 12 << 20];
    for (let round = 0; round < 200; round++) {
      for (const at of blocks) {
        const block = pseudoRandom(1024, round * 10 + at);
        store.write(at, block);
        mirror.write(at, block);
      }
    }
    // Reads see the newest bytes before anything reached the file.
    expect(backing.writes).toBe(0);
    expect(sha256Hex(store.read(0, 16 << 20))).toBe(sha256Hex(mirror.read(0, 16 << 20)));
    store.flush();
    // Pages 0, 2, 2304 and 2305 (joined: the first is whole) and 3072: four writes for 1,602.
    expect(backing.writes).toBe(4);
    expect(sha256Hex(readFileSync(path))).toBe(sha256Hex(mirror.read(0, 16 << 20)));
    store.close();
  });

  it('reads a metadata block read again and again from the file once', () => {
    const path = join(tmp.dir, 'reread.img');
    const backing = counted(createFileBacking(path));
    const store = new BackedImageStore(backing, { size: 4 << 20 });
    const data = pseudoRandom(4 << 20, 50);
    store.write(0, data);
    store.flush();
    backing.reads = 0;
    for (let round = 0; round < 100; round++) {
      for (const at of [1024, 8192, 9216, 3 << 20]) {
        expect(sha256Hex(store.read(at, 1024))).toBe(sha256Hex(data.subarray(at, at + 1024)));
      }
    }
    // Pages 0, 2 and 768, each read whole once.
    expect(backing.reads).toBe(3);
    // A larger write over a page held lets it go: the next read sees the new bytes.
    const fresh = pseudoRandom(65536, 51);
    store.write(0, fresh);
    expect(sha256Hex(store.read(8192, 1024))).toBe(sha256Hex(fresh.subarray(8192, 9216)));
    store.close();
  });

  it('forgets cached pages when the image is cut, zeroed or punched', () => {
    const path = join(tmp.dir, 'forget.img');
    const store = new BackedImageStore(createFileBacking(path), { size: 4 << 20, chunkSize: 1 << 20 });
    const data = pseudoRandom(4 << 20, 60);
    store.write(0, data);
    store.flush();
    const block = (at: number) => sha256Hex(store.read(at, 1024));
    const zeros = sha256Hex(new Uint8Array(1024));
    for (const at of [4096, 8192, (3 << 20) + 4096]) expect(block(at)).toBe(sha256Hex(data.subarray(at, at + 1024)));
    store.zeroRange(4096, 1024);
    expect(block(4096)).toBe(zeros);
    store.punchHole(8192, 4096);
    expect(block(8192)).toBe(zeros);
    // Cut, grown again, and written next to a block held before the cut.
    expect(block((3 << 20) + 4096)).toBe(sha256Hex(data.subarray((3 << 20) + 4096, (3 << 20) + 5120)));
    store.truncate(2 << 20);
    store.truncate(4 << 20);
    store.write((3 << 20) + 5120, pseudoRandom(1024, 61));
    expect(block((3 << 20) + 4096)).toBe(zeros);
    store.close();
  });

  it('keeps the order of a queued run and cached pages that meet', () => {
    const path = join(tmp.dir, 'order.img');
    const store = new BackedImageStore(createFileBacking(path), { size: 1 << 20 });
    const mirror = new MemoryImageStore(1 << 20);
    const write = (at: number, data: Uint8Array) => {
      store.write(at, data);
      mirror.write(at, data);
    };
    write(0, pseudoRandom(1 << 20, 40));
    store.flush();
    // A run of 8 KiB, a block cached on the page after it, then the run goes on over that page.
    write(65536, pseudoRandom(8192, 41));
    write(65536 + 8192 + 1024, pseudoRandom(1024, 42));
    write(65536 + 8192, pseudoRandom(4096, 43));
    // A run that ends inside a page, then two blocks of that page with a gap over the run's end.
    write(131072, pseudoRandom(6144, 44));
    write(131072 + 4096, pseudoRandom(512, 45));
    write(131072 + 7168, pseudoRandom(512, 46));
    expect(sha256Hex(store.read(0, 1 << 20))).toBe(sha256Hex(mirror.read(0, 1 << 20)));
    store.flush();
    expect(sha256Hex(readFileSync(path))).toBe(sha256Hex(mirror.read(0, 1 << 20)));
    store.close();
  });

  it('gives the same bytes as memory under any mix of writes, reads, resizes and holes', () => {
    for (const chunkSize of [4096, 65536, 1 << 20]) {
      for (let seed = 1; seed <= 6; seed++) {
        const path = join(tmp.dir, `mix-${chunkSize}-${seed}.img`);
        const store = new BackedImageStore(createFileBacking(path), { size: 6 << 20, chunkSize });
        const mirror = new MemoryImageStore(6 << 20, { chunkSize });
        let x = seed * 7919;
        const rand = (n: number) => {
          x = (x * 1103515245 + 12345) >>> 0;
          return x % n;
        };
        for (let op = 0; op < 1500; op++) {
          const size = store.size;
          const kind = rand(100);
          if (kind < 55) {
            // Small writes, often at block offsets, sometimes odd ones and tiny ones.
            const length = [1, 2, 4, 100, 1024, 1024, 2048, 4096, 3000][rand(9)];
            // Half of them in the first 64 KiB: pages written again, with gaps between writes.
            const span = rand(2) === 0 ? Math.min(size, 65536) : size;
            const at =
              rand(3) === 0 ? rand(Math.max(1, span - length)) : rand(Math.max(1, (span - length) >> 10)) << 10;
            const data = rand(4) === 0 ? new Uint8Array(length) : pseudoRandom(length, op + seed);
            store.write(at, data);
            mirror.write(at, data);
          } else if (kind < 70) {
            // Larger writes, some continuing the last one.
            const length = 4097 + rand(150_000);
            const at = rand(Math.max(1, size - length));
            const data = pseudoRandom(length, op * 3 + seed);
            store.write(at, data);
            mirror.write(at, data);
          } else if (kind < 88) {
            // Half of them a block (cached pages), the rest of any length.
            const block = rand(2) === 0;
            const length = block ? 1024 : 1 + rand(100_000);
            const span = rand(2) === 0 ? Math.min(size, 65536) : size;
            const at = block ? rand(Math.max(1, span >> 10)) << 10 : rand(size);
            expect(sha256Hex(store.read(at, length)), `read ${op}`).toBe(sha256Hex(mirror.read(at, length)));
          } else if (kind < 92) {
            const to = (4 << 20) + rand(4 << 20);
            store.truncate(to);
            mirror.truncate(to);
          } else if (kind < 96) {
            const at = rand(size);
            const length = rand(200_000);
            store.zeroRange(at, length);
            mirror.zeroRange(at, length);
          } else if (kind < 98) {
            const at = rand(size);
            const length = rand(200_000);
            store.punchHole(at, length);
            mirror.punchHole(at, length);
          } else {
            store.flush();
            expect(readFileSync(path).length, `file length after flush ${op}`).toBe(store.size);
          }
        }
        expect(sha256Hex(store.read(0, store.size))).toBe(sha256Hex(mirror.read(0, mirror.size)));
        store.flush();
        expect(sha256Hex(readFileSync(path)), `chunk ${chunkSize} seed ${seed}`).toBe(
          sha256Hex(mirror.read(0, mirror.size)),
        );
        store.close();
      }
    }
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
