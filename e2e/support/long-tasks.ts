/**
 * The page's main-thread tasks over 50 ms, recorded from its start with the `longtask`
 * PerformanceObserver: the browser tests of large inputs assert that none runs over 200 ms.
 */
import type { Page } from '@playwright/test';

export interface LongTask {
  /** When it started (`performance.now()` of the page). */
  at: number;
  ms: number;
}

/** Records every main-thread task over 50 ms from the page's start (call before it loads). */
export async function watchLongTasks(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const w = window as unknown as { __longTasks: LongTask[] };
    w.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.__longTasks.push({ at: e.startTime, ms: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  });
}

/** The long tasks that started at or after `from`. */
export function longTasksSince(page: Page, from: number): Promise<LongTask[]> {
  return page.evaluate(
    (t) => (window as unknown as { __longTasks: LongTask[] }).__longTasks.filter((task) => task.at >= t),
    from,
  );
}
