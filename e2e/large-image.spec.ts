/**
 * An image past 4 GiB built in Chromium and saved both ways, checked with native tools:
 * "Download" hands the browser the OPFS file the image was built in (a disk-backed File,
 * nothing assembled in memory), and "Save to a file" streams into a file handle. The image is
 * mostly free space (a small tree plus 4.05 GiB of headroom), so it is quick while every
 * offset above 4 GiB is still written and read through the 64-bit paths.
 *
 * The browser runs with a profile folder on disk (`launchPersistentContext`), as a
 * person's browser does: a fresh test context keeps storage in memory and refuses OPFS
 * writes past about 1.4 GB.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type BrowserContext, chromium, expect, type Page, test } from '@playwright/test';
import {
  checkImage,
  dumpe2fsHeader,
  expectedFromBrowserFolder,
  makeFolder,
  plain,
  removeDir,
  tempDir,
} from './support/host.ts';
import { rendererPeak } from './support/renderer-peak.ts';

const GiB = 1024 ** 3;
const HEADROOM_MIB = 4150;

let work: string;
let site: string;
let profile: string;
let context: BrowserContext;
let page: Page;
/** The image the Download test saved, opened by the last test. */
let built: string;

test.beforeAll(async () => {
  work = tempDir('large');
  site = makeFolder(work, 'site');
  profile = join(work, 'profile');
  const use = test.info().project.use;
  context = await chromium.launchPersistentContext(profile, {
    executablePath: use.launchOptions?.executablePath,
    args: use.launchOptions?.args,
    baseURL: use.baseURL,
    acceptDownloads: true,
  });
  page = context.pages()[0] ?? (await context.newPage());
});

test.afterAll(async () => {
  await context?.close();
  removeDir(work);
});

async function prepare(compress: boolean): Promise<void> {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Disk Image Studio' })).toBeVisible();
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Add folder', exact: true }).click();
  await (await chooser).setFiles(site);
  await expect(page.getByRole('list', { name: 'Inputs' }).getByText('Reading…')).toHaveCount(0, { timeout: 60_000 });
  // 4 KiB blocks: resize2fs cannot grow a 1 KiB-block filesystem a thousandfold (its
  // reserved group descriptor blocks run out), natively either.
  await page.getByLabel('Block size').selectOption('4096');
  await page.getByRole('spinbutton', { name: 'Headroom' }).fill(String(HEADROOM_MIB));
  if (compress) await page.getByRole('checkbox', { name: /Compress with zstd/ }).check();
}

function withoutLostFound(tree: ReturnType<typeof checkImage>['tree']) {
  const out = new Map(tree);
  for (const k of [...out.keys()]) if (k === '/lost+found' || k.startsWith('/lost+found/')) out.delete(k);
  return out;
}

/** Files of the studio's OPFS folder, by the page's own view of it. */
async function opfsFiles(): Promise<string[]> {
  return page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    let dir: FileSystemDirectoryHandle;
    try {
      dir = await root.getDirectoryHandle('disk-image-studio');
    } catch {
      return [];
    }
    const names: string[] = [];
    for await (const name of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(name);
    return names;
  });
}

test('Download: a 4.1 GiB image is handed over from OPFS as a disk-backed file, clean natively', async () => {
  test.setTimeout(170_000);
  await prepare(false);
  await page.getByRole('radio', { name: /^Download/ }).check();
  const download = page.waitForEvent('download', { timeout: 160_000 });
  await page.getByRole('button', { name: 'Build image' }).click();
  const t0 = Date.now();
  const d = await download;
  const t1 = Date.now();
  // The browser's own copy (no second copy of 4 GiB); it lives until the context closes.
  const file = (await d.path())!;
  const t2 = Date.now();
  await expect(page.getByRole('heading', { name: 'Image ready' })).toBeVisible();
  expect(d.suggestedFilename()).toBe('nixos.img');
  const size = statSync(file).size;
  expect(size).toBeGreaterThan(4 * GiB);
  await expect(page.getByTestId('result-size')).toContainText(`${size.toLocaleString('en-US')} bytes`);
  const peak = rendererPeak(profile);
  console.log(`Chromium renderer peak (page and worker): ${(peak / 1024 ** 2).toFixed(0)} MiB`);
  expect(peak).toBeGreaterThan(0);
  expect(peak).toBeLessThan(1.5 * GiB);
  // No warning that the image fell back to memory.
  await expect(page.getByText(/kept in memory, not on disk/)).toHaveCount(0);
  const image = checkImage(file, work);
  console.log(`build ${t1 - t0} ms, download ${t2 - t1} ms, native check ${Date.now() - t2} ms`);
  expect(plain(withoutLostFound(image.tree))).toEqual(plain(expectedFromBrowserFolder(site, '/site')));
  // The output stays in OPFS for "Download again" until the next build; no working files are left.
  const left = await opfsFiles();
  expect(left.filter((n) => !n.startsWith('output-'))).toEqual([]);
  expect(left.filter((n) => n.startsWith('output-'))).toHaveLength(1);
  built = file;
  removeDir(image.dumpDir);
});

