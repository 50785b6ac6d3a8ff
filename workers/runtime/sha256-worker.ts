/**
 * A Web Worker that hashes a stream for `sha256-off-thread.ts`: it says `{ ready: true }` once
 * its hash is set up (or `{ error }`); then each message is the next bytes (answered once
 * hashed with `{ done: n, bytes }`, the array moved back for reuse), or `{ digest: true }`
 * (answered with the hex digest, which ends the hash).
 */
import { createSha256 } from '../../core/sha256.ts';

const hash = createSha256();
const reply = (m: unknown, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);
const failure = (err: unknown) => ({ error: String((err as Error)?.message ?? err) });
hash.then(
  () => reply({ ready: true }),
  (err: unknown) => reply(failure(err)),
);

self.onmessage = (e: MessageEvent<{ bytes?: Uint8Array; digest?: boolean }>) => {
  const { bytes, digest } = e.data;
  // In order: every message waits on the same promise.
  hash
    .then((h) => {
      if (bytes) {
        h.update(bytes);
        reply({ done: bytes.length, bytes }, [bytes.buffer as ArrayBuffer]);
      } else if (digest) reply({ hex: h.digestHex() });
    })
    .catch((err: unknown) => reply(failure(err)));
};
