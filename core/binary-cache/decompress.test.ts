/** The streaming NAR decompressors against native xz and bzip2, fed in small uneven pieces. */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { bzip2Decompress, xzDecompress } from './decompress.ts';

function piecewise(bytes: Uint8Array, piece = 7001): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.slice(at, at + piece));
      at += piece;
    },
  });
}

async function collect(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of s as unknown as AsyncIterable<Uint8Array>) parts.push(p);
  return Buffer.concat(parts);
}

/** Deterministic bytes (xorshift). */
function pseudoRandom(n: number, seed: number): Uint8Array {
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

// Compressible but not trivial: random blocks repeated, runs, text.
const input = Buffer.concat([
  pseudoRandom(300_000, 5),
  Buffer.alloc(200_000, 0x61),
  Buffer.from('nix-archive-1 '.repeat(50_000)),
  pseudoRandom(300_000, 5),
]);

describe.each([
  ['xz', xzDecompress, ['xz', '-c', '-6']],
  ['bzip2', bzip2Decompress, ['bzip2', '-c', '-9']],
] as const)('%s', (_, decompress, cmd) => {
  const packed = new Uint8Array(execFileSync(cmd[0], cmd.slice(1), { input, maxBuffer: 1 << 26 }));

  it('streams to the exact bytes', async () => {
    expect(Buffer.compare(await collect(decompress(piecewise(packed))), input)).toBe(0);
  });

  it('fails on truncated and corrupt input', async () => {
    await expect(collect(decompress(piecewise(packed.subarray(0, packed.length >> 1))))).rejects.toThrow();
    const bad = packed.slice();
    bad[bad.length >> 1] ^= 0xff;
    await expect(collect(decompress(piecewise(bad)))).rejects.toThrow();
  });
});
