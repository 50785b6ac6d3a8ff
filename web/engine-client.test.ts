import { describe, expect, it } from 'vitest';
import type { BuildFailure, ResolvedInputs } from '../core/engine-contract.ts';
import { EngineClient, EngineError, type EngineConnection, type EngineRemote } from './engine-client.ts';

/** A connection whose calls are settled by the test. */
function fakeConnections() {
  const made: Array<{
    conn: EngineConnection;
    terminated: boolean;
    calls: Array<{ resolve(v: unknown): void; reject(e: unknown): void }>;
  }> = [];
  const connect = () => {
    const rec = {
      conn: null as unknown as EngineConnection,
      terminated: false,
      calls: [] as Array<{ resolve(v: unknown): void; reject(e: unknown): void }>,
    };
    const pending = () => new Promise((resolve, reject) => rec.calls.push({ resolve, reject }));
    const remote = { resolveInputs: pending, estimate: pending, build: pending } as unknown as EngineRemote;
    rec.conn = {
      remote,
      terminate: () => {
        rec.terminated = true;
      },
    };
    made.push(rec);
    return rec.conn;
  };
  return { made, connect };
}

const empty: ResolvedInputs = { entries: [], closure: [], problems: [] };

describe('EngineClient', () => {
  it('starts the worker only when first needed', async () => {
    const { made, connect } = fakeConnections();
    const client = new EngineClient(connect);
    expect(made).toHaveLength(0);
    const p = client.resolveInputs([]);
    expect(made).toHaveLength(1);
    made[0].calls[0].resolve(empty);
    await expect(p).resolves.toEqual(empty);
  });

  it('rethrows BuildFailure objects as EngineError', async () => {
    const { made, connect } = fakeConnections();
    const client = new EngineClient(connect);
    const p = client.estimate({ entries: [], closure: [], options: {} as never });
    const failure: BuildFailure = {
      code: 'check-failed',
      message: 'fsck found problems',
      hint: 'report it',
      problems: [],
      toolOutput: 'Pass 1',
    };
    made[0].calls[0].reject(failure);
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err).toMatchObject({
      code: 'check-failed',
      message: 'fsck found problems',
      hint: 'report it',
      toolOutput: 'Pass 1',
    });
  });

  it("shows an internal failure's stack with the tool output", () => {
    const stack = 'TypeError: x is undefined\n    at planImage (build-image.ts:12:3)';
    const withOutput = new EngineError({
      code: 'internal',
      message: 'Unexpected error',
      hint: '',
      problems: [],
      stack,
      toolOutput: 'mke2fs 1.47.4',
    });
    expect(withOutput.toolOutput).toBe(`mke2fs 1.47.4\n\n${stack}`);
    const alone = new EngineError({ code: 'internal', message: 'Unexpected error', hint: '', problems: [], stack });
    expect(alone.toolOutput).toBe(stack);
    expect(alone.toFailure().toolOutput).toBe(stack);
  });

  it('aborting terminates the worker, rejects every call in flight and starts afresh next time', async () => {
    const { made, connect } = fakeConnections();
    const client = new EngineClient(connect);
    const ac = new AbortController();
    const build = client.build(
      { entries: [], closure: [], options: {} as never },
      () => {},
      () => {},
      { signal: ac.signal },
    );
    const other = client.resolveInputs([]);
    ac.abort();
    await expect(build).rejects.toMatchObject({ code: 'aborted' });
    await expect(other).rejects.toMatchObject({ code: 'aborted' });
    expect(made[0].terminated).toBe(true);
    expect(client.started).toBe(false);
    const next = client.resolveInputs([]);
    expect(made).toHaveLength(2);
    made[1].calls[0].resolve(empty);
    await expect(next).resolves.toEqual(empty);
  });

  it('an already aborted signal never starts the worker', async () => {
    const { made, connect } = fakeConnections();
    const client = new EngineClient(connect);
    await expect(client.resolveInputs([], { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'aborted' });
    expect(made).toHaveLength(0);
  });

  it('a crashed worker fails the calls in flight', async () => {
    const { made, connect } = fakeConnections();
    const client = new EngineClient(connect);
    const p = client.resolveInputs([]);
    made[0].conn.onCrash!(new EngineError({ code: 'internal', message: 'gone', hint: '', problems: [] }));
    await expect(p).rejects.toMatchObject({ code: 'internal', message: 'gone' });
    expect(made[0].terminated).toBe(true);
  });

  it('wraps unexpected errors', async () => {
    const { made, connect } = fakeConnections();
    const client = new EngineClient(connect);
    const p = client.resolveInputs([]);
    made[0].calls[0].reject(new TypeError('boom'));
    await expect(p).rejects.toMatchObject({ code: 'internal', message: expect.stringContaining('boom') });
  });

  it('hands a tree to the worker once per version, and again to a fresh worker', async () => {
    const kept: Array<{ worker: number; key: string; count: number }> = [];
    const seen: unknown[] = [];
    let workers = 0;
    const connect = (): EngineConnection => {
      const worker = ++workers;
      const remote = {
        keepTree: async (key: string, entries: unknown[]) => void kept.push({ worker, key, count: entries.length }),
        estimate: async (request: unknown) => {
          seen.push(request);
          return { inodes: 0, dataBytes: 0, initialImageBytes: 0, finalImageBytes: 0 };
        },
      } as unknown as EngineRemote;
      return { remote, terminate: () => {} };
    };
    const client = new EngineClient(connect);
    let listed = 0;
    const big = Array.from({ length: 400_000 }, (_, i) => ({ path: `/f${i}` }));
    const tree = (key: string) => ({
      key,
      entries: () => {
        listed++;
        return big as never;
      },
    });
    const options = {} as never;
    await client.estimate({ tree: tree('1:1'), closure: [], options });
    await client.estimate({ tree: tree('1:1'), closure: [], options });
    await client.estimate({ tree: tree('1:2'), closure: [], options });
    expect(kept).toEqual([
      { worker: 1, key: '1:1', count: 400_000 },
      { worker: 1, key: '1:2', count: 400_000 },
    ]);
    expect(listed).toBe(2);
    // The worker is asked with the tree's key, not its entries.
    expect(seen[1]).toEqual({ tree: '1:1', closure: [], options });
    client.restart();
    await client.estimate({ tree: tree('1:2'), closure: [], options });
    expect(kept.at(-1)).toEqual({ worker: 2, key: '1:2', count: 400_000 });
  });
});
