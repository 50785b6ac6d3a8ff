/**
 * Cross-origin isolation where the host does not send COOP and COEP (README.md, "Hosting").
 * The engine reads picked files ahead of mke2fs only in an isolated page (it needs shared
 * memory); `public/isolation-sw.js`, a service worker that adds the headers to the page's
 * own responses, gives that on any static host after one reload. Without it, or where it
 * cannot help, the page works as before (same bytes, slower builds from picked files).
 */

/** What the page can tell about itself, for {@link isolationStep}. */
export interface IsolationState {
  /** `self.crossOriginIsolated`. */
  isolated: boolean;
  /** Service workers exist here (a secure context: https or localhost). */
  serviceWorkers: boolean;
  /** This tab already reloaded to become isolated (then it must not try again). */
  reloaded: boolean;
}

/**
 * What to do: `ready` (isolated, or nothing to try: render as is), or `register` the
 * service worker and reload once. A tab reloads at most once, so a browser that does not
 * isolate a page on a service worker's headers (or a hard reload, which bypasses the
 * worker) renders normally instead of reloading again and again.
 */
export function isolationStep(state: IsolationState): 'ready' | 'register' {
  if (state.isolated || !state.serviceWorkers || state.reloaded) return 'ready';
  return 'register';
}

/** sessionStorage key: set when this tab reloaded to become isolated. */
export const ISOLATION_RELOAD_KEY = 'disk-image-studio:isolation-reload';

/** How long to wait for the service worker before rendering without it. */
const REGISTER_TIMEOUT_MS = 5000;

function sessionFlag(): { get(): boolean; set(): void } {
  try {
    const store = window.sessionStorage;
    return {
      get: () => store.getItem(ISOLATION_RELOAD_KEY) !== null,
      set: () => store.setItem(ISOLATION_RELOAD_KEY, '1'),
    };
  } catch {
    // Storage refused (a privacy setting): never reload, as if this tab had already.
    return { get: () => true, set: () => {} };
  }
}

/**
 * Resolves when the page may render. Where the page is not isolated and a service worker
 * can make it so, registers `isolation-sw.js` (next to the page) and reloads the tab once:
 * the promise then never resolves. Any failure (registration refused, no answer within
 * 5 s) resolves it: the page renders without isolation.
 */
export async function ensureIsolation(): Promise<void> {
  const flag = sessionFlag();
  const step = isolationStep({
    isolated: self.crossOriginIsolated === true,
    serviceWorkers: window.isSecureContext && 'serviceWorker' in navigator,
    reloaded: flag.get(),
  });
  if (step === 'ready') return;
  try {
    const registered = (async () => {
      await navigator.serviceWorker.register(new URL('isolation-sw.js', document.baseURI), { scope: './' });
      await navigator.serviceWorker.ready;
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), REGISTER_TIMEOUT_MS);
    });
    const outcome = await Promise.race([registered.then(() => 'ready' as const), timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') return;
  } catch {
    return;
  }
  flag.set();
  window.location.reload();
  await new Promise<never>(() => {});
}
