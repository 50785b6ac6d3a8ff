/** The Nix closure: each store path with its NAR size, references and status; the largest as bars. */
import { useMemo, useRef } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { StorePathInfo } from '../../core/image-tree.ts';
import type { FileTree } from '../state/file-tree.ts';
import { useCacheFetch } from '../state/cache-fetch.ts';
import { useStudio } from '../state/store.ts';
import { formatBytes, formatCount, splitStorePath } from '../lib/format.ts';

const ROW = 30;
const BARS = 8;

function status(
  p: StorePathInfo,
  tree: FileTree,
  fetched?: { cache: string; signedBy: string | null },
): { text: string; cls: string } {
  if (p.contents === 'missing') return { text: 'missing', cls: 'badge-bad' };
  if (!tree.get(p.path)) return { text: 'not in the tree', cls: 'badge-bad' };
  if (fetched)
    return fetched.signedBy
      ? { text: `fetched from ${hostOf(fetched.cache)}, signature by ${fetched.signedBy}`, cls: 'badge-ok' }
      : { text: `fetched from ${hostOf(fetched.cache)}, SIGNATURE NOT CHECKED`, cls: 'badge-bad' };
  if (p.hashChecked) return { text: 'hash checked', cls: 'badge-ok' };
  return { text: 'present', cls: 'badge-neutral' };
}

function hostOf(url: string): string {
  try {
    return new URL(url).host + new URL(url).pathname.replace(/\/$/, '');
  } catch {
    return url;
  }
}

export function ClosurePanel() {
  const closure = useStudio((s) => s.closure);
  const fetchedFrom = useCacheFetch((s) => s.fetchedFrom);
  const unchecked = closure.filter((p) => p.contents === 'present' && fetchedFrom[p.path]?.signedBy === null).length;
  const tree = useStudio((s) => s.tree);
  useStudio((s) => s.treeVersion);
  const sorted = useMemo(
    () => [...closure].sort((a, b) => b.narSize - a.narSize || (a.path < b.path ? -1 : 1)),
    [closure],
  );
  const total = useMemo(() => closure.reduce((n, p) => n + p.narSize, 0), [closure]);
  const missing = closure.filter((p) => p.contents === 'missing' || !tree.get(p.path)).length;
  const checked = closure.filter((p) => p.hashChecked).length;
  const scroll = useRef<HTMLDivElement>(null);
  const v = useVirtualizer({
    count: sorted.length,
    getScrollElement: () => scroll.current,
    estimateSize: () => ROW,
    overscan: 8,
  });
  if (closure.length === 0) return null;
  const largest = sorted.slice(0, BARS);
  const max = largest[0]?.narSize || 1;

  return (
    <section className="panel closure-panel" aria-labelledby="closure-heading">
      <div className="panel-head">
        <h2 id="closure-heading">Nix closure</h2>
        <p className="muted">
          {formatCount(closure.length)} store {closure.length === 1 ? 'path' : 'paths'} · {formatBytes(total)} NAR
          {' · '}
          {formatCount(checked)} hash-checked
          {missing ? (
            <>
              {' '}
              · <strong className="bad">{formatCount(missing)} missing</strong>
            </>
          ) : null}
          {unchecked ? (
            <>
              {' '}
              ·{' '}
              <strong className="bad" data-testid="unchecked-signatures">
                {formatCount(unchecked)} fetched WITHOUT signature checks
              </strong>
            </>
          ) : null}
        </p>
      </div>
      <figure className="bars">
        <figcaption className="muted">Largest store paths</figcaption>
        <ul>
          {largest.map((p) => {
            const { name } = splitStorePath(p.path);
            return (
              <li key={p.path} title={p.path}>
                <span className="bar-name">{name}</span>
                <span className="bar-track">
                  <span className="bar-fill" style={{ width: `${Math.max(1, (p.narSize / max) * 100)}%` }} />
                </span>
                <span className="bar-value">{formatBytes(p.narSize)}</span>
              </li>
            );
          })}
        </ul>
      </figure>
      <div className="closure-table" role="table" aria-label="Store paths" aria-rowcount={sorted.length + 2}>
        <div className="closure-row closure-head" role="row" aria-rowindex={1}>
          <span role="columnheader">Store path</span>
          <span role="columnheader">NAR size</span>
          <span role="columnheader">Refs</span>
          <span role="columnheader">Status</span>
        </div>
        <div ref={scroll} className="closure-scroll" style={{ maxHeight: Math.min(sorted.length, 10) * ROW + 2 }}>
          <div style={{ height: v.getTotalSize(), position: 'relative' }} role="rowgroup">
            {v.getVirtualItems().map((vi) => {
              const p = sorted[vi.index];
              const { hash, name } = splitStorePath(p.path);
              const st = status(p, tree, p.contents === 'present' ? fetchedFrom[p.path] : undefined);
              return (
                <div
                  key={vi.key}
                  className="closure-row"
                  role="row"
                  aria-rowindex={vi.index + 2}
                  style={{ transform: `translateY(${vi.start}px)`, height: ROW }}
                >
                  <span role="cell" className="closure-path" title={p.path}>
                    <span className="muted store-hash">{hash.slice(0, 8)}…</span>-{name}
                  </span>
                  <span role="cell">{formatBytes(p.narSize)}</span>
                  <span role="cell">{formatCount(p.references.filter((r) => r !== p.path).length)}</span>
                  <span role="cell">
                    <span className={`badge ${st.cls}`}>{st.text}</span>
                  </span>
                </div>
              );
            })}
          </div>
        </div>
        <div className="closure-row closure-foot" role="row" aria-rowindex={sorted.length + 2}>
          <span role="cell">
            <strong>Total</strong>
          </span>
          <span role="cell">
            <strong>{formatBytes(total)}</strong>
          </span>
          <span role="cell" />
          <span role="cell" />
        </div>
      </div>
    </section>
  );
}
