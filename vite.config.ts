import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

/** The studio is a static page: `web/` is the root, `public/` holds static assets. */
export default defineConfig({
  root: 'web',
  publicDir: '../public',
  plugins: [react()],
  worker: { format: 'es' },
  // The worker's dependencies are pre-bundled at start-up (the worker is scanned as an entry):
  // discovered later, when the worker first loads, the dev server would reload the page.
  optimizeDeps: {
    entries: ['index.html', '../workers/build-worker.ts'],
    include: [
      'xz-decompress',
      'unbzip2-stream/lib/bzip2.js',
      'unbzip2-stream/lib/bit_iterator.js',
      '@noble/curves/ed25519.js',
      'hash-wasm',
    ],
  },
  server: { fs: { allow: ['..'] }, port: 5173, strictPort: false },
  preview: { port: 4173 },
  build: { outDir: '../dist', emptyOutDir: true, target: 'es2022' },
});
