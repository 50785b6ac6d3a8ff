/**
 * "Fetch from a binary cache" in Chromium against real Nix binary caches (made by Debian's
 * nix-bin, served on 127.0.0.1 on another port, so the browser applies CORS as it would to
 * a real cache): from store paths alone and from a registration; the image is checked with
 * native tools and is byte-identical to the CLI's image of the same closure as an export.
 * Refusals show their message and fetch nothing; Cancel leaves nothing in OPFS.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import {
  type CacheServer,
  makeTestCaches,
  serveTestCaches,
  type TestCaches,
} from '../cli/test-support/binary-cache.ts';
import { buildNixClosure, type NixClosure } from '../cli/test-support/nix-closure.ts';
import { checkImage, removeDir, run, sha256File, tempDir } from './support/host.ts';
import { allowedOrigins, dropFiles, expect, openStudio, test } from './support/studio.ts';

let work: string;
let c: NixClosure;
let caches: TestCaches;
let server: CacheServer;
let exportImage: string;

test.beforeAll(async () => {
  work = tempDir('cache-fetch');
  c = buildNixClosure(join(work, 'nix'));
  mkdirSync(join(work, 'caches'));
  caches = makeTestCaches(c, join(work, 'caches'));
  server = await serveTestCaches(caches.root);
  allowedOrigins.add(server.origin);
  exportImage = join(work, 'from-export.img');
  execFileSync('node', ['cli/bin.mjs', 'build', '--export', c.files.export, '-q', '-o', exportImage]);
});

test.afterAll(async () => {
  allowedOrigins.delete(server?.origin);
  await server?.close();
  removeDir(work);
});

/** Opens the studio with `cacheNames` saved as its caches (the page's CSP is set from them at load). */
async function openWithCaches(page: Page, cacheNames: string[], key = () => caches.publicKey): Promise<void> {
  const list = cacheNames.map((n) => ({ url: n.startsWith('http') ? n : server.url(n), publicKeys: [key()] }));
  await page.addInitScript((value) => localStorage.setItem('disk-image-studio:caches', value), JSON.stringify(list));
  await openStudio(page);
  await page.getByRole('button', { name: 'Fetch from a binary cache' }).first().click();
  await expect(page.getByRole('dialog', { name: 'Fetch from a binary cache' })).toBeVisible();
}

const dialog = (page: Page) => page.getByRole('dialog', { name: 'Fetch from a binary cache' });

async function estimate(page: Page, paths: string[]): Promise<void> {
  if (paths.length) await dialog(page).getByLabel('Store paths').fill(paths.join('\n'));
  await dialog(page).getByRole('button', { name: 'Estimate' }).click();
  await expect(dialog(page).getByTestId('fetch-plan')).toBeVisible({ timeout: 60_000 });
}

async function buildAndDownload(page: Page): Promise<string> {
  await expect(page.getByRole('list', { name: 'Inputs' }).getByText('Reading…')).toHaveCount(0, { timeout: 60_000 });
  await page.getByRole('radio', { name: /^Download/ }).check();
  const download = page.waitForEvent('download', { timeout: 170_000 });
  await page.getByRole('button', { name: 'Build image' }).click();
  const d = await download;
  const file = join(work, `${Date.now()}-${d.suggestedFilename()}`);
  await d.saveAs(file);
  return file;
}

/** Native checks: fsck clean, the registration loads, the store verifies; same bytes as the export's image. */
function expectGoodImage(img: string): void {
  const dir = join(work, `check-${Date.now()}`);
  mkdirSync(dir);
  const { dumpDir } = checkImage(img, dir); // e2fsck -fn must be clean
  const root = join(dir, 'fresh');
  const store = `local?root=${root}`;
  run('nix-store', ['--store', store, '--load-db'], { input: readFileSync(join(dumpDir, 'nix-path-registration')) });
  mkdirSync(join(root, 'nix'), { recursive: true });
  run('cp', ['-a', join(dumpDir, 'nix', 'store'), join(root, 'nix') + '/']);
  run('nix-store', ['--store', store, '--verify', '--check-contents']);
  expect(sha256File(img)).toBe(sha256File(exportImage));
}

test('one top-level store path alone: estimate, fetch (xz), verified marks, a checked image', async ({ page }) => {
  await openWithCaches(page, ['xz']);
  await estimate(page, [c.named.env, c.named.chain]);
  await expect(dialog(page).getByTestId('fetch-plan')).toContainText('7 store paths to fetch');
  await dialog(page).getByRole('button', { name: 'Fetch', exact: true }).click();
  await expect(dialog(page).getByText('Fetched and verified')).toBeVisible({ timeout: 60_000 });
  await dialog(page).getByRole('button', { name: 'Close' }).click();
  const host = new URL(server.url('xz')).host;
  await expect(page.getByText(`fetched from ${host}/xz, signature by test-cache-1`).first()).toBeVisible({
    timeout: 60_000,
  });
  expectGoodImage(await buildAndDownload(page));
});

