/** The finished image: where it went, its size and sha256, and what dumpe2fs says about it. */
import { useState } from 'react';
import { studio, useStudio } from '../state/store.ts';
import { formatBytes, formatCount } from '../lib/format.ts';
import { FeaturesFact, UuidFact } from './filesystem-facts.tsx';
import { CheckIcon, CopyIcon, DownloadIcon } from './icons.tsx';

function CopyButton({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      className="icon-btn"
      aria-label={label}
      title={label}
      onClick={() => {
        void navigator.clipboard?.writeText(text).then(
          () => {
            setDone(true);
            setTimeout(() => setDone(false), 1500);
          },
          () => {},
        );
      }}
    >
      {done ? <CheckIcon /> : <CopyIcon />}
    </button>
  );
}

export function ResultCard() {
  const res = useStudio((s) => s.result);
  if (!res) return null;
  const { result: r, saved } = res;
  const s = r.summary;
  const used = (s.blockCount - s.freeBlocks) * s.blockSize;
  const ratio = r.compressed && r.size > 0 ? r.imageSize / r.size : null;
  return (
    <section className="panel result-card" aria-labelledby="result-heading">
      <div className="panel-head">
        <h2 id="result-heading">
          <CheckIcon className="ok" /> Image ready
        </h2>
      </div>
      <p className="result-file">
        <code className="result-name" data-testid="result-file-name">
          {saved.fileName}
        </code>
        <span className="muted">{saved.kind === 'file' ? 'saved to the file you picked' : 'downloaded'}</span>
      </p>
      {saved.kind === 'download' ? (
        <button type="button" className="btn" onClick={studio().downloadAgain}>
          <DownloadIcon />
          <span>Download again</span>
        </button>
      ) : null}
      <dl className="facts">
        <div>
          <dt>Size</dt>
          <dd data-testid="result-size">
            {formatBytes(r.size)} <span className="muted">({formatCount(r.size)} bytes)</span>
          </dd>
        </div>
        {r.compressed ? (
          <>
            <div>
              <dt>Uncompressed</dt>
              <dd>{formatBytes(r.imageSize)}</dd>
            </div>
            <div>
              <dt>Compression</dt>
              <dd>
                {ratio ? `${ratio.toFixed(2)}×` : '–'}{' '}
                <span className="muted">
                  ({r.size > 0 ? ((r.size / r.imageSize) * 100).toFixed(1) : '–'}% of the image)
                </span>
              </dd>
            </div>
          </>
        ) : null}
        <div className="fact-wide">
          <dt>SHA-256</dt>
          <dd className="hash">
            <code data-testid="result-sha256">{r.sha256}</code>
            <CopyButton text={r.sha256} label="Copy SHA-256" />
          </dd>
        </div>
        <div>
          <dt>Filesystem</dt>
          <dd>
            {s.fsType} · label <code>{s.label || '(none)'}</code>
          </dd>
        </div>
        <UuidFact uuid={s.uuid} />
        <div>
          <dt>Blocks</dt>
          <dd>
            {formatCount(s.blockCount)} × {formatCount(s.blockSize)} B{' '}
            <span className="muted">
              ({formatBytes(used)} used, {formatCount(s.freeBlocks)} free)
            </span>
          </dd>
        </div>
        <div>
          <dt>Inodes</dt>
          <dd>
            {formatCount(s.inodeCount - s.freeInodes)} used of {formatCount(s.inodeCount)}
          </dd>
        </div>
        <FeaturesFact features={s.features} />
      </dl>
    </section>
  );
}
