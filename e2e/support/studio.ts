/**
 * The shared Playwright fixture: every test's page is watched for requests that leave the
 * page's own origin (the studio promises that nothing is uploaded or fetched from
 * elsewhere), for Content-Security-Policy violations and for uncaught errors.
 */
import { readFileSync } from 'node:fs';
import { test as base, expect, type Page } from '@playwright/test';

export { expect };

/**
 * Origins besides the page's that a spec allows (a local test binary cache); a spec adds
 * them in `beforeAll` and removes them in `afterAll`.
 */
export const allowedOrigins = new Set<string>();

export interface Watch {
  /** Requests to anything but the page's origin (blob: and data: are local). */
  foreign: string[];
  cspViolations: string[];
  pageErrors: string[];
}

export const test = base.extend<{ watch: Watch }>({
  watch: [
    async ({ page, baseURL }, use) => {
      const origin = new URL(baseURL!).origin;
      const host = new URL(baseURL!).host;
      const watch: Watch = { foreign: [], cspViolations: [], pageErrors: [] };
      page.on('request', (r) => {
        const u = new URL(r.url());
        if (u.protocol === 'blob:' || u.protocol === 'data:') return;
        if (u.origin !== origin && !allowedOrigins.has(u.origin)) watch.foreign.push(r.url());
      });
      page.on('websocket', (ws) => {
        const wsHost = new URL(ws.url()).host;
        if (wsHost !== host && ![...allowedOrigins].some((o) => new URL(o).host === wsHost))
          watch.foreign.push(ws.url());
      });
      page.on('console', (m) => {
        if (/Content.Security.Policy/i.test(m.text())) watch.cspViolations.push(m.text());
      });
      page.on('pageerror', (e) => watch.pageErrors.push(String(e)));
      await use(watch);
      expect(watch.foreign, 'requests that left the page origin').toEqual([]);
      expect(watch.cspViolations, 'Content-Security-Policy violations').toEqual([]);
      expect(watch.pageErrors, 'uncaught errors on the page').toEqual([]);
    },
    { auto: true },
  ],
});

/** Opens the studio and waits for the page to be ready. */
export async function openStudio(page: Page): Promise<void> {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Disk Image Studio' })).toBeVisible();
}

/** Drops host files on `target` the way a drag from the desktop delivers them. */
export async function dropFiles(
  page: Page,
  target: string,
  files: Array<{ path: string; name: string; type?: string }>,
): Promise<void> {
  const payload = files.map((f) => ({
    name: f.name,
    type: f.type ?? '',
    data: readFileSync(f.path).toString('base64'),
  }));
  const dt = await page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const f of list) {
      const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
      dt.items.add(new File([bytes], f.name, { type: f.type }));
    }
    return dt;
  }, payload);
  await page.dispatchEvent(target, 'dragenter', { dataTransfer: dt });
  await page.dispatchEvent(target, 'dragover', { dataTransfer: dt });
  await page.dispatchEvent(target, 'drop', { dataTransfer: dt });
}
