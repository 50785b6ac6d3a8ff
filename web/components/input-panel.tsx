/**
 * Where things come in: the four "Add …" buttons (each backed by a hidden file input), the
 * drop zone for the image root, and the list of inputs with their problems.
 */
import { useEffect, useMemo, useRef, useState, type DragEvent, type ReactNode } from 'react';
import { type InputItem, studio, useStudio } from '../state/store.ts';
import { inputPlace, namesInput } from '../state/slice-inputs.ts';
import type { InputProblem } from '../../core/image-tree.ts';
import type { FileNode } from '../state/file-tree.ts';
import { dragHasFiles, readDrop } from '../input/collect.ts';
import { formatCount } from '../lib/format.ts';
import { isImageFileName, openImageFile } from '../state/opened-image.ts';
import { CacheFetchButton } from './cache-fetch-dialog.tsx';
import { ProblemList } from './problem-list.tsx';
import {
  ArchiveIcon,
  CloseIcon,
  FilesIcon,
  FolderIcon,
  SnowflakeIcon,
  SpinnerIcon,
  AlertIcon,
  CheckIcon,
} from './icons.tsx';

const ARCHIVE_ACCEPT = '.tar,.tar.gz,.tgz,.tar.zst,.tar.zstd,.tzst';

type PickerKind = 'files' | 'folder' | 'archive' | 'closure';

/** What each "Add …" button does with the files picked. */
export type AddHandlers = Record<'files' | 'folder' | 'archive', (files: File[]) => void> & {
  closure?: (files: File[]) => void;
};

const buildHandlers: AddHandlers = {
  files: (f) => void studio().addFiles(f),
  folder: (f) => void studio().addFolderFiles(f),
  archive: (f) => void studio().addArchives(f),
  closure: (f) => void studio().addClosureFiles(f),
};

function take(input: HTMLInputElement): File[] {
  const files = input.files ? [...input.files] : [];
  input.value = ''; // so picking the same file again fires change again
  return files;
}

export function AddButtons({
  compact = false,
  handlers = buildHandlers,
  disabled = false,
  destination,
  describedBy,
}: {
  compact?: boolean;
  handlers?: AddHandlers;
  disabled?: boolean;
  /** Where the buttons put things, said in their names' descriptions. */
  destination: string;
  /** The element saying where things go (for aria-describedby). */
  describedBy?: string;
}) {
  const refs = {
    files: useRef<HTMLInputElement>(null),
    folder: useRef<HTMLInputElement>(null),
    archive: useRef<HTMLInputElement>(null),
    closure: useRef<HTMLInputElement>(null),
  };
  const open = (k: PickerKind) => refs[k].current?.click();
  const button = (k: PickerKind, label: string, icon: ReactNode, title: string) => (
    <button
      type="button"
      className={`btn ${compact ? 'btn-small' : ''}`}
      onClick={() => open(k)}
      title={title}
      disabled={disabled}
      data-add={k}
      aria-describedby={describedBy}
    >
      {icon}
      <span>{label}</span>
    </button>
  );
  return (
    <div className="add-buttons" role="group" aria-label="Add to the image">
      {button('files', 'Add files', <FilesIcon />, `Add files into ${destination}`)}
      {button(
        'folder',
        'Add folder',
        <FolderIcon />,
        `Add a folder (the folder itself, with everything in it) into ${destination}`,
      )}
      {button(
        'archive',
        'Add archive',
        <ArchiveIcon />,
        `Extract a .tar, .tar.gz or .tar.zst archive into ${destination}`,
      )}
      {handlers.closure
        ? button(
            'closure',
            'Add closure',
            <SnowflakeIcon />,
            'A Nix closure into /nix/store: registration or store-paths file, path-info JSON, nix-store --export stream, .nar files',
          )
        : null}
      {handlers.closure ? <CacheFetchButton compact={compact} disabled={disabled} /> : null}
      <input
        ref={refs.files}
        type="file"
        multiple
        hidden
        tabIndex={-1}
        data-input="files"
        onChange={(e) => handlers.files(take(e.currentTarget))}
      />
      <input
        ref={refs.folder}
        type="file"
        multiple
        hidden
        tabIndex={-1}
        data-input="folder"
        {...{ webkitdirectory: '', directory: '' }}
        onChange={(e) => handlers.folder(take(e.currentTarget))}
      />
      <input
        ref={refs.archive}
        type="file"
        multiple
        hidden
        tabIndex={-1}
        data-input="archive"
        accept={ARCHIVE_ACCEPT}
        onChange={(e) => handlers.archive(take(e.currentTarget))}
      />
      {/* No accept filter: closure manifests are usually named `registration` or `store-paths`, without an extension. */}
      {handlers.closure ? (
        <input
          ref={refs.closure}
          type="file"
          multiple
          hidden
          tabIndex={-1}
          data-input="closure"
          onChange={(e) => handlers.closure!(take(e.currentTarget))}
        />
      ) : null}
    </div>
  );
}

