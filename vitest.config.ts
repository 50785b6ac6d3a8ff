import { defineConfig } from 'vitest/config';

/** Node tests: pure modules, the real wasm tools, the CLI. Browser tests live in e2e/ (Playwright). */
export default defineConfig({
  test: {
    include: [
      'core/**/*.test.ts',
      'workers/**/*.test.ts',
      'wasm/**/*.test.ts',
      'cli/**/*.test.ts',
      'web/**/*.test.ts',
      'scripts/**/*.test.ts',
      'lint/**/*.test.ts',
    ],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
