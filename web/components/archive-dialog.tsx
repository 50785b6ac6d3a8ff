/** A dropped archive: extract it here, or keep it as one file? */
import { studio, useStudio } from '../state/store.ts';
import { formatBytes } from '../lib/format.ts';
import { Modal } from './modal.tsx';

export function ArchiveDialog() {
  const prompt = useStudio((s) => s.archivePrompt);
  if (!prompt) return null;
  const one = prompt.files.length === 1;
  return (
    <Modal
      title={one ? 'Extract this archive?' : `Extract these ${prompt.files.length} archives?`}
      labelId="archive-title"
      onCancel={() => void studio().answerArchivePrompt('cancel')}
    >
      <ul className="plain-list">
        {prompt.files.map((f, i) => (
          <li key={i}>
            <code>{f.name}</code> <span className="muted">({formatBytes(f.size)})</span>
          </li>
        ))}
      </ul>
      <p>
        Extract {one ? 'its' : 'their'} contents into <code>{prompt.at}</code>, or put {one ? 'it' : 'them'} in the
        image as {one ? 'a file' : 'files'}, unopened?
      </p>
      <div className="modal-actions">
        <button type="button" className="btn btn-quiet" onClick={() => void studio().answerArchivePrompt('cancel')}>
          Cancel
        </button>
        <button type="button" className="btn" onClick={() => void studio().answerArchivePrompt('keep')}>
          Keep as {one ? 'one file' : 'files'}
        </button>
        <button
          type="button"
          className="btn btn-primary"
          autoFocus
          onClick={() => void studio().answerArchivePrompt('extract')}
        >
          Extract here
        </button>
      </div>
    </Modal>
  );
}
