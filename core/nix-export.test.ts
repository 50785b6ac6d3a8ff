import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExportError, InputError, NarError } from './errors.ts';
import type { StorePathInfo } from './image-tree.ts';
import { BytesReader } from './io/random-access-reader.ts';
import { parseRegistration, parsePathInfoJson } from './manifests.ts';
import { EXPORT_MAGIC, readExportStream } from './nix-export.ts';
import { formatRegistration } from './registration.ts';
import { concat, fileNar, run, runText, tempDir, u64, wire } from './test-support/nar-bytes.ts';

const { dir, cleanup } = tempDir('dis-export-');
afterAll(cleanup);

const store = (root: string) => `local?root=${root}`;
const S = store(join(dir, 'root'));
mkdirSync(join(dir, 'in', 'tree', 'sub'), { recursive: true });
writeFileSync(join(dir, 'in', 'file'), 'file contents\n');
writeFileSync(join(dir, 'in', 'tree', 'sub', 'x'), 'x');
const P1 = runText('nix-store', ['--store', S, '--add', join(dir, 'in', 'file')]).trim();
const P2 = runText('nix-store', ['--store', S, '--add', join(dir, 'in', 'tree')]).trim();
// A third path with references (to P1, P2 and itself) and a deriver, imported from a
// hand-built export: nix-store --import checks its NAR hash but not its name's hash.
const P3 = '/nix/store/0123456789abcdfghijklmnpqrsvwxyz-with-refs';
const DRV = '/nix/store/zyxwvsrqpnmlkjihgfdcba9876543210-with-refs.drv';
const handExport = concat([
  u64(1),
  fileNar(`${P1} ${P2}`),
  u64(EXPORT_MAGIC),
  wire(P3, { u64: 3 }, P1, P2, P3, DRV, { u64: 0 }),
  u64(0),
]);
run('nix-store', ['--store', S, '--import'], handExport);
const nativeExport = run('nix-store', ['--store', S, '--export', P1, P2, P3]);
const nativeDumpDb = runText('nix-store', ['--store', S, '--dump-db']);
const nativeJson = runText('nix', [
  '--extra-experimental-features',
  'nix-command',
  'path-info',
  '--store',
  S,
  '--json',
  '--recursive',
  P3,
]);

function native(path: string): StorePathInfo {
  const m = parseRegistration(nativeDumpDb, 'dump-db');
  return m.infos.find((i) => i.path === path)!;
}

describe('readExportStream on native nix-store --export', () => {
  it('reads every path with the hash, size, references and deriver Nix has', async () => {
    const paths = await readExportStream(new BytesReader(nativeExport, 'closure.export'));
    expect(paths.map((p) => p.info.path)).toEqual([P1, P2, P3]);
    for (const p of paths) {
      const n = native(p.info.path);
      expect(p.info.narHash).toBe(n.narHash);
      expect(p.info.narSize).toBe(n.narSize);
      expect(p.info.references).toEqual(n.references);
      expect(p.info.deriver).toBe(n.deriver);
      expect(p.info).toMatchObject({ contents: 'present', hashChecked: true });
    }
    expect(paths[2].info.references).toEqual([P1, P2, P3].sort());
    expect(paths[2].info.deriver).toBe(DRV);
    expect(paths[1].entries.map((e) => e.path)).toEqual(['', 'sub', 'sub/x']);
    // The hash of the NAR as nix-store --query --hash reports it.
    expect(paths[0].info.narHash).toBe(runText('nix-store', ['--store', S, '--query', '--hash', P1]).trim());
  });

  it('reads a gzip-compressed export', async () => {
    const paths = await readExportStream(new BytesReader(run('gzip', ['-c', '-n'], nativeExport), 'closure.export.gz'));
    expect(paths).toHaveLength(3);
  });

  it('reads the empty export and a legacy signature', async () => {
    expect(await readExportStream(new BytesReader(u64(0), 'e'))).toEqual([]);
    const signed = concat([
      u64(1),
      fileNar('a'),
      u64(EXPORT_MAGIC),
      wire(P1, { u64: 0 }, '', { u64: 1 }, 'sig'),
      u64(0),
    ]);
    expect((await readExportStream(new BytesReader(signed, 's')))[0].info.path).toBe(P1);
  });

  const bad: [string, Uint8Array, string][] = [
    ['empty file', new Uint8Array(0), 'export-truncated'],
    ['bad marker', u64(2), 'export-malformed'],
    [
      'bad magic',
      concat([u64(1), fileNar('a'), u64(1234), wire(P1, { u64: 0 }, '', { u64: 0 }), u64(0)]),
      'export-malformed',
    ],
    [
      'bad path',
      concat([u64(1), fileNar('a'), u64(EXPORT_MAGIC), wire('/nix/store/short', { u64: 0 }, '', { u64: 0 }), u64(0)]),
      'store-path-malformed',
    ],
    [
      'bad reference',
      concat([u64(1), fileNar('a'), u64(EXPORT_MAGIC), wire(P1, { u64: 1 }, 'nope', '', { u64: 0 }), u64(0)]),
      'store-path-malformed',
    ],
    [
      'bad deriver',
      concat([u64(1), fileNar('a'), u64(EXPORT_MAGIC), wire(P1, { u64: 0 }, '/tmp/x', { u64: 0 }), u64(0)]),
      'store-path-malformed',
    ],
    [
      'bad signature flag',
      concat([u64(1), fileNar('a'), u64(EXPORT_MAGIC), wire(P1, { u64: 0 }, '', { u64: 7 }), u64(0)]),
      'export-malformed',
    ],
    [
      'missing end marker',
      concat([u64(1), fileNar('a'), u64(EXPORT_MAGIC), wire(P1, { u64: 0 }, '', { u64: 0 })]),
      'export-truncated',
    ],
    ['trailing data', concat([u64(0), u64(0)]), 'export-trailing-data'],
    [
      'too many references',
      concat([u64(1), fileNar('a'), u64(EXPORT_MAGIC), wire(P1, { u64: 2_000_000 })]),
      'export-malformed',
    ],
  ];
  it.each(bad)('refuses %s with ExportError', async (_n, bytes, code) => {
    const err = await readExportStream(new BytesReader(bytes, 'bad.export')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExportError);
    expect((err as ExportError).code).toBe(code);
    expect((err as ExportError).toProblem().input).toBe('bad.export');
  });

  it('refuses a corrupt NAR inside with NarError', async () => {
    const err = await readExportStream(
      new BytesReader(concat([u64(1), wire('nix-archive-1', '(', 'type', 'socket', ')')]), 'x'),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NarError);
    expect(err).toBeInstanceOf(InputError);
  });
});

