/**
 * A `.tar.zst` added in the tab is decompressed into the browser's origin-private file
 * system (OPFS), not into memory: its members' bytes land in an OPFS file of the page's spool
 * session as they are decompressed, the image built from them is clean natively with
 * exactly the archive's tree, removing the input removes the file, and a page that is gone
 * leaves nothing behind once the engine starts again.
 *
 * The browser runs with a profile folder on disk (`launchPersistentContext`), as a person's
 * browser does (a fresh test context keeps storage in memory).
 */
import { lstatSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type BrowserContext, chromium, expect, type Page, test } from '@playwright/test';
import { buildAndDownload, choose, inputsSettled } from './support/flow.ts';
import { checkImage, makeFolder, plain, removeDir, run, tempDir, walk } from './support/host.ts';

let work: string;
let context: BrowserContext;

test.beforeAll(async () => {
  work = tempDir('archive-spool');
  const use = test.info().project.use;
  context = await chromium.launchPersistentContext(join(work, 'profile'), {
    executablePath: use.launchOptions?.executablePath,
    args: use.launchOptions?.args,
    baseURL: use.baseURL,
    acceptDownloads: true,
  });
});

test.afterAll(async () => {
  await context?.close();
  removeDir(work);
});

/** Files under the studio's spools of decompressed contents: `session/input/file` and size. */
async function spooled(page: Page): Promise<Array<{ path: string; size: number }>> {
  return page.evaluate(async () => {
    type Dir = FileSystemDirectoryHandle & { entries(): AsyncIterable<[string, FileSystemHandle]> };
    const out: Array<{ path: string; size: number }> = [];
    let top: Dir;
    try {
      top = (await (await navigator.storage.getDirectory()).getDirectoryHandle('input-contents')) as Dir;
    } catch {
      return out;
    }
    const stack: Array<[string, Dir]> = [['', top]];
    while (stack.length > 0) {
      const [at, dir] = stack.pop()!;
      for await (const [name, h] of dir.entries()) {
        if (h.kind === 'directory') stack.push([`${at}${name}/`, h as Dir]);
        else out.push({ path: at + name, size: (await (h as FileSystemFileHandle).getFile()).size });
      }
    }
    return out;
  });
}

test('a .tar.zst is spooled to OPFS, builds an image clean natively, and its file goes with it', async () => {
  test.setTimeout(170_000);
  const site = makeFolder(work, 'site', 3 << 20);
  run('tar', ['--owner=0', '--group=0', '-C', work, '-cf', join(work, 'site.tar'), 'site']);
  run('zstd', ['-q', '-19', join(work, 'site.tar'), '-o', join(work, 'site.tar.zst')]);
  const expected = walk(site, '/site');
  expected.set('/site', { type: 'dir', mode: lstatSync(site).mode & 0o7777 });
  let contentBytes = 0;
  let fileCount = 0;
  for (const [p, w] of expected)
    if (w.type === 'file') {
      contentBytes += statSync(join(work, p)).size;
      fileCount++;
    }

  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto('/');
  await choose(page, 'Add archive', join(work, 'site.tar.zst'));
  await inputsSettled(page);
  await expect(page.locator('.tree-totals')).toContainText(`${fileCount} files`);
  // The members' bytes are in one OPFS file of this page's session, for this input.
  const files = await spooled(page);
  expect(files).toHaveLength(1);
  expect(files[0].path).toMatch(/^[0-9a-f-]{36}\/input-1\/contents-/);
  expect(files[0].size).toBe(contentBytes);
  await expect(page.getByText(/held in memory/)).toHaveCount(0);

  const image = checkImage(await buildAndDownload(page, work), work);
  expect(plain(withoutLostFound(image.tree))).toEqual(plain(expected));
  removeDir(image.dumpDir);

  // Removing the input removes its spooled contents.
  await page.getByRole('button', { name: 'Remove site.tar.zst' }).click();
  await expect.poll(() => spooled(page)).toEqual([]);

  // A page that is gone: its spool is removed when the engine next starts (in another page).
  await choose(page, 'Add archive', join(work, 'site.tar.zst'));
  await inputsSettled(page);
  const left = await spooled(page);
  expect(left).toHaveLength(1);
  const next = await context.newPage();
  await page.close();
  await next.goto('/');
  await choose(next, 'Add archive', join(work, 'site.tar'));
  await inputsSettled(next);
  await expect.poll(() => spooled(next)).toEqual([]);
});

function withoutLostFound(tree: Map<string, { type: 'dir' | 'file' | 'symlink'; mode: number; content?: string }>) {
  const out = new Map(tree);
  for (const k of [...out.keys()]) if (k === '/lost+found' || k.startsWith('/lost+found/')) out.delete(k);
  return out;
}
