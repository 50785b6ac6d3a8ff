/**
 * Fuzzing every parser with seeded random and mutated inputs: each run must end in success
 * or a typed `InputError`, never another exception or a hang.
 */
import { describe, expect, it } from 'vitest';
import { InputError } from './errors.ts';
import { BytesReader } from './io/random-access-reader.ts';
import { parseManifest, sniffClosureBytes } from './manifests.ts';
import { parseNarFile } from './nar.ts';
import { EXPORT_MAGIC, readExportStream } from './nix-export.ts';
import { readTarArchive } from './tar.ts';
import { concat, fileNar, prng, run, u64, wire } from './test-support/nar-bytes.ts';

type Rng = () => number;
const int = (r: Rng, n: number) => Math.floor(r() * n);

function mutate(r: Rng, input: Uint8Array): Uint8Array {
  let b: Uint8Array = input.slice();
  const ops = 1 + int(r, 4);
  for (let k = 0; k < ops; k++) {
    const op = int(r, 8);
    const at = b.length ? int(r, b.length) : 0;
    switch (op) {
      case 0: // bit flip
        if (b.length) b[at] ^= 1 << int(r, 8);
        break;
      case 1: // random byte
        if (b.length) b[at] = int(r, 256);
        break;
      case 2: // truncate
        b = b.subarray(0, at);
        break;
      case 3: // insert random bytes
        b = concat([b.subarray(0, at), Uint8Array.from({ length: 1 + int(r, 16) }, () => int(r, 256)), b.subarray(at)]);
        break;
      case 4: // duplicate a range
        b = concat([b.subarray(0, at), b.subarray(at, at + int(r, 64)), b.subarray(at)]);
        break;
      case 5: {
        // overwrite an aligned u64 with an interesting value (lengths, counts)
        const p = at - (at % 8);
        const vals = [0, 1, 7, 8, 13, 255, 512, 0xffffffff, 2 ** 40, 2 ** 53];
        if (p + 8 <= b.length) b.set(u64(vals[int(r, vals.length)]).subarray(0, 8), p);
        break;
      }
      case 6: // delete a range
        b = concat([b.subarray(0, at), b.subarray(at + 1 + int(r, 32))]);
        break;
      default: // ascii digit / space / NUL (hits tar octal fields)
        if (b.length) b[at] = [0x30, 0x37, 0x38, 0x20, 0, 0x80, 0xff][int(r, 7)];
    }
  }
  return b;
}

function random(r: Rng, max: number): Uint8Array {
  return Uint8Array.from({ length: int(r, max) }, () => int(r, 256));
}

async function expectTyped(p: Promise<unknown>): Promise<'ok' | 'error'> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (!(e instanceof InputError)) throw new Error(`untyped failure: ${e instanceof Error ? e.stack : String(e)}`);
    expect(e.code).toMatch(/^[a-z0-9-]+$/);
    expect(e.message.length).toBeGreaterThan(0);
    expect(e.hint.length).toBeGreaterThan(0);
    return 'error';
  }
}

const P1 = '/nix/store/8r0fzf88xd7nw88yap9khr3lfwywfqxi-f1';
const P2 = '/nix/store/5pgjvw6x73z1436kd5rkjiqzy7by3ba7-src';
const dirNar = wire(
  'nix-archive-1',
  '(',
  'type',
  'directory',
  'entry',
  '(',
  'name',
  'a',
  'node',
  '(',
  'type',
  'regular',
  'executable',
  '',
  'contents',
  'hello',
  ')',
  ')',
  'entry',
  '(',
  'name',
  'b',
  'node',
  '(',
  'type',
  'symlink',
  'target',
  'a',
  ')',
  ')',
  'entry',
  '(',
  'name',
  'c',
  'node',
  '(',
  'type',
  'directory',
  ')',
  ')',
  ')',
);
const exportSeed = concat([
  u64(1),
  dirNar,
  u64(EXPORT_MAGIC),
  wire(P1, { u64: 1 }, P2, '', { u64: 0 }),
  u64(1),
  fileNar('x'),
  u64(EXPORT_MAGIC),
  wire(P2, { u64: 0 }, '', { u64: 0 }),
  u64(0),
]);

