import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

/** The studio is a static page: `web/` is the root, `public/` holds static assets. */
export default defineConfig({
  root: 'web',
  publicDir: '../public',
  plugins: [react()],
  worker: { format: 'es' },
  server: { fs: { allow: ['..'] }, port: 5173, strictPort: false },
  preview: { port: 4173 },
  build: { outDir: '../dist', emptyOutDir: true, target: 'es2022' },
});
