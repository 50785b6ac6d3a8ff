import { mkdirSync, readFileSync, writeFileSync, chmodSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BuildInput } from './engine-contract.ts';
import type { TreeEntry } from './image-tree.ts';
import { nodeHost } from './io/host-tree.ts';
import { parseRegistration } from './manifests.ts';
import { EXPORT_MAGIC } from './nix-export.ts';
import { formatRegistration } from './registration.ts';
import { REGISTRATION_PATH, resolveInputs } from './resolve-inputs.ts';
import { concat, fileNar, run, runText, tempDir, u64, wire } from './test-support/nar-bytes.ts';

const { dir, cleanup } = tempDir('dis-resolve-');
afterAll(cleanup);

// A private store with a file path, a directory path (exec file, symlink) and a path with references.
const S = `local?root=${join(dir, 'root')}`;
mkdirSync(join(dir, 'in', 'pkg', 'bin'), { recursive: true });
writeFileSync(join(dir, 'in', 'data'), 'data\n');
writeFileSync(join(dir, 'in', 'pkg', 'bin', 'tool'), '#!/bin/sh\n');
chmodSync(join(dir, 'in', 'pkg', 'bin', 'tool'), 0o755);
symlinkSync('bin/tool', join(dir, 'in', 'pkg', 'link'));
const P1 = runText('nix-store', ['--store', S, '--add', join(dir, 'in', 'data')]).trim();
const P2 = runText('nix-store', ['--store', S, '--add', join(dir, 'in', 'pkg')]).trim();
const P3 = '/nix/store/0123456789abcdfghijklmnpqrsvwxyz-app';
run(
  'nix-store',
  ['--store', S, '--import'],
  concat([u64(1), fileNar(`${P1} ${P2}`), u64(EXPORT_MAGIC), wire(P3, { u64: 2 }, P1, P2, '', { u64: 0 }), u64(0)]),
);
const exportAll = run('nix-store', ['--store', S, '--export', P1, P2, P3]);
const dumpDb = runText('nix-store', ['--store', S, '--dump-db']);
const storeDir = join(dir, 'root', 'nix', 'store');

const blobInput = (name: string, bytes: Uint8Array | string) => ({
  name,
  blob: new Blob([typeof bytes === 'string' ? bytes : (bytes as BlobPart)]),
});
const closure = (name: string, bytes: Uint8Array | string): BuildInput => ({
  kind: 'closure',
  file: blobInput(name, bytes),
});
const codes = (r: { problems: { code: string }[] }) => r.problems.map((p) => p.code);
const byPath = (entries: TreeEntry[]) => new Map(entries.map((e) => [e.path, e]));
const nativeHash = (p: string) => runText('nix-store', ['--store', S, '--query', '--hash', p]).trim();