/** "Put new inputs in /": where every Add goes, said before it happens and changed only by the person. */
function DestinationField() {
  const destination = useStudio((s) => s.destination);
  const [draft, setDraft] = useState(destination);
  const [error, setError] = useState<string | undefined>();
  useEffect(() => setDraft(destination), [destination]);
  const commit = () => {
    const why = draft === destination ? undefined : studio().setDestination(draft.trim());
    setError(why);
  };
  return (
    <div className="destination">
      <label htmlFor="add-destination">Adds go into</label>
      <input
        id="add-destination"
        className={`mono destination-input ${error ? 'is-invalid' : ''}`}
        value={draft}
        spellCheck={false}
        list="tree-folders"
        aria-invalid={error ? true : undefined}
        aria-describedby="add-destination-help"
        onChange={(e) => {
          setDraft(e.target.value);
          setError(undefined);
        }}
        onBlur={commit}
        onKeyDown={(e) => {
          if (e.key === 'Enter') {
            e.preventDefault();
            commit();
          }
        }}
      />
      <p id="add-destination-help" className={error ? 'field-error' : 'field-help'}>
        {error ?? (
          <>
            Files, folders and archives go into <code>{destination}</code> (missing folders are made); closures into{' '}
            <code>/nix/store</code>.
          </>
        )}
      </p>
      <FolderList />
    </div>
  );
}

/** Folders offered as destinations: the shallowest first. */
const FOLDER_OPTIONS = 300;

/**
 * The tree's folders, offered as destinations (the shallowest {@link FOLDER_OPTIONS}). Only
 * folders are looked at and sorted, never the files beside them: after a 400,000-entry
 * archive this stays a few milliseconds.
 */
function FolderList() {
  const tree = useStudio((s) => s.tree);
  const version = useStudio((s) => s.treeVersion);
  const folders = useMemo(() => {
    const out: string[] = ['/'];
    const queue: FileNode[] = [tree.root];
    for (let head = 0; head < queue.length && out.length < FOLDER_OPTIONS; head++) {
      const dirs: FileNode[] = [];
      for (const c of queue[head].children!.values()) if (c.children) dirs.push(c);
      dirs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const d of dirs) {
        if (out.length >= FOLDER_OPTIONS) break;
        out.push(tree.pathOf(d));
        queue.push(d);
      }
    }
    return out;
  }, [tree, version]); // eslint-disable-line react-hooks/exhaustive-deps
  return (
    <datalist id="tree-folders">
      {folders.map((f) => (
        <option key={f} value={f} />
      ))}
    </datalist>
  );
}

/** Drop handling shared by the drop zone and the tree's background (both mean the root). */
export function useRootDrop() {
  const [over, setOver] = useState(false);
  return {
    over,
    handlers: {
      onDragOver(e: DragEvent) {
        if (!dragHasFiles(e.dataTransfer)) return;
        e.preventDefault();
        e.dataTransfer.dropEffect = 'copy';
        setOver(true);
      },
      onDragLeave(e: DragEvent) {
        if (e.currentTarget.contains(e.relatedTarget as Node | null)) return;
        setOver(false);
      },
      onDrop(e: DragEvent) {
        setOver(false);
        if (!dragHasFiles(e.dataTransfer)) return;
        e.preventDefault();
        const items = readDrop(e.dataTransfer);
        void items.then((list) => {
          // One .img or .img.zst dropped on its own is opened, not put into the new image.
          const only = list.length === 1 && list[0].kind === 'file' ? list[0].file : null;
          if (only && isImageFileName(only.name)) void openImageFile(only);
          else void studio().addDropped(list, '/');
        });
      },
    },
  };
}

