import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { StorePathError } from './errors.ts';
import { decodeNixBase32, encodeNixBase32, formatNarHash, normalizeNarHash, parseSha256, toHex } from './nix-base32.ts';
import { runText } from './test-support/nar-bytes.ts';

const hex = (s: string) => new Uint8Array(s.match(/../g)!.map((h) => parseInt(h, 16)));

describe('nix base32', () => {
  // Expected strings come from `nix-hash --type sha256 --to-base32 <hex>` (Nix 2.8).
  const vectors: [string, string][] = [
    [
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      '0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73',
    ],
    [
      'd74c2f99ac740c3d5e36a1bfc7628c0765edf2d86f1cc517681bbc11a7ff1a76',
      '0xhszyki3g0vd0bwa73gv3rfsr87iiicggx16rg3s33lmjcjyk6p',
    ],
  ];

  it.each(vectors)('encodes %s like nix-hash', (h, b32) => {
    expect(encodeNixBase32(hex(h))).toBe(b32);
    expect(toHex(decodeNixBase32(b32, 32)!)).toBe(h);
  });

  it('matches the native nix-hash on random digests', () => {
    for (let i = 0; i < 8; i++) {
      const d = sha256(new TextEncoder().encode(`vector ${i}`));
      const native = runText('nix-hash', ['--type', 'sha256', '--to-base32', toHex(d)]).trim();
      expect(encodeNixBase32(d)).toBe(native);
      expect(decodeNixBase32(native, 32)).toEqual(d);
    }
  });

  it('encodes 20-byte store path hashes to 32 chars', () => {
    expect(encodeNixBase32(new Uint8Array(20))).toBe('0'.repeat(32));
    expect(encodeNixBase32(new Uint8Array(20).fill(0xff))).toBe('z'.repeat(32));
  });

  it('refuses bad characters, lengths and overflowing top bits', () => {
    expect(decodeNixBase32('e'.repeat(52), 32)).toBeNull();
    expect(decodeNixBase32('0'.repeat(51), 32)).toBeNull();
    // 52 digits hold 260 bits; a leading 'z' sets bits beyond 256.
    expect(decodeNixBase32('z' + '0'.repeat(51), 32)).toBeNull();
  });

  it('parses every sha256 spelling Nix prints', () => {
    const d = hex(vectors[1][0]);
    expect(parseSha256('sha256:' + vectors[1][1])).toEqual(d);
    expect(parseSha256(vectors[1][1])).toEqual(d);
    expect(parseSha256(vectors[1][0])).toEqual(d);
    expect(parseSha256('sha256:' + vectors[1][0])).toEqual(d);
    // SRI as `nix path-info --json` prints it (Nix 2.8 output for the same path).
    expect(parseSha256('sha256-10wvmax0DD1eNqG/x2KMB2Xt8thvHMUXaBu8Eaf/GnY=')).toEqual(d);
    expect(parseSha256('md5:abc')).toBeNull();
    expect(parseSha256('sha256-abc')).toBeNull();
    expect(formatNarHash(d)).toBe('sha256:' + vectors[1][1]);
  });

  it('normalizeNarHash throws a typed error', () => {
    expect(normalizeNarHash(vectors[1][0], 'x')).toBe('sha256:' + vectors[1][1]);
    expect(() => normalizeNarHash('sha1:00', 'in', '/p')).toThrow(StorePathError);
    try {
      normalizeNarHash('nope', 'in', '/p');
    } catch (e) {
      expect((e as StorePathError).toProblem()).toMatchObject({
        code: 'hash-malformed',
        input: 'in',
        path: '/p',
        severity: 'error',
      });
    }
  });
});
