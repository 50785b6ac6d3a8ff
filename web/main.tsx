import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app.tsx';
import { ErrorBoundary } from './components/error-boundary.tsx';
import { ensureIsolation } from './isolation.ts';
import { useImage } from './state/opened-image.ts';
import { startEstimates } from './state/slice-options.ts';
import { useStudio } from './state/store.ts';
import './styles.css';

// A file dropped anywhere else must not make the browser navigate away from the work.
for (const type of ['dragover', 'drop'] as const) {
  window.addEventListener(type, (e) => {
    if (e.dataTransfer && [...e.dataTransfer.types].includes('Files')) e.preventDefault();
  });
}

// Leaving mid-build loses the build (and a download's bytes), and leaving an opened image
// loses its unsaved changes: ask first.
window.addEventListener('beforeunload', (e) => {
  if (useStudio.getState().build.status === 'running') e.preventDefault();
  const img = useImage.getState();
  if (img.busy !== null || (img.image && img.image.revision !== img.savedRevision)) e.preventDefault();
});

startEstimates(useStudio);

if (import.meta.env.DEV) {
  // Development and browser tests reach the store through this handle.
  void import('./dev-hooks.ts').then((m) => m.install());
}

// On a host that sends no COOP/COEP, a service worker adds them (one reload, first visit).
void ensureIsolation().then(() =>
  createRoot(document.getElementById('root')!).render(
    <StrictMode>
      <ErrorBoundary>
        <App />
      </ErrorBoundary>
    </StrictMode>,
  ),
);
