import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryImageStore, isAllZero } from './image-store.ts';
import { readStoreFromFile, writeStoreToFile } from './node-image-file.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Byte equality without vitest's slow element-wise diff of large typed arrays. */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

describe('ImageStore', () => {
  it('reads zeros from holes and allocates nothing for a large nominal size', () => {
    const s = new MemoryImageStore(6 * GiB);
    expect(s.size).toBe(6 * GiB);
    expect(s.allocatedBytes).toBe(0);
    const b = s.read(5 * GiB, 4096);
    expect(b.length).toBe(4096);
    expect(isAllZero(b)).toBe(true);
    expect(s.read(6 * GiB - 10, 100).length).toBe(10);
    expect(s.read(7 * GiB, 100).length).toBe(0);
  });

  it('writes and reads across chunk boundaries and beyond 4 GiB', () => {
    const s = new MemoryImageStore(0, { chunkSize: 64 * KiB });
    const data = pattern(200 * KiB);
    const off = 4 * GiB + 123; // spans 4-5 chunks, unaligned
    s.write(off, data);
    expect(s.size).toBe(off + data.length);
    expect(same(s.read(off, data.length), data)).toBe(true);
    expect(s.read(off - 10, 10)).toEqual(new Uint8Array(10));
    expect(s.allocatedChunks).toBe(4);
    // Nothing leaked to the 32-bit-wrapped offset.
    expect(isAllZero(s.read(123, data.length))).toBe(true);
  });

  it('does not allocate for zero writes into holes, but overwrites allocated data with zeros', () => {
    const s = new MemoryImageStore(0, { chunkSize: 64 * KiB });
    s.write(0, new Uint8Array(10 * 64 * KiB));
    expect(s.size).toBe(640 * KiB);
    expect(s.allocatedBytes).toBe(0);
    s.write(100, Uint8Array.of(1, 2, 3));
    expect(s.allocatedChunks).toBe(1);
    s.write(0, new Uint8Array(64 * KiB));
    expect(s.allocatedChunks).toBe(1);
    expect(isAllZero(s.read(0, 64 * KiB))).toBe(true);
    expect(s.compact()).toBe(64 * KiB);
    expect(s.allocatedChunks).toBe(0);
  });

  it('truncates: drops chunks, zeroes the tail, and grows with zeros', () => {
    const s = new MemoryImageStore(0, { chunkSize: 64 * KiB });
    const data = pattern(300 * KiB, 7);
    s.write(0, data);
    expect(s.allocatedChunks).toBe(5);
    s.truncate(100 * KiB);
    expect(s.size).toBe(100 * KiB);
    expect(s.allocatedChunks).toBe(2);
    expect(same(s.read(0, 200 * KiB), data.subarray(0, 100 * KiB))).toBe(true);
    s.truncate(300 * KiB);
    const back = s.read(0, 300 * KiB);
    expect(same(back.subarray(0, 100 * KiB), data.subarray(0, 100 * KiB))).toBe(true);
    expect(isAllZero(back.subarray(100 * KiB))).toBe(true);
    s.truncate(128 * KiB); // exactly on a chunk boundary
    expect(s.allocatedChunks).toBe(2);
    s.truncate(0);
    expect(s.allocatedChunks).toBe(0);
  });

  it('streams the logical image (holes as zeros) and hashes it like node:crypto', async () => {
    const s = new MemoryImageStore(3 * MiB + 5);
    s.write(MiB + 17, pattern(1000, 3));
    s.write(3 * MiB, pattern(5, 4));
    const pieces: Uint8Array[] = [];
    for await (const p of s.chunks()) pieces.push(p.slice());
    const all = Buffer.concat(pieces);
    expect(all.length).toBe(3 * MiB + 5);
    expect(same(new Uint8Array(all.subarray(MiB + 17, MiB + 1017)), pattern(1000, 3))).toBe(true);
    expect(await s.sha256()).toBe(createHash('sha256').update(all).digest('hex'));
    // Unaligned piece sizes copy across chunks.
    const odd: Uint8Array[] = [];
    for (const p of s.chunksSync({ pieceSize: 777_777 })) odd.push(p.slice());
    expect(Buffer.concat(odd).equals(all)).toBe(true);
    expect([...s.extents()]).toEqual([
      { offset: MiB, length: MiB },
      { offset: 3 * MiB, length: 5 },
    ]);
  });

  it('writes a sparse host file and reads it back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'store-'));
    try {
      const s = new MemoryImageStore(5 * GiB);
      const a = pattern(3 * MiB, 9);
      s.write(4 * GiB + 5 * MiB + 3, a);
      const path = join(dir, 'x.img');
      writeStoreToFile(s, path);
      const st = statSync(path);
      expect(st.size).toBe(5 * GiB);
      expect(st.blocks * 512).toBeLessThan(16 * MiB); // sparse on disk
      const fd = openSync(path, 'r');
      const got = new Uint8Array(a.length + 20);
      readSync(fd, got, 0, got.length, 4 * GiB + 5 * MiB - 7);
      closeSync(fd);
      expect(isAllZero(got.subarray(0, 10))).toBe(true);
      expect(same(got.subarray(10, 10 + a.length), a)).toBe(true);
      // Reading a sparse file back allocates only the data.
      const mid = new MemoryImageStore(300 * MiB);
      mid.write(200 * MiB + 1, a);
      writeStoreToFile(mid, path);
      const back = readStoreFromFile(path);
      expect(back.size).toBe(300 * MiB);
      expect(back.allocatedBytes).toBe(mid.allocatedBytes);
      expect(same(back.read(200 * MiB + 1, a.length), a)).toBe(true);
      const small = new MemoryImageStore(0);
      small.write(0, pattern(1234, 5));
      writeStoreToFile(small, path);
      expect(same(new Uint8Array(readFileSync(path)), pattern(1234, 5))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('isAllZero finds a single set byte anywhere', () => {
    for (const n of [0, 1, 7, 255, 256, 4097, MiB + 3]) {
      const b = new Uint8Array(n);
      expect(isAllZero(b)).toBe(true);
      for (const at of [0, n >> 1, n - 1]) {
        if (at < 0 || at >= n) continue;
        b[at] = 0x80;
        expect(isAllZero(b)).toBe(false);
        expect(isAllZero(b.subarray(1))).toBe(at === 0);
        b[at] = 0;
      }
    }
  });

  it('snapshot: shares chunks until either side writes, then each keeps its own bytes', () => {
    const a = new MemoryImageStore(0);
    a.write(0, pattern(3 * MiB, 4));
    const before = a.read(0, 3 * MiB);
    const b = a.snapshot();
    expect(b.size).toBe(a.size);
    expect(b.allocatedChunks).toBe(a.allocatedChunks);
    a.write(MiB + 10, Uint8Array.of(1, 2, 3));
    a.truncate(2 * MiB + 5);
    b.write(5, Uint8Array.of(9));
    expect(same(b.read(MiB, MiB), before.subarray(MiB, 2 * MiB))).toBe(true);
    expect(b.size).toBe(3 * MiB);
    expect(same(b.read(2 * MiB, MiB), before.subarray(2 * MiB))).toBe(true);
    expect(b.read(5, 1)[0]).toBe(9);
    expect(a.read(5, 1)[0]).toBe(before[5]);
    expect([...a.read(MiB + 10, 3)]).toEqual([1, 2, 3]);
    // a's truncation zeroed its own copy of the last chunk, not b's.
    a.truncate(3 * MiB);
    expect(isAllZero(a.read(2 * MiB + 5, MiB - 5))).toBe(true);
    expect(same(b.read(2 * MiB + 5, MiB - 5), before.subarray(2 * MiB + 5))).toBe(true);
  });

  it('rejects bad arguments', () => {
    expect(() => new MemoryImageStore(0, { chunkSize: 1000 })).toThrow(RangeError);
    const s = new MemoryImageStore(10);
    expect(() => s.read(-1, 1)).toThrow(RangeError);
    expect(() => s.write(2 ** 53, Uint8Array.of(1))).toThrow(RangeError);
  });
});
