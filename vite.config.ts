import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { ISOLATION_HEADERS } from './core/isolation-headers.ts';
import { WORKER_OPTIMIZED_DEPS } from './vite-optimized-deps.ts';

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
    include: [...WORKER_OPTIMIZED_DEPS],
  },
  // Cross-origin isolated (COOP + COEP): the build worker reads picked files ahead of mke2fs
  // through shared memory (README.md, "Hosting").
  server: { fs: { allow: ['..'] }, port: 5173, strictPort: false, headers: { ...ISOLATION_HEADERS } },
  preview: { port: 4173, headers: { ...ISOLATION_HEADERS } },
  build: { outDir: '../dist', emptyOutDir: true, target: 'es2022' },
});
