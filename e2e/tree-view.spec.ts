/** The page without the engine: layout promises, the virtualized tree and its edits. */
import { test, expect, openStudio } from './support/studio.ts';

test('the page promises local building and offers the four inputs', async ({ page }) => {
  await openStudio(page);
  await expect(page.getByText('nothing is uploaded')).toBeVisible();
  for (const name of ['Add files', 'Add folder', 'Add archive', 'Add closure']) {
    await expect(page.getByRole('button', { name, exact: true })).toBeVisible();
  }
  await expect(page.getByRole('button', { name: 'Build image' })).toBeDisabled();
  const csp = await page.locator('meta[http-equiv="Content-Security-Policy"]').first().getAttribute('content');
  expect(csp).toContain("default-src 'self'");
  expect(csp).toContain("connect-src 'self'");
  // No worker (and so no WebAssembly) is started before it is needed.
  expect(
    await page.evaluate(() => performance.getEntriesByType('resource').some((e) => /\.wasm|build-worker/.test(e.name))),
  ).toBe(false);
});

test('a 100,000-entry tree keeps the DOM small and stays navigable', async ({ page }) => {
  await openStudio(page);
  await page.waitForFunction(() => 'studio' in window || '__studio' in window);
  const rows = await page.evaluate(() => (window as any).__studio.loadSynthetic(100_000));
  expect(rows).toBeGreaterThan(100_000);
  const items = page.getByRole('treeitem');
  await expect(items.first()).toBeVisible();
  expect(await items.count()).toBeLessThan(80);

  const scroller = page.locator('.tree-scroll');
  for (const f of [0.25, 0.5, 0.999]) {
    await scroller.evaluate((el, frac) => {
      el.scrollTop = el.scrollHeight * frac;
    }, f);
    await page.waitForTimeout(100);
    expect(await items.count()).toBeLessThan(80);
  }
  // The last rows are real rows, reachable by keyboard too.
  await page.locator('#image-tree').focus();
  await page.keyboard.press('End');
  await expect(page.getByRole('treeitem', { selected: true })).toContainText('f0998.txt');
  await page.keyboard.press('Home');
  await expect(page.getByRole('treeitem', { selected: true })).toContainText('data');
  await page.keyboard.press('ArrowLeft'); // collapses /data: 100,000 rows go away
  await expect(items).toHaveCount(1);
});

test('tree edits: new folder, rename, executable bit, move by dragging, delete', async ({ page }) => {
  await openStudio(page);
  await page.waitForFunction(() => '__studio' in window);
  await page.evaluate(() => {
    const f = (path: string, size = 3) => ({
      path,
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: 1,
      size,
      origin: 'test',
      source: { kind: 'bytes', bytes: new Uint8Array(size) },
    });
    (window as any).__studio.store.mergeEntries(
      [f('/run.sh'), f('/<img src=x onerror=alert(1)>.txt'), f('/notes.txt')],
      'test',
    );
  });
  // Names are text, never markup.
  await expect(page.getByRole('treeitem', { name: /<img src=x onerror=alert\(1\)>\.txt/ })).toBeVisible();
  expect(await page.locator('.tree img').count()).toBe(0);

  await page.getByRole('button', { name: 'New folder' }).click();
  const renameBox = page.getByRole('textbox', { name: /New name for/ });
  await expect(renameBox).toBeFocused();
  await renameBox.fill('bin');
  await renameBox.press('Enter');
  const bin = page.getByRole('treeitem', { name: /^bin/ });
  await expect(bin).toBeVisible();

  const run = page.getByRole('treeitem', { name: /run\.sh/ });
  await run.getByRole('button', { name: 'Toggle executable for run.sh' }).click();
  await expect(run).toContainText('-rwxr-xr-x');

  await run.dragTo(bin);
  await expect(page.getByText('Moved run.sh to /bin.')).toBeVisible();
  expect(await page.evaluate(() => (window as any).__studio.getState().tree.get('/bin/run.sh')?.entry.mode)).toBe(
    0o755,
  );

  const notes = page.getByRole('treeitem', { name: /notes\.txt/ });
  await notes.click();
  await page.keyboard.press('F2');
  await page.getByRole('textbox', { name: 'New name for notes.txt' }).fill('bad/name');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('status').filter({ hasText: 'cannot contain "/"' })).toBeVisible();
  await page.getByRole('textbox', { name: 'New name for notes.txt' }).fill('README');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('treeitem', { name: /README/ })).toBeVisible();

  await page.getByRole('treeitem', { name: /README/ }).click();
  await page.keyboard.press('Delete');
  await expect(page.getByRole('treeitem', { name: /README/ })).toHaveCount(0);
  const paths = await page.evaluate(() =>
    (window as any).__studio
      .getState()
      .tree.toEntries()
      .map((e: any) => e.path),
  );
  expect(paths.sort()).toEqual(['/<img src=x onerror=alert(1)>.txt', '/bin', '/bin/run.sh']);

  // Undo walks back: the delete, the rename, then the move made by dragging.
  const at = (p: string) => page.evaluate((q) => (window as any).__studio.getState().tree.get(q) !== undefined, p);
  await page.keyboard.press('Control+z');
  await expect(page.getByRole('treeitem', { name: /README/ })).toBeVisible();
  await page.keyboard.press('Control+z');
  await expect(page.getByRole('treeitem', { name: /notes\.txt/ })).toBeVisible();
  await page.getByRole('button', { name: 'Undo', exact: true }).click();
  expect(await at('/run.sh')).toBe(true);
  expect(await at('/bin/run.sh')).toBe(false);
  await page.getByRole('button', { name: 'Redo', exact: true }).click();
  expect(await at('/bin/run.sh')).toBe(true);
});

