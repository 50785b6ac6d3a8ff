/**
 * Inputs of any count and depth: hundreds of thousands of entries and folders nested deeper
 * than the call stack goes pass through input resolution, the tree listing and NAR code
 * (no spread of an entry list into a call, no recursion by depth).
 */
import { describe, expect, it } from 'vitest';
import type { TreeEntry } from './image-tree.ts';
import { BytesReader } from './io/random-access-reader.ts';
import { RandomAccessCursor } from './io/cursor.ts';
import { hashNarTree, narEofError, narTreeFromEntries, parseNar, serializeNar, sourceChunks } from './nar.ts';
import { resolveInputs } from './resolve-inputs.ts';
import { tarTrailer } from './tar-writer.ts';
import { emptyFilesTar } from './test-support/empty-files-tar.ts';
import { TreeModel } from './tree-model.ts';

const dirEntry = (path: string): TreeEntry => ({
  path,
  type: 'directory',
  mode: 0o755,
  uid: 0,
  gid: 0,
  mtime: 1,
  size: 0,
  origin: 'gen',
});
const fileEntry = (path: string, text = ''): TreeEntry => {
  const bytes = new TextEncoder().encode(text);
  return {
    path,
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 1,
    size: bytes.length,
    source: { kind: 'bytes', bytes },
    origin: 'gen',
  };
};

/** `count` files spread over 1,000 folders in a two-level layout. */
function wideTree(count: number): TreeEntry[] {
  const out: TreeEntry[] = [];
  for (let i = 0; i < count; i++) out.push(fileEntry(`/d${i % 1000}/s${(i >> 10) % 8}/f${i}`));
  return out;
}

/** Paths `/a/a/.../a` `depth` levels deep, with a file at the bottom. */
function deepPath(depth: number): string {
  return '/a'.repeat(depth);
}

/** Deeper than any call stack of recursive walks holds (about 10,000 frames). */
const DEEP = 30_000;

describe('input resolution at size', () => {
  it('resolves 400,000 entries of a folder input and a 200,000-member archive', async () => {
    const members = 200_000;
    const tar = new Blob([emptyFilesTar(members, (i) => `t${i % 500}/m${i}`), tarTrailer()] as BlobPart[]);
    const r = await resolveInputs([
      { kind: 'tree', at: '/', entries: wideTree(400_000) },
      { kind: 'archive', at: '/x', file: { name: 'big.tar', blob: tar } },
    ]);
    expect(r.problems).toEqual([]);
    const files = r.entries.filter((e) => e.type === 'file');
    expect(files).toHaveLength(400_000 + members);
    // Parents before children, every folder present.
    const seen = new Set<string>();
    const orphans: string[] = [];
    for (const e of r.entries) {
      if (e.path !== '/' && !seen.has(e.path.slice(0, e.path.lastIndexOf('/')) || '/')) orphans.push(e.path);
      seen.add(e.path);
    }
    expect(orphans).toEqual([]);
    expect(seen.has('/x/t499/m199999')).toBe(true);
  }, 120_000);

  it(`resolves and lists a folder ${DEEP.toLocaleString('en')} levels deep`, async () => {
    const bottom = `${deepPath(DEEP)}/end`;
    const r = await resolveInputs([{ kind: 'tree', at: '/', entries: [fileEntry(bottom, 'x')] }]);
    expect(r.problems).toEqual([]);
    expect(r.entries).toHaveLength(DEEP + 2); // `/`, DEEP folders, the file
    expect(r.entries.at(-1)?.path).toBe(bottom);
    const listed = TreeModel.fromEntries(r.entries).tree.toEntries();
    expect(listed).toHaveLength(DEEP + 2);
    expect(listed.at(-1)?.path).toBe(bottom);
  });
});

describe('NAR code at depth', () => {
  it(`hashes, writes and reads back a NAR ${DEEP.toLocaleString('en')} levels deep`, async () => {
    const entries: TreeEntry[] = [dirEntry('/')];
    for (let d = 1; d <= DEEP; d++) entries.push(dirEntry(deepPath(d)));
    entries.push(fileEntry(`${deepPath(DEEP)}/end`, 'bottom\n'));
    const tree = narTreeFromEntries(entries, '/');
    const chunks: Uint8Array[] = [];
    await serializeNar(tree, sourceChunks(), (c) => chunks.push(c.slice()));
    const nar = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      nar.set(c, at);
      at += c.length;
    }
    const hashed = await hashNarTree(tree, sourceChunks());
    expect(hashed.narSize).toBe(nar.length);

    const cursor = new RandomAccessCursor(new BytesReader(nar, 'deep.nar'), (p) => narEofError('deep.nar', p));
    const parsed = await parseNar(cursor, { maxDepth: DEEP + 1 });
    expect(parsed).toHaveLength(DEEP + 2);
    const last = parsed.at(-1)!;
    expect(last).toMatchObject({ type: 'file', size: 7 });
    expect(last.path).toBe(`${'a/'.repeat(DEEP)}end`);

    // The default limit still refuses absurd nesting, with a clear error instead of a crash.
    const again = new RandomAccessCursor(new BytesReader(nar, 'deep.nar'), (p) => narEofError('deep.nar', p));
    await expect(parseNar(again)).rejects.toMatchObject({ code: 'nar-too-deep' });
  });
});
