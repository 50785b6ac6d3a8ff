import { describe, expect, it } from 'vitest';
import { folderPickerInputs, isArchiveName, looseFilesInput, placeEntries, readDrop } from './collect.ts';

function pickedFile(relativePath: string, text: string): File {
  const f = new File([text], relativePath.split('/').pop()!, { lastModified: 5000 });
  Object.defineProperty(f, 'webkitRelativePath', { value: relativePath });
  return f;
}

describe('collect', () => {
  it('turns folder-picker files into a tree input using webkitRelativePath', () => {
    const inputs = folderPickerInputs([pickedFile('site/index.html', 'hi'), pickedFile('site/css/a.css', 'x')], '/srv');
    expect(inputs).toHaveLength(1);
    const input = inputs[0];
    if (input.kind !== 'tree') throw new Error('expected a tree input');
    expect(input.at).toBe('/');
    expect(input.entries.map((e) => `${e.path} ${e.type} ${e.mode.toString(8)}`).sort()).toEqual(
      [
        '/srv/site directory 755',
        '/srv/site/css directory 755',
        '/srv/site/css/a.css file 644',
        '/srv/site/index.html file 644',
      ].sort(),
    );
    const html = input.entries.find((e) => e.path === '/srv/site/index.html')!;
    expect(html.source).toMatchObject({ kind: 'blob', offset: 0, size: 2 });
    expect(html.mtime).toBe(5);
  });

  it('places loose files in the target folder', () => {
    const input = looseFilesInput([new File(['abc'], 'a.txt')], '/');
    if (input.kind !== 'tree') throw new Error('expected a tree input');
    expect(input.entries.map((e) => e.path)).toEqual(['/a.txt']);
  });

  it('recognises archives by name', () => {
    for (const n of ['a.tar', 'a.tar.gz', 'a.tgz', 'a.tar.zst', 'A.TAR.GZ']) expect(isArchiveName(n)).toBe(true);
    for (const n of ['a.zip', 'a.gz', 'tar']) expect(isArchiveName(n)).toBe(false);
  });

  it('moves dropped folders under a folder', () => {
    expect(
      placeEntries(
        [{ path: '/x', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0, origin: 'x' }],
        '/srv',
      )[0].path,
    ).toBe('/srv/x');
  });
});

// ---- drops ------------------------------------------------------------------------------
type FakeEntry = {
  isFile: boolean;
  isDirectory: boolean;
  name: string;
  file?: (ok: (f: File) => void) => void;
  createReader?: () => unknown;
};

/** A dropped folder as Chromium's legacy entries API hands it out (readEntries in batches). */
function legacyDir(name: string, children: FakeEntry[], batch = 2): FakeEntry {
  return {
    isFile: false,
    isDirectory: true,
    name,
    createReader() {
      let at = 0;
      return {
        readEntries(ok: (e: FakeEntry[]) => void) {
          const out = children.slice(at, at + batch);
          at += batch;
          setTimeout(() => ok(out));
        },
      };
    },
  };
}
function legacyFile(name: string, text: string): FakeEntry {
  return { isFile: true, isDirectory: false, name, file: (ok) => setTimeout(() => ok(new File([text], name))) };
}

function fakeTransfer(items: Array<{ entry?: FakeEntry; file?: File; handle?: unknown }>): DataTransfer {
  return {
    items: items.map((it) => ({
      kind: 'file',
      webkitGetAsEntry: () => it.entry ?? null,
      getAsFile: () => it.file ?? null,
      ...(it.handle ? { getAsFileSystemHandle: () => Promise.resolve(it.handle) } : {}),
    })),
    files: [],
    types: ['Files'],
  } as unknown as DataTransfer;
}

describe('readDrop', () => {
  it('walks dropped folders recursively, keeping empty folders', async () => {
    const tree = legacyDir('photos', [
      legacyFile('a.jpg', 'aa'),
      legacyDir('empty', []),
      legacyDir('2024', [legacyFile('b.jpg', 'b'), legacyFile('c.jpg', 'c'), legacyFile('d.jpg', 'd')]),
    ]);
    const items = await readDrop(
      fakeTransfer([{ entry: tree }, { entry: legacyFile('loose.txt', 'x'), file: new File(['x'], 'loose.txt') }]),
    );
    expect(items).toHaveLength(2);
    const [folder, loose] = items;
    if (folder.kind !== 'folder') throw new Error('expected a folder');
    expect(folder.entries.map((e) => `${e.path} ${e.type}`).sort()).toEqual([
      '/photos directory',
      '/photos/2024 directory',
      '/photos/2024/b.jpg file',
      '/photos/2024/c.jpg file',
      '/photos/2024/d.jpg file',
      '/photos/a.jpg file',
      '/photos/empty directory',
    ]);
    expect(loose).toMatchObject({ kind: 'file' });
  });

  it('prefers file system handles where the browser has them', async () => {
    const fileHandle = (name: string) => ({ kind: 'file', name, getFile: async () => new File(['h'], name) });
    const dirHandle = {
      kind: 'directory',
      name: 'proj',
      async *values() {
        yield fileHandle('x.ts');
        yield { kind: 'directory', name: 'empty', async *values() {} };
      },
    };
    const items = await readDrop(fakeTransfer([{ handle: dirHandle, entry: legacyDir('proj', []) }]));
    if (items[0].kind !== 'folder') throw new Error('expected a folder');
    expect(items[0].entries.map((e) => e.path).sort()).toEqual(['/proj', '/proj/empty', '/proj/x.ts']);
  });
});
