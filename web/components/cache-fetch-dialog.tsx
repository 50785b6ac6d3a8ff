/**
 * "Fetch from a binary cache": store paths typed, pasted or dropped as a manifest; the
 * caches with their trusted keys; an estimate (paths and bytes) before anything is
 * downloaded; then the fetch with its progress and Cancel.
 */
import { useId } from 'react';
import { DEFAULT_CACHE_KEY, DEFAULT_CACHE_URL, formatBytes } from '../../core/binary-cache/caches.ts';
import {
  allowedOrigins,
  cancelFetch,
  estimateFetch,
  originsNeedingReload,
  resetFetch,
  runFetch,
  saveCaches,
  setCaches,
  setDialogOpen,
  setCheckSignatures,
  setPathsText,
  useCacheFetch,
} from '../state/cache-fetch.ts';
import { studio, useStudio } from '../state/store.ts';

const addClosureFiles = (files: File[]) => studio().addClosureFiles(files);
import { formatCount } from '../lib/format.ts';
import { SnowflakeIcon } from './icons.tsx';
import { Modal } from './modal.tsx';
import { ProblemList } from './problem-list.tsx';

/** The "Fetch from a binary cache" button (the dialog is {@link CacheFetchHost}, mounted once by the app). */
export function CacheFetchButton({ compact = false, disabled = false }: { compact?: boolean; disabled?: boolean }) {
  return (
    <button
      type="button"
      className={`btn ${compact ? 'btn-small' : ''}`}
      onClick={() => setDialogOpen(true)}
      disabled={disabled}
      title="Fetch store paths and their closure from Nix binary caches, verified"
    >
      <SnowflakeIcon />
      <span>Fetch from a binary cache</span>
    </button>
  );
}

/** The dialog while it is open; it outlives the buttons (which move as inputs are added). */
export function CacheFetchHost() {
  const open = useCacheFetch((s) => s.dialogOpen);
  if (!open) return null;
  return (
    <CacheFetchDialog
      onClose={() => {
        resetFetch();
        setDialogOpen(false);
      }}
    />
  );
}

