import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import {
  checkSignatures,
  fingerprint,
  looksLikeHtml,
  NarInfoError,
  parseCacheInfo,
  parseNarInfo,
  parsePublicKey,
} from './narinfo.ts';
import { resolveNarUrl } from './substitute.ts';

const PATH = '/nix/store/38vg5fb32sqnfxg6iwzi89hy1aiswsjr-chain';
const REF = '/nix/store/hrh8aq9961xj7sf1cw2i5b5x403mb11z-run-demo';
// A narinfo as Debian's nix-bin 2.8 wrote it (`nix copy --to file://…?compression=xz&secret-key=…`).
const NARINFO = `StorePath: ${PATH}
URL: nar/114954jd63h2jhybrakbv409rmf7xby31yc84yvg72md0863cl5z.nar.xz
Compression: xz
FileHash: sha256:114954jd63h2jhybrakbv409rmf7xby31yc84yvg72md0863cl5z
FileSize: 180
NarHash: sha256:1dw568sqsqjj5ymwl5dk690w76vi0z8clb587sag9ih8n7s6lykm
NarSize: 176
References: hrh8aq9961xj7sf1cw2i5b5x403mb11z-run-demo
Sig: test-cache-1:ccqXxpJBgMOendoGQSxQQKg7mPc8dKAMr49nvqI4L0oWb74al8qrLcRRuI77PvDWySHFP5bIuOIWH88uJG9RBA==
CA: text:sha256:0z03qg1qmx7y15napyx9p0j0g8pp477c9c6bijd3lcra8pcnqyv8
`;
const KEY = 'test-cache-1:aBYE0Fmylg5TeBMmO0fk/4+0sF9Nze8YlvJiJwWpzvU=';

describe('narinfo', () => {
  it('parses what Nix writes and verifies its signature over the fingerprint', () => {
    const info = parseNarInfo(NARINFO, PATH);
    expect(info).toMatchObject({ compression: 'xz', fileSize: 180, narSize: 176, references: [REF], deriver: '' });
    expect(fingerprint(info)).toBe(`1;${PATH};sha256:1dw568sqsqjj5ymwl5dk690w76vi0z8clb587sag9ih8n7s6lykm;176;${REF}`);
    const key = parsePublicKey(KEY);
    if (typeof key === 'string') throw new Error(key);
    expect(checkSignatures(info, [key])).toEqual({ ok: true, signedBy: 'test-cache-1' });
  });

  it('refuses signatures that do not cover the narinfo, and untrusted or missing ones', () => {
    const key = parsePublicKey(KEY);
    if (typeof key === 'string') throw new Error(key);
    const bigger = parseNarInfo(NARINFO.replace('NarSize: 176', 'NarSize: 177'), PATH);
    expect(checkSignatures(bigger, [key])).toMatchObject({ ok: false, reason: 'invalid' });
    const noRefs = parseNarInfo(NARINFO.replace(/^References: .*$/m, 'References: '), PATH);
    expect(checkSignatures(noRefs, [key])).toMatchObject({ ok: false, reason: 'invalid' });
    const other = ed25519.getPublicKey(ed25519.utils.randomSecretKey());
    expect(checkSignatures(parseNarInfo(NARINFO, PATH), [{ name: 'other-1', key: other }])).toMatchObject({
      ok: false,
      reason: 'untrusted',
      keyNames: ['test-cache-1'],
    });
    expect(checkSignatures(parseNarInfo(NARINFO.replace(/^Sig: .*\n/m, ''), PATH), [key])).toMatchObject({
      reason: 'unsigned',
    });
  });

  it('reads a missing Compression as bzip2, as Nix does', () => {
    expect(parseNarInfo(NARINFO.replace(/^Compression: .*\n/m, ''), PATH).compression).toBe('bzip2');
  });

  it.each([
    ['another path', NARINFO.replace(`StorePath: ${PATH}`, `StorePath: ${REF}`), /describes .*run-demo instead/],
    ['no NarHash', NARINFO.replace(/^NarHash: .*\n/m, ''), /no NarHash/],
    ['a bad NarSize', NARINFO.replace('NarSize: 176', 'NarSize: -1'), /NarSize "-1" is not a size/],
    ['an unknown compression', NARINFO.replace('Compression: xz', 'Compression: br'), /Compression "br"/],
    ['a bad reference', NARINFO.replace(/^References: .*$/m, 'References: ../../etc'), /reference "..\/..\/etc"/],
    ['two URLs', NARINFO + 'URL: nar/x\n', /2 "URL" lines/],
    ['a line without a colon', NARINFO + 'garbage\n', /not "Key: value"/],
  ])('refuses %s', (_, text, message) => {
    expect(() => parseNarInfo(text, PATH)).toThrow(NarInfoError);
    expect(() => parseNarInfo(text, PATH)).toThrow(message);
  });

  it('recognises HTML pages and reads nix-cache-info', () => {
    expect(looksLikeHtml('<!DOCTYPE html><html>')).toBe(true);
    expect(looksLikeHtml('StoreDir: /nix/store', 'text/html; charset=utf-8')).toBe(true);
    expect(looksLikeHtml(NARINFO, 'text/x-nix-narinfo')).toBe(false);
    expect(parseCacheInfo('StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n')).toEqual({
      storeDir: '/nix/store',
      priority: 40,
    });
  });

  it('refuses keys that are not public ed25519 keys', () => {
    expect(parsePublicKey('nokey')).toMatch(/not of the form/);
    expect(parsePublicKey('name:AAAA')).toMatch(/not 32 bytes/);
  });

  it('keeps NAR URLs inside their cache', () => {
    expect(resolveNarUrl('https://c.example/sub', 'nar/abc.nar.xz')).toBe('https://c.example/sub/nar/abc.nar.xz');
    expect(resolveNarUrl('https://c.example', 'https://c.example/nar/x')).toBe('https://c.example/nar/x');
    expect(resolveNarUrl('https://c.example', 'https://evil.example/nar/x')).toEqual({
      reason: 'which points outside the cache',
    });
    expect(resolveNarUrl('https://c.example', '../x')).toHaveProperty('reason');
    expect(resolveNarUrl('https://c.example', '/etc/passwd')).toHaveProperty('reason');
  });
});
