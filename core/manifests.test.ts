import { describe, expect, it } from 'vitest';
import { ManifestError } from './errors.ts';
import {
  parseManifest,
  parsePathInfoJson,
  parseRegistration,
  parseStorePaths,
  sniffClosureBytes,
  sniffManifestText,
} from './manifests.ts';
import { concat, fileNar, u64 } from './test-support/nar-bytes.ts';

const A = '/nix/store/8r0fzf88xd7nw88yap9khr3lfwywfqxi-f1';
const B = '/nix/store/5pgjvw6x73z1436kd5rkjiqzy7by3ba7-src';
const D = '/nix/store/zyxwvsrqpnmlkjihgfdcba9876543210-b.drv';
const HEX = 'd74c2f99ac740c3d5e36a1bfc7628c0765edf2d86f1cc517681bbc11a7ff1a76';
const B32 = 'sha256:0xhszyki3g0vd0bwa73gv3rfsr87iiicggx16rg3s33lmjcjyk6p';
const SRI = 'sha256-10wvmax0DD1eNqG/x2KMB2Xt8thvHMUXaBu8Eaf/GnY=';

const closureInfoRegistration = `${B}\n${B32}\n872\n\n2\n${A}\n${B}\n${A}\n${B32}\n120\n\n0\n`;

describe('manifests', () => {
  it('parses closureInfo registration (base32) and dump-db (base16) alike', () => {
    const m = parseRegistration(closureInfoRegistration, 'registration');
    expect(m.kind).toBe('registration');
    expect(m.infos).toEqual(
      [
        {
          path: B,
          narHash: B32,
          narSize: 872,
          references: [B, A].sort(),
          deriver: '',
          contents: 'missing',
          hashChecked: false,
        },
        { path: A, narHash: B32, narSize: 120, references: [], deriver: '', contents: 'missing', hashChecked: false },
      ].sort((x, y) => (x.path < y.path ? -1 : 1)),
    );
    const db = parseRegistration(`${A}\n${HEX}\n120\n${D}\n0\n`, 'db');
    expect(db.infos[0]).toMatchObject({ narHash: B32, deriver: D });
  });

  it('parses --register-validity input without hashes', () => {
    const m = parseRegistration(`${A}\n\n1\n${B}\n${B}\n${D}\n0\n`, 'r');
    expect(m.infos.find((i) => i.path === A)).toMatchObject({ narHash: '', narSize: 0, references: [B] });
    expect(m.infos.find((i) => i.path === B)).toMatchObject({ deriver: D, references: [] });
  });

  it('parses store-paths', () => {
    const m = parseStorePaths(`${B}\n${A}\n\n`, 'store-paths');
    expect(m.infos.map((i) => i.path)).toEqual([B, A].sort());
    expect(m.hasReferences).toBe(false);
  });

  it('parses path-info JSON: array (full refs) and object form (base-name refs)', () => {
    const arr = parsePathInfoJson(
      JSON.stringify([{ path: A, narHash: SRI, narSize: 120, references: [B], deriver: D, registrationTime: 1 }]),
      'a.json',
    );
    expect(arr.infos[0]).toMatchObject({ path: A, narHash: B32, narSize: 120, references: [B], deriver: D });
    const obj = parsePathInfoJson(
      JSON.stringify({
        [A]: { narHash: HEX, narSize: 120, references: [B.slice(11)], deriver: null },
        [B]: { narHash: B32, narSize: 872, references: [] },
      }),
      'o.json',
    );
    expect(obj.infos.find((i) => i.path === A)).toMatchObject({ references: [B], deriver: '' });
    expect(obj.kind).toBe('path-info-json');
  });

  it('sniffs formats', () => {
    expect(sniffManifestText(closureInfoRegistration)).toBe('registration');
    expect(sniffManifestText(`${A}\n${B}\n`)).toBe('store-paths');
    expect(sniffManifestText(`${A}\n`)).toBe('store-paths');
    expect(sniffManifestText(`${A}\n${D}\n0\n`)).toBe('registration');
    expect(sniffManifestText(' [{"path":1}]')).toBe('path-info-json');
    expect(sniffManifestText('hello')).toBeNull();
    expect(sniffClosureBytes(fileNar('x'))).toBe('nar');
    expect(sniffClosureBytes(concat([u64(1), fileNar('x')]))).toBe('export');
    expect(sniffClosureBytes(new TextEncoder().encode(closureInfoRegistration))).toBe('registration');
    expect(sniffClosureBytes(new Uint8Array(600))).toBe('unknown');
  });

  const bad: [string, string, string][] = [
    ['bad path', `/nix/store/xyz\n`, 'store-path-malformed'],
    ['truncated record', `${A}\n${B32}\n120\n\n2\n${B}\n`, 'manifest-truncated'],
    ['non-numeric size', `${A}\n${B32}\nlots\n\n0\n`, 'manifest-malformed'],
    ['bad reference', `${A}\n${B32}\n1\n\n1\n/etc/passwd\n`, 'store-path-malformed'],
    ['conflicting duplicate', `${A}\n${B32}\n1\n\n0\n${A}\n${B32}\n2\n\n0\n`, 'manifest-duplicate'],
    ['bad json', `[{"path": `, 'manifest-malformed'],
    ['json null entry', JSON.stringify({ [A]: null }), 'manifest-invalid-path'],
    ['json bad hash', JSON.stringify([{ path: A, narHash: 'md5:00' }]), 'hash-malformed'],
    ['json bad refs', JSON.stringify([{ path: A, references: 'x' }]), 'manifest-malformed'],
    ['json scalar', '{', 'manifest-malformed'],
    ['not a manifest', 'hello world', 'closure-unrecognised'],
  ];
  it.each(bad)('refuses %s with ManifestError', (_n, text, code) => {
    let err: unknown;
    try {
      parseManifest(text, 'm');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ManifestError);
    expect((err as ManifestError).code).toBe(code);
    expect((err as ManifestError).toProblem()).toMatchObject({ input: 'm', severity: 'error' });
  });
});
