/** Filesystem options, with nixpkgs' defaults, and a live size estimate. */
import { useEffect, useId, useState } from 'react';
import type { BuildOptions, FsType } from '../../core/engine-contract.ts';
import { DEFAULT_BUILD_OPTIONS } from '../../core/build-options.ts';
import { studio, useStudio } from '../state/store.ts';
import { formatBytes, formatCount } from '../lib/format.ts';
import { DiceIcon, SpinnerIcon } from './icons.tsx';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function labelProblem(label: string): string | undefined {
  if (new TextEncoder().encode(label).length > 16) return 'At most 16 bytes.';
  return undefined;
}

/**
 * A whole-number field. Whatever is typed reaches the options (so a wrong value blocks the
 * build instead of the last good one being built silently), and what is wrong shows at the field.
 */
function IntegerField({
  label,
  value,
  min,
  max,
  onChange,
  help,
  suffix,
  problem,
}: {
  label: string;
  value: number;
  min: number;
  max: number;
  onChange(v: number): void;
  help?: string;
  suffix?: string;
  /** What is wrong with a whole number typed here (default: outside min..max). */
  problem?: (v: number) => string | undefined;
}) {
  const id = useId();
  const [draft, setDraft] = useState(String(value));
  useEffect(() => {
    if (Number(draft) !== value && !(Number.isNaN(value) && draft.trim() === '')) setDraft(String(value));
  }, [value]); // eslint-disable-line react-hooks/exhaustive-deps
  const n = Number(draft);
  const whole = draft.trim() !== '' && Number.isInteger(n);
  const error = !whole
    ? `A whole number from ${formatCount(min)} to ${formatCount(max)}.`
    : (problem?.(n) ??
      (n < min || n > max ? `A whole number from ${formatCount(min)} to ${formatCount(max)}.` : undefined));
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <div className="input-suffix">
        <input
          id={id}
          type="number"
          inputMode="numeric"
          min={min}
          max={max}
          step={1}
          value={draft}
          aria-invalid={error ? true : undefined}
          aria-describedby={help || error ? `${id}-help` : undefined}
          className={error ? 'is-invalid' : ''}
          onChange={(e) => {
            setDraft(e.target.value);
            const v = Number(e.target.value);
            onChange(e.target.value.trim() !== '' && Number.isInteger(v) ? v : Number.NaN);
          }}
        />
        {suffix ? <span className="suffix">{suffix}</span> : null}
      </div>
      {error ? (
        <p id={`${id}-help`} className="field-error">
          {error}
        </p>
      ) : help ? (
        <p id={`${id}-help`} className="field-help">
          {help}
        </p>
      ) : null}
    </div>
  );
}

function epochText(epoch: number): string {
  const d = new Date(epoch * 1000);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString().replace('T', ' ').replace('.000Z', ' UTC');
}

function EstimateLine() {
  const est = useStudio((s) => s.estimate);
  const compress = useStudio((s) => s.options.compress);
  if (est.state === 'idle') return <p className="estimate muted">Add something to see how large the image will be.</p>;
  if (est.state === 'error') return <p className="estimate field-error">No estimate: {est.message}</p>;
  const v = est.value;
  return (
    <div className="estimate" aria-live="polite" aria-busy={est.state === 'pending'}>
      <p className="estimate-main">
        {v ? (
          <>
            Image ≈ <strong>{formatBytes(v.finalImageBytes)}</strong>
          </>
        ) : (
          'Estimating…'
        )}
        {est.state === 'pending' ? <SpinnerIcon className="estimate-spin" /> : null}
      </p>
      {v ? (
        <p className="muted estimate-detail">
          {formatBytes(v.dataBytes)} of data in {formatCount(v.inodes)} inodes; mkfs starts at{' '}
          {formatBytes(v.initialImageBytes)}, then shrinks.{compress ? ' zstd makes the download smaller still.' : ''}
        </p>
      ) : null}
    </div>
  );
}