test('Save to a file: the same image streams into the picked file, clean natively', async () => {
  test.setTimeout(170_000);
  // The picker stand-in hands out a real writable file handle: one in OPFS, read back below
  // from the profile folder on disk.
  await page.addInitScript(() => {
    (window as unknown as { showSaveFilePicker: unknown }).showSaveFilePicker = async (opts: {
      suggestedName: string;
    }) => {
      const root = await navigator.storage.getDirectory();
      return root.getFileHandle(`picked-${opts.suggestedName}`, { create: true });
    };
  });
  await prepare(false);
  await expect(page.getByRole('radio', { name: /^Save to a file/ })).toBeChecked();
  const t0 = Date.now();
  await page.getByRole('button', { name: 'Build image' }).click();
  await expect(page.getByRole('heading', { name: 'Image ready' })).toBeVisible({ timeout: 160_000 });
  console.log(`build and save ${Date.now() - t0} ms`);
  console.log(`Chromium renderer peak (page and worker): ${(rendererPeak(profile) / 1024 ** 2).toFixed(0)} MiB`);
  await expect(page.getByRole('region', { name: 'Image ready' })).toContainText('saved to the file you picked');
  // A new build removed the previous build's output from OPFS.
  expect((await opfsFiles()).filter((n) => n.startsWith('output-'))).toEqual([]);
  const expectedSize = await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    return (await (await root.getFileHandle('picked-nixos.img')).getFile()).size;
  });
  expect(expectedSize).toBeGreaterThan(4 * GiB);
  const file = findBySize(profile, expectedSize);
  expect(file, 'the picked file in the profile folder').toBeTruthy();
  const image = checkImage(file!, work);
  expect(plain(withoutLostFound(image.tree))).toEqual(plain(expectedFromBrowserFolder(site, '/site')));
  await page.evaluate(async () => (await navigator.storage.getDirectory()).removeEntry('picked-nixos.img'));
});

test('Open image: the 4.1 GiB image is used in place, relabelled, and downloaded again, clean natively', async () => {
  test.setTimeout(170_000);
  expect(built, 'the Download test ran first').toBeTruthy();
  await page.goto('/');
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Open image', exact: true }).click();
  await (await chooser).setFiles(built);
  await expect(page.getByTestId('fsck-verdict')).toContainText('Clean', { timeout: 90_000 });
  await page.getByRole('textbox', { name: 'Label' }).fill('reopened');
  await page.getByRole('button', { name: 'Set label' }).click();
  await expect(page.getByTestId('image-label')).toHaveText('reopened', { timeout: 60_000 });
  const download = page.waitForEvent('download', { timeout: 120_000 });
  const radio = page.getByRole('radio', { name: /^Download/ });
  if (await radio.count()) await radio.check();
  await page.getByRole('button', { name: 'Save image', exact: true }).click();
  const d = await download;
  const saved = (await d.path())!;
  const peak = rendererPeak(profile);
  console.log(`Chromium renderer peak after opening and saving: ${(peak / 1024 ** 2).toFixed(0)} MiB`);
  expect(peak).toBeLessThan(1.5 * GiB);
  expect(statSync(saved).size).toBe(statSync(built).size);
  const image = checkImage(saved, work);
  expect(plain(withoutLostFound(image.tree))).toEqual(plain(expectedFromBrowserFolder(site, '/site')));
  expect(dumpe2fsHeader(saved)['Filesystem volume name']).toBe('reopened');
  // The opened file itself was never written.
  expect(dumpe2fsHeader(built)['Filesystem volume name']).toBe('nixos');
});

/** The one file under `dir` of exactly `size` bytes (Chromium keeps OPFS files as plain files). */
function findBySize(dir: string, size: number): string | undefined {
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    if (!existsSync(d)) continue;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile() && statSync(p).size === size) return p;
    }
  }
  return undefined;
}
