/** Phones: no horizontal overflow at 390 px wide, and every control is at least 24 px to tap. */
import type { Page } from '@playwright/test';
import { test, expect, openStudio } from './support/studio.ts';
import { choose, inputsSettled } from './support/flow.ts';
import { makeClosure, makeFolder, removeDir, tempDir, type ClosureFixture } from './support/host.ts';

let work: string;
let site: string;
let closure: ClosureFixture;
test.beforeAll(() => {
  work = tempDir('phone');
  site = makeFolder(work, 'site');
  closure = makeClosure(work);
});
test.afterAll(() => removeDir(work));

/** Elements wider than the viewport, and visible controls smaller than 24 px (WCAG 2.5.8). */
async function phoneProblems(page: Page): Promise<{ overflow: number; wide: string[]; small: string[] }> {
  return page.evaluate(() => {
    const vw = document.documentElement.clientWidth;
    const name = (el: Element) =>
      `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}.${[...el.classList].join('.')} "${(el.textContent ?? '').trim().slice(0, 30)}"`;
    const wide: string[] = [];
    for (const el of document.querySelectorAll('body *')) {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > vw + 0.5 && !el.closest('.tree-scroll, .closure-scroll, pre')) wide.push(name(el));
    }
    const small: string[] = [];
    for (const el of document.querySelectorAll('button, a[href], input, select, summary, [role="treeitem"]')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue; // hidden
      const input = el as HTMLInputElement;
      if (input.type === 'hidden') continue;
      // Checkboxes and radios count with their label, which is the tap target.
      const label = (input.type === 'checkbox' || input.type === 'radio') && el.closest('label');
      const box = label ? label.getBoundingClientRect() : r;
      if (box.width < 24 || box.height < 24)
        small.push(`${name(el)} ${Math.round(box.width)}x${Math.round(box.height)}`);
    }
    return { overflow: document.documentElement.scrollWidth - vw, wide: wide.slice(0, 10), small };
  });
}

test('at 390 px wide nothing overflows sideways and every control is at least 24 px', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await openStudio(page);
  expect(await phoneProblems(page)).toEqual({ overflow: 0, wide: [], small: [] });
  await choose(page, 'Add folder', site);
  await choose(page, 'Add closure', closure.exportFile);
  await inputsSettled(page);
  await page.getByRole('treeitem', { name: 'site', exact: true }).click();
  await page.keyboard.press('ArrowRight');
  await page.getByRole('treeitem', { name: 'index.html', exact: true }).click();
  await page.screenshot({ path: 'test-results/phone.png', fullPage: true });
  expect(await phoneProblems(page)).toEqual({ overflow: 0, wide: [], small: [] });
});
