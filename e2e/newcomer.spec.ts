/**
 * What a newcomer met (issue 12), each held by a test: inputs land where the page said before
 * adding them, edits undo, folders say what they lost, closure contents come from any input.
 * Images are checked with native e2fsprogs and nix-store.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { test, expect, openStudio } from './support/studio.ts';
import { buildAndDownload, choose, inputsSettled } from './support/flow.ts';
import { checkImage, makeClosure, removeDir, run, tempDir, type ClosureFixture } from './support/host.ts';

let work: string;
let closure: ClosureFixture;
let etcTar: string;

test.beforeAll(() => {
  work = tempDir('newcomer');
  closure = makeClosure(work);
  mkdirSync(join(work, 'etc-src/etc'), { recursive: true });
  writeFileSync(join(work, 'etc-src/etc/motd'), 'hello\n');
  etcTar = join(work, 'etc.tar');
  run('tar', ['-C', join(work, 'etc-src'), '-cf', etcTar, 'etc']);
});
test.afterAll(() => removeDir(work));

const tree = (page: Page) => page.getByRole('tree', { name: 'Image contents' });
const row = (page: Page, name: string) => page.getByRole('treeitem', { name, exact: true });
const inputRow = (page: Page, kind: string) => page.locator(`li[data-input-kind="${kind}"]`);

async function build(page: Page): Promise<ReturnType<typeof checkImage>> {
  const out = tempDir('newcomer-img');
  const file = await buildAndDownload(page, out);
  return checkImage(file, out);
}

test('focus never selects a row; every Add says where it goes first, and the row can move it', async ({ page }) => {
  await openStudio(page);
  await choose(page, 'Add closure', closure.exportFile);
  await inputsSettled(page);
  // Focus stays on the button that was used, not on the page body.
  await expect(page.getByRole('button', { name: 'Add closure', exact: true })).toBeFocused();
  // Tab into the tree: nothing gets selected by itself.
  await tree(page).focus();
  await expect(tree(page)).toBeFocused();
  await expect(page.getByRole('treeitem', { selected: true })).toHaveCount(0);
  await page.keyboard.press('ArrowDown');
  await expect(row(page, 'nix')).toHaveAttribute('aria-selected', 'true');
  // Adds say where they go, before they do, and a selected /nix does not change that.
  await expect(page.getByRole('button', { name: 'Add archive', exact: true })).toHaveAccessibleDescription(
    /go into \/ \(missing folders are made\)/,
  );
  await choose(page, 'Add archive', etcTar);
  await inputsSettled(page);
  await expect(inputRow(page, 'archive')).toContainText('→ /');
  await expect(row(page, 'etc')).toHaveAttribute('aria-level', '1');

  // The destination can be changed in the input's row afterwards: the entries move with it.
  await inputRow(page, 'archive')
    .getByRole('button', { name: /etc\.tar goes to \/: change/ })
    .click();
  await page.getByLabel('Put in').fill('/srv');
  await page.getByRole('button', { name: 'Move', exact: true }).click();
  await inputsSettled(page);
  await expect(inputRow(page, 'archive')).toContainText('→ /srv');
  await expect(row(page, 'srv')).toBeVisible();

  const image = await build(page);
  expect(image.tree.get('/srv/etc/motd')?.type).toBe('file');
  expect(image.tree.has('/etc')).toBe(false);
  expect(image.tree.has('/nix/etc')).toBe(false);
  for (const p of closure.paths.keys()) expect(image.tree.has(p), p).toBe(true);
});

test('delete asks for a non-empty folder, undo and redo cover it, rows and the build follow the tree', async ({
  page,
}) => {
  await openStudio(page);
  await choose(page, 'Add closure', closure.exportFile);
  await choose(page, 'Add archive', etcTar);
  await inputsSettled(page);
  const closureRow = inputRow(page, 'closure');
  await expect(closureRow).toContainText(/\d+ entries/);

  await row(page, 'nix').click();
  await page.keyboard.press('Delete');
  const dialog = page.getByRole('dialog', { name: 'Delete /nix?' });
  await expect(dialog).toBeVisible();
  await dialog.getByRole('button', { name: 'Keep it' }).click();
  await expect(row(page, 'nix')).toBeVisible();
  await row(page, 'nix').click();
  await page.keyboard.press('Backspace');
  await dialog.getByRole('button', { name: /^Delete \d+ entries$/ }).click();
  await expect(row(page, 'nix')).toHaveCount(0);
  // The closure row and the build say the tree lost the store paths.
  await expect(closureRow).toContainText('deleted from the tree');
  await expect(page.getByRole('button', { name: 'Build image' })).toBeDisabled();
  await expect(page.locator('#build-blocker')).toContainText('store paths of the closure are no longer in the tree');

  await page.keyboard.press('Control+z');
  await expect(row(page, 'nix')).toBeVisible();
  await expect(closureRow).not.toContainText('deleted');
  await page.keyboard.press('Control+Shift+z');
  await expect(row(page, 'nix')).toHaveCount(0);
  await page.getByRole('button', { name: 'Undo', exact: true }).click();
  await expect(row(page, 'nix')).toBeVisible();

  // Rename and mode undo too; redo brings back the rename only.
  await row(page, 'etc').click();
  await page.keyboard.press('ArrowRight');
  await row(page, 'motd').click();
  await page.keyboard.press('F2');
  await page.getByRole('textbox', { name: 'New name for motd' }).fill('issue');
  await page.keyboard.press('Enter');
  await row(page, 'issue')
    .getByRole('button', { name: /toggle executable for issue/ })
    .click();
  await expect(row(page, 'issue')).toHaveAccessibleDescription(/-rwxr-xr-x/);
  await page.keyboard.press('Control+z');
  await expect(row(page, 'issue')).toHaveAccessibleDescription(/-rw-r--r--/);
  await page.keyboard.press('Control+z');
  await expect(row(page, 'motd')).toBeVisible();
  await page.getByRole('button', { name: 'Redo', exact: true }).click();
  await expect(row(page, 'issue')).toBeVisible();

  const image = await build(page);
  expect(image.tree.get('/etc/issue')).toMatchObject({ type: 'file', mode: 0o644 });
  expect(image.tree.has('/etc/motd')).toBe(false);
  for (const p of closure.paths.keys()) expect(image.tree.has(p), p).toBe(true);
});

test('closure contents from an archive of store paths are hash-checked; missing contents are listed once', async ({
  page,
}) => {
  const registration = join(work, 'registration');
  writeFileSync(registration, run('nix-store', ['--store', join(work, 'closure-store'), '--dump-db']));
  const storeTar = join(work, 'store.tar');
  run('tar', ['-C', join(work, 'closure-store'), '-cf', storeTar, 'nix/store']);

  await openStudio(page);
  await choose(page, 'Add closure', registration);
  await inputsSettled(page);
  // Three paths without contents: one problem with a count and the paths, a hint one can type.
  const problems = inputRow(page, 'closure').locator('.problem');
  await expect(problems).toHaveCount(1);
  await expect(problems).toContainText('(3 times)');
  for (const p of closure.paths.keys()) await expect(problems).toContainText(p);
  await expect(problems).toContainText('nix-store --export $(nix-store -qR ./result) > closure.export');
  await expect(problems).not.toContainText('--store');

  await choose(page, 'Add archive', storeTar);
  await inputsSettled(page);
  await expect(page.locator('.problem')).toHaveCount(0);
  await expect(page.getByRole('region', { name: 'Nix closure' })).toContainText('3 hash-checked');

  const image = await build(page);
  for (const p of closure.paths.keys()) expect(image.tree.has(p), p).toBe(true);
  const db = join(work, 'load-db');
  run('nix-store', ['--store', db, '--load-db'], { input: run('cat', [join(image.dumpDir, 'nix-path-registration')]) });
  for (const p of closure.paths.keys())
    expect(run('nix-store', ['--store', db, '-q', '--hash', p]), p).toBe(
      run('nix-store', ['--store', join(work, 'closure-store'), '-q', '--hash', p]),
    );
  removeDir(db);
});

test('a folder says what the browser lost; programs made executable at once; links made in the tree', async ({
  page,
}) => {
  const files = join(work, 'files');
  mkdirSync(join(files, 'bin'), { recursive: true });
  writeFileSync(join(files, 'init'), '#!/bin/sh\nexec /bin/sh\n');
  writeFileSync(join(files, 'bin/busybox'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0]));
  writeFileSync(join(files, 'notes.txt'), 'plain\n');
  for (const f of ['init', 'bin/busybox']) chmodSync(join(files, f), 0o755);

  await openStudio(page);
  await choose(page, 'Add folder', files);
  await inputsSettled(page);
  const folder = inputRow(page, 'folder');
  // "files → /files": the folder itself lands in the destination.
  await expect(folder).toContainText('→ /files');
  const note = folder.getByRole('note');
  await expect(note).toContainText('no empty folders');
  await expect(note).toContainText('all 3 files came in with mode 0644');
  await expect(note).toContainText('2 look like programs');
  await expect(note.getByRole('listitem')).toHaveText(['/files/bin/busybox', '/files/init']);
  await note.getByRole('button', { name: 'Make these 2 executable' }).click();

  await row(page, 'files').click();
  await page.keyboard.press('ArrowRight');
  await row(page, 'bin').click();
  await page.getByRole('button', { name: 'New link' }).click();
  await page.getByRole('dialog').getByLabel('Name').fill('sh');
  await page.getByLabel('Points to').fill('busybox');
  await page.getByRole('button', { name: 'Make link' }).click();

  const image = await build(page);
  expect(image.tree.get('/files/init')).toMatchObject({ type: 'file', mode: 0o755 });
  expect(image.tree.get('/files/bin/busybox')).toMatchObject({ type: 'file', mode: 0o755 });
  expect(image.tree.get('/files/notes.txt')).toMatchObject({ type: 'file', mode: 0o644 });
  expect(image.tree.get('/files/bin/sh')).toMatchObject({ type: 'symlink', content: 'busybox' });
});

test('"keep modes from a tar instead" replaces a folder with its tar, modes and links kept', async ({ page }) => {
  const src = join(work, 'boot-src');
  mkdirSync(join(src, 'boot/bin'), { recursive: true });
  writeFileSync(join(src, 'boot/bin/busybox'), '#!/bin/sh\n');
  chmodSync(join(src, 'boot/bin/busybox'), 0o755);
  const tar = join(work, 'boot.tar');
  run('ln', ['-s', 'busybox', join(src, 'boot/bin/sh')]);
  run('tar', ['-C', src, '-cf', tar, 'boot']);

  await openStudio(page);
  await choose(page, 'Add folder', join(src, 'boot'));
  await inputsSettled(page);
  await choose(page, 'Keep modes from a tar instead…', tar);
  await inputsSettled(page);
  await expect(inputRow(page, 'folder')).toHaveCount(0);
  await expect(inputRow(page, 'archive')).toContainText('boot.tar');
  await row(page, 'boot').click();
  await page.keyboard.press('ArrowRight');
  await row(page, 'bin').click();
  await page.keyboard.press('ArrowRight');
  await expect(row(page, 'busybox')).toHaveAccessibleDescription(/-rwxr-xr-x/);
  await expect(row(page, 'sh')).toHaveAccessibleDescription(/symbolic link, busybox/);
});

test('a folder dragged in keeps its empty folders (webkitGetAsEntry), checked in the image', async ({ page }) => {
  const src = join(work, 'drag');
  mkdirSync(join(src, 'rootfs/proc'), { recursive: true });
  mkdirSync(join(src, 'rootfs/etc'), { recursive: true });
  writeFileSync(join(src, 'rootfs/etc/hostname'), 'box\n');
  await openStudio(page);
  // A real drag from the desktop, through Chromium's own drag and drop (DevTools protocol).
  const box = (await page.locator('.drop-zone').boundingBox())!;
  const at = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  const cdp = await page.context().newCDPSession(page);
  const data = { items: [], files: [join(src, 'rootfs')], dragOperationsMask: 1 };
  for (const type of ['dragEnter', 'dragOver', 'drop'] as const)
    await cdp.send('Input.dispatchDragEvent', { type, ...at, data });
  await inputsSettled(page);
  const folder = inputRow(page, 'folder');
  await expect(folder).toContainText('→ /rootfs');
  await expect(folder.getByRole('note')).toContainText('The browser passes no symbolic links');
  await expect(folder.getByRole('note')).not.toContainText('empty folders');
  await row(page, 'rootfs').click();
  await page.keyboard.press('ArrowRight');
  await expect(row(page, 'proc')).toHaveAccessibleDescription(/folder, 0 items/);

  const image = await build(page);
  expect(image.tree.get('/rootfs/proc')).toMatchObject({ type: 'dir', mode: 0o755 });
  expect(image.tree.get('/rootfs/etc/hostname')?.type).toBe('file');
});
