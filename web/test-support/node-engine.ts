/**
 * The real engine for the page's Node tests: the worker module's `api`, called in this process
 * instead of through a Web Worker (the same wasm tools, the same pipeline).
 */
import { api } from '../../workers/build-worker.ts';
import { EngineClient, type EngineRemote, setEngine } from '../engine-client.ts';

export function useNodeEngine(): void {
  setEngine(new EngineClient(() => ({ remote: api as unknown as EngineRemote, terminate() {} })));
}

/** Waits until `ready()` is true (state settling after engine calls), or fails after `ms`. */
export async function until(ready: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > end) throw new Error('timed out waiting for the store');
    await new Promise((r) => setTimeout(r, 10));
  }
}
