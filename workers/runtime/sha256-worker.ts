/**
 * A Web Worker that hashes a stream for `sha256-off-thread.ts`: each message is the next
 * bytes (answered once hashed with `{ done: n, bytes }`, the array moved back for reuse), or
 * `{ digest: true }` (answered with the hex digest, which ends the hash).
 */
import { createSha256 } from '../../core/sha256.ts';

const hash = createSha256();
const reply = (m: unknown) => (self as unknown as Worker).postMessage(m);

self.onmessage = (e: MessageEvent<{ bytes?: Uint8Array; digest?: boolean }>) => {
  const { bytes, digest } = e.data;
  // In order: every message waits on the same promise.
  hash
    .then((h) => {
      if (bytes) {
        h.update(bytes);
        (self as unknown as Worker).postMessage({ done: bytes.length, bytes }, [bytes.buffer as ArrayBuffer]);
      } else if (digest) reply({ hex: h.digestHex() });
    })
    .catch((err: unknown) => reply({ error: String((err as Error)?.message ?? err) }));
};
