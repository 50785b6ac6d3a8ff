/** Steps shared by the page's browser tests: picking files, waiting for inputs, building, axe. */
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { expect } from './studio.ts';

/** Clicks an "Add …" (or any) button and gives its file chooser `files`. */
export async function choose(page: Page, button: string, files: string | string[]): Promise<void> {
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: button, exact: true }).click();
  await (await chooser).setFiles(files);
}

export async function inputsSettled(page: Page): Promise<void> {
  await expect(page.getByRole('list', { name: 'Inputs' }).getByText('Reading…')).toHaveCount(0, { timeout: 60_000 });
}

/** Builds with the "Download" choice and saves the browser download to `dir`. */
export async function buildAndDownload(page: Page, dir: string): Promise<string> {
  await page.getByRole('radio', { name: /^Download/ }).check();
  const build = page.getByRole('button', { name: 'Build image' });
  await expect(build).toBeEnabled({ timeout: 30_000 });
  const download = page.waitForEvent('download', { timeout: 170_000 });
  await build.click();
  const d = await download;
  const file = join(dir, d.suggestedFilename());
  await d.saveAs(file);
  await expect(page.getByRole('heading', { name: 'Image ready' })).toBeVisible();
  return file;
}

/**
 * axe-core finds nothing on the page as it is now, in light and in dark. Returns the
 * violations in a readable form (empty when clean) so a failure says what and where.
 */
export async function axeViolations(page: Page, state: string): Promise<string[]> {
  const out: string[] = [];
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme, reducedMotion: 'reduce' });
    const r = await new AxeBuilder({ page }).analyze();
    for (const v of r.violations)
      for (const n of v.nodes)
        out.push(
          `${state} (${colorScheme}): ${v.id}: ${n.target.join(' ')}: ${n.failureSummary?.split('\n').slice(1, 2).join('')}`,
        );
  }
  await page.emulateMedia({ colorScheme: null, reducedMotion: null });
  return out;
}
