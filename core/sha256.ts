/**
 * A streaming SHA-256 for the host it runs on: node:crypto in Node (the CPU's SHA
 * instructions, and no package to load), `hash-wasm` in browsers, loaded on first use.
 */
import { nodeBuiltin } from './node-builtin.ts';

/** A streaming sha256. */
export interface Sha256 {
  update(bytes: Uint8Array): void;
  /** The digest as lowercase hex; ends the hash. */
  digestHex(): string;
  /** The digest's 32 bytes; ends the hash. */
  digestBytes(): Uint8Array;
}

type NodeCrypto = typeof import('node:crypto');

/** `node:crypto` where the host is Node, without a static import (browser bundles need none). */
export function nodeCrypto(): NodeCrypto | undefined {
  return nodeBuiltin<NodeCrypto>('node:crypto');
}

/** A new streaming sha256: node:crypto in Node, `hash-wasm` elsewhere. */
export async function createSha256(): Promise<Sha256> {
  const crypto = nodeCrypto();
  if (crypto) {
    const h = crypto.createHash('sha256');
    return {
      update: (bytes) => void h.update(bytes),
      digestHex: () => h.digest('hex'),
      digestBytes: () => {
        const d = h.digest();
        return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
      },
    };
  }
  // Browsers: a WebAssembly SHA-256, about twice as fast as a JS one (the output's hash is
  // on the save path of every build).
  const { createSHA256 } = await import('hash-wasm');
  const h = await createSHA256();
  h.init();
  return {
    update: (bytes) => void h.update(bytes),
    digestHex: () => h.digest('hex'),
    digestBytes: () => h.digest('binary'),
  };
}
