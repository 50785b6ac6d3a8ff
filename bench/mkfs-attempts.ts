/** Counts mke2fs runs in a build's event stream and reads the first run's size (its last argument, `NNNk`). */
import type { BuildEvent } from '../core/engine-contract.ts';

export class MkfsAttempts {
  count = 0;
  initialBytes = 0;

  /** Feed every build event. */
  see(e: BuildEvent): void {
    if (e.type !== 'log' || e.tool !== 'mke2fs' || !e.text.startsWith('$ mke2fs')) return;
    this.count++;
    const m = / (\d+)k$/.exec(e.text);
    if (m && this.count === 1) this.initialBytes = Number(m[1]) * 1024;
  }
}
