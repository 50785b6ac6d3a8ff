/**
 * Where the browser keeps images, seen from Node (which has no Origin Private File
 * System): a build asked to keep its output as a file falls back to memory and says so,
 * and the output still arrives whole through the sink. Running out of disk is a clear
 * failure, not an unexpected error.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_BUILD_OPTIONS } from '../../core/build-options.ts';
import type { BuildEvent } from '../../core/engine-contract.ts';
import { MemoryImageStore } from '../runtime/image-store.ts';
import { freeFromEstimate, StorageUnavailableError } from '../runtime/opfs-image-store.ts';
import { sha256Hex } from '../test-support/native.ts';
import { dir, file } from '../test-support/tree-fixture.ts';
import { useTestWasm } from '../test-support/wasm.ts';
import { ToolCrashError } from '../runtime/run-tool.ts';
import { buildInBrowser, storageWithFallback } from './browser-storage.ts';
import { toBuildFailure } from './engine-failure.ts';

useTestWasm();

describe('browser storage without OPFS', () => {
  it('falls back to memory once, saying why', async () => {
    const said: string[] = [];
    const storage = storageWithFallback((p) => said.push(`${p.severity} ${p.code}: ${p.message}`));
    const a = await storage.create('one', 1 << 20);
    const b = await storage.create('two');
    expect(a).toBeInstanceOf(MemoryImageStore);
    expect(b).toBeInstanceOf(MemoryImageStore);
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/^warning storage-fallback: The image is kept in memory, not on disk: .*Origin Private/);
  });

  it('a build that asked for a kept file warns and streams its output to the sink instead', async () => {
    const events: BuildEvent[] = [];
    const chunks: Uint8Array[] = [];
    const result = await buildInBrowser(
      {
        entries: [dir('/'), file('/hello.txt', 'hello\n')],
        closure: [],
        options: { ...DEFAULT_BUILD_OPTIONS },
      },
      (e) => events.push(e),
      (c) => void chunks.push(c.slice()),
      { keepFile: true },
    );
    expect(result.file).toBeUndefined();
    const out = Buffer.concat(chunks);
    expect(out.length).toBe(result.size);
    expect(sha256Hex(out)).toBe(result.sha256);
    const warnings = events.flatMap((e) => (e.type === 'problem' ? [e.problem] : []));
    expect(warnings.map((p) => p.code)).toEqual(['storage-fallback']);
    expect(warnings[0].severity).toBe('warning');
  });
});

describe("the browser's storage estimate", () => {
  const GiB = 1024 ** 3;
  it('is exact below 10 GiB free', () => {
    expect(freeFromEstimate({ quota: 6 * GiB, usage: 1 * GiB })).toBe(5 * GiB);
    expect(freeFromEstimate({ quota: 10 * GiB + 180, usage: 181 })).toBe(10 * GiB - 1);
  });
  it("is only a lower bound at Chromium's reporting cap (usage + 10 GiB): unknown, no refusal up front", () => {
    // What Chromium 156 reported on a VM with 162 GB of real quota for the origin.
    expect(freeFromEstimate({ quota: 10737418420, usage: 180 })).toBeUndefined();
    expect(freeFromEstimate({ quota: 30 * GiB, usage: 2 * GiB })).toBeUndefined();
    expect(freeFromEstimate({})).toBeUndefined();
  });
});

describe('running out of storage', () => {
  it('is a "too-large" failure naming the disk or the quota, also when a tool crashed on it', () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    const crashed = new ToolCrashError('mke2fs', [], enospc.message, '', '', enospc);
    const f = toBuildFailure(crashed);
    expect(f.code).toBe('too-large');
    expect(f.message).toMatch(/^The disk is full/);
    const quota = new StorageUnavailableError('The browser refused more storage for the image (opfs:x): quota');
    const g = toBuildFailure(new ToolCrashError('resize2fs', [], quota.message, '', '', quota));
    expect(g.code).toBe('too-large');
    expect(g.message).toBe(quota.message);
  });
});
