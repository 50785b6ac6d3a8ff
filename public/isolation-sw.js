// Cross-origin isolation on hosts that cannot send the headers (README.md, "Hosting").
//
// Registered by the page (web/isolation.ts) only when it is not cross-origin isolated. It
// adds the headers of core/isolation-headers.ts to the page's own responses, so after one
// reload the page and its workers are isolated and the engine reads picked files ahead of
// mke2fs. It answers nothing itself and keeps nothing: every request still goes to the
// network (or the HTTP cache) as before. Requests to other origins (binary caches) are not
// touched.
'use strict';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (new URL(request.url).origin !== self.location.origin) return;
  // A request the browser could not replay from here (a cache-only probe): leave it alone.
  if (request.cache === 'only-if-cached' && request.mode !== 'same-origin') return;
  event.respondWith(
    fetch(request).then((response) => {
      // Opaque and error responses cannot be rebuilt; they pass as they are.
      if (response.type === 'opaque' || response.type === 'opaqueredirect' || response.status === 0) return response;
      const headers = new Headers(response.headers);
      headers.set('Cross-Origin-Opener-Policy', 'same-origin');
      headers.set('Cross-Origin-Embedder-Policy', 'require-corp');
      headers.set('Cross-Origin-Resource-Policy', 'same-origin');
      return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
    }),
  );
});
