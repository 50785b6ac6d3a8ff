/**
 * From an empty page to a saved image by keyboard alone: focus always visible, never lost to
 * the page body. The image is checked with native e2fsck and debugfs.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { test, expect, openStudio } from './support/studio.ts';
import { checkImage, removeDir, tempDir } from './support/host.ts';

let work: string;
test.beforeAll(() => {
  work = tempDir('keyboard');
  writeFileSync(join(work, 'init'), '#!/bin/sh\nexec /bin/sh\n');
});
test.afterAll(() => removeDir(work));

interface Focus {
  body: boolean;
  visible: boolean;
  what: string;
}

/** Where focus is, and whether it shows (a focus-visible outline or ring). */
function focus(page: Page): Promise<Focus> {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (!el || el === document.body) return { body: true, visible: false, what: 'body' };
    // A tree shows focus on its active row (aria-activedescendant), or on itself.
    const active = el.getAttribute('aria-activedescendant');
    const style = getComputedStyle((active && document.getElementById(active)) || el);
    const ring = (style.outlineStyle !== 'none' && style.outlineWidth !== '0px') || style.boxShadow !== 'none';
    const labels = (el as HTMLInputElement).labels;
    const label =
      el.getAttribute('aria-label') ??
      (labels?.length ? labels[0].textContent : el.textContent)?.trim().slice(0, 40) ??
      '';
    return { body: false, visible: el.matches(':focus-visible') && ring, what: `${el.tagName} ${el.id} ${label}` };
  });
}

/** Presses `key` and checks focus stayed somewhere visible. */
async function press(page: Page, key: string): Promise<Focus> {
  await page.keyboard.press(key);
  const f = await focus(page);
  expect(f.body, `focus fell to the page body after ${key}`).toBe(false);
  expect(f.visible, `focus not visible on ${f.what} after ${key}`).toBe(true);
  return f;
}

/** Tabs forward until `match` holds for the focused element (at most 80 steps). */
async function tabTo(page: Page, match: RegExp): Promise<void> {
  for (let i = 0; i < 80; i++) {
    const f = await press(page, 'Tab');
    if (match.test(f.what)) return;
  }
  throw new Error(`Tab never reached ${match}`);
}

test('empty page to saved image by keyboard alone', async ({ page }) => {
  await openStudio(page);
  await tabTo(page, /^BUTTON .*Add files$/);
  const chooser = page.waitForEvent('filechooser');
  await page.keyboard.press('Space');
  await (await chooser).setFiles(join(work, 'init'));
  await expect(page.getByRole('list', { name: 'Inputs' })).toContainText('1 entry');
  expect((await focus(page)).what).toMatch(/Add files$/);

  // Into the tree: nothing is selected until an arrow key says so.
  await tabTo(page, /^DIV image-tree/);
  await expect(page.getByRole('treeitem', { selected: true })).toHaveCount(0);
  await press(page, 'ArrowDown');
  await expect(page.getByRole('treeitem', { name: 'init', exact: true })).toHaveAttribute('aria-selected', 'true');
  await tabTo(page, /^INPUT .*Executable/);
  await press(page, 'Space');
  await expect(page.getByRole('treeitem', { name: 'init', exact: true })).toHaveAccessibleDescription(/-rwxr-xr-x/);

  // Options by keyboard: a label.
  await tabTo(page, /^INPUT opt-label/);
  await page.keyboard.press('Control+a');
  await page.keyboard.type('keys');
  // Download instead of a file picker, then build.
  await tabTo(page, /^INPUT .*Save to a file/);
  await press(page, 'ArrowDown');
  await expect(page.getByRole('radio', { name: /^Download/ })).toBeChecked();
  await tabTo(page, /^BUTTON .*Build image/);
  const download = page.waitForEvent('download', { timeout: 170_000 });
  await page.keyboard.press('Enter');
  const d = await download;
  await expect(page.getByRole('heading', { name: 'Image ready' })).toBeVisible();
  const f = await focus(page);
  expect(f.body).toBe(false);
  expect(f.what).toMatch(/Build image/);

  const file = join(work, d.suggestedFilename());
  expect(d.suggestedFilename()).toBe('keys.img');
  await d.saveAs(file);
  const image = checkImage(file, work);
  expect(image.tree.get('/init')).toMatchObject({ type: 'file', mode: 0o755 });
});
