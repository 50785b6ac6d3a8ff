/**
 * Development-only handle (`window.__studio`), loaded by main.tsx when Vite serves the page
 * in dev mode and never part of a production build. Browser tests use it to load large
 * generated trees without going through a file picker.
 */
import type { TreeEntry } from '../core/image-tree.ts';
import * as store from './state/store.ts';

/** `n` entries: folders of 1,000 empty files each. */
export function syntheticEntries(n: number): TreeEntry[] {
  const entries: TreeEntry[] = [];
  const perDir = 1000;
  for (let i = 0; entries.length < n; i++) {
    const dir = `/data/d${String(i).padStart(4, '0')}`;
    entries.push({ path: dir, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 1, size: 0, origin: 'generated' });
    for (let j = 0; j < perDir - 1 && entries.length < n; j++) {
      entries.push({
        path: `${dir}/f${String(j).padStart(4, '0')}.txt`,
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 1,
        size: 0,
        source: { kind: 'bytes', bytes: new Uint8Array(0) },
        origin: 'generated',
      });
    }
  }
  return entries;
}

export function install(): void {
  (window as unknown as { __studio: unknown }).__studio = {
    /** The store's state and actions now. */
    get store() {
      return store.studio();
    },
    getState: store.useStudio.getState,
    syntheticEntries,
    /** Loads `n` generated entries and opens every folder. */
    loadSynthetic(n: number) {
      store.studio().mergeEntries(syntheticEntries(n), 'generated');
      const s = store.useStudio.getState();
      const expanded = new Set<number>();
      const stack = [s.tree.root];
      while (stack.length > 0)
        for (const c of s.tree.sortedChildren(stack.pop()!))
          if (c.children) {
            expanded.add(c.id);
            stack.push(c);
          }
      store.useStudio.setState({ expanded });
      return s.tree.visibleRows(expanded).length;
    },
  };
}
