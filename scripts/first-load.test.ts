/**
 * `npm start` serves what a user gets: the production build, whose first load (the HTML and
 * what it pulls in before any input is added) stays at most 150 KB compressed. The engine and
 * its WebAssembly tools load only when first needed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const out = mkdtempSync(join(tmpdir(), 'dis-first-load-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('npm start', () => {
  it('builds for production and previews it (the development server is npm run dev)', () => {
    const scripts = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts;
    expect(scripts.start).toMatch(/vite build .*&& vite preview --host 127\.0\.0\.1/);
    expect(scripts.start).toMatch(/^node scripts\/setup\.mjs start && /);
    expect(scripts.dev).toMatch(/vite --host 127\.0\.0\.1/);
  });

  it('first load is at most 150 KB compressed', () => {
    execFileSync(
      process.execPath,
      [join(root, 'node_modules/vite/bin/vite.js'), 'build', '--outDir', out, '--emptyOutDir', '--logLevel', 'error'],
      {
        cwd: root,
        stdio: 'pipe',
        // As `npm start` runs it: not with vitest's NODE_ENV=test, which bundles React's development build.
        env: { ...process.env, NODE_ENV: 'production' },
      },
    );
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    const refs = [...html.matchAll(/(?:src|href)="\/?([^"]+\.(?:js|css))"/g)].map((m) => m[1]);
    expect(refs.some((r) => r.endsWith('.js'))).toBe(true);
    let bytes = gzipSync(html).length;
    for (const r of refs) bytes += gzipSync(readFileSync(join(out, r))).length;
    expect(bytes).toBeLessThanOrEqual(150_000);
    // Nothing of the engine in the first load.
    for (const r of refs)
      expect(readFileSync(join(out, r), 'utf8')).not.toMatch(/mke2fs\.wasm|resolveInputs\(inputs, \{ decompressors/);
  });
});
