/**
 * The image tree: a virtualized ARIA tree (only the rows in view are in the DOM, so 100,000
 * entries scroll smoothly). Keyboard: arrows move and open/close, Home/End, F2 renames,
 * Delete deletes, Enter opens a folder. Rows can be dragged onto folders; files from the
 * desktop can be dropped onto any folder.
 */
import {
  createContext,
  memo,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  type DragEvent,
  type KeyboardEvent,
} from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { FileNode } from '../state/file-tree.ts';
import type { TreeController } from '../state/tree-controller.ts';
import { dragHasFiles, readDrop } from '../input/collect.ts';
import { formatBytes, formatCount, formatTime, modeString } from '../lib/format.ts';
import {
  ChevronIcon,
  CollapseIcon,
  ExecIcon,
  FileIcon,
  FolderIcon,
  FolderOpenIcon,
  HardlinkIcon,
  LinkPlusIcon,
  PencilIcon,
  PlusFolderIcon,
  RedoIcon,
  UndoIcon,
  SymlinkIcon,
  TrashIcon,
} from './icons.tsx';

/** The controller of the tree being shown, for the rows (memoized, so not passed as a prop). */
const ControllerContext = createContext<TreeController | null>(null);
function useController(): TreeController {
  const c = useContext(ControllerContext);
  if (!c) throw new Error('tree rows need a TreeView');
  return c;
}

export const ROW_HEIGHT = 30;
const NODE_MIME = 'application/x-disk-image-studio-node';

const TYPE_WORD = { file: 'file', directory: 'folder', symlink: 'symbolic link', hardlink: 'hard link' } as const;

function rowDomId(id: number): string {
  return `tree-row-${id}`;
}

function TypeIcon({ node, open }: { node: FileNode; open: boolean }) {
  const t = node.entry.type;
  if (t === 'directory')
    return open ? <FolderOpenIcon className="ico ico-dir" /> : <FolderIcon className="ico ico-dir" />;
  if (t === 'symlink') return <SymlinkIcon className="ico ico-link" />;
  if (t === 'hardlink') return <HardlinkIcon className="ico ico-link" />;
  if (node.entry.mode & 0o111) return <ExecIcon className="ico ico-exec" />;
  return <FileIcon className="ico ico-file" />;
}

function RenameField({ node }: { node: FileNode }) {
  const { commitRename, cancelRename } = useController();
  const [value, setValue] = useState(node.name);
  const [error, setError] = useState<string | undefined>();
  const ref = useRef<HTMLInputElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.focus();
    // Select the stem, not the extension, as file managers do.
    const dot = node.entry.type === 'directory' ? -1 : node.name.lastIndexOf('.');
    el.setSelectionRange(0, dot > 0 ? dot : node.name.length);
  }, [node]);
  const commit = () => {
    const why = commitRename(node.id, value);
    setError(why);
    if (!why) focusTree();
  };
  return (
    <span className="rename">
      <input
        ref={ref}
        className={`rename-input ${error ? 'is-invalid' : ''}`}
        value={value}
        aria-label={`New name for ${node.name}`}
        aria-invalid={error ? true : undefined}
        spellCheck={false}
        onChange={(e) => {
          setValue(e.target.value);
          setError(undefined);
        }}
        onKeyDown={(e) => {
          e.stopPropagation();
          if (e.key === 'Enter') {
            e.preventDefault();
            commit();
          } else if (e.key === 'Escape') {
            e.preventDefault();
            cancelRename();
            focusTree();
          }
        }}
        onBlur={() => {
          if (commitRename(node.id, value)) cancelRename();
        }}
        onClick={(e) => e.stopPropagation()}
        onDragStart={(e) => e.preventDefault()}
        draggable={false}
      />
    </span>
  );
}

/** Ctrl+Z / Ctrl+Shift+Z (and Ctrl+Y, Cmd on Macs): undo and redo. Returns true when handled. */
export function undoKey(e: globalThis.KeyboardEvent, c: Pick<TreeController, 'undo' | 'redo'>): boolean {
  if (!(e.ctrlKey || e.metaKey) || e.altKey || !c.undo || !c.redo) return false;
  const k = e.key.toLowerCase();
  if (k === 'z' && !e.shiftKey) c.undo();
  else if ((k === 'z' && e.shiftKey) || (k === 'y' && !e.shiftKey)) c.redo();
  else return false;
  return true;
}

