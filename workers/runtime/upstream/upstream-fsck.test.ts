/**
 * e2fsprogs' own f_* and j_* (fsck) test cases against our wasm e2fsck (see upstream-fsck.ts). The
 * committed list (upstream-fsck-results.txt) says which pass natively and with ours; this
 * keeps it from getting worse: every case listed as passing with wasm must still pass, every
 * case where native and wasm differ carries a written reason, and the list covers exactly
 * the cases the pinned source has.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { useTestWasm } from '../../test-support/wasm.ts';
import { listCases, parseResults, RESULTS_FILE, runCase, upstreamTestsDir, wasmRunner } from './upstream-fsck.ts';

useTestWasm();
const tests = upstreamTestsDir();
const { cases, notRun } = listCases(tests);
const results = parseResults(readFileSync(RESULTS_FILE, 'utf8'));

describe('upstream e2fsprogs f_* and j_* tests with our e2fsck', () => {
  it('the committed list covers every f_* and j_* case of the source, each difference with a reason', () => {
    expect([...results.keys()].sort()).toEqual([...cases.map((c) => c.name), ...notRun.map((n) => n.name)].sort());
    for (const n of notRun) expect(results.get(n.name)?.notRun, n.name).toBe(n.reason);
    for (const r of results.values()) {
      if (r.notRun !== undefined) continue;
      if (r.native !== r.wasm) expect(r.reason ?? '', r.name).not.toMatch(/^$|REASON NEEDED/);
    }
  });

  it('every case the list has passing with wasm still passes', async () => {
    const failures: string[] = [];
    let ran = 0;
    for (const c of cases) {
      if (results.get(c.name)?.wasm !== 'pass') continue;
      const r = await runCase(tests, c, wasmRunner);
      ran++;
      if (r.outcome !== 'pass') failures.push(`${c.name}: ${r.detail}`);
    }
    expect(failures).toEqual([]);
    expect(ran).toBeGreaterThan(150);
  }, 600_000);
});