export function DropZone() {
  const { over, handlers } = useRootDrop();
  return (
    <div className={`drop-zone ${over ? 'is-over' : ''}`} {...handlers}>
      <div className="drop-zone-art" aria-hidden="true">
        <FolderIcon size={40} />
      </div>
      <p className="drop-zone-title">Drop files, folders or archives here</p>
      <p className="muted">
        They go to the root of the image. Folders keep their structure, empty ones too. Drop an <code>.img</code> or{' '}
        <code>.img.zst</code> on its own to open it.
      </p>
    </div>
  );
}

const KIND_ICON: Record<InputItem['kind'], ReactNode> = {
  files: <FilesIcon />,
  folder: <FolderIcon />,
  archive: <ArchiveIcon />,
  closure: <SnowflakeIcon />,
};

/** The key of an input's nodes in `tree.inputCounts`. */
function countKey(item: InputItem, inClosure: boolean): number | string {
  return inClosure ? `closure:${item.origin}` : item.id;
}

function InputStatus({ item, live }: { item: InputItem; live: number | undefined }) {
  if (item.status === 'resolving')
    return (
      <span className="status status-busy">
        <SpinnerIcon /> Reading…
      </span>
    );
  const errors = item.problems.filter((p) => p.severity === 'error').length;
  if (item.status === 'failed' || errors > 0)
    return (
      <span className="status status-bad">
        <AlertIcon /> {errors > 1 ? `${errors} problems` : 'Problem'}
      </span>
    );
  const placed = item.placed ?? item.entryCount;
  if (live !== undefined && item.placed !== undefined && live < placed)
    return (
      <span className="status status-warn">
        <AlertIcon />{' '}
        {live === 0
          ? 'deleted from the tree'
          : `${formatCount(live)} of ${formatCount(placed)} entries left in the tree`}
      </span>
    );
  return (
    <span className="status status-ok">
      <CheckIcon /> {formatCount(placed)} {placed === 1 ? 'entry' : 'entries'}
    </span>
  );
}

