import { describe, expect, it } from 'vitest';
import { StorePathError } from './errors.ts';
import { isStoreBase, isStorePath, parseStorePath, storeBaseOf, storePathProblem, toStorePath } from './store-path.ts';

const H = '5pgjvw6x73z1436kd5rkjiqzy7by3ba7';

describe('store paths', () => {
  it('accepts valid paths', () => {
    expect(isStorePath(`/nix/store/${H}-src`)).toBe(true);
    expect(isStorePath(`/nix/store/${H}-a+b-1.0_x?y=z`)).toBe(true);
    expect(isStorePath(`/nix/store/${H}-${'a'.repeat(211)}`)).toBe(true);
  });

  it.each([
    [`/nix/store/${H}`, 'shorter'],
    [`/nix/store/${H}-`, 'shorter'],
    [`/nix/store/${H.replace('5', 'e')}-x`, 'alphabet'],
    [`/nix/store/${H.toUpperCase()}-x`, 'alphabet'],
    [`/nix/store/${H}_x`, 'dash'],
    [`/nix/store/${H}-.hidden`, 'dot'],
    [`/nix/store/${H}-a b`, 'characters'],
    [`/nix/store/${H}-a/b`, 'inside'],
    [`/nix/store/${H}-${'a'.repeat(212)}`, 'longer'],
    [`/gnu/store/${H}-x`, 'start'],
    [`${H}-x`, 'start'],
  ])('refuses %s', (p, why) => {
    expect(storePathProblem(p)).toContain(why);
    expect(() => parseStorePath(p, 'in')).toThrow(StorePathError);
  });

  it('converts between bases and paths', () => {
    expect(storeBaseOf(`/nix/store/${H}-x`)).toBe(`${H}-x`);
    expect(toStorePath(`${H}-x`)).toBe(`/nix/store/${H}-x`);
    expect(toStorePath(`/nix/store/${H}-x`)).toBe(`/nix/store/${H}-x`);
    expect(isStoreBase(`${H}-x`)).toBe(true);
  });
});
