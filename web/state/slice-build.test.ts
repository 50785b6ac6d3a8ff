import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuildEvent } from '../../core/engine-contract.ts';
import { tempDir } from '../../core/test-support/nar-bytes.ts';
import { useNodeEngine } from '../test-support/node-engine.ts';
import { applyEvents, idleBuild, LOG_LIMIT_CHARS } from './slice-build.ts';
import { buildBlocker, createStudioStore } from './store.ts';

const { dir, cleanup } = tempDir('dis-web-build-');
afterAll(cleanup);
beforeAll(useNodeEngine);

describe('build slice', () => {
  it('gives each finished stage its own duration, not the time since the build began', () => {
    const ev = (stage: 'mkfs' | 'check', state: 'start' | 'done', elapsedMs: number): BuildEvent => ({
      type: 'stage',
      stage,
      state,
      elapsedMs,
    });
    const b = applyEvents(idleBuild(), [
      ev('mkfs', 'start', 1000),
      ev('mkfs', 'done', 4000),
      ev('check', 'start', 4000),
      ev('check', 'done', 4500),
    ]);
    expect(b.stages.mkfs).toMatchObject({ state: 'done', elapsedMs: 3000 });
    expect(b.stages.check).toMatchObject({ state: 'done', elapsedMs: 500 });
  });

  it('keeps the log bounded, dropping the oldest chunks', () => {
    const line = `${'x'.repeat(999)}\n`;
    let b = idleBuild();
    for (let i = 0; i < 1500; i++)
      b = applyEvents(b, [{ type: 'log', stage: 'mkfs', tool: i % 2 ? 'a' : 'b', stream: 'stdout', text: line }]);
    const kept = b.log.reduce((n, c) => n + c.text.length, 0);
    expect(kept).toBeLessThanOrEqual(LOG_LIMIT_CHARS);
    expect(kept + b.logDropped).toBe(1500 * 1000);
  });

  it('says why it cannot build: nothing yet, bad options', () => {
    const s = createStudioStore();
    expect(buildBlocker(s.getState())).toBe('Add files, a folder, an archive or a closure first.');
    s.getState().mergeEntries([
      {
        path: '/a',
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 1,
        size: 0,
        origin: 't',
        source: { kind: 'bytes', bytes: new Uint8Array() },
      },
    ]);
    s.getState().setOption('headroomMiB', -1);
    expect(buildBlocker(s.getState())).toMatch(/^Headroom -1 MiB/);
  });

  it('builds the tree as edited into an image native e2fsck and debugfs agree with', async () => {
    const s = createStudioStore();
    // Bytes sources: Blob sources are read with FileReaderSync, which only a Web Worker has.
    const bytes = (path: string, text: string) => {
      const b = new TextEncoder().encode(text);
      return {
        path,
        type: 'file' as const,
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 1,
        size: b.length,
        origin: 't',
        source: { kind: 'bytes' as const, bytes: b },
      };
    };
    s.getState().mergeEntries([bytes('/init', '#!/bin/sh\necho hi\n'), bytes('/gone', 'x')]);
    s.getState().toggleExec(s.getState().tree.get('/init')!.id);
    s.getState().deleteNode(s.getState().tree.get('/gone')!.id);
    s.getState().setSaveMode('download');
    await s.getState().startBuild();
    const { build, result } = s.getState();
    expect(build.failure).toBeNull();
    expect(build.status).toBe('done');
    for (const st of ['plan', 'mkfs', 'check', 'shrink', 'recheck'] as const)
      expect(build.stages[st].elapsedMs).toBeGreaterThanOrEqual(0);
    const img = join(dir, 'out.img');
    writeFileSync(img, new Uint8Array(await result!.saved.blob!.arrayBuffer()));
    expect(spawnSync('e2fsck', ['-fn', img]).status).toBe(0);
    const ls = spawnSync('debugfs', ['-R', 'stat /init', img], { encoding: 'utf8' }).stdout;
    expect(ls).toMatch(/Mode:\s+0755/);
    expect(spawnSync('debugfs', ['-R', 'stat /gone', img], { encoding: 'utf8' }).stderr).toMatch(/not found/);
    s.getState().releaseResult();
    expect(s.getState().result).toBeNull();
  });
});