function focusTree() {
  requestAnimationFrame(() => document.getElementById('image-tree')?.focus());
}

interface RowProps {
  node: FileNode;
  depth: number;
  pos: number;
  siblings: number;
  top: number;
  selected: boolean;
  open: boolean;
  renaming: boolean;
  dropTarget: boolean;
  /** Bumps when the node may have changed in place (rename, mode). */
  version: number;
  onDragOverRow(e: DragEvent, node: FileNode): void;
  onDropRow(e: DragEvent, node: FileNode): void;
}

const TreeRow = memo(function TreeRow(p: RowProps) {
  const { select, toggleExpanded, startRename, deleteNode, toggleExec, folderNote, showOwnerAndTime } = useController();
  const { node } = p;
  const isDir = node.entry.type === 'directory';
  const e = node.entry;
  const childCount = isDir ? node.children!.size : 0;
  const note = isDir ? folderNote?.(node) : undefined;
  const special =
    node.image && node.image.kind !== 'file' && node.image.kind !== 'directory' && node.image.kind !== 'symlink'
      ? node.image.kind
      : undefined;
  return (
    <div
      id={rowDomId(node.id)}
      role="treeitem"
      aria-labelledby={`tree-name-${node.id}`}
      aria-describedby={`tree-meta-${node.id}`}
      aria-level={p.depth + 1}
      aria-selected={p.selected}
      aria-expanded={isDir ? p.open : undefined}
      aria-posinset={p.pos}
      aria-setsize={p.siblings}
      className={`tree-row ${p.selected ? 'is-selected' : ''} ${p.dropTarget ? 'is-drop-target' : ''}`}
      style={{ transform: `translateY(${p.top}px)`, height: ROW_HEIGHT }}
      data-path-depth={p.depth}
      draggable={!p.renaming}
      onClick={() => select(node.id)}
      onDoubleClick={() => (isDir ? toggleExpanded(node.id) : startRename(node.id))}
      onDragStart={(ev) => {
        ev.dataTransfer.setData(NODE_MIME, String(node.id));
        ev.dataTransfer.setData('text/plain', node.name);
        ev.dataTransfer.effectAllowed = 'move';
        select(node.id);
      }}
      onDragOver={(ev) => p.onDragOverRow(ev, node)}
      onDrop={(ev) => p.onDropRow(ev, node)}
    >
      <span className="cell-name" style={{ paddingLeft: 8 + p.depth * 18 }}>
        {isDir ? (
          <button
            type="button"
            tabIndex={-1}
            className={`twisty ${p.open ? 'is-open' : ''}`}
            aria-hidden="true"
            onClick={(ev) => {
              ev.stopPropagation();
              toggleExpanded(node.id);
            }}
          >
            <ChevronIcon size={14} />
          </button>
        ) : (
          <span className="twisty-space" />
        )}
        <TypeIcon node={node} open={p.open} />
        {p.renaming ? (
          <RenameField node={node} />
        ) : (
          <span className="name" id={`tree-name-${node.id}`} title={node.name}>
            {node.name}
          </span>
        )}
        {e.type === 'symlink' && e.target !== undefined ? (
          <span className="link-target muted"> → {e.target}</span>
        ) : null}
      </span>
      <span className="visually-hidden" id={`tree-meta-${node.id}`}>
        {special ?? TYPE_WORD[e.type]},{' '}
        {isDir ? (note ?? `${childCount} items`) : e.type === 'file' ? formatBytes(e.size) : (e.target ?? '')},{' '}
        {modeString(e.type, e.mode)}
        {showOwnerAndTime ? `, owner ${e.uid}:${e.gid}, modified ${formatTime(e.mtime)}` : ''}
      </span>
      <span className="cell-size" aria-hidden="true">
        {isDir
          ? (note ?? `${formatCount(childCount)} ${childCount === 1 ? 'item' : 'items'}`)
          : e.type === 'file' && !special
            ? formatBytes(e.size)
            : (special ?? '')}
      </span>
      <span className="cell-mode">
        {e.type === 'symlink' || e.type === 'directory' ? (
          <code className="mode-text">{modeString(e.type, e.mode)}</code>
        ) : (
          <button
            type="button"
            tabIndex={-1}
            className="mode-btn"
            title={e.mode & 0o111 ? 'Executable — click to clear the x bits' : 'Click to make executable'}
            aria-label={`${modeString(e.type, e.mode)}: toggle executable for ${node.name}`}
            onClick={(ev) => {
              ev.stopPropagation();
              select(node.id);
              toggleExec(node.id);
            }}
          >
            <code>{modeString(e.type, e.mode)}</code>
          </button>
        )}
      </span>
      {showOwnerAndTime ? (
        <>
          <span className="cell-owner" aria-hidden="true">
            {e.uid}:{e.gid}
          </span>
          <span className="cell-time" aria-hidden="true">
            {formatTime(e.mtime)}
          </span>
        </>
      ) : null}
      <span className="cell-actions">
        <button
          type="button"
          tabIndex={-1}
          className="icon-btn"
          aria-label={`Rename ${node.name}`}
          title="Rename (F2)"
          onClick={(ev) => {
            ev.stopPropagation();
            startRename(node.id);
          }}
        >
          <PencilIcon />
        </button>
        <button
          type="button"
          tabIndex={-1}
          className="icon-btn icon-btn-danger"
          aria-label={`Delete ${node.name}`}
          title="Delete (Del)"
          onClick={(ev) => {
            ev.stopPropagation();
            deleteNode(node.id);
          }}
        >
          <TrashIcon />
        </button>
      </span>
    </div>
  );
});