test('a registration with two caches (zstd; the first lacks most paths)', async ({ page }) => {
  await openWithCaches(page, ['partial', 'zstd']);
  // A manifest dropped on the store paths box is added as a closure input.
  await dropFiles(page, 'dialog textarea', [{ path: c.files.registration, name: 'registration' }]);
  await expect(dialog(page).getByText(/\(7 now\)/)).toBeVisible({ timeout: 30_000 });
  await estimate(page, []);
  await expect(dialog(page).getByTestId('fetch-plan')).toContainText(`2 from ${server.url('partial')}`);
  await expect(dialog(page).getByTestId('fetch-plan')).toContainText(`5 from ${server.url('zstd')}`);
  await dialog(page).getByRole('button', { name: 'Fetch', exact: true }).click();
  await expect(dialog(page).getByText('Fetched and verified')).toBeVisible({ timeout: 60_000 });
  await dialog(page).getByRole('button', { name: 'Close' }).click();
  expectGoodImage(await buildAndDownload(page));
});

test('refusals are shown and nothing is fetched', async ({ page }) => {
  await openWithCaches(page, ['unsigned']);
  await estimate(page, [c.named.chain]);
  await expect(
    dialog(page)
      .getByText(/cannot be fetched: the narinfo from .*\/unsigned is not signed/)
      .first(),
  ).toBeVisible();
  await expect(dialog(page).getByRole('button', { name: 'Fetch', exact: true })).toBeDisabled();
});

test('a NAR that does not match its signed NarHash fails the fetch with its message', async ({ page }) => {
  await openWithCaches(page, ['bad-nar']);
  await estimate(page, [c.named.env]);
  await dialog(page).getByRole('button', { name: 'Fetch', exact: true }).click();
  await expect(dialog(page).getByRole('alert')).toContainText(
    new RegExp(
      `${c.named.lib} from .*/bad-nar was refused: its NAR (has hash sha256:\\w+, but its signed narinfo's NarHash|is larger than the \\d+ bytes its narinfo's NarSize says)`,
    ),
    { timeout: 60_000 },
  );
  await expect(page.getByText(/fetched from/)).toHaveCount(0);
});

test('cancel mid-fetch leaves nothing in OPFS', async ({ page }) => {
  await openWithCaches(page, [server.slowUrl]);
  await estimate(page, [c.named.env]);
  await dialog(page).getByRole('button', { name: 'Fetch', exact: true }).click();
  await expect(dialog(page).getByTestId('fetch-progress')).toBeVisible();
  await expect.poll(() => server.requests.some((p) => p.startsWith('/slow/xz/nar/'))).toBe(true);
  await dialog(page).getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog(page).getByRole('button', { name: 'Fetch', exact: true })).toBeEnabled();
  const files = await page.evaluate(async () => {
    const out: string[] = [];
    const walk = async (d: FileSystemDirectoryHandle, at: string) => {
      for await (const [name, h] of (
        d as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }
      ).entries()) {
        if (h.kind === 'file') out.push(`${at}/${name}`);
        else await walk(h as FileSystemDirectoryHandle, `${at}/${name}`);
      }
    };
    await walk(await navigator.storage.getDirectory(), '');
    return out;
  });
  expect(files).toEqual([]);
});

// Every refusal of the command line, in the page too: found while estimating, or while fetching.
for (const [what, cache, phase, message] of [
  [
    'a signature by an untrusted key',
    'untrusted',
    'estimate',
    /signed only by keys not trusted for it \(other-cache-1\)/,
  ],
  [
    'a tampered NarHash',
    'tampered-narhash',
    'estimate',
    /the signature by test-cache-1 on the narinfo from .* does not match/,
  ],
  ['a path missing from every cache', 'missing', 'estimate', /tool-2\.3 is in none of the caches/],
  ['a cache that answers HTML', 'html', 'estimate', /answered its nix-cache-info with an HTML page/],
  ['a redirect loop', 'loop', 'estimate', /cannot be used: the request failed/],
  [
    'a truncated download',
    'short-nar',
    'fetch',
    /libdemo-1\.0 from .* was refused: the download (broke off|ended) after \d+ of \d+ bytes/,
  ],
  [
    'a FileSize that lies',
    'filesize-lies',
    'fetch',
    /libdemo-1\.0 from .* was refused: the cache sent more than the \d+ bytes its narinfo's FileSize says/,
  ],
] as const) {
  test(`refused in the page: ${what}`, async ({ page }) => {
    const url = cache === 'html' ? server.htmlUrl : cache === 'loop' ? server.loopUrl : cache;
    await openWithCaches(page, [url]);
    await estimate(page, [c.named.env, c.named.chain]);
    if (phase === 'fetch') await dialog(page).getByRole('button', { name: 'Fetch', exact: true }).click();
    else await expect(dialog(page).getByRole('button', { name: 'Fetch', exact: true })).toBeDisabled();
    await expect(dialog(page).getByText(message).first()).toBeVisible({ timeout: 60_000 });
    await expect(page.getByText(/fetched from/)).toHaveCount(0);
  });
}
