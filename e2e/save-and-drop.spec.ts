/**
 * Saving through the File System Access API (with a recording stand-in for the picker, as a
 * test cannot click through a native dialog) and dropping archives and files on the page.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { dropFiles, test, expect, openStudio } from './support/studio.ts';
import { makeFolder, removeDir, run, tempDir } from './support/host.ts';

let work: string;
let site: string;

test.beforeAll(() => {
  work = tempDir('save');
  site = makeFolder(work, 'site');
});
test.afterAll(() => removeDir(work));

/** Replaces `showSaveFilePicker` with one that records what the page writes. */
async function recordingPicker(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const rec = { suggestedName: '', writes: 0, bytes: 0, closed: false, aborted: false, parts: [] as Uint8Array[] };
    (window as any).__saved = rec;
    (window as any).showSaveFilePicker = async (opts: { suggestedName: string }) => {
      rec.suggestedName = opts.suggestedName;
      return {
        name: opts.suggestedName,
        async createWritable() {
          return {
            async write(chunk: Uint8Array) {
              rec.writes++;
              rec.bytes += chunk.byteLength;
              rec.parts.push(new Uint8Array(chunk));
            },
            async close() {
              rec.closed = true;
            },
            async abort() {
              rec.aborted = true;
              rec.parts = [];
            },
          };
        },
      };
    };
  });
}

async function addFolder(page: Page, dir: string): Promise<void> {
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Add folder', exact: true }).click();
  await (await chooser).setFiles(dir);
  await expect(page.getByRole('list', { name: 'Inputs' }).getByText('Reading…')).toHaveCount(0, { timeout: 60_000 });
}

test('"Save to a file" streams every chunk into the picked file', async ({ page }) => {
  await recordingPicker(page);
  await openStudio(page);
  await addFolder(page, site);
  await expect(page.getByRole('radio', { name: /^Save to a file/ })).toBeChecked();
  let downloads = 0;
  page.on('download', () => {
    downloads++;
  });
  await page.getByRole('button', { name: 'Build image' }).click();
  await expect(page.getByRole('heading', { name: 'Image ready' })).toBeVisible({ timeout: 120_000 });
  await expect(page.getByRole('region', { name: 'Image ready' })).toContainText('saved to the file you picked');

  const saved = await page.evaluate(async () => {
    const rec = (window as any).__saved;
    const all = new Uint8Array(rec.bytes);
    let at = 0;
    for (const p of rec.parts) {
      all.set(p, at);
      at += p.byteLength;
    }
    const hash = [...new Uint8Array(await crypto.subtle.digest('SHA-256', all))]
      .map((b) => b.toString(16).padStart(2, '0'))
      .join('');
    return {
      suggestedName: rec.suggestedName,
      writes: rec.writes,
      bytes: rec.bytes,
      closed: rec.closed,
      aborted: rec.aborted,
      hash,
    };
  });
  expect(saved.suggestedName).toBe('nixos.img');
  expect(saved.writes).toBeGreaterThan(0);
  expect(saved.closed).toBe(true);
  expect(saved.aborted).toBe(false);
  await expect(page.getByTestId('result-sha256')).toHaveText(saved.hash);
  expect(downloads).toBe(0);
});

test('a cancelled build discards the picked file', async ({ page }) => {
  const big = makeFolder(work, 'big', 64 * 1024 * 1024);
  await recordingPicker(page);
  await openStudio(page);
  await addFolder(page, big);
  await page.getByRole('button', { name: 'Build image' }).click();
  await expect(page.locator('.stage-running').first()).toBeVisible({ timeout: 30_000 });
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByText('Build cancelled. Nothing was saved.')).toBeVisible();
  const rec = await page.evaluate(() => ({
    closed: (window as any).__saved.closed,
    aborted: (window as any).__saved.aborted,
  }));
  expect(rec).toEqual({ closed: false, aborted: true });
  removeDir(big);
});

test('dropping an archive asks: extract here, or keep it as one file', async ({ page }) => {
  const src = join(work, 'tar-src');
  mkdirSync(join(src, 'etc'), { recursive: true });
  writeFileSync(join(src, 'etc/hostname'), 'studio\n');
  writeFileSync(join(src, 'README'), 'from a tar\n');
  const tarFile = join(work, 'rootfs.tar');
  run('tar', ['--owner=0', '--group=0', '-cf', tarFile, '-C', src, 'etc', 'README']);
  const note = join(work, 'note.txt');
  writeFileSync(note, 'just a file\n');

  await openStudio(page);
  await dropFiles(page, '.drop-zone', [
    { path: tarFile, name: 'rootfs.tar', type: 'application/x-tar' },
    { path: note, name: 'note.txt', type: 'text/plain' },
  ]);
  const dialog = page.getByRole('dialog', { name: 'Extract this archive?' });
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText('rootfs.tar');
  await dialog.getByRole('button', { name: 'Extract here' }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByRole('treeitem', { name: 'etc', exact: true })).toBeVisible();
  await expect(page.getByRole('treeitem', { name: 'README', exact: true })).toBeVisible();
  await expect(page.getByRole('treeitem', { name: 'note.txt', exact: true })).toBeVisible();

  // Dropped onto a folder, kept whole.
  await dropFiles(page, 'role=treeitem[name="etc"]', [{ path: tarFile, name: 'rootfs.tar' }]);
  await page
    .getByRole('dialog', { name: 'Extract this archive?' })
    .getByRole('button', { name: 'Keep as one file' })
    .click();
  await expect
    .poll(() =>
      page.evaluate(() => {
        const t = (window as any).__studio.getState().tree;
        return t.get('/etc/rootfs.tar')?.entry.type;
      }),
    )
    .toBe('file');
  const paths = await page.evaluate(() =>
    (window as any).__studio
      .getState()
      .tree.toEntries()
      .map((e: any) => e.path)
      .sort(),
  );
  expect(paths).toEqual(['/README', '/etc', '/etc/hostname', '/etc/rootfs.tar', '/note.txt']);
});
