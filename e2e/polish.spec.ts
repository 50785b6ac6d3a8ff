/**
 * The polish a person notices (issue 12): stage times of their own, headroom errors at the
 * field, the compatibility option (checked with dumpe2fs), and "Open image" taking any file
 * and deciding by content.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { test, expect, openStudio } from './support/studio.ts';
import { buildAndDownload, choose, inputsSettled } from './support/flow.ts';
import { checkImage, dumpe2fsHeader, removeDir, run, tempDir } from './support/host.ts';

let work: string;
test.beforeAll(() => {
  work = tempDir('polish');
  writeFileSync(join(work, 'hello.txt'), 'hello\n');
});
test.afterAll(() => removeDir(work));

const seconds = (text: string) => {
  const m = /^(\d+):(\d\d)$/.exec(text);
  return m ? Number(m[1]) * 60 + Number(m[2]) : Number.parseFloat(text);
};

async function openImage(page: Page, file: string): Promise<void> {
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Open image', exact: true }).click();
  await (await chooser).setFiles(file);
}

test('each finished stage shows its own duration; they add up to the build time', async ({ page }) => {
  await openStudio(page);
  await choose(page, 'Add files', join(work, 'hello.txt'));
  await inputsSettled(page);
  await buildAndDownload(page, work);
  const total = seconds((await page.locator('.build-panel .panel-head .muted').textContent()) ?? '');
  const times: number[] = [];
  for (const stage of ['plan', 'mkfs', 'check', 'shrink', 'recheck', 'save'])
    times.push(seconds((await page.locator(`[data-stage="${stage}"] .stage-time`).textContent()) ?? ''));
  for (const t of times) expect(t).toBeGreaterThanOrEqual(0);
  // Rounded to tenths: each stage can be 0.05 s over.
  expect(times.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(total + 0.05 * times.length + 0.05);
});

test('negative headroom is an error at the field and blocks the build', async ({ page }) => {
  await openStudio(page);
  await choose(page, 'Add files', join(work, 'hello.txt'));
  await inputsSettled(page);
  const field = page.getByLabel('Headroom');
  await field.fill('-5');
  await expect(field).toHaveAttribute('aria-invalid', 'true');
  await expect(field).toHaveAccessibleDescription(
    'Headroom cannot be negative: give 0 or more MiB of free space to keep.',
  );
  await expect(page.getByRole('button', { name: 'Build image' })).toBeDisabled();
  await field.fill('2');
  await expect(field).not.toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByRole('button', { name: 'Build image' })).toBeEnabled({ timeout: 30_000 });
});

test('the compatibility option leaves out orphan_file and metadata_csum_seed; Open image takes any name', async ({
  page,
}) => {
  await openStudio(page);
  await choose(page, 'Add files', join(work, 'hello.txt'));
  await inputsSettled(page);
  const compat = page.getByRole('checkbox', { name: 'Compatible with older kernels and boot loaders' });
  await expect(compat).toHaveAccessibleDescription(/orphan_file and metadata_csum_seed/);
  await compat.check();
  const file = await buildAndDownload(page, work);
  checkImage(file, work);
  const features = dumpe2fsHeader(file)['Filesystem features'].split(' ');
  expect(features).toContain('metadata_csum');
  expect(features).not.toContain('orphan_file');
  expect(features).not.toContain('metadata_csum_seed');

  // Any file name: no extension, .ext4, and a zstd stream named .raw are all decided by content.
  await expect(page.locator('input[data-input="image"]')).not.toHaveAttribute('accept', /.*/);
  const plainName = join(work, 'disk');
  const ext4Name = join(work, 'rootfs.ext4');
  const zstName = join(work, 'packed.raw');
  copyFileSync(file, plainName);
  copyFileSync(file, ext4Name);
  run('zstd', ['-q', '-f', file, '-o', zstName]);
  for (const f of [plainName, ext4Name, zstName]) {
    await openImage(page, f);
    await expect(page.getByRole('treeitem', { name: 'hello.txt', exact: true })).toBeVisible({ timeout: 60_000 });
    await page.getByRole('button', { name: 'Close image' }).click();
    await expect(page.getByRole('button', { name: 'Build image' })).toBeVisible();
  }
});
