/** zstd streams against the native zstd command line. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryImageStore } from './image-store.ts';
import { runNative, sameBytes, sha256Hex, tempDir } from '../test-support/native.ts';
import { pseudoRandom } from '../test-support/tree-fixture.ts';
import { useTestWasm } from '../test-support/wasm.ts';
import {
  compressStream,
  createCompressionStream,
  createDecompressionStream,
  decompressStream,
  ZstdError,
} from './zstd-stream.ts';

async function collect(source: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  if ('getReader' in source) {
    const reader = source.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) parts.push(r.value.slice());
  } else {
    for await (const p of source) parts.push(p.slice());
  }
  return new Uint8Array(Buffer.concat(parts));
}

/** A ReadableStream over an (async) iterable (ReadableStream.from is not in every lib typing). */
function readable(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): ReadableStream<Uint8Array> {
  const it =
    Symbol.asyncIterator in source
      ? source[Symbol.asyncIterator]()
      : (source as Iterable<Uint8Array>)[Symbol.iterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const r = await it.next();
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
  });
}

/** Compressible but not trivial: text-like lines with random numbers, and zero runs. */
function sample(n: number): Uint8Array {
  const out = new Uint8Array(n);
  const rnd = pseudoRandom(n, 3);
  const words = ['ext4 ', 'inode ', 'block ', 'nix/store/ ', 'zstd ', '\n', '0000', 'abcdef '];
  let i = 0;
  while (i < n) {
    if (rnd[i] < 8) {
      i += Math.min(n - i, 4096); // a zero run
      continue;
    }
    const w = words[rnd[i] & 7];
    for (let k = 0; k < w.length && i < n; k++) out[i++] = w.charCodeAt(k);
    if (i < n) out[i++] = 48 + (rnd[i - 1] % 10);
  }
  return out;
}

function* pieces(data: Uint8Array, size: number): Iterable<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

describe('zstd streams', () => {
  const tmp = tempDir('rt-zstd-');
  const data = sample(24 << 20);
  beforeAll(() => useTestWasm());
  afterAll(() => tmp.cleanup());

  it('our frame passes native zstd -t, records the content size, and decompresses natively to the same bytes', async () => {
    const z = await collect(compressStream(pieces(data, 1_000_003), { level: 3, contentSize: data.length }));
    const path = join(tmp.dir, 'ours.zst');
    writeFileSync(path, z);
    expect(z.length).toBeLessThan(data.length / 3);
    const test = runNative('zstd', ['-t', '-q', path]);
    expect(test.status, test.stderr).toBe(0);
    const list = runNative('zstd', ['-lv', path]);
    expect(list.stdout).toMatch(/Check:\s+XXH64/);
    expect(list.stdout).toMatch(new RegExp(`Decompressed Size:.*\\(${data.length} B\\)`));
    const out = join(tmp.dir, 'ours.out');
    expect(runNative('zstd', ['-d', '-q', '-f', path, '-o', out]).status).toBe(0);
    expect(sha256Hex(readFileSync(out))).toBe(sha256Hex(data));
  });

  it('without a content size the header has none, and native zstd still accepts it', async () => {
    const small = data.subarray(0, 100_000);
    const z = await collect(compressStream(pieces(small, 7777), { level: 1 }));
    const path = join(tmp.dir, 'nosize.zst');
    writeFileSync(path, z);
    expect(runNative('zstd', ['-t', '-q', path]).status).toBe(0);
    expect(runNative('zstd', ['-lv', path]).stdout).not.toMatch(/Decompressed Size:.*\(100000 B\)/);
    expect(sameBytes(await collect(decompressStream(pieces(z, 1000))), small)).toBe(true);
  });

  it('a wrong content size fails instead of writing a bad frame', async () => {
    await expect(collect(compressStream([data.subarray(0, 1000)], { contentSize: 999 }))).rejects.toThrow(ZstdError);
  });

  it('decompresses native zstd -3 output (and concatenated frames), in odd-sized pieces', async () => {
    const raw = join(tmp.dir, 'raw2');
    writeFileSync(raw, data);
    const path = join(tmp.dir, 'native2.zst');
    expect(runNative('zstd', ['-3', '-q', '-f', raw, '-o', path]).status).toBe(0);
    const z = new Uint8Array(readFileSync(path));
    const back = await collect(decompressStream(pieces(z, 65_537)));
    expect(back.length).toBe(data.length);
    expect(sha256Hex(back)).toBe(sha256Hex(data));
    const two = new Uint8Array([
      ...z.subarray(0, z.length),
      ...(await collect(compressStream([Uint8Array.of(1, 2, 3)]))),
    ]);
    const both = await collect(decompressStream([two]));
    expect(both.length).toBe(data.length + 3);
    expect([...both.subarray(-3)]).toEqual([1, 2, 3]);
  });

  it('rejects truncated and corrupt input', async () => {
    const z = await collect(compressStream([data.subarray(0, 200_000)], { contentSize: 200_000 }));
    await expect(collect(decompressStream([z.subarray(0, z.length - 5)]))).rejects.toThrow(/truncated/);
    const bad = z.slice();
    bad[bad.length >> 1] ^= 0xff;
    await expect(collect(decompressStream([bad]))).rejects.toThrow(ZstdError);
    await expect(collect(decompressStream([]))).rejects.toThrow(/empty/);
  });

  it('works as TransformStreams and straight from an ImageStore', async () => {
    const store = new MemoryImageStore(10 << 20);
    store.write(3 << 20, data.subarray(0, 2 << 20));
    const compressed = await collect(
      readable(store.chunks()).pipeThrough(createCompressionStream({ level: 3, contentSize: store.size })),
    );
    const path = join(tmp.dir, 'store.zst');
    writeFileSync(path, compressed);
    expect(runNative('zstd', ['-t', '-q', path]).status).toBe(0);
    const back = await collect(readable([compressed]).pipeThrough(createDecompressionStream()));
    expect(sha256Hex(back)).toBe(await store.sha256());
    // ReadableStream input to decompressStream as well.
    const again = await collect(decompressStream(readable([compressed.subarray(0, 100), compressed.subarray(100)])));
    expect(sameBytes(again, back)).toBe(true);
  });
});
