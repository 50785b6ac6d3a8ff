/**
 * axe-core on every main state of the page, light and dark: empty, with a tree, during and
 * after a build, an opened image, and each dialog. Zero violations.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, expect, openStudio, dropFiles } from './support/studio.ts';
import { axeViolations, choose, inputsSettled } from './support/flow.ts';
import { makeClosure, makeFolder, removeDir, run, tempDir, type ClosureFixture } from './support/host.ts';

let work: string;
let site: string;
let closure: ClosureFixture;
let tarFile: string;

test.beforeAll(() => {
  work = tempDir('axe');
  site = makeFolder(work, 'site');
  closure = makeClosure(work);
  tarFile = join(work, 'etc.tar');
  run('tar', ['-C', site, '-cf', tarFile, 'docs']);
});
test.afterAll(() => removeDir(work));

test('no axe violations: empty, with a tree, during and after a build, an opened image', async ({ page }) => {
  test.setTimeout(300_000);
  const found: string[] = [];
  await openStudio(page);
  for (const v of await axeViolations(page, 'empty')) found.push(v);

  await choose(page, 'Add folder', site);
  await choose(page, 'Add closure', closure.exportFile);
  await inputsSettled(page);
  await page.getByRole('treeitem', { name: 'site', exact: true }).click();
  await page.keyboard.press('ArrowRight');
  await page.getByRole('treeitem', { name: 'assets', exact: true }).click();
  await expect(page.getByText(/Image ≈/)).toBeVisible({ timeout: 30_000 });
  for (const v of await axeViolations(page, 'with a tree')) found.push(v);

  // During a build: zstd at its highest level over 24 MiB of noise keeps the build busy.
  const noise = join(work, 'noise.bin');
  writeFileSync(
    noise,
    Buffer.alloc(24 << 20, 7).map((_, i) => (i * 2654435761) >>> 24),
  );
  await choose(page, 'Add files', noise);
  await inputsSettled(page);
  await page.getByRole('checkbox', { name: /Compress with zstd/ }).check();
  await page.getByLabel('Level').fill('19');
  await page.getByRole('radio', { name: /^Download/ }).check();
  const download = page.waitForEvent('download', { timeout: 170_000 });
  await page.getByRole('button', { name: 'Build image' }).click();
  await expect(page.getByRole('button', { name: 'Cancel' })).toBeVisible();
  for (const v of await axeViolations(page, 'during a build')) found.push(v);
  const d = await download;
  const img = join(work, d.suggestedFilename());
  await d.saveAs(img);
  await expect(page.getByRole('heading', { name: 'Image ready' })).toBeVisible();
  await page.locator('details.log summary').click();
  for (const v of await axeViolations(page, 'after a build')) found.push(v);

  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Open image', exact: true }).click();
  await (await chooser).setFiles(img);
  await expect(page.getByRole('treeitem', { name: 'site', exact: true })).toBeVisible({ timeout: 60_000 });
  await page.getByRole('treeitem', { name: 'site', exact: true }).click();
  for (const v of await axeViolations(page, 'an opened image')) found.push(v);
  expect(found).toEqual([]);
});

test('no axe violations in the dialogs: extract, conflicts, delete, new link', async ({ page }) => {
  const found: string[] = [];
  await openStudio(page);
  await choose(page, 'Add folder', site);
  await inputsSettled(page);

  await dropFiles(page, '.drop-strip', [{ path: tarFile, name: 'docs.tar' }]);
  await expect(page.getByRole('dialog', { name: /Extract this archive/ })).toBeVisible();
  for (const v of await axeViolations(page, 'archive dialog')) found.push(v);
  await page.getByRole('button', { name: 'Extract here' }).click();
  await inputsSettled(page);

  // The same docs again at /: its files clash with those just extracted.
  await dropFiles(page, '.drop-strip', [{ path: tarFile, name: 'docs.tar' }]);
  await page.getByRole('button', { name: 'Extract here' }).click();
  await expect(page.getByRole('dialog', { name: /already/i })).toBeVisible();
  for (const v of await axeViolations(page, 'conflict dialog')) found.push(v);
  await page.keyboard.press('Escape');

  await page.getByRole('treeitem', { name: 'site', exact: true }).click();
  await page.keyboard.press('Delete');
  await expect(page.getByRole('dialog', { name: 'Delete /site?' })).toBeVisible();
  for (const v of await axeViolations(page, 'delete dialog')) found.push(v);
  await page.getByRole('button', { name: 'Keep it' }).click();

  await page.getByRole('button', { name: 'New link' }).click();
  await expect(page.getByRole('dialog', { name: 'New symbolic link' })).toBeVisible();
  for (const v of await axeViolations(page, 'link dialog')) found.push(v);
  await page.keyboard.press('Escape');
  expect(found).toEqual([]);
});