export function TreeView({ controller }: { controller: TreeController }) {
  const model = controller.useModel();
  const { tree, version, expanded, selectedId, renamingId, message, busy } = model;
  const {
    select,
    setExpanded,
    toggleExpanded,
    collapseAll,
    startRename,
    deleteNode,
    moveNode,
    newFolder,
    drop,
    clearAll,
    undo,
    redo,
    LinkDialog,
  } = controller;
  const [linking, setLinking] = useState(false);
  const { canUndo, canRedo } = model;
  const scrollRef = useRef<HTMLDivElement>(null);
  const [dropTargetId, setDropTargetId] = useState<number | 'root' | null>(null);
  const [rootOver, setRootOver] = useState(false);
  const hoverTimer = useRef<{ id: number; timer: ReturnType<typeof setTimeout> } | null>(null);
  const expandedRef = useRef(expanded);
  expandedRef.current = expanded;

  // eslint-disable-next-line react-hooks/exhaustive-deps
  const rows = useMemo(() => tree.visibleRows(expanded), [tree, version, expanded]);
  const indexById = useMemo(() => {
    const m = new Map<number, number>();
    for (let i = 0; i < rows.length; i++) m.set(rows[i].node.id, i);
    return m;
  }, [rows]);

  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 10,
    getItemKey: (i) => rows[i]?.node.id ?? i,
  });

  const selectedIndex = selectedId === null ? -1 : (indexById.get(selectedId) ?? -1);
  useEffect(() => {
    if (selectedIndex >= 0) virtualizer.scrollToIndex(selectedIndex, { align: 'auto' });
  }, [selectedIndex, virtualizer]);

  const moveSelection = (index: number) => {
    if (rows.length === 0) return;
    const i = Math.max(0, Math.min(rows.length - 1, index));
    select(rows[i].node.id);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (renamingId !== null) return;
    if (undoKey(e.nativeEvent, controller)) {
      e.preventDefault();
      return;
    }
    const cur = selectedIndex >= 0 ? rows[selectedIndex] : undefined;
    const page = Math.max(1, Math.floor((scrollRef.current?.clientHeight ?? 300) / ROW_HEIGHT) - 1);
    switch (e.key) {
      case 'ArrowDown':
        moveSelection(selectedIndex + 1);
        break;
      case 'ArrowUp':
        moveSelection(selectedIndex < 0 ? 0 : selectedIndex - 1);
        break;
      case 'PageDown':
        moveSelection(selectedIndex + page);
        break;
      case 'PageUp':
        moveSelection(selectedIndex - page);
        break;
      case 'Home':
        moveSelection(0);
        break;
      case 'End':
        moveSelection(rows.length - 1);
        break;
      case 'ArrowRight':
        if (!cur) {
          moveSelection(0);
          break;
        }
        if (cur.node.children) {
          if (!expanded.has(cur.node.id)) setExpanded(cur.node.id, true);
          else if (cur.node.children.size > 0) moveSelection(selectedIndex + 1);
        }
        break;
      case 'ArrowLeft':
        if (!cur) break;
        if (cur.node.children && expanded.has(cur.node.id)) setExpanded(cur.node.id, false);
        else if (cur.node.parent && cur.node.parent !== tree.root) select(cur.node.parent.id);
        break;
      case 'Enter':
        if (cur?.node.children) toggleExpanded(cur.node.id);
        else if (cur) startRename(cur.node.id);
        break;
      case 'F2':
        if (cur) startRename(cur.node.id);
        break;
      case 'Delete':
      case 'Backspace':
        if (cur) deleteNode(cur.node.id);
        break;
      default:
        return;
    }
    e.preventDefault();
  };

  const clearHover = () => {
    if (hoverTimer.current) clearTimeout(hoverTimer.current.timer);
    hoverTimer.current = null;
  };

  const onDragOverRow = useCallback(
    (e: DragEvent, node: FileNode) => {
      const internal = [...e.dataTransfer.types].includes(NODE_MIME);
      if (!internal && !dragHasFiles(e.dataTransfer)) return;
      e.preventDefault();
      e.stopPropagation();
      const folder = node.children ? node : node.parent;
      const targetId = !folder || folder === tree.root ? 'root' : folder.id;
      e.dataTransfer.dropEffect = internal ? 'move' : 'copy';
      setDropTargetId(targetId);
      // Hovering over a closed folder opens it after a moment.
      if (node.children && !expandedRef.current.has(node.id)) {
        if (hoverTimer.current?.id !== node.id) {
          clearHover();
          hoverTimer.current = { id: node.id, timer: setTimeout(() => setExpanded(node.id, true), 700) };
        }
      } else if (hoverTimer.current?.id !== node.id) {
        clearHover();
      }
    },
    [tree, setExpanded],
  );

  const onDropRow = useCallback(
    (e: DragEvent, node: FileNode) => {
      e.preventDefault();
      e.stopPropagation();
      clearHover();
      setDropTargetId(null);
      const folder = node.children ? node : (node.parent ?? tree.root);
      const raw = e.dataTransfer.getData(NODE_MIME);
      if (raw) {
        moveNode(Number(raw), folder === tree.root ? 'root' : folder.id);
        return;
      }
      if (!dragHasFiles(e.dataTransfer)) return;
      const at = tree.pathOf(folder);
      const items = readDrop(e.dataTransfer);
      if (folder !== tree.root) setExpanded(folder.id, true);
      void items.then((list) => drop(list, at));
    },
    [tree, moveNode, setExpanded, drop],
  );

  const totals = tree.totals;
  const items = virtualizer.getVirtualItems();

  return (
    <ControllerContext.Provider value={controller}>
      <section
        className={`panel tree-panel ${controller.showOwnerAndTime ? 'has-owner-time' : ''}`}
        aria-labelledby="tree-heading"
      >
        <div className="panel-head">
          <h2 id="tree-heading">{controller.title}</h2>
          <p className="muted tree-totals" aria-live="polite">
            {formatCount(totals.files)} {totals.files === 1 ? 'file' : 'files'} · {formatCount(totals.directories)}{' '}
            {totals.directories === 1 ? 'folder' : 'folders'}
            {totals.others ? ` · ${formatCount(totals.others)} ${totals.others === 1 ? 'link' : 'links'}` : ''} ·{' '}
            {formatBytes(totals.bytes)}
            {controller.totalsNote ? ` ${controller.totalsNote}` : ''}
          </p>
          <div className="toolbar">
            {/* A new build's tree stays editable while a build runs (the build has its own copy); an image's does not. */}
            <button type="button" className="btn btn-small" onClick={() => newFolder()} disabled={busy && !clearAll}>
              <PlusFolderIcon />
              <span>New folder</span>
            </button>
            {undo && redo ? (
              <>
                <button
                  type="button"
                  className="btn btn-small btn-quiet"
                  onClick={() => undo()}
                  disabled={!canUndo}
                  aria-keyshortcuts="Control+Z"
                  title={canUndo ? `Undo ${canUndo} (Ctrl+Z)` : 'Nothing to undo'}
                >
                  <UndoIcon />
                  <span>Undo</span>
                </button>
                <button
                  type="button"
                  className="btn btn-small btn-quiet"
                  onClick={() => redo()}
                  disabled={!canRedo}
                  aria-keyshortcuts="Control+Shift+Z"
                  title={canRedo ? `Redo ${canRedo} (Ctrl+Shift+Z)` : 'Nothing to redo'}
                >
                  <RedoIcon />
                  <span>Redo</span>
                </button>
              </>
            ) : null}
            {LinkDialog ? (
              <button
                type="button"
                className="btn btn-small"
                onClick={() => setLinking(true)}
                disabled={busy && !clearAll}
              >
                <LinkPlusIcon />
                <span>New link</span>
              </button>
            ) : null}
            {linking && LinkDialog ? <LinkDialog onClose={() => setLinking(false)} /> : null}
            <button
              type="button"
              className="btn btn-small btn-quiet"
              onClick={() => collapseAll()}
              disabled={expanded.size === 0}
            >
              <CollapseIcon />
              <span>Collapse all</span>
            </button>
            {clearAll ? (
              <button
                type="button"
                className="btn btn-small btn-quiet"
                disabled={rows.length === 0 || busy}
                onClick={() => {
                  if (window.confirm('Remove every input and start with an empty image?')) clearAll();
                }}
              >
                <TrashIcon />
                <span>Clear all</span>
              </button>
            ) : null}
          </div>
        </div>
        <div className="tree-columns" aria-hidden="true">
          <span>Name</span>
          <span>Size</span>
          <span>Mode</span>
          {controller.showOwnerAndTime ? (
            <>
              <span>Owner</span>
              <span>Modified</span>
            </>
          ) : null}
          <span />
        </div>
        <div
          ref={scrollRef}
          className={`tree-scroll ${dropTargetId === 'root' || rootOver ? 'is-drop-root' : ''}`}
          style={{ height: rows.length * ROW_HEIGHT + 8 }}
          onDragOver={(e) => {
            const internal = [...e.dataTransfer.types].includes(NODE_MIME);
            if (internal) {
              e.preventDefault();
              e.dataTransfer.dropEffect = 'move';
              setDropTargetId('root');
              clearHover();
              return;
            }
            if (!dragHasFiles(e.dataTransfer)) return;
            e.preventDefault();
            e.dataTransfer.dropEffect = 'copy';
            setRootOver(true);
            setDropTargetId('root');
          }}
          onDragLeave={(e) => {
            if (e.currentTarget.contains(e.relatedTarget as Node | null)) return;
            setDropTargetId(null);
            clearHover();
            setRootOver(false);
          }}
          onDrop={(e) => {
            setDropTargetId(null);
            clearHover();
            const raw = e.dataTransfer.getData(NODE_MIME);
            if (raw) {
              e.preventDefault();
              moveNode(Number(raw), 'root');
              return;
            }
            setRootOver(false);
            if (!dragHasFiles(e.dataTransfer)) return;
            e.preventDefault();
            const items = readDrop(e.dataTransfer);
            void items.then((list) => drop(list, '/'));
          }}
          onDragEnd={() => {
            setDropTargetId(null);
            clearHover();
          }}
        >
          {rows.length === 0 ? <p className="tree-empty muted">{controller.emptyText}</p> : null}
          <div
            id="image-tree"
            role="tree"
            aria-label={controller.title}
            aria-multiselectable="false"
            tabIndex={0}
            aria-activedescendant={selectedId !== null && selectedIndex >= 0 ? rowDomId(selectedId) : undefined}
            className="tree"
            style={{ height: virtualizer.getTotalSize() }}
            onKeyDown={onKeyDown}
          >
            {items.map((vi) => {
              const row = rows[vi.index];
              if (!row) return null;
              const id = row.node.id;
              return (
                <TreeRow
                  key={vi.key}
                  node={row.node}
                  depth={row.depth}
                  pos={row.pos}
                  siblings={row.siblings}
                  top={vi.start}
                  selected={id === selectedId}
                  open={expanded.has(id)}
                  renaming={id === renamingId}
                  dropTarget={id === dropTargetId}
                  version={version}
                  onDragOverRow={onDragOverRow}
                  onDropRow={onDropRow}
                />
              );
            })}
          </div>
        </div>
        <p className="tree-status muted" role="status">
          {message ?? '\u00a0'}
        </p>
      </section>
    </ControllerContext.Provider>
  );
}
