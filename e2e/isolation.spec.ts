/**
 * A host that sends no COOP/COEP (most static hosts): the studio's service worker
 * (`public/isolation-sw.js`) adds them, the page reloads once, and builds from picked files
 * then read ahead of mke2fs as on an isolated host. The image is checked with native tools.
 */
import { join } from 'node:path';
import type { Plugin, ViteDevServer } from 'vite';
import { createServer } from 'vite';
import { allowedOrigins, expect, test } from './support/studio.ts';
import { checkImage, expectedFromBrowserFolder, makeFolder, plain, removeDir, tempDir } from './support/host.ts';

/** Vite's development server with the isolation headers taken out of every response. */
function withoutIsolation(): Plugin {
  return {
    name: 'no-isolation-headers',
    configureServer(server) {
      server.middlewares.use((_req, res, next) => {
        const setHeader = res.setHeader.bind(res);
        res.setHeader = (name: string, value: number | string | readonly string[]) =>
          /^cross-origin-(opener|embedder)-policy$/i.test(name) ? res : setHeader(name, value);
        next();
      });
    },
  };
}

let server: ViteDevServer;
let origin: string;
let work: string;

test.beforeAll(async () => {
  work = tempDir('isolation');
  server = await createServer({
    configFile: join(import.meta.dirname, '..', 'vite.config.ts'),
    plugins: [withoutIsolation()],
    server: { host: '127.0.0.1', port: Number(process.env.E2E_PORT ?? 5199) + 100, strictPort: false, hmr: false },
    logLevel: 'warn',
  });
  await server.listen();
  origin = new URL(server.resolvedUrls!.local[0]).origin;
  allowedOrigins.add(origin);
});

test.afterAll(async () => {
  allowedOrigins.delete(origin);
  await server?.close();
  removeDir(work);
});

test('on a host without COOP/COEP, the service worker isolates the page and files are read ahead', async ({ page }) => {
  // The server really sends no isolation headers.
  const first = await page.request.get(`${origin}/`);
  expect(first.headers()['cross-origin-embedder-policy']).toBeUndefined();

  await page.goto(`${origin}/`);
  await expect(page.getByRole('heading', { name: 'Disk Image Studio' })).toBeVisible({ timeout: 30_000 });
  // One reload later the page is isolated, controlled by the studio's service worker.
  expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(true);
  expect(await page.evaluate(() => navigator.serviceWorker.controller?.scriptURL)).toBe(`${origin}/isolation-sw.js`);
  expect(await page.evaluate(() => sessionStorage.getItem('disk-image-studio:isolation-reload'))).toBe('1');

  const readers: string[] = [];
  page.on('worker', (w) => {
    if (w.url().includes('blob-read-ahead-worker')) readers.push(w.url());
  });
  const site = makeFolder(work, 'site');
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Add folder', exact: true }).click();
  await (await chooser).setFiles(site);
  await expect(page.getByRole('list', { name: 'Inputs' }).getByText('Reading…')).toHaveCount(0, { timeout: 60_000 });
  await page.getByRole('radio', { name: /^Download/ }).check();
  const download = page.waitForEvent('download', { timeout: 170_000 });
  await page.getByRole('button', { name: 'Build image' }).click();
  const d = await download;
  const file = join(work, d.suggestedFilename());
  await d.saveAs(file);
  await expect(page.getByRole('heading', { name: 'Image ready' })).toBeVisible();

  // The engine's worker had shared memory, and mkfs read the files through the reader.
  const engine = page.workers().find((w) => w.url().includes('build-worker'));
  expect(await engine?.evaluate(() => self.crossOriginIsolated && typeof SharedArrayBuffer === 'function')).toBe(true);
  expect(readers.length).toBeGreaterThan(0);

  const image = checkImage(file, work);
  const got = new Map(image.tree);
  for (const k of [...got.keys()]) if (k === '/lost+found' || k.startsWith('/lost+found/')) got.delete(k);
  expect(plain(got)).toEqual(plain(expectedFromBrowserFolder(site, '/site')));

  // A second visit in a new tab is isolated from its first response: no reload.
  const again = await page.context().newPage();
  await again.goto(`${origin}/`);
  await expect(again.getByRole('heading', { name: 'Disk Image Studio' })).toBeVisible();
  expect(await again.evaluate(() => self.crossOriginIsolated)).toBe(true);
  expect(await again.evaluate(() => sessionStorage.getItem('disk-image-studio:isolation-reload'))).toBeNull();
  await again.close();
});

test('a host that sends the headers gets no service worker', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Disk Image Studio' })).toBeVisible();
  expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(true);
  expect(await page.evaluate(async () => (await navigator.serviceWorker.getRegistrations()).length)).toBe(0);
});
