/**
 * Long work on the page's main thread is done in steps with a pause in between, so input,
 * rendering and the worker's messages get their turn: no task runs for more than a fraction
 * of the 200 ms after which a page feels stuck.
 */

/** Resolves after the browser had a chance to run other tasks (`scheduler.yield` where there is one). */
export function yieldToPage(): Promise<void> {
  const scheduler = (globalThis as { scheduler?: { yield?: () => Promise<void> } }).scheduler;
  if (typeof scheduler?.yield === 'function') return scheduler.yield();
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Runs a generator to its end, pausing for the page at each of its `yield`s. */
export async function runInSteps<T>(steps: Generator<void, T>): Promise<T> {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await yieldToPage();
  }
}
