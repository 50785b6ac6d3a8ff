import { defineConfig } from '@playwright/test';

/** The page's port for the browser tests; `E2E_PORT` lets several checkouts test at once. */
const port = Number(process.env.E2E_PORT ?? 5199);

/**
 * Browser tests run in Debian's Chromium (`/usr/bin/chromium`); Playwright's own browser
 * downloads are not used. The studio is served by Vite on a private port.
 */
export default defineConfig({
  testDir: 'e2e',
  timeout: 180_000,
  workers: 1,
  reporter: [['list'], ['json']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    acceptDownloads: true,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-quic',
        '--no-first-run',
        '--disable-sync',
      ],
    },
  },
  webServer: {
    command: `npx vite --host 127.0.0.1 --port ${port} --strictPort`,
    url: `http://127.0.0.1:${port}`,
    reuseExistingServer: false,
    timeout: 60_000,
  },
});
