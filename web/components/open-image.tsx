/**
 * "Open image": pick an `.img` or `.img.zst` to check, browse, change and save again; the
 * notice when a file cannot be opened; the progress while one is read.
 */
import { tidyMessage } from '../lib/problems.ts';
import { useRef } from 'react';
import { dismissOpenFailure, openImageFile, useImage } from '../state/opened-image.ts';
import { formatBytes } from '../lib/format.ts';
import { AlertIcon, CloseIcon, DiskIcon } from './icons.tsx';

export function OpenImageButton() {
  const input = useRef<HTMLInputElement>(null);
  const busy = useImage((s) => s.status === 'opening' || s.busy !== null);
  return (
    <>
      <button
        type="button"
        className="btn"
        disabled={busy}
        onClick={() => input.current?.click()}
        title="Open a disk image (.img, .img.zst, .ext4, .raw or any name) to check it, browse it, change it and save it again"
      >
        <DiskIcon />
        <span>Open image</span>
      </button>
      <input
        ref={input}
        type="file"
        hidden
        tabIndex={-1}
        data-input="image"
        /* Any file: images come as .img, .ext4, .raw or without an extension; the engine decides by content. */
        onChange={(e) => {
          const file = e.currentTarget.files?.[0];
          e.currentTarget.value = '';
          if (file) void openImageFile(file);
        }}
      />
    </>
  );
}

/** Why the last file could not be opened: its name, what is wrong, what to do. */
export function OpenFailure() {
  const failure = useImage((s) => s.openFailure);
  if (!failure) return null;
  return (
    <div role="alert" className="failure open-failure">
      <p className="failure-title">
        <AlertIcon /> {tidyMessage(failure.message)}
      </p>
      {failure.hint ? <p>{tidyMessage(failure.hint)}</p> : null}
      {failure.toolOutput ? (
        <details className="tool-output">
          <summary>What the tool said</summary>
          <pre tabIndex={0}>{failure.toolOutput}</pre>
        </details>
      ) : null}
      <button type="button" className="icon-btn open-failure-close" aria-label="Dismiss" onClick={dismissOpenFailure}>
        <CloseIcon />
      </button>
    </div>
  );
}

/** Shown while a file is read and checked. */
export function OpeningImage() {
  const name = useImage((s) => s.fileName);
  const progress = useImage((s) => s.progress);
  const pct = progress && progress.total > 0 ? Math.round((progress.done / progress.total) * 100) : null;
  const read = progress && progress.done >= progress.total;
  return (
    <section className="panel" aria-labelledby="opening-heading">
      <h2 id="opening-heading">Opening {name}</h2>
      <div
        className="bar"
        role="progressbar"
        aria-label={`Reading ${name}`}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct ?? undefined}
      >
        <span style={{ width: `${pct ?? 0}%` }} />
      </div>
      <p className="muted" role="status">
        {read
          ? 'Reading the superblock and checking the filesystem (e2fsck -fn)…'
          : progress
            ? `Read ${formatBytes(progress.done)} of ${formatBytes(progress.total)}; compressed images are decompressed as they are read.`
            : 'Starting…'}
      </p>
    </section>
  );
}
