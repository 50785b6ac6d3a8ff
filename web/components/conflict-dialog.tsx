/** Two inputs claim one path: replace, keep both, or skip, per path or for all. */
import { useMemo, useState } from 'react';
import { studio, useStudio } from '../state/store.ts';
import type { Conflict, ConflictChoice } from '../state/file-tree.ts';
import { formatBytes, formatCount } from '../lib/format.ts';
import { Modal } from './modal.tsx';

const SHOWN = 200;

function describe(side: Conflict['existing']): string {
  const what =
    side.type === 'directory' ? 'folder' : side.type === 'file' ? `file, ${formatBytes(side.size)}` : side.type;
  return side.origin ? `${what}, from ${side.origin}` : what;
}

export function ConflictDialog() {
  const pending = useStudio((s) => s.pendingMerges[0]);
  const [choices, setChoices] = useState<Map<string, ConflictChoice>>(new Map());
  const conflicts = pending?.plan.conflicts ?? [];
  const shown = useMemo(() => conflicts.slice(0, SHOWN), [conflicts]);
  if (!pending) return null;
  const choose = (path: string, c: ConflictChoice) => setChoices(new Map(choices).set(path, c));
  const done = (fallback: ConflictChoice, useChoices: boolean) => {
    studio().settleConflicts(useChoices ? choices : new Map(), fallback);
    setChoices(new Map());
  };
  const n = conflicts.length;
  return (
    <Modal
      title={n === 1 ? 'This path is already in the image' : `${formatCount(n)} paths are already in the image`}
      labelId="conflict-title"
      onCancel={() => done('skip', false)}
    >
      <p>
        <strong>{pending.label}</strong> brings {n === 1 ? 'an entry' : 'entries'} whose{' '}
        {n === 1 ? 'path is' : 'paths are'} already taken. Choose what to do.
      </p>
      <ul className="conflict-list">
        {shown.map((c) => {
          const current = choices.get(c.path);
          return (
            <li key={c.path}>
              <fieldset className="conflict">
                <legend>
                  <code>{c.path}</code>
                </legend>
                <p className="muted conflict-sides">
                  In the image: {describe(c.existing)}
                  <br />
                  New: {describe(c.incoming)}
                </p>
                <div className="segmented">
                  {(['replace', 'keep-both', 'skip'] as const).map((k) => (
                    <label key={k} className={current === k ? 'is-on' : ''}>
                      <input
                        type="radio"
                        name={`conflict-${c.path}`}
                        checked={current === k}
                        onChange={() => choose(c.path, k)}
                      />
                      <span>{k === 'replace' ? 'Replace' : k === 'keep-both' ? 'Keep both' : 'Skip'}</span>
                    </label>
                  ))}
                </div>
              </fieldset>
            </li>
          );
        })}
        {n > SHOWN ? (
          <li className="muted">…and {formatCount(n - SHOWN)} more; the buttons below decide those.</li>
        ) : null}
      </ul>
      <div className="modal-actions">
        {choices.size > 0 ? (
          <button type="button" className="btn btn-primary" onClick={() => done('skip', true)}>
            Apply my choices{choices.size < n ? ' (skip the rest)' : ''}
          </button>
        ) : null}
        <button type="button" className="btn" onClick={() => done('skip', false)}>
          Skip all
        </button>
        <button type="button" className="btn" onClick={() => done('keep-both', false)}>
          Keep both for all
        </button>
        <button
          type="button"
          className={`btn ${choices.size === 0 ? 'btn-primary' : ''}`}
          onClick={() => done('replace', false)}
        >
          Replace all
        </button>
      </div>
    </Modal>
  );
}
