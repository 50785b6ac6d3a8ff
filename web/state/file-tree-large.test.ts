/**
 * The page's tree at 400,000 entries (a NixOS system's count) and at depths past the call
 * stack: merging, listing the visible rows, handing the entries back to the engine.
 */
import { describe, expect, it } from 'vitest';
import type { TreeEntry } from '../../core/image-tree.ts';
import { FileTree } from './file-tree.ts';

const file = (path: string): TreeEntry => ({
  path,
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: 1,
  size: 0,
  origin: 'gen',
});

describe('FileTree at size', () => {
  it('merges, lists and hands back 400,000 entries', () => {
    const entries: TreeEntry[] = [];
    for (let i = 0; i < 400_000; i++) entries.push(file(`/nix/store/p${i % 2000}/lib/f${i}`));
    const t = new FileTree();
    t.applyMerge(t.planMerge(entries, 1), new Map());
    const stores = t.get('/nix/store')!;
    const expanded = new Set([t.get('/nix')!.id, stores.id]);
    for (let p = 0; p < 2000; p += 100) {
      expanded.add(t.get(`/nix/store/p${p}`)!.id);
      expanded.add(t.get(`/nix/store/p${p}/lib`)!.id);
    }
    const rows = t.visibleRows(expanded);
    // nix, store, 2,000 packages, 20 of them open with their lib and its 200 files each.
    expect(rows.length).toBe(2 + 2000 + 20 * (1 + 200));
    const back = t.toEntries();
    expect(back.filter((e) => e.type === 'file')).toHaveLength(400_000);
    expect(back).toHaveLength(400_000 + 2000 * 2 + 2);
  });

  it('takes and gives back a folder 12,000 levels deep (past the call stack of a recursive walk)', () => {
    const bottom = `${'/d'.repeat(12_000)}/end`;
    const t = new FileTree();
    t.applyMerge(t.planMerge([file(bottom)], 1), new Map());
    const back = t.toEntries();
    expect(back).toHaveLength(12_001);
    expect(back.at(-1)!.path).toBe(bottom);
  });
});
