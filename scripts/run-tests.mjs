#!/usr/bin/env node
// Runs every test: the Node suite (Vitest: pure modules, the real wasm tools, the CLI) and
// the browser suite (Playwright in Debian's Chromium), then prints one closing line with
// the totals of both. Exits non-zero if either suite fails or runs no test.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'test-results');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const bin = (name) => join(root, 'node_modules', '.bin', name);

const totals = { passed: 0, failed: 0, skipped: 0 };
let ok = true;

// Static checks first: types, then lint and formatting (Biome). A failure fails the run,
// but the suites still run so one pass reports everything.
for (const [name, cmd, args] of [
  ['typecheck', bin('tsc'), ['--noEmit', '-p', '.']],
  ['lint', bin('biome'), ['check', '.']],
]) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(
      `${name} failed (exit ${r.status}); fix it before landing (npm run ${name === 'lint' ? 'format' : name}).`,
    );
    ok = false;
  }
}

const unitJson = join(out, 'vitest.json');
const unit = spawnSync(
  bin('vitest'),
  ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${unitJson}`],
  { cwd: root, stdio: 'inherit' },
);
try {
  const r = JSON.parse(readFileSync(unitJson, 'utf8'));
  totals.passed += r.numPassedTests;
  totals.failed += r.numFailedTests;
  totals.skipped += r.numPendingTests + (r.numTodoTests ?? 0);
  if (r.numTotalTests === 0) ok = false;
} catch {
  ok = false;
  totals.failed += 1;
}
if (unit.status !== 0) ok = false;

const e2eJson = join(out, 'playwright.json');
const e2e = spawnSync(bin('playwright'), ['test'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, PLAYWRIGHT_JSON_OUTPUT_NAME: e2eJson },
});
try {
  const s = JSON.parse(readFileSync(e2eJson, 'utf8')).stats;
  totals.passed += s.expected + s.flaky;
  totals.failed += s.unexpected;
  totals.skipped += s.skipped;
  if (s.expected + s.unexpected + s.flaky === 0) ok = false;
} catch {
  ok = false;
  totals.failed += 1;
}
if (e2e.status !== 0) ok = false;

console.log(`\ntests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(ok && totals.failed === 0 ? 0 : 1);
