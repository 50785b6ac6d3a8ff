/**
 * The output's way from the engine to the page (`transferring` in build-worker.ts and the
 * page's `handingBack`), over a real MessageChannel with comlink, as between the page and
 * its worker: each chunk arrives as its own copy, and memory the page gives back is used
 * for the next chunk.
 */
import * as Comlink from 'comlink';
import { afterEach, describe, expect, it } from 'vitest';
import { transferring } from './build-worker.ts';
import { handingBack } from '../web/handing-back.ts';

const channels: MessageChannel[] = [];
afterEach(() => {
  for (const c of channels.splice(0)) {
    c.port1.close();
    c.port2.close();
  }
});

/** The worker's end of a page sink exposed on the other side of a channel. */
function pageSink(sink: (chunk: Uint8Array) => unknown): (chunk: Uint8Array) => Promise<unknown> {
  const channel = new MessageChannel();
  channels.push(channel);
  Comlink.expose(sink, channel.port1);
  return Comlink.wrap<(chunk: Uint8Array) => ArrayBuffer | undefined>(channel.port2) as never;
}

/** Chunks as the compressor hands them out: views of one array, overwritten for the next. */
function* reusedChunks(sizes: number[]): Generator<Uint8Array> {
  const shared = new Uint8Array(Math.max(...sizes));
  let n = 0;
  for (const size of sizes) {
    for (let i = 0; i < size; i++) shared[i] = (n * 31 + i) & 255;
    n++;
    yield shared.subarray(0, size);
  }
}

function expected(n: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (n * 31 + i) & 255;
  return out;
}

describe('output chunks from the engine to the page', () => {
  it('copies each chunk, and copies the next into the memory the page gave back', async () => {
    const seen: { bytes: Uint8Array; bufferSize: number }[] = [];
    const send = transferring(
      pageSink(
        handingBack((chunk) => {
          seen.push({ bytes: chunk.slice(), bufferSize: chunk.buffer.byteLength });
        }),
      ),
    );
    const sizes = [5000, 3000, 4000, 9000, 100];
    for (const chunk of reusedChunks(sizes)) await send(chunk);
    expect(seen.map((s) => s.bytes.length)).toEqual(sizes);
    expect(seen.map((s) => s.bytes)).toEqual(sizes.map((size, n) => expected(n, size)));
    // The first chunk's 5000 bytes serve the next two; 9000 needs new memory, which the
    // last chunk then reuses.
    expect(seen.map((s) => s.bufferSize)).toEqual([5000, 5000, 5000, 9000, 9000]);
  });

  it('a page sink that keeps its chunks keeps them intact: nothing is taken back', async () => {
    const kept: Uint8Array[] = [];
    const send = transferring(
      pageSink((chunk) => {
        kept.push(chunk);
      }),
    );
    const sizes = [4096, 4096, 1000];
    for (const chunk of reusedChunks(sizes)) await send(chunk);
    expect(kept.map((c) => c.length)).toEqual(sizes);
    expect(kept).toEqual(sizes.map((size, n) => expected(n, size)));
    expect(kept.map((c) => c.buffer.byteLength)).toEqual(sizes);
  });

  it('waits for the page: a chunk is not overwritten while its sink runs', async () => {
    let release!: () => void;
    const snapshots: Uint8Array[] = [];
    const send = transferring(
      pageSink(
        handingBack(async (chunk) => {
          const before = chunk.slice();
          await new Promise<void>((r) => (release = r));
          expect(chunk).toEqual(before);
          snapshots.push(before);
        }),
      ),
    );
    const chunks = [expected(0, 2048), expected(1, 2048)];
    const first = send(chunks[0]);
    await new Promise((r) => setTimeout(r, 20));
    release();
    await first;
    const second = send(chunks[1]);
    await new Promise((r) => setTimeout(r, 20));
    release();
    await second;
    expect(snapshots).toHaveLength(2);
    expect(snapshots[1]).toEqual(expected(1, 2048));
  });
});