export function OptionsPanel() {
  const o = useStudio((s) => s.options);
  const disabled = useStudio((s) => s.build.status === 'running');
  const set =
    <K extends keyof BuildOptions>(k: K) =>
    (v: BuildOptions[K]) =>
      studio().setOption(k, v);
  const labelErr = labelProblem(o.label);
  const uuidOk = UUID_RE.test(o.uuid);
  const changed = JSON.stringify(o) !== JSON.stringify(DEFAULT_BUILD_OPTIONS);
  return (
    <section className="panel" aria-labelledby="options-heading">
      <div className="panel-head">
        <h2 id="options-heading">Filesystem</h2>
        <button
          type="button"
          className="btn btn-small btn-quiet"
          onClick={studio().resetOptions}
          disabled={!changed || disabled}
        >
          Defaults
        </button>
      </div>
      <fieldset className="options-grid" disabled={disabled}>
        <div className="field">
          <label htmlFor="opt-label">Label</label>
          <input
            id="opt-label"
            value={o.label}
            spellCheck={false}
            maxLength={64}
            aria-invalid={labelErr ? true : undefined}
            className={labelErr ? 'is-invalid' : ''}
            aria-describedby="opt-label-help"
            onChange={(e) => studio().setOption('label', e.target.value)}
          />
          <p id="opt-label-help" className={labelErr ? 'field-error' : 'field-help'}>
            {labelErr ?? 'Also names the file.'}
          </p>
        </div>
        <div className="field">
          <label htmlFor="opt-type">Type</label>
          <select
            id="opt-type"
            value={o.fsType}
            onChange={(e) => studio().setOption('fsType', e.target.value as FsType)}
          >
            <option value="ext4">ext4</option>
            <option value="ext3">ext3</option>
            <option value="ext2">ext2</option>
          </select>
        </div>
        <div className="field field-wide">
          <div className="label-row">
            <label htmlFor="opt-uuid">UUID</label>
            <button type="button" className="btn btn-small btn-quiet" onClick={studio().randomUuid}>
              <DiceIcon />
              <span>Random</span>
            </button>
          </div>
          <input
            id="opt-uuid"
            value={o.uuid}
            spellCheck={false}
            className={`mono ${uuidOk ? '' : 'is-invalid'}`}
            aria-invalid={uuidOk ? undefined : true}
            aria-describedby="opt-uuid-help"
            onChange={(e) => studio().setOption('uuid', e.target.value.trim().toLowerCase())}
          />
          <p id="opt-uuid-help" className={uuidOk ? 'field-help' : 'field-error'}>
            {uuidOk
              ? 'Also seeds directory hashes, so the same inputs give the same image.'
              : 'Use the form 01234567-89ab-cdef-0123-456789abcdef.'}
          </p>
        </div>
        <div className="field">
          <label htmlFor="opt-block">Block size</label>
          <select
            id="opt-block"
            value={String(o.blockSize)}
            onChange={(e) =>
              studio().setOption(
                'blockSize',
                e.target.value === 'auto' ? 'auto' : (Number(e.target.value) as 1024 | 2048 | 4096),
              )
            }
          >
            <option value="auto">auto</option>
            <option value="1024">1024</option>
            <option value="2048">2048</option>
            <option value="4096">4096</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor="opt-inode">Inode size</label>
          <select
            id="opt-inode"
            value={String(o.inodeSize)}
            onChange={(e) =>
              studio().setOption(
                'inodeSize',
                e.target.value === 'auto' ? 'auto' : (Number(e.target.value) as 128 | 256 | 512 | 1024),
              )
            }
          >
            <option value="auto">auto</option>
            <option value="128">128</option>
            <option value="256">256</option>
            <option value="512">512</option>
            <option value="1024">1024</option>
          </select>
        </div>
        <IntegerField
          label="Timestamps (epoch)"
          value={o.epoch}
          min={0}
          max={0xffffffff}
          onChange={set('epoch')}
          help={epochText(o.epoch)}
          suffix="s"
        />
        <IntegerField
          label="Headroom"
          value={o.headroomMiB}
          min={0}
          max={1 << 20}
          onChange={set('headroomMiB')}
          help="Free space kept after shrinking."
          suffix="MiB"
          problem={(v) =>
            v < 0 ? 'Headroom cannot be negative: give 0 or more MiB of free space to keep.' : undefined
          }
        />
        <div className="field field-wide">
          <label className="check">
            <input
              type="checkbox"
              checked={o.compat ?? false}
              aria-describedby="opt-compat-help"
              onChange={(e) => studio().setOption('compat', e.target.checked)}
            />
            <span>Compatible with older kernels and boot loaders</span>
          </label>
          <p id="opt-compat-help" className="field-help">
            Leaves out <code>orphan_file</code> and <code>metadata_csum_seed</code>, which Linux before 5.15 and GRUB
            before 2.12 refuse.
          </p>
        </div>
        <div className="field field-wide compress-row">
          <label className="check">
            <input
              type="checkbox"
              checked={o.compress}
              onChange={(e) => studio().setOption('compress', e.target.checked)}
            />
            <span>
              Compress with zstd (<code>.img.zst</code>)
            </span>
          </label>
          <div className={`level ${o.compress ? '' : 'is-off'}`}>
            <label htmlFor="opt-level">Level</label>
            <input
              id="opt-level"
              type="range"
              min={1}
              max={19}
              step={1}
              value={o.compressionLevel}
              disabled={!o.compress}
              onChange={(e) => studio().setOption('compressionLevel', Number(e.target.value))}
            />
            <output htmlFor="opt-level" className="level-value">
              {o.compressionLevel}
            </output>
          </div>
        </div>
      </fieldset>
      <EstimateLine />
    </section>
  );
}