test('conflicts offer replace, keep both and skip', async ({ page }) => {
  await openStudio(page);
  await page.waitForFunction(() => '__studio' in window);
  const add = (origin: string, size: number) =>
    page.evaluate(
      ([o, s]) => {
        const e = (path: string) => ({
          path,
          type: 'file',
          mode: 0o644,
          uid: 0,
          gid: 0,
          mtime: 1,
          size: s,
          origin: o,
          source: { kind: 'bytes', bytes: new Uint8Array(s as number) },
        });
        (window as any).__studio.store.mergeEntries([e('/a.txt'), e('/b.txt'), e('/c.txt')], o);
      },
      [origin, size] as const,
    );
  await add('first', 1);
  await add('second', 2);
  const dialog = page.getByRole('dialog', { name: '3 paths are already in the image' });
  await expect(dialog).toBeVisible();
  const group = (p: string) => dialog.getByRole('group', { name: p });
  await group('/a.txt').getByRole('radio', { name: 'Replace' }).check();
  await group('/b.txt').getByRole('radio', { name: 'Keep both' }).check();
  await group('/c.txt').getByRole('radio', { name: 'Skip' }).check();
  await dialog.getByRole('button', { name: /Apply my choices/ }).click();
  await expect(dialog).toBeHidden();
  const files = await page.evaluate(() =>
    (window as any).__studio
      .getState()
      .tree.toEntries()
      .map((e: any) => `${e.path}:${e.size}`),
  );
  expect(files.sort()).toEqual(['/a.txt:2', '/b (2).txt:2', '/b.txt:1', '/c.txt:1']);
});

test('the Random button sets a fresh UUID', async ({ page }) => {
  await openStudio(page);
  const uuid = page.getByRole('textbox', { name: 'UUID' });
  await expect(uuid).toHaveValue('44444444-4444-4444-8888-888888888888');
  await page.getByRole('button', { name: 'Random' }).click();
  await expect(uuid).not.toHaveValue('44444444-4444-4444-8888-888888888888');
  expect(await uuid.inputValue()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  await page.getByRole('textbox', { name: 'Label' }).fill('a-label-longer-than-16');
  await expect(page.getByText('At most 16 bytes.')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Build image' })).toBeDisabled();
});

test('a large image chosen for download raises no memory warning: the engine keeps it on disk', async ({ page }) => {
  await openStudio(page);
  await page.waitForFunction(() => '__studio' in window);
  await page.getByRole('radio', { name: /^Download/ }).check();
  await expect(page.getByRole('radio', { name: /^Download/ })).toHaveAccessibleName(/browser's storage on disk/);
  await page.evaluate(() => {
    // Only the size counts for the estimate; the bytes are never read.
    const size = 3 * 1024 ** 3;
    (window as any).__studio.store.mergeEntries(
      [
        {
          path: '/big.bin',
          type: 'file',
          mode: 0o644,
          uid: 0,
          gid: 0,
          mtime: 1,
          size,
          origin: 'test',
          source: { kind: 'blob', blob: new Blob(['x']), offset: 0, size },
        },
      ],
      'test',
    );
  });
  await expect(page.getByText(/GiB|GB/).first()).toBeVisible({ timeout: 30_000 });
  await expect(page.getByRole('note').filter({ hasText: /in memory/ })).toHaveCount(0);
});