export function CacheFetchDialog({ onClose }: { onClose(): void }) {
  const s = useCacheFetch();
  const closure = useStudio((st) => st.closure);
  const ids = useId();
  const reload = originsNeedingReload(s.caches, allowedOrigins());
  const busy = s.phase === 'planning' || s.phase === 'fetching';
  const missing = closure.filter((p) => p.contents === 'missing').length;
  const canEstimate = !busy && reload.length === 0 && s.caches.length > 0;

  const updateCache = (i: number, patch: Partial<{ url: string; keys: string }>) =>
    setCaches(
      s.caches.map((c, k) =>
        k !== i
          ? c
          : {
              url: patch.url ?? c.url,
              publicKeys: patch.keys !== undefined ? patch.keys.split(/\s+/).filter(Boolean) : c.publicKeys,
            },
      ),
    );

  return (
    <Modal title="Fetch from a binary cache" labelId={`${ids}-title`} onCancel={busy ? cancelFetch : onClose}>
      <div className="cache-fetch">
        <div className="field field-wide">
          <label htmlFor={`${ids}-paths`}>Store paths</label>
          <textarea
            id={`${ids}-paths`}
            rows={3}
            spellCheck={false}
            placeholder="/nix/store/…-nixos-system-…"
            value={s.pathsText}
            disabled={busy}
            onChange={(e) => setPathsText(e.currentTarget.value)}
            onDragOver={(e) => e.preventDefault()}
            onDrop={(e) => {
              e.preventDefault();
              const files = [...e.dataTransfer.files];
              if (files.length) void addClosureFiles(files);
            }}
          />
          <p className="field-help">
            Each path is fetched with its whole closure. Or drop a manifest (registration, store-paths, path-info JSON)
            here or add it with "Add closure": the paths it lists that no input holds are fetched
            {missing ? (
              <>
                {' '}
                (<strong>{formatCount(missing)}</strong> now)
              </>
            ) : null}
            .
          </p>
        </div>

        <fieldset className="cache-list" disabled={busy}>
          <legend>Caches, in priority order</legend>
          {s.caches.map((c, i) => (
            <div className="cache-row" key={i}>
              <div className="field">
                <label htmlFor={`${ids}-url-${i}`}>Cache URL</label>
                <input
                  id={`${ids}-url-${i}`}
                  type="url"
                  spellCheck={false}
                  value={c.url}
                  onChange={(e) => updateCache(i, { url: e.currentTarget.value })}
                />
              </div>
              <div className="field">
                <label htmlFor={`${ids}-keys-${i}`}>Trusted public keys</label>
                <input
                  id={`${ids}-keys-${i}`}
                  spellCheck={false}
                  value={c.publicKeys.join(' ')}
                  placeholder="name-1:base64…="
                  onChange={(e) => updateCache(i, { keys: e.currentTarget.value })}
                />
              </div>
              <button
                type="button"
                className="btn btn-small btn-quiet"
                aria-label={`Remove cache ${c.url}`}
                onClick={() => setCaches(s.caches.filter((_, k) => k !== i))}
              >
                Remove
              </button>
            </div>
          ))}
          <div className="cache-list-actions">
            <button
              type="button"
              className="btn btn-small"
              onClick={() => setCaches([...s.caches, { url: '', publicKeys: [] }])}
            >
              Add a cache
            </button>
            <button
              type="button"
              className="btn btn-small btn-quiet"
              onClick={() => setCaches([{ url: DEFAULT_CACHE_URL, publicKeys: [DEFAULT_CACHE_KEY] }])}
            >
              Reset to cache.nixos.org
            </button>
          </div>
          <label className="field-inline unchecked-switch">
            <input
              type="checkbox"
              checked={!s.checkSignatures}
              onChange={(e) => setCheckSignatures(!e.currentTarget.checked)}
            />{' '}
            Don't check signatures (private caches only)
          </label>
          {!s.checkSignatures ? (
            <p className="field-error" role="alert">
              Signatures will NOT be checked: whatever the caches, or anyone in between, send goes into the image.
            </p>
          ) : null}
        </fieldset>

        {reload.length ? (
          <div className="cache-reload" role="status">
            <p>
              The page may connect only to the caches it was loaded with (its Content-Security-Policy is fixed at load).
              To allow {reload.join(', ')}, save the list and reload; the tree is not kept.
            </p>
            <button
              type="button"
              className="btn btn-small btn-primary"
              onClick={() => {
                saveCaches();
                location.reload();
              }}
            >
              Save caches and reload
            </button>
          </div>
        ) : null}

        <div aria-live="polite">
          {s.phase === 'planning' ? <p>Looking up the closure in the caches…</p> : null}
          {s.plan ? <PlanSummary /> : null}
          {s.phase === 'fetching' && s.progress ? (
            <div className="fetch-progress">
              <progress
                max={Math.max(1, s.progress.bytesTotal)}
                value={s.progress.bytesDone}
                aria-label="Download progress"
              />
              <p data-testid="fetch-progress">
                {formatCount(s.progress.pathsDone)} of {formatCount(s.progress.pathsTotal)} paths ·{' '}
                {formatBytes(s.progress.bytesDone)} of {formatBytes(s.progress.bytesTotal)}
              </p>
            </div>
          ) : null}
          {s.phase === 'done' ? <p className="ok">Fetched and verified; the paths are in the tree.</p> : null}
          {s.failure ? (
            <div className="fetch-failure" role="alert">
              <p>
                <strong>
                  {s.failure.problems.length ? 'The fetch was refused; nothing was added:' : s.failure.message}
                </strong>
              </p>
              <ProblemList problems={s.failure.problems} />
            </div>
          ) : null}
        </div>
      </div>
      <div className="modal-actions">
        {busy ? (
          <button type="button" className="btn btn-danger" onClick={cancelFetch}>
            Cancel
          </button>
        ) : (
          <button type="button" className="btn btn-quiet" onClick={onClose}>
            {s.phase === 'done' ? 'Close' : 'Cancel'}
          </button>
        )}
        <button
          type="button"
          className="btn"
          disabled={!canEstimate}
          onClick={() => {
            saveCaches();
            void estimateFetch(closure);
          }}
        >
          Estimate
        </button>
        <button
          type="button"
          className="btn btn-primary"
          disabled={busy || !s.plan || s.plan.paths.length === 0 || s.plan.problems.some((p) => p.severity === 'error')}
          onClick={() => void runFetch(addClosureFiles)}
        >
          Fetch
        </button>
      </div>
    </Modal>
  );
}

function PlanSummary() {
  const plan = useCacheFetch((s) => s.plan)!;
  const errors = plan.problems.some((p) => p.severity === 'error');
  const byCache = new Map<string, number>();
  for (const p of plan.paths) byCache.set(p.cache, (byCache.get(p.cache) ?? 0) + 1);
  return (
    <div className="fetch-plan" data-testid="fetch-plan">
      {errors ? (
        <p className="bad">Nothing can be fetched until the problems below are solved.</p>
      ) : (
        <p>
          <strong>{formatCount(plan.paths.length)}</strong> store {plan.paths.length === 1 ? 'path' : 'paths'} to fetch:{' '}
          <strong>{formatBytes(plan.downloadBytes)}</strong> to download ({formatBytes(plan.narBytes)} unpacked)
          {plan.present.length ? `; ${formatCount(plan.present.length)} given by other inputs` : ''}.
        </p>
      )}
      {byCache.size ? (
        <ul className="plain-list">
          {[...byCache].map(([cache, n]) => (
            <li key={cache}>
              {formatCount(n)} from <code>{cache}</code>
            </li>
          ))}
        </ul>
      ) : null}
      {!plan.signaturesChecked ? (
        <p className="field-error">SIGNATURES NOT CHECKED: these paths are trusted blindly.</p>
      ) : null}
      <ProblemList problems={plan.problems} />
    </div>
  );
}
