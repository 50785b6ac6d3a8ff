/**
 * The project's lint rules catch what they are for: the layering (core/ imports nothing
 * outside core/, workers/runtime/ nothing of workers/pipeline/, web/ only types from
 * workers/) and spread arguments. Runs the real `biome.jsonc` and `lint/*.grit` over probe
 * files in a temporary copy of the layout, and checks each diagnostic by file and line.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const biome = join(root, 'node_modules', '.bin', 'biome');

/**
 * Probe files: a line ending in `// ✗ <rule>` must be reported by that rule, and no other line
 * by the layering or spread rules (other rules may also speak; they are not checked here).
 */
const PROBES: Record<string, string> = {
  'core/bad-import.ts': `
import type { EngineApi } from '../workers/engine-api.ts'; // ✗ noRestrictedImports
import { buildImage } from '../workers/pipeline/build-image.ts'; // ✗ noRestrictedImports
export { EngineError } from '../web/engine-client.ts'; // ✗ noRestrictedImports
import { x } from '..'; // ✗ noRestrictedImports
import type { TreeEntry } from './image-tree.ts';
import { blake3 } from '@noble/hashes/blake3.js';
export const lazy = () => import('../cli/main.ts'); // ✗ noRestrictedImports
export type { EngineApi, TreeEntry };
export { buildImage, blake3, x };
`,
  'core/io/nested.ts': `
import { DecompressError } from '../errors.ts';
import type { Cursor } from './cursor.ts';
import type { ImageState } from '../../core/engine-contract.ts'; // ✗ noRestrictedImports
import { runTool } from '../../workers/runtime/run-tool.ts'; // ✗ noRestrictedImports
export type { Cursor, ImageState };
export { DecompressError, runTool };
`,
  'workers/runtime/bad-import.ts': `
import type { TreeEntry } from '../../core/image-tree.ts';
import { ImageStore } from './image-store.ts';
import { buildImage } from '../pipeline/build-image.ts'; // ✗ noRestrictedImports
import type { ImageSessions } from '../pipeline/image-session.ts'; // ✗ noRestrictedImports
import type { api } from '../build-worker.ts'; // ✗ noRestrictedImports
export type { TreeEntry, ImageSessions, api };
export { ImageStore, buildImage };
`,
  'web/bad-import.ts': `
import type { api } from '../workers/build-worker.ts';
import type { ImageApi } from '../workers/engine-api.ts';
import { DEFAULT_BUILD_OPTIONS } from '../core/build-options.ts';
import { api as engine } from '../workers/build-worker.ts'; // ✗ plugin
import { type EngineApi } from '../workers/engine-api.ts'; // ✗ plugin
import '../workers/runtime/index.ts'; // ✗ plugin
export type { ImageState } from '../workers/engine-api.ts'; // ✗ plugin
export const worker = () => new Worker(new URL('../workers/build-worker.ts', import.meta.url), { type: 'module' });
export const later = () => import('../workers/pipeline/build-image.ts'); // ✗ plugin
export type { api, ImageApi, EngineApi };
export { DEFAULT_BUILD_OPTIONS, engine };
`,
  'web/state/deep.ts': `
import type { BuildEvent } from '../../core/engine-contract.ts';
import { toBuildFailure } from '../../workers/pipeline/engine-failure.ts'; // ✗ plugin
export type { BuildEvent };
export { toBuildFailure };
`,
  'workers/pipeline/spreads.ts': `
export function spreads(into: number[], from: number[], codes: number[]): unknown[] {
  into.push(...from); // ✗ plugin
  into.unshift(0, ...from); // ✗ plugin
  const most = Math.max(...from); // ✗ plugin
  const least = Math.min.apply(null, from); // ✗ plugin
  const text = String.fromCharCode(...codes); // ✗ plugin
  Array.prototype.push.apply(into, from); // ✗ plugin
  const again = Reflect.apply(Math.max, null, from); // ✗ plugin
  const bytes = new Uint8Array(...[from]); // ✗ plugin
  // biome-ignore lint/plugin/no-spread-arguments: three fixed elements
  into.push(...[1, 2, 3]);
  const copy = [...from, ...into];
  const merged = { ...{ a: 1 }, b: 2 };
  const largest = from.reduce((a, b) => Math.max(a, b), 0);
  return [most, least, text, again, bytes, copy, merged, largest];
}
`,
  'workers/pipeline/spreads.test.ts': `
export const inTests = (a: number[]) => Math.max(...a);
`,
};

interface Diagnostic {
  category: string;
  location: { path: string; start?: { line: number } };
}

let dir: string;
let found: string[];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lint-rules-'));
  copyFileSync(join(root, 'biome.jsonc'), join(dir, 'biome.jsonc'));
  mkdirSync(join(dir, 'lint'));
  for (const f of readdirSync(join(root, 'lint'))) {
    if (f.endsWith('.grit')) copyFileSync(join(root, 'lint', f), join(dir, 'lint', f));
  }
  for (const [path, text] of Object.entries(PROBES)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text.trimStart());
  }
  const r = spawnSync(biome, ['lint', '--reporter=json', '--vcs-enabled=false', '--max-diagnostics=none', '.'], {
    cwd: dir,
    encoding: 'utf8',
  });
  const report = JSON.parse(r.stdout) as { diagnostics: Diagnostic[] };
  found = report.diagnostics
    .map((d) => `${d.location.path}:${d.location.start?.line} ${d.category.split('/').pop()}`)
    .filter((d) => / (noRestrictedImports|plugin)$/.test(d))
    .sort();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('lint rules', () => {
  it('report exactly the marked lines of the probes', () => {
    const expected: string[] = [];
    for (const [path, text] of Object.entries(PROBES)) {
      text
        .trimStart()
        .split('\n')
        .forEach((line, i) => {
          const m = /\/\/ ✗ (\S+)$/.exec(line);
          if (m) expected.push(`${path}:${i + 1} ${m[1]}`);
        });
    }
    expect(expected.length).toBeGreaterThan(20);
    expect(found).toEqual(expected.sort());
  });
});
