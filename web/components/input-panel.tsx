/**
 * Where things come in: the four "Add …" buttons (each backed by a hidden file input), the
 * drop zone for the image root, and the list of inputs with their problems.
 */
import { useRef, useState, type DragEvent, type ReactNode } from 'react';
import { useStudio } from '../state/store.ts';
import {
  addArchives,
  addClosureFiles,
  addDropped,
  addFiles,
  addFolderFiles,
  namesInput,
  removeInput,
  type InputItem,
} from '../state/store.ts';
import { dragHasFiles, readDrop } from '../input/collect.ts';
import { formatCount } from '../lib/format.ts';
import { isImageFileName, openImageFile } from '../state/image-session.ts';
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
  files: (f) => void addFiles(f),
  folder: (f) => void addFolderFiles(f),
  archive: (f) => void addArchives(f),
  closure: (f) => void addClosureFiles(f),
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
}: {
  compact?: boolean;
  handlers?: AddHandlers;
  disabled?: boolean;
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
    >
      {icon}
      <span>{label}</span>
    </button>
  );
  return (
    <div className="add-buttons" role="group" aria-label="Add to the image">
      {button('files', 'Add files', <FilesIcon />, 'Add files to the selected folder')}
      {button('folder', 'Add folder', <FolderIcon />, 'Add a folder and everything in it')}
      {button('archive', 'Add archive', <ArchiveIcon />, 'Extract a .tar, .tar.gz or .tar.zst archive')}
      {handlers.closure
        ? button(
            'closure',
            'Add closure',
            <SnowflakeIcon />,
            'A Nix closure: registration or store-paths file, path-info JSON, nix-store --export stream, .nar files',
          )
        : null}
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
          else void addDropped(list, '/');
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
      <AddButtons />
    </div>
  );
}

const KIND_ICON: Record<InputItem['kind'], ReactNode> = {
  files: <FilesIcon />,
  folder: <FolderIcon />,
  archive: <ArchiveIcon />,
  closure: <SnowflakeIcon />,
};

function InputStatus({ item }: { item: InputItem }) {
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
  return (
    <span className="status status-ok">
      <CheckIcon /> {formatCount(item.entryCount)} {item.entryCount === 1 ? 'entry' : 'entries'}
    </span>
  );
}

export function InputList() {
  const inputs = useStudio((s) => s.inputs);
  const buildProblems = useStudio((s) => s.build.failure?.problems);
  if (inputs.length === 0) return null;
  return (
    <ul className="input-list" aria-label="Inputs">
      {inputs.map((item) => {
        const fromBuild = (buildProblems ?? []).filter((p) => namesInput(item, p.input));
        const problems = [...item.problems, ...fromBuild];
        const problemsId = `input-${item.id}-problems`;
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
              <span className="input-at muted">
                → <code>{item.at}</code>
              </span>
              <InputStatus item={item} />
              <button
                type="button"
                className="icon-btn"
                aria-label={`Remove ${item.label}`}
                title="Remove this input"
                onClick={() => removeInput(item.id)}
              >
                <CloseIcon />
              </button>
            </div>
            <ProblemList problems={problems} id={problemsId} />
          </li>
        );
      })}
    </ul>
  );
}

export function InputPanel() {
  const empty = useStudio((s) => s.inputs.length === 0 && s.tree.isEmpty);
  const { over, handlers } = useRootDrop();
  return (
    <section className="panel" aria-labelledby="inputs-heading">
      <div className="panel-head">
        <h2 id="inputs-heading">Inputs</h2>
        {!empty ? <AddButtons compact /> : null}
      </div>
      {empty ? (
        <DropZone />
      ) : (
        <div className={`drop-strip ${over ? 'is-over' : ''}`} {...handlers}>
          Drop more files, folders or archives here, or onto any folder below.
        </div>
      )}
      <InputList />
    </section>
  );
}
