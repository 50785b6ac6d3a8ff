/**
 * Stream decompressors for NARs from binary caches: xz (xz-embedded compiled to
 * WebAssembly, the `xz-decompress` package), bzip2 (the pure-JavaScript decoder of
 * `unbzip2-stream`, driven block by block here), zstd (the studio's own wasm build, passed
 * in by the runtime) and none. Each takes and gives a `ReadableStream`, so a NAR is never
 * held whole.
 */
// @ts-expect-error: the package ships no types for its decoder modules.
import bz2 from 'unbzip2-stream/lib/bzip2.js';
// @ts-expect-error: the package ships no types for its decoder modules.
import bitIterator from 'unbzip2-stream/lib/bit_iterator.js';
import * as xzPackage from 'xz-decompress';
import type { NarCompression } from './narinfo.ts';

export type StreamTransform = (input: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>;

/** Decompressors by `Compression:`; zstd comes from the runtime (wasm). */
export interface NarDecompressors {
  zstd?: StreamTransform;
  xz?: StreamTransform;
  bzip2?: StreamTransform;
}

// A CommonJS (UMD) package: Node's ESM loader gives its exports as `default` only, bundlers as named.
const { XzReadableStream } = ((xzPackage as { default?: typeof xzPackage }).default ?? xzPackage) as typeof xzPackage;

/** xz through xz-embedded (WebAssembly). */
export const xzDecompress: StreamTransform = (input) => new XzReadableStream(input);

interface BitReader {
  (n: number | null): number;
  bytesRead: number;
}

/**
 * bzip2, decoded one block at a time as soon as the compressed bytes of a whole block (at
 * most 100,000 × level + 25,000) have arrived; concatenated streams are followed.
 */
export const bzip2Decompress: StreamTransform = (input) => {
  const reader = input.getReader();
  const queue: Uint8Array[] = [];
  let total = 0;
  let ended = false;
  let bits: BitReader | null = null;
  let level = 0;
  let crc: number | null = null;
  // Per-stream tables (the decoder keeps them on `this`), inheriting its CRC table.
  const state = Object.create(bz2) as typeof bz2;
  let block: Int32Array | null = null;
  let out = new Uint8Array(1 << 20);
  let outLen = 0;
  const put = (b: number) => {
    if (outLen === out.length) {
      const bigger = new Uint8Array(out.length * 2);
      bigger.set(out);
      out = bigger;
    }
    out[outLen++] = b;
  };
  const next = () => {
    const b = queue.shift();
    if (!b) throw new Error('the bzip2 data ends early');
    return b;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        for (;;) {
          const need = level ? 25_000 + 100_000 * level : 4;
          while (!ended && total - (bits?.bytesRead ?? 0) + 1 < need) {
            const r = await reader.read();
            if (r.done) ended = true;
            else if (r.value.length) {
              queue.push(r.value);
              total += r.value.length;
            }
          }
          if (!bits) {
            if (total === 0) throw new Error('the bzip2 data is empty');
            bits = bitIterator(next) as BitReader;
          }
          if (ended && total <= bits.bytesRead) {
            if (level !== 0 || crc !== null) throw new Error('the bzip2 data ends early');
            controller.close();
            return;
          }
          if (!level) {
            level = bz2.header.call(state, bits) as number;
            crc = 0;
            if (!block || block.length !== 100_000 * level) block = new Int32Array(100_000 * level);
            continue;
          }
          outLen = 0;
          crc = bz2.decompress.call(state, bits, put, block, block!.length, crc) as number | null;
          if (crc === null) {
            level = 0; // end of one stream; another may follow
            continue;
          }
          controller.enqueue(out.slice(0, outLen));
          return;
        }
      } catch (err) {
        await reader.cancel().catch(() => {});
        throw err instanceof Error && /bzip|crc|magic|BZIP|ends early|empty/.test(err.message)
          ? err
          : new Error(`the bzip2 data is corrupt (${err instanceof Error ? err.message : String(err)})`);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
};

/** The decompressor for a `Compression:` value, or undefined when none is available. */
export function decompressorFor(compression: NarCompression, given: NarDecompressors): StreamTransform | undefined {
  switch (compression) {
    case 'none':
      return (s) => s;
    case 'xz':
      return given.xz ?? xzDecompress;
    case 'bzip2':
      return given.bzip2 ?? bzip2Decompress;
    case 'zstd':
      return given.zstd;
  }
}