describe('resolveInputs: closures', () => {
  it('places an export + registration under /nix/store with Nix modes and writes /nix-path-registration', async () => {
    const r = await resolveInputs([closure('closure.export', exportAll), closure('registration', dumpDb)]);
    expect(r.problems).toEqual([]);
    expect(r.closure.map((i) => i.path)).toEqual([P3, P2, P1].sort());
    for (const i of r.closure)
      expect(i).toMatchObject({ contents: 'present', hashChecked: true, narHash: nativeHash(i.path) });
    const m = byPath(r.entries);
    expect(m.get('/nix')).toMatchObject({ type: 'directory', mode: 0o755 });
    expect(m.get('/nix/store')).toMatchObject({ type: 'directory', mode: 0o755 });
    expect(m.get(P1)).toMatchObject({ type: 'file', mode: 0o444, uid: 0, gid: 0, mtime: 1 });
    expect(m.get(P2)).toMatchObject({ type: 'directory', mode: 0o555 });
    expect(m.get(`${P2}/bin/tool`)).toMatchObject({ type: 'file', mode: 0o555 });
    expect(m.get(`${P2}/link`)).toMatchObject({ type: 'symlink', target: 'bin/tool' });
    const reg = m.get(REGISTRATION_PATH)!;
    expect(reg).toMatchObject({ type: 'file', mode: 0o644 });
    const text = new TextDecoder().decode((reg.source as { bytes: Uint8Array }).bytes);
    expect(text).toBe(formatRegistration(r.closure));
    // Native load-db accepts it and ends up with the original store's validity data (minus derivers).
    const fresh = `local?root=${join(dir, 'fresh')}`;
    run('nix-store', ['--store', fresh, '--load-db'], new TextEncoder().encode(text));
    expect(runText('nix-store', ['--store', fresh, '--dump-db'])).toBe(dumpDb);
  });

  it('is independent of input order', async () => {
    const inputs: BuildInput[] = [
      closure('closure.export', exportAll),
      closure('registration', dumpDb),
      {
        kind: 'tree',
        at: '/etc',
        entries: [{ path: '/motd', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 3, size: 0, origin: 'etc' }],
      },
    ];
    const a = await resolveInputs(inputs);
    const b = await resolveInputs([...inputs].reverse());
    expect(b).toEqual(a);
    expect(byPath(a.entries).has('/etc/motd')).toBe(true);
  });

  it('orders two trees of the same name by their contents, whatever order they come in', async () => {
    // Two folders both called `root` at the same place: the first in the canonical order
    // gives /etc its metadata, the same one for either order given.
    const tree = (mode: number, file: string): BuildInput => ({
      kind: 'tree',
      at: '/',
      entries: [
        { path: '/etc', type: 'directory', mode, uid: 0, gid: 0, mtime: 1, size: 0, origin: 'root' },
        { path: `/etc/${file}`, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1, size: 0, origin: 'root' },
      ],
    });
    const one = tree(0o755, 'a');
    const two = tree(0o700, 'b');
    const a = await resolveInputs([one, two]);
    const b = await resolveInputs([two, one]);
    expect(b).toEqual(a);
    expect(byPath(a.entries).has('/etc/a')).toBe(true);
    expect(byPath(a.entries).has('/etc/b')).toBe(true);
    // A lone tree is not digested to be ordered, and comes out as it went in.
    const alone = await resolveInputs([tree(0o711, 'c')]);
    expect(byPath(alone.entries).get('/etc')).toMatchObject({ mode: 0o711 });
  });

  it('computes hashes for a store folder (Node) like nix-store does', async () => {
    const r = await resolveInputs([{ kind: 'store-dir', hostPath: storeDir }, closure('registration', dumpDb)], {
      host: nodeHost,
    });
    expect(codes(r)).toEqual([]);
    for (const i of r.closure) expect(i).toMatchObject({ narHash: nativeHash(i.path), hashChecked: true });
    expect(byPath(r.entries).get(`${P2}/bin/tool`)).toMatchObject({ mode: 0o555, source: { kind: 'host-file' } });
  });

  it('reads a tar of nix/store and hashes it', async () => {
    const tar = run('tar', [
      '-C',
      join(dir, 'root'),
      '-cf',
      '-',
      `nix/store/${P1.slice(11)}`,
      `nix/store/${P2.slice(11)}`,
    ]);
    const r = await resolveInputs([
      closure('closure.tar', tar),
      closure(
        'path-info.json',
        runText('nix', ['--extra-experimental-features', 'nix-command', 'path-info', '--store', S, '--json', P1, P2]),
      ),
    ]);
    expect(codes(r)).toEqual([]);
    expect(r.closure.map((i) => [i.path, i.narHash])).toEqual([P2, P1].sort().map((p) => [p, nativeHash(p)]));
  });

  it('takes store paths from any input (an archive at /, a folder in /nix/store) and hash-checks them', async () => {
    const tar = run('tar', [
      '-C',
      join(dir, 'root'),
      '-cf',
      '-',
      `nix/store/${P1.slice(11)}`,
      `nix/store/${P2.slice(11)}`,
    ]);
    const p3 = run('nix-store', ['--store', S, '--export', P3]);
    const asArchive: BuildInput = { kind: 'archive', at: '/', file: blobInput('store.tar', tar) };
    const r = await resolveInputs([asArchive, closure('p3.export', p3), closure('registration', dumpDb)]);
    expect(codes(r)).toEqual([]);
    for (const i of r.closure) expect(i).toMatchObject({ contents: 'present', hashChecked: true });
    expect(byPath(r.entries).get(`${P2}/bin/tool`)).toMatchObject({ mode: 0o555 });

    // A dropped folder: entries under /nix/store, with a changed byte: the hash check says so.
    const tampered: BuildInput = {
      kind: 'tree',
      at: '/',
      entries: [
        {
          path: P1,
          type: 'file',
          mode: 0o644,
          uid: 0,
          gid: 0,
          mtime: 5,
          size: 5,
          origin: 'store folder',
          source: { kind: 'bytes', bytes: new TextEncoder().encode('DATA\n') },
        },
      ],
    };
    const t = await resolveInputs([tampered, closure('registration', dumpDb)]);
    expect(t.problems.find((p) => p.path === P1)).toMatchObject({
      code: 'closure-hash-mismatch',
      input: 'store folder',
    });
    // Without a manifest, an archive's /nix/store stays plain files.
    const plainOnly = await resolveInputs([asArchive]);
    expect(codes(plainOnly)).toEqual([]);
    expect(plainOnly.closure).toEqual([]);
  });

  it('names commands a person can type when contents are missing', async () => {
    const r = await resolveInputs([closure('registration', dumpDb)]);
    const hint = r.problems.find((p) => p.code === 'closure-missing-contents')!.hint;
    expect(hint).toContain('nix-store --export $(nix-store -qR ./result) > closure.export');
    expect(hint).not.toContain('--store');
  });

  it('reads <hash>-<name>.nar files', async () => {
    const nar = run('nix-store', ['--dump', join(storeDir, P2.slice(11))]);
    const r = await resolveInputs([closure(`${P2.slice(11)}.nar`, nar)]);
    expect(codes(r)).toEqual(['closure-contents-unlisted']);
    expect(r.problems[0]).toMatchObject({ severity: 'warning', path: P2 });
    expect(r.closure[0]).toMatchObject({ path: P2, narHash: nativeHash(P2), references: [] });
    const bad = await resolveInputs([closure('whatever.nar', nar)]);
    expect(codes(bad)).toEqual(['closure-bad-store-path']);
  });

  it('reports manifest paths without contents and references outside the closure', async () => {
    const onlyP3 = run('nix-store', ['--store', S, '--export', P3]);
    const r = await resolveInputs([closure('p3.export', onlyP3)]);
    expect(codes(r)).toEqual(['closure-reference-missing', 'closure-reference-missing']);
    expect(r.problems[0]).toMatchObject({ severity: 'error', path: P3 });
    const m = await resolveInputs([closure('p3.export', onlyP3), closure('registration', dumpDb)]);
    expect(codes(m).filter((c) => c === 'closure-missing-contents')).toHaveLength(2);
    expect(m.closure.find((i) => i.path === P1)).toMatchObject({ contents: 'missing' });
  });

  it('reports a NAR hash differing from the manifest', async () => {
    const reg = parseRegistration(dumpDb, 'r').infos.map((i) =>
      i.path === P1 ? { ...i, narHash: 'sha256:' + '1'.repeat(52) } : i,
    );
    const r = await resolveInputs([
      closure('closure.export', exportAll),
      closure('registration', formatRegistration(reg)),
    ]);
    expect(codes(r)).toEqual(['closure-hash-mismatch']);
    expect(r.problems[0]).toMatchObject({ severity: 'error', path: P1 });
  });

  it('reports malformed manifests, unknown files and malformed store paths as problems', async () => {
    const r = await resolveInputs([
      closure('bad-reg', `${P1}\nsha256:xyz\n1\n\n0\n`),
      closure('junk.bin', 'hello'),
      closure('paths', '/nix/store/tooshort-x\n'),
    ]);
    expect(codes(r).sort()).toEqual(['closure-unrecognised', 'hash-malformed', 'store-path-malformed']);
    expect(r.problems.every((p) => p.severity === 'error' && p.input)).toBe(true);
  });

  it('reports store paths claimed twice with different contents', async () => {
    const a = fileNar('one');
    const b = fileNar('two');
    const base = P1.slice(11);
    const r = await resolveInputs([
      closure(`${base}.nar`, a),
      { kind: 'closure', file: { name: `x/${base}.nar`, blob: new Blob([b as BlobPart]) } },
    ]);
    expect(codes(r)).toContain('path-conflict');
  });
});