/** The input's place, changeable afterwards (its entries move with it). */
function InputPlace({ item }: { item: InputItem }) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(item.at);
  const [error, setError] = useState<string | undefined>();
  const fieldId = `input-${item.id}-at`;
  const place = inputPlace(item);
  if (!item.request)
    return (
      <span className="input-at muted">
        → <code>{place}</code>
      </span>
    );
  if (!editing)
    return (
      <button
        type="button"
        className="input-at link-btn"
        aria-label={`${item.label} goes to ${place}: change`}
        title="Change where this input goes"
        onClick={() => {
          setDraft(item.at);
          setEditing(true);
        }}
      >
        → <code>{place}</code>
      </button>
    );
  const commit = () => {
    const why = studio().moveInput(item.id, draft.trim());
    setError(why);
    if (!why) setEditing(false);
  };
  return (
    <span className="input-at-edit">
      <label htmlFor={fieldId}>{item.top ? `Put ${item.top} in` : 'Put in'}</label>
      <input
        id={fieldId}
        className={`mono ${error ? 'is-invalid' : ''}`}
        value={draft}
        list="tree-folders"
        autoFocus
        spellCheck={false}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${fieldId}-error` : undefined}
        onChange={(e) => {
          setDraft(e.target.value);
          setError(undefined);
        }}
        onKeyDown={(e) => {
          if (e.key === 'Enter') {
            e.preventDefault();
            commit();
          } else if (e.key === 'Escape') {
            e.preventDefault();
            setEditing(false);
          }
        }}
      />
      <button type="button" className="btn btn-small" onClick={commit}>
        Move
      </button>
      <button type="button" className="btn btn-small btn-quiet" onClick={() => setEditing(false)}>
        Cancel
      </button>
      {error ? (
        <span id={`${fieldId}-error`} className="field-error">
          {error}
        </span>
      ) : null}
    </span>
  );
}

/** What a folder lost on its way through the browser, and what to do about it. */
function FolderLossNote({ item }: { item: InputItem }) {
  const l = item.losses;
  const archive = useRef<HTMLInputElement>(null);
  if (!l || item.status !== 'ready') return null;
  const shown = l.programs.slice(0, 20);
  return (
    <div className="loss-note" role="note">
      <p>
        {l.fromPicker ? (
          <>
            The browser's folder picker passes no <strong>empty folders</strong> and no <strong>symbolic links</strong>{' '}
            (drag the folder in to keep empty folders), and{' '}
          </>
        ) : (
          <>The browser passes no symbolic links, and </>
        )}
        all {formatCount(l.files)} {l.files === 1 ? 'file' : 'files'} came in with mode 0644.
        {l.programs.length > 0 ? (
          <>
            {' '}
            {formatCount(l.programs.length)} {l.programs.length === 1 ? 'looks like a program' : 'look like programs'}{' '}
            (ELF or <code>#!</code>) but {l.programs.length === 1 ? 'is' : 'are'} not executable:
          </>
        ) : null}
      </p>
      {shown.length > 0 ? (
        <ul className="plain-list mono loss-list">
          {shown.map((p) => (
            <li key={p}>{p}</li>
          ))}
          {l.programs.length > shown.length ? (
            <li>… and {formatCount(l.programs.length - shown.length)} more</li>
          ) : null}
        </ul>
      ) : null}
      <div className="loss-actions">
        {l.programs.length > 0 ? (
          <button
            type="button"
            className="btn btn-small"
            onClick={() => {
              const { tree } = studio();
              const ids = l.programs.map((p) => tree.get(p)?.id).filter((id): id is number => id !== undefined);
              studio().setExecutable(ids, true);
            }}
          >
            Make {l.programs.length === 1 ? 'it' : `these ${formatCount(l.programs.length)}`} executable
          </button>
        ) : null}
        <button type="button" className="btn btn-small btn-quiet" onClick={() => archive.current?.click()}>
          Keep modes from a tar instead…
        </button>
        <input
          ref={archive}
          type="file"
          hidden
          tabIndex={-1}
          accept={ARCHIVE_ACCEPT}
          data-input={`replace-${item.id}`}
          onChange={(e) => {
            const [file] = take(e.currentTarget);
            if (file) void studio().replaceWithArchive(item.id, file);
          }}
        />
      </div>
    </div>
  );
}

export function InputList() {
  const inputs = useStudio((s) => s.inputs);
  const tree = useStudio((s) => s.tree);
  useStudio((s) => s.treeVersion);
  const buildProblems = useStudio((s) => s.build.failure?.problems);
  if (inputs.length === 0) return null;
  const counts = tree.inputCounts;
  const withClosure = inputs.some((i) => i.kind === 'closure');
  return (
    <ul className="input-list" aria-label="Inputs">
      {inputs.map((item) => {
        const fromBuild = (buildProblems ?? []).filter((p) => namesInput(item, p.input));
        const same = (a: InputProblem, b: InputProblem) =>
          a.code === b.code && a.path === b.path && a.message === b.message;
        const problems = [...item.problems, ...fromBuild.filter((p) => !item.problems.some((q) => same(p, q)))];
        const problemsId = `input-${item.id}-problems`;
        const inClosure = item.kind === 'closure' || (!!item.storeContents && withClosure);
        return (
          <li
            key={item.id}
            className={`input-item ${problems.some((p) => p.severity === 'error') ? 'has-error' : ''}`}
            data-input-kind={item.kind}
            aria-describedby={problems.length ? problemsId : undefined}
          >
            <div className="input-row">
              <span className="input-icon">{KIND_ICON[item.kind]}</span>
              <span className="input-label" title={item.label}>
                {item.label}
              </span>
              <InputPlace item={item} />
              <InputStatus item={item} live={counts.get(countKey(item, inClosure)) ?? 0} />
              <button
                type="button"
                className="icon-btn"
                aria-label={`Remove ${item.label}`}
                title="Remove this input"
                onClick={() => studio().removeInput(item.id)}
              >
                <CloseIcon />
              </button>
            </div>
            <FolderLossNote item={item} />
            <ProblemList problems={problems} id={problemsId} />
          </li>
        );
      })}
    </ul>
  );
}

export function InputPanel() {
  const empty = useStudio((s) => s.inputs.length === 0 && s.tree.isEmpty);
  const destination = useStudio((s) => s.destination);
  const { over, handlers } = useRootDrop();
  return (
    <section className="panel" aria-labelledby="inputs-heading">
      <div className="panel-head">
        <h2 id="inputs-heading">Inputs</h2>
        {/* One set of buttons in both states, so focus stays on the button that was used. */}
        <AddButtons compact={!empty} destination={destination} describedBy="add-destination-help" />
      </div>
      <DestinationField />
      {empty ? (
        <DropZone />
      ) : (
        <div className={`drop-strip ${over ? 'is-over' : ''}`} {...handlers}>
          Drop more files, folders or archives here (they go to <code>/</code>), or onto any folder below.
        </div>
      )}
      <InputList />
    </section>
  );
}
