/**
 * The opened image: its check verdict (with a repair only on request), its summary, label
 * and size, and saving it again. Every action runs in the engine on the copy in memory;
 * the file on disk changes only when saved over.
 */
import { tidyMessage } from '../lib/problems.ts';
import { useEffect, useState } from 'react';
import type { BuildFailure } from '../../core/engine-contract.ts';
import {
  cancelSave,
  closeImage,
  defaultSaveName,
  repairImage,
  resizeImage,
  saveBlocker,
  saveImage,
  setImageLabel,
  setSaveCompression,
  useImage,
} from '../state/opened-image.ts';
import { useStudio } from '../state/store.ts';
import { canPickFile } from '../save/save-target.ts';
import { formatBytes, formatCount } from '../lib/format.ts';
import { FeaturesFact, UuidFact } from './filesystem-facts.tsx';
import { ProblemList } from './problem-list.tsx';
import { SaveModeChoice } from './save-mode-choice.tsx';
import { AlertIcon, CheckIcon, CloseIcon, DiskIcon, SpinnerIcon } from './icons.tsx';

const MiB = 1024 * 1024;

function Verdict() {
  const image = useImage((s) => s.image)!;
  const repair = useImage((s) => s.repair);
  const busy = useImage((s) => s.busy);
  const { fsck } = image;
  return (
    <div className={`verdict ${fsck.clean ? 'is-clean' : 'is-dirty'}`}>
      <p className="verdict-line" data-testid="fsck-verdict" role="status">
        {fsck.clean ? (
          <>
            <CheckIcon className="ok" /> <strong>Clean</strong>{' '}
            <span className="muted">e2fsck -fn found no problems</span>
          </>
        ) : (
          <>
            <AlertIcon className="bad" /> <strong>Not clean</strong>{' '}
            <span className="muted">e2fsck -fn found problems (exit {fsck.exitCode}); the image is dirty</span>
          </>
        )}
      </p>
      <details className="tool-output" open={!fsck.clean}>
        <summary>e2fsck output</summary>
        <pre tabIndex={0} aria-label="e2fsck output">
          {fsck.output.trim() || '(nothing)'}
        </pre>
      </details>
      {!fsck.clean ? (
        <div className="repair">
          <p className="muted">
            A repair runs <code>e2fsck -fy</code> on the copy in memory: it answers yes to every fix it offers. The file
            on your disk is not touched until you save.
          </p>
          <button
            type="button"
            className="btn btn-primary"
            disabled={busy !== null}
            onClick={() => {
              if (
                window.confirm(
                  'Repair the image with e2fsck -fy? It fixes everything it can, which may move or remove damaged entries.',
                )
              )
                void repairImage();
            }}
          >
            Repair with e2fsck -fy
          </button>
        </div>
      ) : null}
      {repair ? (
        <details className="tool-output">
          <summary>Repair report (e2fsck -fy, exit {repair.exitCode})</summary>
          <pre tabIndex={0} aria-label="Repair report">
            {repair.output.trim()}
          </pre>
        </details>
      ) : null}
    </div>
  );
}

function Summary() {
  const image = useImage((s) => s.image)!;
  const s = image.summary;
  const used = s.blockCount - s.freeBlocks;
  return (
    <dl className="facts" aria-label="Filesystem summary">
      <div>
        <dt>Filesystem</dt>
        <dd>{s.fsType}</dd>
      </div>
      <div>
        <dt>Label</dt>
        <dd data-testid="image-label">
          <code>{s.label || '(none)'}</code>
        </dd>
      </div>
      <UuidFact uuid={s.uuid} />
      <div>
        <dt>Size</dt>
        <dd data-testid="image-size">
          {formatBytes(image.size)} <span className="muted">({formatCount(image.size)} bytes)</span>
        </dd>
      </div>
      <div>
        <dt>Block size</dt>
        <dd>{formatCount(s.blockSize)} B</dd>
      </div>
      <div>
        <dt>Blocks</dt>
        <dd>
          {formatCount(used)} used, {formatCount(s.freeBlocks)} free{' '}
          <span className="muted">of {formatCount(s.blockCount)}</span>
        </dd>
      </div>
      <div>
        <dt>Inodes</dt>
        <dd>
          {formatCount(s.inodeCount - s.freeInodes)} used, {formatCount(s.freeInodes)} free{' '}
          <span className="muted">of {formatCount(s.inodeCount)}</span>
        </dd>
      </div>
      {image.minimumBytes !== undefined ? (
        <div>
          <dt>Minimum size</dt>
          <dd>{formatBytes(image.minimumBytes)}</dd>
        </div>
      ) : null}
      <FeaturesFact features={s.features} />
    </dl>
  );
}

