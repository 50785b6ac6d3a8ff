/** The one page: inputs and the tree on the left; closure, options, build and result on the right. */
import { AppHeader } from './components/app-header.tsx';
import { ArchiveDialog } from './components/archive-dialog.tsx';
import { BuildPanel } from './components/build-panel.tsx';
import { ClosurePanel } from './components/closure-panel.tsx';
import { ConflictDialog } from './components/conflict-dialog.tsx';
import { EntryInspector } from './components/entry-inspector.tsx';
import { ErrorBoundary } from './components/error-boundary.tsx';
import { InputPanel } from './components/input-panel.tsx';
import { OptionsPanel } from './components/options-panel.tsx';
import { ResultCard } from './components/result-card.tsx';
import { TreeView } from './components/tree-view.tsx';

export function App() {
  return (
    <div className="app">
      <AppHeader />
      <main className="layout">
        <div className="col col-main">
          <ErrorBoundary area="inputs"><InputPanel /></ErrorBoundary>
          <ErrorBoundary area="tree view">
            <TreeView />
            <EntryInspector />
          </ErrorBoundary>
          <ErrorBoundary area="closure panel"><ClosurePanel /></ErrorBoundary>
        </div>
        <div className="col col-side">
          <ErrorBoundary area="options"><OptionsPanel /></ErrorBoundary>
          <ErrorBoundary area="build panel"><BuildPanel /></ErrorBoundary>
          <ErrorBoundary area="result"><ResultCard /></ErrorBoundary>
        </div>
      </main>
      <footer className="app-footer muted">
        e2fsprogs and zstd run as WebAssembly in this tab. Your files stay on this computer.
      </footer>
      <ErrorBoundary area="dialog">
        <ArchiveDialog />
        <ConflictDialog />
      </ErrorBoundary>
    </div>
  );
}
