import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BUILD_OPTIONS } from '../../core/build-options.ts';
import { until, useNodeEngine } from '../test-support/node-engine.ts';
import { startEstimates } from './slice-options.ts';
import { createStudioStore } from './store.ts';

beforeAll(useNodeEngine);

describe('options slice', () => {
  it('sets and resets options', () => {
    const s = createStudioStore();
    s.getState().setOption('label', 'root');
    s.getState().randomUuid();
    expect(s.getState().options.label).toBe('root');
    expect(s.getState().options.uuid).not.toBe(DEFAULT_BUILD_OPTIONS.uuid);
    s.getState().resetOptions();
    expect(s.getState().options).toEqual(DEFAULT_BUILD_OPTIONS);
  });

  it('keeps the estimate in step with the tree, from the real engine', async () => {
    const s = createStudioStore();
    const stop = startEstimates(s, 1);
    try {
      expect(s.getState().estimate.state).toBe('idle');
      await s.getState().addFiles([new File([new Uint8Array(300_000)], 'big')]);
      await until(() => s.getState().estimate.state === 'ready');
      const first = s.getState().estimate.value!.dataBytes;
      expect(first).toBeGreaterThanOrEqual(300_000);
      await s.getState().addFiles([new File([new Uint8Array(500_000)], 'bigger')]);
      await until(() => s.getState().estimate.state === 'ready' && s.getState().estimate.value!.dataBytes > first);
      s.getState().clearAll();
      await until(() => s.getState().estimate.state === 'idle');
    } finally {
      stop();
    }
  });
});
