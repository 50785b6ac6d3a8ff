import { describe, expect, it } from 'vitest';
import { folderPickerInputs, isArchiveName, looseFilesInput, placeEntries } from './collect.ts';

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
    expect(input.entries.map((e) => `${e.path} ${e.type} ${e.mode.toString(8)}`).sort()).toEqual([
      '/srv/site directory 755',
      '/srv/site/css directory 755',
      '/srv/site/css/a.css file 644',
      '/srv/site/index.html file 644',
    ].sort());
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
    expect(placeEntries([{ path: '/x', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0, origin: 'x' }], '/srv')[0].path).toBe('/srv/x');
  });
});
