/**
 * The shared Playwright fixture: every test's page is watched for requests that leave the
 * page's own origin (the studio promises that nothing is uploaded or fetched from
 * elsewhere), for Content-Security-Policy violations and for uncaught errors.
 */
import { test as base, expect, type Page } from '@playwright/test';

export { expect };

export interface Watch {
  /** Requests to anything but the page's origin (blob: and data: are local). */
  foreign: string[];
  cspViolations: string[];
  pageErrors: string[];
}

export const test = base.extend<{ watch: Watch }>({
  watch: [async ({ page, baseURL }, use) => {
    const origin = new URL(baseURL!).origin;
    const host = new URL(baseURL!).host;
    const watch: Watch = { foreign: [], cspViolations: [], pageErrors: [] };
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.protocol === 'blob:' || u.protocol === 'data:') return;
      if (u.origin !== origin) watch.foreign.push(r.url());
    });
    page.on('websocket', (ws) => {
      if (new URL(ws.url()).host !== host) watch.foreign.push(ws.url());
    });
    page.on('console', (m) => {
      if (/Content.Security.Policy/i.test(m.text())) watch.cspViolations.push(m.text());
    });
    page.on('pageerror', (e) => watch.pageErrors.push(String(e)));
    await use(watch);
    expect(watch.foreign, 'requests that left the page origin').toEqual([]);
    expect(watch.cspViolations, 'Content-Security-Policy violations').toEqual([]);
    expect(watch.pageErrors, 'uncaught errors on the page').toEqual([]);
  }, { auto: true }],
});

/** Opens the studio and waits for the page to be ready. */
export async function openStudio(page: Page): Promise<void> {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Disk Image Studio' })).toBeVisible();
}
