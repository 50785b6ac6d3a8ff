/** The new build's tree dialogs: confirming a folder's deletion, and making a symbolic link. */
import { useState } from 'react';
import { formatCount } from '../lib/format.ts';
import { studio, useStudio } from '../state/store.ts';
import { Modal } from './modal.tsx';

export function DeleteDialog() {
  const prompt = useStudio((s) => s.deletePrompt);
  if (!prompt) return null;
  return (
    <Modal title={`Delete ${prompt.path}?`} labelId="delete-title" onCancel={() => studio().answerDelete(false)}>
      <p>
        The folder <code>{prompt.path}</code> holds {formatCount(prompt.count)}{' '}
        {prompt.count === 1 ? 'entry' : 'entries'}; they go with it. Undo (Ctrl+Z) brings them back.
      </p>
      <div className="modal-actions">
        <button type="button" className="btn btn-quiet" autoFocus onClick={() => studio().answerDelete(false)}>
          Keep it
        </button>
        <button type="button" className="btn btn-danger" onClick={() => studio().answerDelete(true)}>
          Delete {formatCount(prompt.count + 1)} {prompt.count === 0 ? 'entry' : 'entries'}
        </button>
      </div>
    </Modal>
  );
}

/** "New link": a symbolic link in the selected folder. */
export function LinkDialog({ onClose }: { onClose(): void }) {
  const at = useStudio((s) => s.selectedFolder());
  const [name, setName] = useState('');
  const [target, setTarget] = useState('');
  const [error, setError] = useState<string | undefined>();
  const submit = () => {
    const why = studio().newSymlink(name, target);
    setError(why);
    if (!why) onClose();
  };
  return (
    <Modal title="New symbolic link" labelId="link-title" onCancel={onClose}>
      <form
        className="link-form"
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <p className="muted">
          In <code>{at}</code> (select another folder in the tree to put it elsewhere).
        </p>
        <div className="field">
          <label htmlFor="link-name">Name</label>
          <input
            id="link-name"
            className="mono"
            value={name}
            autoFocus
            spellCheck={false}
            onChange={(e) => setName(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="link-target">Points to</label>
          <input
            id="link-target"
            className="mono"
            value={target}
            spellCheck={false}
            aria-describedby="link-target-help"
            onChange={(e) => setTarget(e.target.value)}
          />
          <p id="link-target-help" className="field-help">
            Relative (<code>busybox</code>) or absolute (<code>/bin/busybox</code>); it need not exist yet.
          </p>
        </div>
        {error ? (
          <p className="field-error" role="alert">
            {error}
          </p>
        ) : null}
        <div className="modal-actions">
          <button type="button" className="btn btn-quiet" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary">
            Make link
          </button>
        </div>
      </form>
    </Modal>
  );
}
