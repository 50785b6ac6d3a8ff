import { describe, expect, it } from 'vitest';
import { ToolCrashError } from '../runtime/run-tool.ts';
import { EngineFailure, errorStack, toBuildFailure } from './engine-failure.ts';

function planSizes(): never {
  throw new TypeError("Cannot read properties of undefined (reading 'size')");
}

describe('toBuildFailure', () => {
  it('gives an internal error its stack, with the causes', () => {
    let thrown: unknown;
    try {
      try {
        planSizes();
      } catch (cause) {
        throw new Error('planning failed', { cause });
      }
    } catch (e) {
      thrown = e;
    }
    const f = toBuildFailure(thrown);
    expect(f.code).toBe('internal');
    expect(f.message).toBe('Unexpected error: planning failed');
    expect(f.hint).toMatch(/--debug/);
    expect(f.stack).toMatch(/^Error: planning failed\n\s+at /);
    expect(f.stack).toMatch(
      /\nCaused by: TypeError: Cannot read properties of undefined \(reading 'size'\)\n\s+at planSizes /,
    );
    // Plain data: it crosses the worker boundary whole.
    expect(structuredClone(f)).toEqual(f);
  });

  it("keeps a crashed tool's output", () => {
    const f = toBuildFailure(new ToolCrashError('mke2fs', ['-d', '/tree'], 'unreachable', 'out\n', 'err\n'));
    expect(f.code).toBe('internal');
    expect(f.toolOutput).toBe('out\nerr\n');
    expect(f.stack).toMatch(/^ToolCrashError: mke2fs crashed: unreachable\n/);
  });

  it('adds no stack to the failures it expects', () => {
    const bad = toBuildFailure(new EngineFailure({ code: 'bad-input', message: 'm', hint: 'h', problems: [] }));
    expect(bad.stack).toBeUndefined();
    expect(toBuildFailure(new DOMException('stop', 'AbortError')).stack).toBeUndefined();
  });

  it('stops after five causes and at values that are not errors', () => {
    let e: unknown = 'the root';
    for (let i = 0; i < 8; i++) e = new Error(`level ${i}`, { cause: e });
    const stack = errorStack(e) ?? '';
    expect(stack.match(/^(Caused by: )?Error: level \d/gm)).toHaveLength(5);
    expect(errorStack(new Error('top', { cause: 42 }))).toMatch(/\nCaused by: 42$/);
  });
});
