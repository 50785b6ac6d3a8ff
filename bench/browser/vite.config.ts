/**
 * Serves the bench page (`/bench/browser/index.html`) and, through it, the studio's real
 * worker (`workers/build-worker.ts`). The root is the repository, so the worker and the
 * wasm outputs load from the same paths as in the studio.
 *
 * With RUNTIME_WASM_DIR set (see `bench/wasm-dirs.ts`), requests and imports for
 * `/wasm/e2fsprogs/dist/*` and `/wasm/zstd/dist/*` are answered from the scratch build.
 *
 * By hand: `npx vite --config bench/browser/vite.config.ts`, then open
 * http://127.0.0.1:5198/bench/browser/index.html (the page exposes `window.bench`); the
 * port is `BENCH_PORT` when set (and then must be free).
 */
import { dirname, join, resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';
import { ISOLATION_HEADERS } from '../../core/isolation-headers.ts';
import { WORKER_OPTIMIZED_DEPS } from '../../vite-optimized-deps.ts';
import { REPO_ROOT, wasmDirs } from '../wasm-dirs.ts';

const DIST_RE = /\/wasm\/(e2fsprogs|zstd)\/dist\/([^/?#]+)(\?[^#]*)?$/;

/** Points the committed wasm paths at a scratch build. */
function scratchWasm(): Plugin | undefined {
  const dirs = wasmDirs();
  if (dirs.committed) return undefined;
  const local = (kind: string, file: string) => join(kind === 'zstd' ? dirs.zstd : dirs.e2fsprogs, file);
  return {
    name: 'bench-scratch-wasm',
    enforce: 'pre',
    resolveId(source, importer) {
      const abs = source.startsWith('.') && importer ? resolve(dirname(importer), source) : source;
      const m = DIST_RE.exec(abs);
      return m ? local(m[1], m[2]) : null;
    },
    configureServer(server) {
      server.middlewares.use((req, _res, next) => {
        const m = req.url ? DIST_RE.exec(req.url.split('#')[0]) : null;
        if (m && req.url!.startsWith('/wasm/')) req.url = `/@fs${local(m[1], m[2])}${m[3] ?? ''}`;
        next();
      });
    },
  };
}

const dirs = wasmDirs();

export default defineConfig({
  root: REPO_ROOT,
  appType: 'mpa',
  clearScreen: false,
  logLevel: 'warn',
  plugins: [scratchWasm()],
  worker: { format: 'es' },
  // Everything the page and the worker import from node_modules, so that no late discovery
  // re-optimizes while the page loads (Vite answers 504 "Outdated Optimize Dep" then).
  optimizeDeps: { entries: ['bench/browser/index.html'], include: [...WORKER_OPTIMIZED_DEPS] },
  server: {
    host: '127.0.0.1',
    // BENCH_PORT lets several checkouts bench at once (each its own port).
    port: Number(process.env.BENCH_PORT ?? 5198),
    strictPort: process.env.BENCH_PORT !== undefined,
    hmr: false,
    // Cross-origin isolated, as the studio's servers are (the worker reads files ahead of
    // mke2fs), unless the bench runs with --no-isolation.
    headers: process.env.BENCH_NO_ISOLATION ? {} : { ...ISOLATION_HEADERS },
    fs: { allow: [REPO_ROOT, dirs.e2fsprogs, dirs.zstd] },
  },
});