function Changes() {
  const image = useImage((s) => s.image)!;
  const busy = useImage((s) => s.busy);
  const [label, setLabel] = useState(image.summary.label);
  const [mib, setMib] = useState(String(Math.round(image.size / MiB)));
  useEffect(() => setLabel(image.summary.label), [image.summary.label]);
  useEffect(() => setMib(String(Math.round(image.size / MiB))), [image.size]);
  const labelBytes = new TextEncoder().encode(label).length;
  const sizeBytes = Math.round(Number(mib) * MiB);
  const sizeOk =
    Number.isFinite(sizeBytes) &&
    sizeBytes > 0 &&
    (image.minimumBytes === undefined || sizeBytes >= image.minimumBytes);
  const off = busy !== null || !image.fsck.clean;
  return (
    <div className="image-changes">
      <form
        className="field"
        onSubmit={(e) => {
          e.preventDefault();
          if (labelBytes <= 16) void setImageLabel(label);
        }}
      >
        <label htmlFor="image-label-input">Label</label>
        <div className="row">
          <input
            id="image-label-input"
            value={label}
            maxLength={32}
            spellCheck={false}
            className={labelBytes > 16 ? 'is-invalid' : ''}
            aria-invalid={labelBytes > 16 || undefined}
            onChange={(e) => setLabel(e.target.value)}
          />
          <button
            type="submit"
            className="btn btn-small"
            disabled={off || labelBytes > 16 || label === image.summary.label}
          >
            Set label
          </button>
        </div>
        {labelBytes > 16 ? <span className="field-error">At most 16 bytes.</span> : null}
      </form>
      <form
        className="field"
        onSubmit={(e) => {
          e.preventDefault();
          if (sizeOk) void resizeImage(sizeBytes);
        }}
      >
        <label htmlFor="image-size-input">Size (MiB)</label>
        <div className="row">
          <input
            id="image-size-input"
            type="number"
            min={1}
            step={1}
            value={mib}
            onChange={(e) => setMib(e.target.value)}
            className={sizeOk ? '' : 'is-invalid'}
            aria-invalid={!sizeOk || undefined}
          />
          <button type="submit" className="btn btn-small" disabled={off || !sizeOk || sizeBytes === image.size}>
            Resize
          </button>
          <button type="button" className="btn btn-small" disabled={off} onClick={() => void resizeImage('min')}>
            Shrink to minimum
          </button>
        </div>
        <span className="field-help">
          resize2fs grows or shrinks the filesystem
          {image.minimumBytes !== undefined ? `; it needs at least ${formatBytes(image.minimumBytes)}` : ''}.
        </span>
      </form>
    </div>
  );
}

