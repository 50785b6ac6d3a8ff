/**
 * The selected entry of an opened image: what it is (type, size, mode, owner, time, links,
 * symlink target), its mode and owner to change, a text preview of a file's head, and
 * saving a file, or a folder as a .tar, to the person's disk.
 */
import { tidyMessage } from '../lib/problems.ts';
import { useEffect, useState } from 'react';
import {
  chmodImageNode,
  chownImageNode,
  closePreview,
  deleteImageNode,
  exportNode,
  imageTreeController,
  previewNode,
  selectedNode,
  useImage,
} from '../state/opened-image.ts';
import { formatBytes, formatCount, formatTime, modeString, octalMode, parseOctalMode } from '../lib/format.ts';
import { AlertIcon, CloseIcon, DownloadIcon, PencilIcon, TrashIcon } from './icons.tsx';

const KIND_NAMES = {
  file: 'File',
  directory: 'Folder',
  symlink: 'Symbolic link',
  'char-device': 'Character device',
  'block-device': 'Block device',
  fifo: 'FIFO',
  socket: 'Socket',
} as const;

/** Text of a file's head: undefined for bytes that are clearly not text (NULs). */
function asText(bytes: Uint8Array): string | undefined {
  if (bytes.includes(0)) return undefined;
  return new TextDecoder('utf-8', { fatal: false }).decode(bytes);
}

function Preview() {
  const p = useImage((s) => s.preview);
  if (!p) return null;
  const text = p.head ? asText(p.head.bytes) : undefined;
  return (
    <section className="panel preview" aria-label={`Preview of ${p.path}`}>
      <div className="panel-head">
        <h2>
          Preview <code className="muted">{p.path}</code>
        </h2>
        <button type="button" className="icon-btn" aria-label="Close the preview" onClick={closePreview}>
          <CloseIcon />
        </button>
      </div>
      {p.status === 'loading' ? <p className="muted">Reading…</p> : null}
      {p.status === 'failed' ? (
        <p className="bad" role="alert">
          <AlertIcon /> {tidyMessage(p.failure?.message ?? '')}
        </p>
      ) : null}
      {p.head ? (
        <>
          <p className="muted">
            {p.head.truncated
              ? `The first ${formatBytes(p.head.bytes.length)} of ${formatBytes(p.head.size)}.`
              : `${formatBytes(p.head.size)}.`}
          </p>
          {text !== undefined ? (
            <pre className="preview-text" tabIndex={0} data-testid="preview-text">
              {text}
            </pre>
          ) : (
            <p className="note">This looks like a binary file (it holds NUL bytes): download it to look inside.</p>
          )}
        </>
      ) : null}
    </section>
  );
}

export function ImageInspector() {
  useImage((s) => s.treeVersion);
  const node = useImage((s) => selectedNode(s));
  const tree = useImage((s) => s.tree);
  const busy = useImage((s) => s.busy !== null);
  const mode = node?.entry.mode ?? 0;
  const [draft, setDraft] = useState(octalMode(mode));
  const [owner, setOwner] = useState('');
  useEffect(() => setDraft(octalMode(mode)), [mode, node?.id]);
  useEffect(
    () => setOwner(node ? `${node.entry.uid}:${node.entry.gid}` : ''),
    [node, node?.entry.uid, node?.entry.gid],
  );

  if (!node || node === tree.root) {
    return (
      <>
        <div className="inspector muted">
          Select an entry to see it, preview it, change its mode or owner, or save it to your disk. Double-click or F2
          renames; drag rows onto folders to move them.
        </div>
        <Preview />
      </>
    );
  }
  const e = node.entry;
  const kind = node.image?.kind ?? 'file';
  const path = tree.pathOf(node);
  const parsed = parseOctalMode(draft);
  const ownerMatch = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(owner);
  const ownerIds = ownerMatch ? ([Number(ownerMatch[1]), Number(ownerMatch[2])] as const) : undefined;
  const ownerOk = ownerIds?.every((n) => n <= 0xffffffff);
  return (
    <>
      <div className="inspector" aria-label="Selected entry">
        <div className="inspector-main">
          <span className="inspector-type">{KIND_NAMES[kind]}</span>
          <code className="inspector-path" title={path}>
            {path}
          </code>
          <span className="muted" data-testid="entry-facts">
            {[
              kind === 'file' ? formatBytes(e.size) : null,
              kind === 'directory' && node.image?.loaded
                ? `${formatCount(node.children!.size)} ${node.children!.size === 1 ? 'item' : 'items'}`
                : null,
              kind === 'symlink' ? (
                <>
                  → <code>{e.target}</code>
                </>
              ) : null,
              modeString(e.type, e.mode),
              `owner ${e.uid}:${e.gid}`,
              `modified ${formatTime(e.mtime)} UTC`,
              node.image && node.image.links > 1 && kind !== 'directory' ? `${node.image.links} links` : null,
              node.image ? `inode ${node.image.inode}` : null,
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
          {kind !== 'symlink' ? (
            <form
              className="field-inline"
              onSubmit={(ev) => {
                ev.preventDefault();
                if (parsed !== undefined) chmodImageNode(node.id, parsed);
              }}
            >
              <label htmlFor="image-mode">Mode</label>
              <input
                id="image-mode"
                className={`mode-input ${parsed === undefined ? 'is-invalid' : ''}`}
                value={draft}
                inputMode="numeric"
                maxLength={4}
                aria-invalid={parsed === undefined || undefined}
                onChange={(ev) => setDraft(ev.target.value)}
              />
              <button
                type="submit"
                className="btn btn-small"
                disabled={busy || parsed === undefined || parsed === (e.mode & 0o7777)}
              >
                Set mode
              </button>
            </form>
          ) : null}
          <form
            className="field-inline"
            onSubmit={(ev) => {
              ev.preventDefault();
              if (ownerOk) chownImageNode(node.id, ownerIds![0], ownerIds![1]);
            }}
          >
            <label htmlFor="image-owner">Owner</label>
            <input
              id="image-owner"
              className={`owner-input ${ownerOk ? '' : 'is-invalid'}`}
              value={owner}
              placeholder="uid:gid"
              aria-invalid={!ownerOk || undefined}
              onChange={(ev) => setOwner(ev.target.value)}
            />
            <button
              type="submit"
              className="btn btn-small"
              disabled={busy || !ownerOk || owner === `${e.uid}:${e.gid}`}
            >
              Set owner
            </button>
          </form>
        </div>
        <div className="inspector-controls">
          {kind === 'file' ? (
            <button type="button" className="btn btn-small" onClick={() => void previewNode(node.id)}>
              Preview
            </button>
          ) : null}
          {kind === 'file' || kind === 'directory' ? (
            <button type="button" className="btn btn-small" disabled={busy} onClick={() => void exportNode(node.id)}>
              <DownloadIcon />
              <span>{kind === 'directory' ? 'Download as .tar' : 'Download'}</span>
            </button>
          ) : null}
          <button
            type="button"
            className="btn btn-small"
            disabled={busy}
            onClick={() => imageTreeController.startRename(node.id)}
          >
            <PencilIcon />
            <span>Rename</span>
          </button>
          <button
            type="button"
            className="btn btn-small btn-danger"
            disabled={busy}
            onClick={() => deleteImageNode(node.id)}
          >
            <TrashIcon />
            <span>Delete</span>
          </button>
        </div>
      </div>
      <Preview />
    </>
  );
}
