/**
 * End to end with the real engine: inputs go in through the page's own file inputs, the
 * image comes out as a browser download, and native e2fsprogs, zstd and nix-store check it.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { test, expect, openStudio } from './support/studio.ts';
import {
  checkImage,
  dumpe2fsHeader,
  expectedFromBrowserFolder,
  expectedFromClosure,
  makeClosure,
  makeFolder,
  plain,
  removeDir,
  run,
  sha256File,
  tempDir,
  type ClosureFixture,
  type Walked,
} from './support/host.ts';

let work: string;
let site: string;
let closure: ClosureFixture;

test.beforeAll(() => {
  work = tempDir('build');
  site = makeFolder(work, 'site');
  closure = makeClosure(work);
});

test.afterAll(() => removeDir(work));

async function choose(page: Page, button: string, files: string | string[]): Promise<void> {
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: button, exact: true }).click();
  await (await chooser).setFiles(files);
}

async function inputsSettled(page: Page): Promise<void> {
  await expect(page.getByRole('list', { name: 'Inputs' }).getByText('Reading…')).toHaveCount(0, { timeout: 60_000 });
}

/** Builds with the "Download" choice and saves the browser download to `dir`. */
async function buildAndDownload(page: Page, dir: string): Promise<{ file: string; name: string }> {
  await page.getByRole('radio', { name: /^Download/ }).check();
  const build = page.getByRole('button', { name: 'Build image' });
  await expect(build).toBeEnabled();
  const download = page.waitForEvent('download', { timeout: 170_000 });
  await build.click();
  const d = await download;
  const file = join(dir, d.suggestedFilename());
  await d.saveAs(file);
  await expect(page.getByRole('heading', { name: 'Image ready' })).toBeVisible();
  return { file, name: d.suggestedFilename() };
}

function withoutLostFound(tree: Map<string, Walked>): Map<string, Walked> {
  const out = new Map(tree);
  for (const k of [...out.keys()]) if (k === '/lost+found' || k.startsWith('/lost+found/')) out.delete(k);
  return out;
}

/** The registration in the image loads into a fresh Nix database with the references. */
function checkRegistration(dumpDir: string, c: ClosureFixture): void {
  const reg = readFileSync(join(dumpDir, 'nix-path-registration'));
  const db = join(work, `load-db-${Date.now()}`);
  run('nix-store', ['--store', db, '--load-db'], { input: reg });
  for (const [path, refs] of c.paths) {
    const got = run('nix-store', ['--store', db, '-q', '--references', path]).trim().split('\n').filter(Boolean).sort();
    expect(got, `references of ${path}`).toEqual([...refs].sort());
  }
  removeDir(db);
}

test('a folder and a closure become exactly that tree in a checked .img', async ({ page }) => {
  await openStudio(page);
  // Served cross-origin isolated (COOP + COEP): the engine reads picked files ahead of mke2fs.
  expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(true);
  const readers: string[] = [];
  page.on('worker', (w) => {
    if (w.url().includes('blob-read-ahead-worker')) readers.push(w.url());
  });
  await choose(page, 'Add folder', site);
  await choose(page, 'Add closure', closure.exportFile);
  await inputsSettled(page);
  await expect(page.getByRole('region', { name: 'Nix closure' })).toContainText('3 store paths');
  await expect(page.getByRole('region', { name: 'Nix closure' }).getByText('hash checked').first()).toBeVisible();
  await expect(page.getByText(/Image ≈/)).toBeVisible({ timeout: 30_000 });

  const out = tempDir('img');
  const { file, name } = await buildAndDownload(page, out);
  expect(name).toBe('nixos.img');
  for (const stage of ['plan', 'mkfs', 'check', 'shrink', 'recheck', 'save']) {
    await expect(page.locator(`[data-stage="${stage}"]`)).toHaveClass(/stage-done/);
  }

  // The engine's worker is isolated too (it then has SharedArrayBuffer for the reader worker).
  const engine = page.workers().find((w) => w.url().includes('build-worker'));
  expect(await engine?.evaluate(() => self.crossOriginIsolated && typeof SharedArrayBuffer === 'function')).toBe(true);
  // mkfs read the picked files through a reader worker, which ended with it.
  expect(readers.length).toBeGreaterThan(0);
  expect(page.workers().filter((w) => w.url().includes('blob-read-ahead-worker'))).toEqual([]);

  const image = checkImage(file, out);
  const expected = new Map([...expectedFromBrowserFolder(site, '/site'), ...expectedFromClosure(closure)]);
  const got = withoutLostFound(image.tree);
  const reg = got.get('/nix-path-registration');
  expect(reg?.type).toBe('file');
  got.delete('/nix-path-registration');
  expect(plain(got)).toEqual(plain(expected));
  checkRegistration(image.dumpDir, closure);

  const header = dumpe2fsHeader(file);
  expect(header['Filesystem volume name']).toBe('nixos');
  expect(header['Filesystem UUID']).toBe('44444444-4444-4444-8888-888888888888');
  await expect(page.getByTestId('result-sha256')).toHaveText(sha256File(file));
  await expect(page.getByTestId('result-size')).toContainText(`${statSync(file).size.toLocaleString('en-US')} bytes`);

  // The README's picture: the studio right after a build.
  await page.setViewportSize({ width: 1440, height: 1000 });
  await page.getByRole('treeitem', { name: 'site', exact: true }).click();
  await page.getByRole('treeitem', { name: 'assets', exact: true }).click();
  await page.keyboard.press('ArrowRight');
  await page.evaluate(() => window.scrollTo(0, 0));
  const shot = await page.screenshot({ fullPage: true });
  mkdirSync('test-results', { recursive: true });
  writeFileSync('test-results/screenshot.png', shot);
  if (process.env.UPDATE_SCREENSHOT || !existsSync('public/screenshot.png'))
    copyFileSync('test-results/screenshot.png', 'public/screenshot.png');
  removeDir(out);
});