function tarSeeds(): Uint8Array[] {
  const script = `set -e; d=$(mktemp -d); cd $d; mkdir -p a/b; echo hi > a/f; ln -s f a/l; ln a/f a/h; printf '%0300d' 0 > a/b/$(printf 'x%.0s' $(seq 1 120));`;
  const out: Uint8Array[] = [];
  for (const fmt of ['ustar', 'pax', 'gnu', 'v7']) {
    out.push(
      run('bash', [
        '-c',
        `${script} tar --format=${fmt} -cf - a 2>/dev/null || tar --format=${fmt} -cf - a/f a/l a/h; rm -rf $d`,
      ]),
    );
  }
  return out;
}

const ITER = 3000;

describe('fuzz', () => {
  it(`NAR: ${ITER} mutated + random inputs end in success or NarError`, async () => {
    const r = prng(0xa11ce);
    const seeds = [dirNar, fileNar('abc', true), wire('nix-archive-1', '(', 'type', 'symlink', 'target', '/x', ')')];
    const seen = { ok: 0, error: 0 };
    for (let i = 0; i < ITER; i++) {
      const input = i % 10 === 0 ? random(r, 300) : mutate(r, seeds[i % seeds.length]);
      seen[await expectTyped(parseNarFile(new BytesReader(input, 'fuzz.nar')))]++;
    }
    expect(seen.error).toBeGreaterThan(ITER / 2);
    expect(seen.ok).toBeGreaterThan(0);
  });

  it(`export: ${ITER} mutated + random inputs end in success or a typed error`, async () => {
    const r = prng(0xe4);
    const seen = { ok: 0, error: 0 };
    for (let i = 0; i < ITER; i++) {
      const input = i % 10 === 0 ? random(r, 300) : mutate(r, exportSeed);
      seen[await expectTyped(readExportStream(new BytesReader(input, 'fuzz.export')))]++;
    }
    expect(seen.error).toBeGreaterThan(ITER / 2);
    expect(seen.ok).toBeGreaterThan(0);
  });

  it(`tar: ${ITER * 2} mutated + random inputs end in success or TarError`, async () => {
    const r = prng(0x7a7);
    const seeds = tarSeeds();
    const seen = { ok: 0, error: 0 };
    for (let i = 0; i < ITER * 2; i++) {
      const input = i % 10 === 0 ? random(r, 2000) : mutate(r, seeds[i % seeds.length]);
      seen[await expectTyped(readTarArchive(new BytesReader(input, 'fuzz.tar')))]++;
    }
    expect(seen.error).toBeGreaterThan(100);
    expect(seen.ok).toBeGreaterThan(100);
  });

  it('tar.gz: 300 mutated compressed inputs end in success or a typed error', async () => {
    const r = prng(0x6e);
    const seeds = tarSeeds().map((t) => run('gzip', ['-c', '-n'], t));
    for (let i = 0; i < 300; i++) {
      const input = mutate(r, seeds[i % seeds.length]);
      await expectTyped(readTarArchive(new BytesReader(input, 'fuzz.tar.gz'), { maxExpandedBytes: 1 << 20 }));
    }
  });

  it(`manifests: ${ITER * 2} mutated texts end in success or ManifestError`, async () => {
    const r = prng(0x3a);
    const seeds = [
      `${P2}\nsha256:0xhszyki3g0vd0bwa73gv3rfsr87iiicggx16rg3s33lmjcjyk6p\n872\n\n2\n${P1}\n${P2}\n${P1}\nd74c2f99ac740c3d5e36a1bfc7628c0765edf2d86f1cc517681bbc11a7ff1a76\n120\n\n0\n`,
      `${P1}\n${P2}\n`,
      JSON.stringify([
        {
          path: P1,
          narHash: 'sha256-10wvmax0DD1eNqG/x2KMB2Xt8thvHMUXaBu8Eaf/GnY=',
          narSize: 1,
          references: [P2],
          deriver: null,
        },
      ]),
      JSON.stringify({
        [P1]: {
          narHash: 'sha256:0xhszyki3g0vd0bwa73gv3rfsr87iiicggx16rg3s33lmjcjyk6p',
          narSize: 1,
          references: [P2.slice(11)],
        },
      }),
    ].map((s) => new TextEncoder().encode(s));
    const dec = new TextDecoder();
    const seen = { ok: 0, error: 0 };
    for (let i = 0; i < ITER * 2; i++) {
      const bytes = i % 10 === 0 ? random(r, 200) : mutate(r, seeds[i % seeds.length]);
      sniffClosureBytes(bytes);
      seen[await expectTyped(Promise.resolve().then(() => parseManifest(dec.decode(bytes), 'fuzz')))]++;
    }
    expect(seen.error).toBeGreaterThan(100);
    expect(seen.ok).toBeGreaterThan(100);
  });
});
