import { describe, expect, it } from 'vitest';
import { mergeProblems, tidyMessage } from './problems.ts';

describe('mergeProblems', () => {
  it('says identical problems once, with a count and their paths', () => {
    const p = (path: string) => ({
      severity: 'error' as const,
      code: 'closure-missing-contents',
      input: 'registration',
      message: `${path} is listed in registration but no input holds its contents.`,
      hint: 'Add the contents.',
      path,
    });
    const merged = mergeProblems([p('/nix/store/a'), p('/nix/store/b'), p('/nix/store/a')]);
    expect(merged).toHaveLength(1);
    expect(merged[0]).toMatchObject({
      count: 3,
      paths: ['/nix/store/a', '/nix/store/b'],
      general: '… is listed in registration but no input holds its contents.',
    });
  });

  it('keeps different problems apart', () => {
    const a = { severity: 'error' as const, code: 'x', input: 'i', message: 'one', hint: '' };
    expect(mergeProblems([a, { ...a, code: 'y' }, { ...a, severity: 'warning' as const }])).toHaveLength(3);
  });

  it('does not say a tool name twice, nor end in two periods', () => {
    expect(tidyMessage('dumpe2fs: dumpe2fs: Bad magic number in super-block.')).toBe(
      'dumpe2fs: Bad magic number in super-block.',
    );
    expect(tidyMessage('The check failed: e2fsck said so.. Try again.')).toBe(
      'The check failed: e2fsck said so. Try again.',
    );
    expect(tidyMessage('Files in ../x stay')).toBe('Files in ../x stay');
  });
});
