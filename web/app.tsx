/**
 * The one page: inputs and the tree on the left; closure, options, build and result on the
 * right. With an image open, the same tree view shows the image, and the right side its
 * check, summary and saving.
 */
import { AppHeader } from './components/app-header.tsx';
import { ArchiveDialog } from './components/archive-dialog.tsx';
import { CacheFetchHost } from './components/cache-fetch-dialog.tsx';
import { BuildPanel } from './components/build-panel.tsx';
import { ClosurePanel } from './components/closure-panel.tsx';
import { ConflictDialog } from './components/conflict-dialog.tsx';
import { EntryInspector } from './components/entry-inspector.tsx';
import { ErrorBoundary } from './components/error-boundary.tsx';
import { ImageInputs } from './components/image-inputs.tsx';
import { ImageInspector } from './components/image-inspector.tsx';
import { ImagePanel } from './components/image-panel.tsx';
import { InputPanel } from './components/input-panel.tsx';
import { OpenFailure, OpeningImage } from './components/open-image.tsx';
import { OptionsPanel } from './components/options-panel.tsx';
import { ResultCard } from './components/result-card.tsx';
import { TreeView } from './components/tree-view.tsx';
import { imageTreeController, useImage } from './state/opened-image.ts';
import { useEffect } from 'react';
import { DeleteDialog, LinkDialog } from './components/tree-dialogs.tsx';
import { undoKey } from './components/tree-view.tsx';
import { buildTreeController } from './state/store.ts';
import type { TreeController } from './state/tree-controller.ts';

const buildTree: TreeController = { ...buildTreeController, LinkDialog };

/** Ctrl+Z and Ctrl+Shift+Z anywhere but in a text field undo and redo tree edits. */
function useUndoKeys(): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented) return;
      const t = e.target as HTMLElement | null;
      if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
      if (document.querySelector('dialog[open]')) return;
      if (undoKey(e, buildTreeController)) e.preventDefault();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);
}

function NewBuild() {
  useUndoKeys();
  return (
    <>
      <div className="col col-main">
        <OpenFailure />
        <ErrorBoundary area="inputs">
          <InputPanel />
        </ErrorBoundary>
        <ErrorBoundary area="tree view">
          <TreeView controller={buildTree} />
          <EntryInspector />
        </ErrorBoundary>
        <ErrorBoundary area="closure panel">
          <ClosurePanel />
        </ErrorBoundary>
      </div>
      <div className="col col-side">
        <ErrorBoundary area="options">
          <OptionsPanel />
        </ErrorBoundary>
        <ErrorBoundary area="build panel">
          <BuildPanel />
        </ErrorBoundary>
        <ErrorBoundary area="result">
          <ResultCard />
        </ErrorBoundary>
      </div>
    </>
  );
}

function OpenedImage() {
  const opening = useImage((s) => s.status === 'opening');
  if (opening)
    return (
      <div className="col col-main">
        <OpeningImage />
      </div>
    );
  return (
    <>
      <div className="col col-main">
        <ErrorBoundary area="image inputs">
          <ImageInputs />
        </ErrorBoundary>
        <ErrorBoundary area="image tree">
          <TreeView controller={imageTreeController} />
          <ImageInspector />
        </ErrorBoundary>
      </div>
      <div className="col col-side">
        <ErrorBoundary area="image panel">
          <ImagePanel />
        </ErrorBoundary>
      </div>
    </>
  );
}

export function App() {
  const imageOpen = useImage((s) => s.status !== 'closed');
  return (
    <div className="app">
      <AppHeader />
      <main className="layout">{imageOpen ? <OpenedImage /> : <NewBuild />}</main>
      <footer className="app-footer muted">
        e2fsprogs and zstd run as WebAssembly in this tab. Your files stay on this computer.
      </footer>
      <ErrorBoundary area="dialog">
        <ArchiveDialog />
        <CacheFetchHost />
        <ConflictDialog />
        <DeleteDialog />
      </ErrorBoundary>
    </div>
  );
}