describe('registration', () => {
  it("writes closureInfo's exact format", () => {
    const infos: StorePathInfo[] = [
      {
        path: P3,
        narHash: 'sha256:' + 'a'.repeat(52),
        narSize: 120,
        references: [P3, P1],
        deriver: DRV,
        contents: 'present',
        hashChecked: true,
      },
      {
        path: P1,
        narHash: 'sha256:' + 'b'.repeat(52),
        narSize: 8,
        references: [],
        deriver: '',
        contents: 'present',
        hashChecked: true,
      },
    ];
    const [first, second] = [P1, P3].sort();
    expect(first).toBe(P3);
    expect(second).toBe(P1);
    expect(formatRegistration(infos)).toBe(
      `${P3}\nsha256:${'a'.repeat(52)}\n120\n\n2\n${[P1, P3].sort().join('\n')}\n${P1}\nsha256:${'b'.repeat(52)}\n8\n\n0\n`,
    );
    expect(formatRegistration([])).toBe('');
  });

  it('round-trips through native nix-store --load-db / --dump-db', async () => {
    const infos = (await readExportStream(new BytesReader(nativeExport, 'closure.export'))).map((p) => p.info);
    for (const includeDeriver of [false, true]) {
      const fresh = store(join(dir, `fresh-${includeDeriver}`));
      run(
        'nix-store',
        ['--store', fresh, '--load-db'],
        new TextEncoder().encode(formatRegistration(infos, { includeDeriver })),
      );
      const dumped = runText('nix-store', ['--store', fresh, '--dump-db']);
      const want = includeDeriver ? nativeDumpDb : nativeDumpDb.replace(DRV + '\n', '\n');
      expect(dumped).toBe(want);
      // What was loaded parses back to the same infos.
      const back = parseRegistration(dumped, 'dump-db').infos;
      expect(back.map((i) => [i.path, i.narHash, i.narSize, i.references])).toEqual(
        infos.map((i) => [i.path, i.narHash, i.narSize, i.references]).sort(),
      );
    }
  });

  it('parses native path-info JSON (SRI hashes) to the same infos', () => {
    const fromJson = parsePathInfoJson(nativeJson, 'path-info.json');
    const fromDb = parseRegistration(nativeDumpDb, 'dump-db');
    expect(fromJson.infos.map((i) => [i.path, i.narHash, i.narSize, i.references, i.deriver])).toEqual(
      fromDb.infos.map((i) => [i.path, i.narHash, i.narSize, i.references, i.deriver]),
    );
  });
});
