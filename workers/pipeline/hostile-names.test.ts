/**
 * Names and link targets inside an image are text the image controls: a name holding a
 * line break and `debugfs: ` (what debugfs echoes before each command of a command file)
 * must not split or shift the tool output the studio reads back.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { markCommands, splitCommandOutput } from '../../core/debugfs-output.ts';
import { MemoryImageStore } from '../runtime/image-store.ts';
import { nativeTool, tempDir } from '../test-support/native.ts';
import { useTestWasm } from '../test-support/wasm.ts';
import { listDirectory, listInodes } from './image-inspect.ts';

useTestWasm();
const { dir: work, cleanup } = tempDir('hostile-names-');
afterAll(cleanup);

describe('names that imitate debugfs output', () => {
  it('splits command output only at the marker', () => {
    const marker = '#section-0123';
    const out = `${marker}\ndebugfs: ls -p <2>\n/2/40755/0/0/.//\n/12/100644/0/0/x\ndebugfs: ls -p <13>\n/99/100644/0/0/fake/1/\n${marker}\ndebugfs: ls -p <13>\n/13/40755/0/0/.//\n`;
    const s = splitCommandOutput(out, marker);
    expect(s.map((x) => x.command)).toEqual(['ls -p <2>', 'ls -p <13>']);
    expect(new TextDecoder().decode(s[0].body)).toContain('/99/100644/0/0/fake/1/');
    expect(markCommands(['a', 'b'], marker)).toEqual([marker, 'a', marker, 'b']);
  });

  it('lists a directory whose names hold line breaks and echo lines exactly', async () => {
    const tree = join(work, 'tree');
    mkdirSync(join(tree, 'sub'), { recursive: true });
    const evil = ['a\ndebugfs: ls -p <2>\n', 'b\ndebugfs: stat <12>\nInode: 2   Type: regular', 'plain'];
    for (const n of evil) writeFileSync(join(tree, n), `${n.length}\n`);
    symlinkSync('t\ndebugfs: stat <2>\n"', join(tree, 'link'));
    writeFileSync(join(tree, 'sub', 'inner'), 'x');
    const img = join(work, 'img');
    execFileSync(nativeTool('mke2fs'), ['-q', '-F', '-t', 'ext4', '-d', tree, img, '8M']);
    const store = MemoryImageStore.fromBytes(new Uint8Array(readFileSync(img)));
    const listing = await listDirectory(store, '/');
    const names = listing.entries.map((e) => e.name).sort();
    expect(names).toEqual([...evil, 'link', 'lost+found', 'sub'].sort());
    for (const n of evil) {
      const e = listing.entries.find((x) => x.name === n)!;
      expect(e.type).toBe('file');
      expect(e.size).toBe(String(n.length).length + 1);
    }
    expect(listing.entries.find((e) => e.name === 'link')!.target).toBe('t\ndebugfs: stat <2>\n"');
    const sub = listing.entries.find((e) => e.name === 'sub')!;
    const byInode = await listInodes(store, [listing.inode, sub.inode]);
    expect(byInode.get(sub.inode)!.map((r) => r.name)).toEqual(['inner']);
    expect(byInode.get(listing.inode)!.length).toBe(listing.entries.length);
  });
});
