/** Test helpers around native tools (Node only). */
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';

/** A stream decompressor backed by the native `zstd -d`, standing in for the wasm one. */
export function nativeZstd(input: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const child = spawn('zstd', ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'ignore'] });
  void (async () => {
    const r = input.getReader();
    try {
      for (;;) {
        const { done, value } = await r.read();
        if (done) break;
        if (!child.stdin.write(value)) await new Promise((res) => child.stdin.once('drain', res));
      }
    } catch {
      /* reader cancelled */
    }
    child.stdin.end();
  })();
  child.stdin.on('error', () => {});
  let failed = false;
  child.on('exit', (code) => {
    failed = code !== 0;
  });
  const out = Readable.toWeb(child.stdout) as unknown as ReadableStream<Uint8Array>;
  return out.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        c.enqueue(new Uint8Array(chunk));
      },
      async flush(c) {
        await new Promise((res) => (child.exitCode === null ? child.once('exit', res) : res(null)));
        if (failed) c.error(new Error('zstd: corrupt input'));
      },
    }),
  );
}