test('compressed: a labelled .img.zst that zstd -d turns into a clean image', async ({ page }) => {
  const tools = ['mke2fs', 'e2fsck', 'resize2fs', 'zstd'];
  const fetched: string[] = [];
  page.context().on('request', (r) => {
    const tool = /\/(mke2fs|e2fsck|resize2fs|dumpe2fs|debugfs|tune2fs|zstd)[^/]*\.wasm(\?|$)/.exec(r.url())?.[1];
    if (tool) fetched.push(tool);
  });
  await openStudio(page);
  await choose(page, 'Add folder', site);
  await inputsSettled(page);
  // The engine starts with the first input and fetches the build's tools before Build is pressed.
  await expect.poll(() => [...fetched].sort(), { timeout: 30_000 }).toEqual([...tools].sort());
  await page.getByRole('textbox', { name: 'Label' }).fill('demo');
  await page.getByRole('checkbox', { name: /Compress with zstd/ }).check();
  await page.getByRole('slider', { name: /Level/ }).fill('9');

  const out = tempDir('zst');
  const { file, name } = await buildAndDownload(page, out);
  expect(name).toBe('demo.img.zst');
  await expect(page.locator('[data-stage="compress"]')).toHaveClass(/stage-done/);
  expect(readFileSync(file).subarray(0, 4)).toEqual(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
  const raw = join(out, 'demo.img');
  run('zstd', ['-d', '-q', '-f', file, '-o', raw]);
  const image = checkImage(raw, out);
  expect(plain(withoutLostFound(image.tree))).toEqual(plain(expectedFromBrowserFolder(site, '/site')));
  expect(dumpe2fsHeader(raw)['Filesystem volume name']).toBe('demo');
  await expect(page.getByTestId('result-sha256')).toHaveText(sha256File(file));
  await expect(page.getByRole('region', { name: 'Image ready' })).toContainText('Compression');
  // ... and the build used them as fetched: none was fetched again.
  expect([...fetched].sort()).toEqual([...tools].sort());
  removeDir(out);
});

test('cancel stops a running build, and the next build succeeds', async ({ page }) => {
  const big = makeFolder(work, 'big', 96 * 1024 * 1024);
  await openStudio(page);
  await choose(page, 'Add folder', big);
  await inputsSettled(page);
  await page.getByRole('radio', { name: /^Download/ }).check();
  let downloads = 0;
  page.on('download', () => {
    downloads++;
  });

  // Cancelled while mkfs reads the files through its reader worker, which the engine started
  // with the first input, before Build.
  const readers = () => page.workers().filter((w) => w.url().includes('blob-read-ahead-worker'));
  await expect.poll(() => readers().length, { timeout: 60_000 }).toBe(1);
  const [reader] = readers();
  const readerEnded = new Promise<void>((ended) => reader.once('close', () => ended()));
  await page.getByRole('button', { name: 'Build image' }).click();
  await expect(page.locator('.stage-running[data-stage="mkfs"]')).toBeVisible({ timeout: 30_000 });
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByText('Build cancelled. Nothing was saved.')).toBeVisible();
  // The engine was ended, and its reader with it (the next engine starts a reader of its own).
  await readerEnded;
  expect(readers()).not.toContain(reader);
  await expect(page.getByRole('button', { name: 'Build image' })).toBeEnabled();
  expect(downloads).toBe(0);
  // The page stayed responsive and the tree is untouched.
  await expect(page.getByRole('treeitem', { name: 'big', exact: true })).toBeVisible();

  const out = tempDir('cancel');
  const { file } = await buildAndDownload(page, out);
  const image = checkImage(file, out);
  expect(plain(withoutLostFound(image.tree))).toEqual(plain(expectedFromBrowserFolder(big, '/big')));
  removeDir(out);
  removeDir(big);
});

test('bad inputs show their messages next to the input and block the build', async ({ page }) => {
  const bad = tempDir('bad');
  const corrupt = join(bad, 'broken.tar.gz');
  writeFileSync(corrupt, Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.alloc(64, 0x41)]));
  const notClosure = join(bad, 'registration');
  writeFileSync(notClosure, 'this is not a closure\n');

  await openStudio(page);
  await choose(page, 'Add folder', site);
  await choose(page, 'Add archive', corrupt);
  await inputsSettled(page);
  const archiveItem = page.getByRole('listitem').filter({ hasText: 'broken.tar.gz' });
  await expect(archiveItem.locator('.problem-error')).toBeVisible();
  await expect(archiveItem.locator('.problem-hint').first()).not.toBeEmpty();
  await expect(page.getByRole('button', { name: 'Build image' })).toBeDisabled();
  await expect(page.getByText(/Fix or remove broken\.tar\.gz first/)).toBeVisible();

  await choose(page, 'Add closure', notClosure);
  await inputsSettled(page);
  const closureItem = page.getByRole('listitem').filter({ hasText: 'registration' });
  await expect(closureItem.locator('.problem-error')).toBeVisible();

  // Removing the bad inputs lets the build go on.
  await page.getByRole('button', { name: 'Remove broken.tar.gz' }).click();
  await page.getByRole('button', { name: 'Remove registration' }).click();
  await expect(page.getByRole('button', { name: 'Build image' })).toBeEnabled();
  removeDir(bad);
});
