/**
 * A test page with a module Web Worker, bundled by Vite as the studio's own page is
 * (emitted .wasm assets, `worker.format: 'es'`) and served on 127.0.0.1 for Chromium.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join } from 'node:path';
import { ISOLATION_HEADERS } from '../../core/isolation-headers.ts';

/** A bundled page being served; `close` stops the server. */
export interface ServedPage {
  port: number;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
};

/**
 * Writes `index.html` (a body of `bodyHtml` and the module `main.js`), `main.js` and
 * `worker.js` under `dir/src`, bundles them into `dir/out` and serves that folder on a free
 * port of 127.0.0.1 (only files inside it; anything else is a 404). Cross-origin isolated
 * (COOP + COEP, as the studio's servers) unless `isolated` is false; one bundle can be served
 * both ways (`servePage`).
 */
export async function serveWorkerPage(
  dir: string,
  page: { bodyHtml?: string; main: string; worker: string },
  options: { isolated?: boolean } = {},
): Promise<ServedPage> {
  const src = join(dir, 'src');
  const out = join(dir, 'out');
  mkdirSync(src, { recursive: true });
  writeFileSync(
    join(src, 'index.html'),
    `<!doctype html><html><body>${page.bodyHtml ?? ''}<script type="module" src="./main.js"></script></body></html>`,
  );
  writeFileSync(join(src, 'main.js'), page.main);
  writeFileSync(join(src, 'worker.js'), page.worker);
  const { build } = await import('vite');
  await build({
    root: src,
    configFile: false,
    logLevel: 'error',
    worker: { format: 'es' },
    build: { outDir: out, emptyOutDir: true, target: 'es2022', minify: false, assetsInlineLimit: 0 },
  });
  return servePage(out, options);
}

/** Serves a bundled page's folder `out` on a free port of 127.0.0.1 (isolated unless `isolated` is false). */
export async function servePage(out: string, options: { isolated?: boolean } = {}): Promise<ServedPage> {
  const headers = options.isolated === false ? {} : ISOLATION_HEADERS;
  const server = createServer((req, res) => {
    const rel = decodeURIComponent((req.url ?? '/').split('?')[0]);
    const file = join(out, rel === '/' ? 'index.html' : rel);
    if (!file.startsWith(out) || !existsSync(file)) return void res.writeHead(404, headers).end();
    res
      .writeHead(200, { ...headers, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' })
      .end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/**
 * Opens a served page in Debian's Chromium (`CHROMIUM_PATH`, default /usr/bin/chromium; a
 * fresh headless browser), picks `pick` (host paths) into its `#f` file input when given,
 * runs `work` on the page and closes the browser whatever happens.
 */
export async function withServedPage<T>(
  served: ServedPage | number,
  work: (page: import('@playwright/test').Page) => Promise<T>,
  pick?: string[],
): Promise<T> {
  const { chromium } = await import('@playwright/test');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu'],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${typeof served === 'number' ? served : served.port}/`);
    if (pick) await page.setInputFiles('#f', pick);
    return await work(page);
  } finally {
    await browser.close();
  }
}
