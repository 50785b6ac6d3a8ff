/** Details of the selected entry, with its mode editable (octal, and the executable bit). */
import { useEffect, useState } from 'react';
import { studio, useStudio } from '../state/store.ts';
import { formatBytes, modeString, octalMode, parseOctalMode } from '../lib/format.ts';
import { PencilIcon, TrashIcon } from './icons.tsx';

const TYPE_NAMES = { file: 'File', directory: 'Folder', symlink: 'Symbolic link', hardlink: 'Hard link' } as const;

export function EntryInspector() {
  const tree = useStudio((s) => s.tree);
  useStudio((s) => s.treeVersion);
  const selectedId = useStudio((s) => s.selectedId);
  const node = selectedId === null ? undefined : tree.byIdOrUndefined(selectedId);
  const mode = node?.entry.mode ?? 0;
  const [draft, setDraft] = useState(octalMode(mode));
  useEffect(() => setDraft(octalMode(mode)), [mode, selectedId]);

  if (!node) {
    return (
      <div className="inspector muted">
        Select an entry to see and change its details. Double-click or F2 renames; drag rows onto folders to move them.
      </div>
    );
  }
  const e = node.entry;
  const path = tree.pathOf(node);
  const parsed = parseOctalMode(draft);
  const canMode = e.type !== 'symlink';
  const canExec = e.type === 'file' || e.type === 'hardlink';
  return (
    <div className="inspector" aria-label="Selected entry">
      <div className="inspector-main">
        <span className="inspector-type">{TYPE_NAMES[e.type]}</span>
        <code className="inspector-path" title={path}>
          {path}
        </code>
        <span className="muted">
          {[
            e.type === 'file' ? formatBytes(e.size) : null,
            e.type === 'directory' ? `${node.children!.size} ${node.children!.size === 1 ? 'item' : 'items'}` : null,
            e.type === 'symlink' ? (
              <>
                → <code>{e.target}</code>
              </>
            ) : null,
            e.type === 'hardlink' && node.linkTo ? (
              <>
                shares its inode with <code>{tree.pathOf(node.linkTo)}</code>
              </>
            ) : null,
            e.origin ? `from ${e.origin}` : null,
          ]
            .filter(Boolean)
            .map((part, i) => (
              <span key={i}>
                {i > 0 ? ' · ' : ''}
                {part}
              </span>
            ))}
        </span>
      </div>
      <div className="inspector-controls">
        <label className="field-inline">
          <span>Mode</span>
          <input
            className={`mode-input ${parsed === undefined ? 'is-invalid' : ''}`}
            value={draft}
            inputMode="numeric"
            aria-invalid={parsed === undefined ? true : undefined}
            aria-describedby="mode-help"
            disabled={!canMode}
            maxLength={4}
            onChange={(ev) => {
              setDraft(ev.target.value);
              const m = parseOctalMode(ev.target.value);
              if (m !== undefined) studio().setMode(node.id, m);
            }}
          />
          <code id="mode-help" className="muted">
            {modeString(e.type, e.mode)}
          </code>
        </label>
        {canExec ? (
          <label className="check">
            <input type="checkbox" checked={(e.mode & 0o111) !== 0} onChange={() => studio().toggleExec(node.id)} />
            <span>Executable</span>
          </label>
        ) : null}
        {e.type === 'directory' && node.children!.size > 0 ? (
          <>
            <button type="button" className="btn btn-small" onClick={() => studio().setExecutable([node.id], true)}>
              Make files below executable
            </button>
            <button
              type="button"
              className="btn btn-small btn-quiet"
              onClick={() => studio().setExecutable([node.id], false)}
            >
              Clear their x bits
            </button>
          </>
        ) : null}
        <button type="button" className="btn btn-small" onClick={() => studio().startRename(node.id)}>
          <PencilIcon />
          <span>Rename</span>
        </button>
        <button type="button" className="btn btn-small btn-danger" onClick={() => studio().deleteNode(node.id)}>
          <TrashIcon />
          <span>Delete</span>
        </button>
      </div>
    </div>
  );
}
