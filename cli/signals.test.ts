/**
 * Ctrl-C and SIGTERM stop `disk-image-studio build` within about a second at any stage,
 * also while mke2fs runs (the build runs in a worker thread, so the main thread answers
 * at once): exit 130 or 143, no temporary file left, an existing output untouched.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../workers/test-support/native.ts';
import { pseudoRandom } from '../workers/test-support/tree-fixture.ts';

const BIN = fileURLToPath(new URL('./bin.mjs', import.meta.url));
const { dir: work, cleanup } = tempDir('cli-signals-');
afterAll(cleanup);
const tree = join(work, 'tree');
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

beforeAll(() => {
  // Enough files that mke2fs runs for seconds.
  for (let d = 0; d < 40; d++) {
    mkdirSync(join(tree, `d${d}`), { recursive: true });
    for (let f = 0; f < 150; f++) writeFileSync(join(tree, `d${d}`, `f${f}`), pseudoRandom(3000, d * 1000 + f));
  }
});

/** Starts a build; resolves once stderr has printed `line`, with the process. */
function startBuild(args: string[]): { child: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, 'build', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code, sig) => resolve(code ?? (sig ? -1 : null))),
  );
  return { child, stderr: () => err, exited };
}

async function until(check: () => boolean, what: string, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('signals', () => {
  it.each([
    ['SIGINT', 'while mke2fs runs', 'plan ', 130, 'out.img'],
    ['SIGTERM', 'while mke2fs runs', 'plan ', 143, 'out.img.zst'],
    ['SIGTERM', 'after the first check (shrinking, saving)', 'check ', 143, 'out.img.zst'],
    ['SIGINT', 'after the first check (shrinking, saving)', 'check ', 130, 'out.img'],
  ] as const)(
    '%s %s: stops within a second, leaves nothing, keeps the old output',
    async (signal, _when, after, code, name) => {
      const dir = join(work, `${signal}-${after.trim()}-${name}`);
      mkdirSync(dir);
      const out = join(dir, name);
      writeFileSync(out, 'the old output\n');
      const old = sha(out);
      const b = startBuild(['--files', tree, '-o', out]);
      await until(() => b.stderr().includes(`\n${after}`) || b.stderr().startsWith(after), `"${after}" on stderr`);
      if (after === 'plan ') await new Promise((r) => setTimeout(r, 100)); // inside mke2fs
      const stagesDone = b.stderr();
      const sent = Date.now();
      b.child.kill(signal);
      const exit = await b.exited;
      const tookMs = Date.now() - sent;
      expect(exit, b.stderr()).toBe(code);
      // The signal came inside the stage meant: mke2fs had not finished / the shrink had not.
      if (after === 'plan ') expect(stagesDone).not.toMatch(/^mkfs /m);
      else expect(stagesDone).not.toMatch(/^shrink /m);
      expect(tookMs).toBeLessThan(1500);
      expect(b.stderr()).toContain(`the build was cancelled (${signal}); no image was written.`);
      expect(readdirSync(dir)).toEqual([name]);
      expect(sha(out)).toBe(old);
    },
  );

  it('builds the same tree to the end when left alone (the stages the signals hit exist)', async () => {
    const out = join(work, 'whole.img');
    const b = startBuild(['--files', tree, '-o', out]);
    expect(await b.exited, b.stderr()).toBe(0);
    expect(b.stderr()).toMatch(/^mkfs +done at/m);
    expect(b.stderr()).toMatch(/^check +done at/m);
  });
});
