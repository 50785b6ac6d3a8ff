/**
 * The response headers that make the studio's page cross-origin isolated, sent by every
 * server this repository runs (Vite's development server and preview, the bench page, the
 * test pages); a host of the built site should send them on every response (README.md,
 * "Hosting"). Isolation gives the build worker shared memory and `Atomics.wait`, with
 * which a second worker reads picked files ahead of mke2fs
 * (`workers/runtime/blob-read-ahead.ts`); without them the page works as before.
 *
 * `require-corp` rather than `credentialless`: the page loads nothing from other origins
 * except its binary-cache requests, which are CORS fetches (mode `cors`, credentials
 * omitted) and so need no Cross-Origin-Resource-Policy; and `require-corp` is the one
 * Safari supports as well.
 */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};
