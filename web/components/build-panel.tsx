/** "Build image": where the output goes, the stages with progress and time, the tools' log, Cancel. */
import { tidyMessage } from '../lib/problems.ts';
import { useEffect, useRef, useState } from 'react';
import type { StageName } from '../../core/engine-contract.ts';
import { STAGES, buildBlocker, studio, type StageState, useStudio } from '../state/store.ts';
import { canPickFile } from '../save/save-target.ts';
import { formatDuration, outputFileName } from '../lib/format.ts';
import { ProblemList } from './problem-list.tsx';
import { SaveModeChoice } from './save-mode-choice.tsx';
import { AlertIcon, CheckIcon, DiskIcon, SpinnerIcon } from './icons.tsx';

const STAGE_TEXT: Record<StageName, { title: string; tool: string }> = {
  plan: { title: 'Plan', tool: 'sizes and inodes' },
  mkfs: { title: 'Make filesystem', tool: 'mke2fs -d' },
  check: { title: 'Check', tool: 'e2fsck -fn' },
  shrink: { title: 'Shrink', tool: 'resize2fs -M' },
  recheck: { title: 'Check again', tool: 'e2fsck -fn' },
  compress: { title: 'Compress', tool: 'zstd' },
  save: { title: 'Save', tool: '' },
};

/** Re-renders every `ms` while `on`. */
function useTick(on: boolean, ms = 200): void {
  const [, setN] = useState(0);
  useEffect(() => {
    if (!on) return;
    const t = setInterval(() => setN((n) => n + 1), ms);
    return () => clearInterval(t);
  }, [on, ms]);
}

function StageRow({ name, s, note }: { name: StageName; s: StageState; note?: string }) {
  useTick(s.state === 'running');
  const elapsed =
    s.elapsedMs ?? (s.state === 'running' && s.startedAt !== null ? performance.now() - s.startedAt : null);
  const pct = s.progress === null ? null : Math.round(s.progress * 100);
  const text = STAGE_TEXT[name];
  return (
    <li className={`stage stage-${s.state}`} data-stage={name}>
      <span className="stage-icon" aria-hidden="true">
        {s.state === 'running' ? (
          <SpinnerIcon />
        ) : s.state === 'done' ? (
          <CheckIcon />
        ) : s.state === 'failed' ? (
          <AlertIcon />
        ) : (
          <span className="dot" />
        )}
      </span>
      <span className="stage-name">
        {text.title} <span className="muted stage-tool">{note ?? text.tool}</span>
      </span>
      <div
        className={`bar ${s.state === 'running' && pct === null ? 'is-indeterminate' : ''}`}
        role="progressbar"
        aria-label={`${text.title} progress`}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={s.state === 'done' ? 100 : (pct ?? undefined)}
      >
        <span style={{ width: `${s.state === 'done' ? 100 : (pct ?? 0)}%` }} />
      </div>
      <span className="stage-time">
        {s.state === 'skipped' ? 'skipped' : elapsed !== null ? formatDuration(elapsed) : ''}
      </span>
    </li>
  );
}

function BuildLog() {
  const log = useStudio((s) => s.build.log);
  const dropped = useStudio((s) => s.build.logDropped);
  const pre = useRef<HTMLPreElement>(null);
  const [open, setOpen] = useState(false);
  useEffect(() => {
    const el = pre.current;
    if (el && open) el.scrollTop = el.scrollHeight;
  }, [log, open]);
  const lines = log.reduce((n, c) => n + (c.text.match(/\n/g)?.length ?? 0), 0);
  return (
    <details className="log" open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>Tool output {log.length ? <span className="muted">({lines} lines)</span> : null}</summary>
      {open ? (
        <pre ref={pre} tabIndex={0} aria-label="Tool output">
          {dropped > 0 ? `… ${dropped} earlier characters not kept …\n` : ''}
          {log.length === 0
            ? 'Nothing yet.'
            : log.map((c, i) => (
                <span key={i} className={c.stream === 'stderr' ? 'log-err' : undefined}>
                  {c.text}
                </span>
              ))}
        </pre>
      ) : null}
    </details>
  );
}

function SaveChoice() {
  const mode = useStudio((s) => s.saveMode);
  const running = useStudio((s) => s.build.status === 'running');
  if (!canPickFile()) {
    return <p className="muted save-note">The image downloads when it is ready.</p>;
  }
  return <SaveModeChoice name="save-mode" mode={mode} disabled={running} fileHint="streams to disk while it builds" />;
}

export function BuildPanel() {
  const build = useStudio((s) => s.build);
  const blocker = useStudio((s) => buildBlocker(s));
  const fileName = useStudio((s) => outputFileName(s.options.label, s.options.compress));
  const compress = useStudio((s) => s.options.compress);
  const saveMode = useStudio((s) => (canPickFile() ? s.saveMode : 'download'));
  const running = build.status === 'running';
  useTick(running, 500);
  const total = build.startedAt !== null ? (build.finishedAt ?? performance.now()) - build.startedAt : null;

  return (
    <section className="panel build-panel" aria-labelledby="build-heading">
      <div className="panel-head">
        <h2 id="build-heading">Build</h2>
        {total !== null ? (
          <span className="muted" aria-live="off">
            {formatDuration(total)}
          </span>
        ) : null}
      </div>
      <SaveChoice />
      <div className="build-actions">
        {/* One button for Build and Cancel, so focus stays on it while a build starts and ends. */}
        <button
          type="button"
          className={`btn btn-large ${running ? 'btn-danger' : 'btn-primary'}`}
          disabled={!running && !!blocker}
          aria-describedby="build-blocker"
          onClick={() => (running ? studio().cancelBuild() : void studio().startBuild())}
        >
          {running ? (
            <span>Cancel</span>
          ) : (
            <>
              <DiskIcon />
              <span>Build image</span>
            </>
          )}
        </button>
        <p id="build-blocker" className="muted build-hint">
          {running
            ? `Building ${fileName}…`
            : (blocker ?? (
                <>
                  Writes <code>{fileName}</code>
                </>
              ))}
        </p>
      </div>
      <ol className="stages" aria-label="Build stages">
        {STAGES.map((name) =>
          name === 'compress' && !compress && build.stages.compress.state === 'pending' ? null : (
            <StageRow
              key={name}
              name={name}
              s={build.stages[name]}
              note={
                name === 'save'
                  ? (build.saveKind ?? saveMode) === 'file'
                    ? 'to the file you pick'
                    : 'for download'
                  : undefined
              }
            />
          ),
        )}
      </ol>
      <div role="status" aria-live="polite" className="build-status">
        {build.status === 'cancelled' ? <p className="note">Build cancelled. Nothing was saved.</p> : null}
      </div>
      {build.status === 'failed' && build.failure ? (
        <div role="alert" className="failure">
          <p className="failure-title">
            <AlertIcon /> {tidyMessage(build.failure.message)}
          </p>
          {build.failure.hint ? <p>{tidyMessage(build.failure.hint)}</p> : null}
          <ProblemList problems={build.failure.problems} />
          {build.failure.toolOutput ? (
            <details className="tool-output" open>
              <summary>What the tool said</summary>
              <pre tabIndex={0}>{build.failure.toolOutput}</pre>
            </details>
          ) : null}
        </div>
      ) : null}
      {build.problems.length > 0 ? <ProblemList problems={build.problems} /> : null}
      <BuildLog />
    </section>
  );
}
