/**
 * Packages the build worker imports, pre-bundled by Vite's dev server at start-up. Several
 * are imported only on first use (`await import()`: the fetcher's decoders and ed25519, and
 * `hash-wasm` for the output's SHA-256); found that late, the dev server re-optimizes and
 * answers the worker's import with 504 "Outdated Optimize Dep", so the build fails with
 * "Failed to fetch dynamically imported module". Used by `vite.config.ts` and the bench
 * page's `bench/browser/vite.config.ts`.
 */
export const WORKER_OPTIMIZED_DEPS: readonly string[] = [
  'comlink',
  '@noble/hashes/sha2.js',
  'xz-decompress',
  'unbzip2-stream/lib/bzip2.js',
  'unbzip2-stream/lib/bit_iterator.js',
  '@noble/curves/ed25519.js',
  'hash-wasm',
];