describe('resolveInputs: trees and archives', () => {
  it('extracts archives at `at`, refuses escaping names, reports conflicts with both origins', async () => {
    const d = join(dir, 'arch');
    mkdirSync(join(d, 'etc'), { recursive: true });
    writeFileSync(join(d, 'etc', 'hosts'), 'h');
    const good = run('tar', ['-C', d, '-cf', '-', '.']);
    const evil = run('tar', ['-C', d, '-P', '--transform', 's,^./etc/hosts,../../escape,', '-cf', '-', './etc/hosts']);
    const tree: BuildInput = {
      kind: 'tree',
      at: '/srv',
      entries: [
        {
          path: '/etc/hosts',
          type: 'file',
          mode: 0o600,
          uid: 0,
          gid: 0,
          mtime: 1,
          size: 1,
          origin: 'folder',
          source: { kind: 'bytes', bytes: new Uint8Array([1]) },
        },
      ],
    };
    const r = await resolveInputs([
      { kind: 'archive', at: '/srv', file: blobInput('good.tar', good) },
      { kind: 'archive', at: '/srv', file: blobInput('evil.tar', evil) },
      tree,
    ]);
    expect(codes(r).sort()).toEqual(['path-conflict', 'path-escapes']);
    const conflict = r.problems.find((p) => p.code === 'path-conflict')!;
    expect(conflict.path).toBe('/srv/etc/hosts');
    expect(conflict.message).toContain('good.tar');
    expect(conflict.message).toContain('folder');
    expect(r.problems.find((p) => p.code === 'path-escapes')).toMatchObject({ input: 'evil.tar', severity: 'error' });
    expect(byPath(r.entries).get('/srv/etc/hosts')).toBeDefined();
    expect(r.closure).toEqual([]);
    expect(byPath(r.entries).has(REGISTRATION_PATH)).toBe(false);
  });

  it('reports a broken archive as a problem naming it', async () => {
    const r = await resolveInputs([{ kind: 'archive', at: '/', file: blobInput('broken.tar', 'not a tar at all') }]);
    expect(r.problems).toMatchObject([{ code: 'tar-not-tar', input: 'broken.tar', severity: 'error' }]);
  });

  it('reads a host tar file in place (Node)', async () => {
    const p = join(dir, 'host.tar');
    writeFileSync(p, run('tar', ['-C', join(dir, 'in'), '-cf', '-', 'data']));
    const r = await resolveInputs([{ kind: 'archive', at: '/x', file: { name: 'host.tar', hostPath: p } }], {
      host: nodeHost,
    });
    expect(byPath(r.entries).get('/x/data')!.source).toMatchObject({ kind: 'host-file', path: p, size: 5 });
    expect(readFileSync(p).length).toBeGreaterThan(0);
  });
});