function SaveSection() {
  const s = useImage((st) => st.save);
  const compress = useImage((st) => st.compress);
  const level = useImage((st) => st.level);
  const blocker = useImage((st) => saveBlocker(st));
  const fileName = useImage((st) => defaultSaveName(st));
  const mode = useStudio((st) => (canPickFile() ? st.saveMode : 'download'));
  const running = s.status === 'running';
  return (
    <div className="image-save">
      <div className="compress-row">
        <label className="check">
          <input
            type="checkbox"
            checked={compress}
            disabled={running}
            onChange={(e) => setSaveCompression(e.target.checked)}
          />
          <span>Compress with zstd</span>
        </label>
        <div className={`level ${compress ? '' : 'is-off'}`}>
          <label htmlFor="image-level">Level</label>
          <input
            id="image-level"
            type="range"
            min={1}
            max={19}
            value={level}
            disabled={!compress || running}
            onChange={(e) => setSaveCompression(compress, Number(e.target.value))}
          />
          <span className="level-value">{level}</span>
        </div>
      </div>
      {canPickFile() ? (
        <SaveModeChoice name="image-save-mode" mode={mode} disabled={running} fileHint="streams to disk" />
      ) : null}
      <div className="build-actions">
        {running ? (
          <button type="button" className="btn btn-danger btn-large" onClick={cancelSave}>
            Cancel
          </button>
        ) : (
          <button
            type="button"
            className="btn btn-primary btn-large"
            disabled={!!blocker}
            aria-describedby="image-save-hint"
            onClick={() => void saveImage(mode)}
          >
            <DiskIcon />
            <span>Save image</span>
          </button>
        )}
        <p id="image-save-hint" className="muted build-hint">
          {running ? (
            <>
              <SpinnerIcon className="spin" />{' '}
              {s.stage === 'check' ? 'Checking (e2fsck -fn)…' : s.stage === 'compress' ? 'Compressing…' : 'Saving…'}
            </>
          ) : (
            (blocker ?? (
              <>
                Checks it with e2fsck -fn, then writes <code>{fileName}</code>
              </>
            ))
          )}
        </p>
        {running ? (
          <div
            className="bar"
            role="progressbar"
            aria-label="Save progress"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={s.progress === null ? undefined : Math.round(s.progress * 100)}
          >
            <span style={{ width: `${Math.round((s.progress ?? 0) * 100)}%` }} />
          </div>
        ) : null}
      </div>
      {s.status === 'cancelled' ? (
        <p className="note" role="status">
          Save cancelled. Nothing was saved; the image is still open.
        </p>
      ) : null}
      {s.status === 'failed' && s.failure ? <FailureBox failure={s.failure} /> : null}
      {s.status === 'done' && s.result && s.saved ? (
        <div className="saved" role="status">
          <p>
            <CheckIcon className="ok" /> Saved <code data-testid="saved-file-name">{s.saved.fileName}</code>{' '}
            <span className="muted">({formatBytes(s.result.size)})</span>
          </p>
          <p className="hash muted">
            sha256 <code data-testid="saved-sha256">{s.result.sha256}</code>
          </p>
        </div>
      ) : null}
    </div>
  );
}

function FailureBox({ failure }: { failure: BuildFailure }) {
  return (
    <div role="alert" className="failure">
      <p className="failure-title">
        <AlertIcon /> {tidyMessage(failure.message)}
      </p>
      {failure.hint ? <p>{tidyMessage(failure.hint)}</p> : null}
      <ProblemList problems={failure.problems.slice(0, 20)} />
      {failure.toolOutput ? (
        <details className="tool-output" open>
          <summary>What the tool said</summary>
          <pre tabIndex={0}>{failure.toolOutput}</pre>
        </details>
      ) : null}
    </div>
  );
}

export function ImagePanel() {
  const image = useImage((s) => s.image);
  const name = useImage((s) => s.fileName);
  const failure = useImage((s) => s.failure);
  const busy = useImage((s) => s.busy);
  const savedRevision = useImage((s) => s.savedRevision);
  if (!image) return null;
  const unsaved = image.revision - savedRevision;
  return (
    <>
      <section className="panel image-panel" aria-labelledby="image-heading">
        <div className="panel-head">
          <h2 id="image-heading">Opened image</h2>
          <button type="button" className="btn btn-small btn-quiet" onClick={closeImage} disabled={busy !== null}>
            <CloseIcon />
            <span>Close image</span>
          </button>
        </div>
        <p className="result-file">
          <code className="result-name" data-testid="image-file-name">
            {name}
          </code>
          <span className="muted">
            {image.revision === 0
              ? 'as opened'
              : unsaved === 0
                ? 'saved'
                : `${unsaved} ${unsaved === 1 ? 'change' : 'changes'} in memory, not saved yet`}
          </span>
        </p>
        {busy ? (
          <p className="muted busy-line" role="status">
            <SpinnerIcon className="spin" /> {busy}…
          </p>
        ) : null}
        {failure ? <FailureBox failure={failure} /> : null}
        <Verdict />
      </section>
      <section className="panel" aria-labelledby="fs-heading">
        <h2 id="fs-heading">Filesystem</h2>
        <Summary />
        <Changes />
      </section>
      <section className="panel" aria-labelledby="save-heading">
        <h2 id="save-heading">Save</h2>
        <SaveSection />
      </section>
    </>
  );
}
