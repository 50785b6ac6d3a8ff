import { describe, expect, it } from 'vitest';
import {
  asClause,
  baseName,
  compareImagePaths,
  compareNames,
  ImagePathError,
  imagePathProblem,
  isNormalImagePath,
  joinImagePath,
  nameProblem,
  normalizeImagePath,
  normalizeRelativePath,
  parentPath,
  splitImagePath,
  utf8ByteLength,
} from './image-path.ts';

describe('names', () => {
  it('takes any bytes but "/" and NUL, up to 255 bytes, never "." or ".."', () => {
    for (const ok of ['a', '.hidden', '...', 'with space', 'é'.repeat(127), 'x'.repeat(255), 'a\nb', '\u{1F600}'])
      expect(nameProblem(ok)).toBeUndefined();
    expect(nameProblem('')).toBe('A name cannot be empty.');
    expect(nameProblem('.')).toBe('"." is reserved.');
    expect(nameProblem('..')).toBe('".." is reserved.');
    expect(nameProblem('a/b')).toBe('A name cannot contain "/".');
    expect(nameProblem('a\0b')).toBe('A name cannot contain a NUL character.');
    expect(nameProblem('x'.repeat(256))).toBe('A name can be at most 255 bytes long.');
    // Bytes, not characters: 128 two-byte characters are 256 bytes.
    expect(nameProblem('é'.repeat(128))).toBe('A name can be at most 255 bytes long.');
    // Counted as TextEncoder writes them: 4 bytes a pair, 3 a lone surrogate.
    expect(nameProblem('\u{1F600}'.repeat(63) + 'abc')).toBeUndefined();
    expect(nameProblem('\u{1F600}'.repeat(63) + 'abcd')).toBe('A name can be at most 255 bytes long.');
    expect(nameProblem('\ud800'.repeat(85))).toBeUndefined();
    expect(nameProblem('\ud800'.repeat(86))).toBe('A name can be at most 255 bytes long.');
    for (const s of ['', 'a', 'é', '\u20ac', '\u{1F600}', 'x\ud800', '\udc00x', '\ud800\ud800\udc00', 'a\u{10FFFF}b'])
      expect(utf8ByteLength(s)).toBe(new TextEncoder().encode(s).length);
    expect(asClause('A name cannot be empty.')).toBe('a name cannot be empty');
  });
});

describe('image paths', () => {
  it('knows the normal form', () => {
    for (const ok of ['/', '/a', '/a/b', '/nix/store/x-y/.z']) expect(imagePathProblem(ok)).toBeUndefined();
    expect(imagePathProblem('a/b')).toMatch(/absolute/);
    expect(imagePathProblem('/a/')).toMatch(/absolute/);
    expect(imagePathProblem('')).toMatch(/absolute/);
    expect(imagePathProblem('/a//b')).toBe('A name cannot be empty.');
    expect(imagePathProblem('/a/./b')).toBe('"." is reserved.');
    expect(imagePathProblem('/a/../b')).toBe('".." is reserved.');
    expect(imagePathProblem(`/${'x'.repeat(256)}`)).toMatch(/255 bytes/);
  });

  it('tells a path in normal form below / without building anything, as imagePathProblem does', () => {
    const paths = ['/a', '/a/b', '/nix/store/x-y/.z', '/...', '/a/.b/..c', '/a\nb', `/${'x'.repeat(255)}/y`];
    const bad = [
      '/',
      '',
      'a/b',
      '/a/',
      '/a//b',
      '//a',
      '/a/./b',
      '/.',
      '/..',
      '/a/..',
      '/a\0b',
      `/y/${'x'.repeat(256)}`,
    ];
    bad.push(`/${'\u00e9'.repeat(128)}`, `/${'\u{1F600}'.repeat(64)}`);
    paths.push(`/${'\u00e9'.repeat(127)}`, `/${'\u{1F600}'.repeat(63)}`);
    for (const p of paths) {
      expect(isNormalImagePath(p), p).toBe(true);
      expect(imagePathProblem(p), p).toBeUndefined();
    }
    for (const p of bad) {
      expect(isNormalImagePath(p), p).toBe(false);
      if (p !== '/') expect(imagePathProblem(p), p).toBeDefined();
    }
  });

  it('normalizes what people and code give, refusing what does not say where it goes', () => {
    expect(normalizeImagePath('/')).toBe('/');
    expect(normalizeImagePath('//etc//x/')).toBe('/etc/x');
    for (const [bad, why] of [
      ['etc/x', /start with \//],
      ['/a/../b', /"\.\." is reserved/],
      ['/a/./b', /"\." is reserved/],
      ['/a\0b', /NUL/],
      [`/${'x'.repeat(256)}`, /255 bytes/],
    ] as const) {
      const err = (() => {
        try {
          normalizeImagePath(bad);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(ImagePathError);
      expect((err as ImagePathError).reason).toMatch(why);
      expect((err as ImagePathError).code).toBe('path-invalid');
    }
  });

  it('normalizes archive member names and refuses escapes', () => {
    expect(normalizeRelativePath('./a//b/./c/')).toEqual({ path: 'a/b/c' });
    expect(normalizeRelativePath('.')).toEqual({ path: '' });
    expect(normalizeRelativePath('/etc/passwd')).toEqual({ reason: 'it is absolute' });
    expect(normalizeRelativePath('a/../../x')).toEqual({ reason: 'it climbs out with ".."' });
    expect(normalizeRelativePath('a/..')).toEqual({ reason: 'it climbs out with ".."' });
    expect(normalizeRelativePath('a\0b')).toEqual({ reason: 'a name cannot contain a NUL character' });
    expect(normalizeRelativePath('x'.repeat(256))).toEqual({ reason: 'a name can be at most 255 bytes long' });
  });

  it('joins, splits and takes apart', () => {
    expect(joinImagePath('/', 'a')).toBe('/a');
    expect(joinImagePath('/a', 'b/c')).toBe('/a/b/c');
    expect(joinImagePath('/a', '')).toBe('/a');
    expect(parentPath('/')).toBe('/');
    expect(parentPath('/a')).toBe('/');
    expect(parentPath('/a/b')).toBe('/a');
    expect(baseName('/a/b')).toBe('b');
    expect(baseName('/')).toBe('');
    expect(splitImagePath('/')).toEqual([]);
    expect(splitImagePath('/a/b')).toEqual(['a', 'b']);
  });

  it('orders names by UTF-8 bytes and paths depth first', () => {
    expect(['b', 'B', 'a-c', 'a', '\u{1F600}', '\uFFFD'].sort(compareNames)).toEqual([
      'B',
      'a',
      'a-c',
      'b',
      '\uFFFD',
      '\u{1F600}',
    ]);
    expect(['/a-c', '/a/b', '/a', '/', '/a.d/x', '/a/b/c'].sort(compareImagePaths)).toEqual([
      '/',
      '/a',
      '/a/b',
      '/a/b/c',
      '/a-c',
      '/a.d/x',
    ]);
  });
});
