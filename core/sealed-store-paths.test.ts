/**
 * Store paths whose contents come from a closure input are sealed: no other input may add,
 * replace or change anything inside them (or replace /nix, /nix/store or the registration),
 * unless byte-identical. Each refusal names both inputs and the path.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BuildInput } from './engine-contract.ts';
import type { TreeEntry } from './image-tree.ts';
import { nodeHost } from './io/host-tree.ts';
import { REGISTRATION_PATH, resolveInputs } from './resolve-inputs.ts';
import { run, runText, tempDir } from './test-support/nar-bytes.ts';

const { dir, cleanup } = tempDir('dis-sealed-');
afterAll(cleanup);

const S = `local?root=${join(dir, 'root')}`;
mkdirSync(join(dir, 'in', 'lib', 'bin'), { recursive: true });
writeFileSync(join(dir, 'in', 'lib', 'bin', 'tool'), '#!/bin/sh\necho tool\n');
chmodSync(join(dir, 'in', 'lib', 'bin', 'tool'), 0o755);
writeFileSync(join(dir, 'in', 'lib', 'data'), 'certified\n');
const LIB = runText('nix-store', ['--store', S, '--add', join(dir, 'in', 'lib')]).trim();
const exportLib = run('nix-store', ['--store', S, '--export', LIB]);
const regLib = runText('nix-store', ['--store', S, '--dump-db']);

const enc = new TextEncoder();
const closureInputs: BuildInput[] = [
  { kind: 'closure', file: { name: 'lib.closure', blob: new Blob([exportLib as BlobPart]) } },
  { kind: 'closure', file: { name: 'registration', blob: new Blob([regLib]) } },
];
const file = (path: string, text: string, mode = 0o644, origin = 'extra-files'): TreeEntry => {
  const bytes = enc.encode(text);
  return {
    path,
    type: 'file',
    mode,
    uid: 0,
    gid: 0,
    mtime: 1,
    size: bytes.length,
    source: { kind: 'bytes', bytes },
    origin,
  };
};
const tree = (entries: TreeEntry[], at = '/'): BuildInput => ({ kind: 'tree', at, entries });
const sealed = (r: Awaited<ReturnType<typeof resolveInputs>>) =>
  r.problems.filter((p) => p.code === 'store-path-sealed');

describe('sealed store paths', () => {
  it('the closure alone resolves cleanly (baseline)', async () => {
    const r = await resolveInputs(closureInputs);
    expect(r.problems).toEqual([]);
    expect(r.closure[0]).toMatchObject({ path: LIB, hashChecked: true });
  });

  it('refuses a file added inside a store path, naming both inputs and the path', async () => {
    const r = await resolveInputs([...closureInputs, tree([file(`${LIB}/evil.sh`, 'rm -rf /\n', 0o755)])]);
    const [p] = sealed(r);
    expect(p).toMatchObject({ severity: 'error', input: 'extra-files', path: `${LIB}/evil.sh` });
    expect(p.message).toContain('extra-files');
    expect(p.message).toContain('lib.closure');
    expect(p.message).toContain(`${LIB}/evil.sh`);
    expect(p.sealed).toEqual({ storePath: LIB, closureInput: 'lib.closure' });
    expect(r.entries.some((e) => e.path === `${LIB}/evil.sh`)).toBe(false);
  });

  it('refuses a different mode or owner on an entry of a store path', async () => {
    const tool = `${LIB}/bin/tool`;
    for (const e of [
      file(tool, '#!/bin/sh\necho tool\n', 0o755), // same bytes, writable mode
      { ...file(tool, '#!/bin/sh\necho tool\n', 0o555), uid: 1000 }, // same bytes, other owner
      {
        path: `${LIB}/bin`,
        type: 'directory',
        mode: 0o777,
        uid: 0,
        gid: 0,
        mtime: 1,
        size: 0,
        origin: 'extra-files',
      } as TreeEntry,
    ]) {
      const r = await resolveInputs([...closureInputs, tree([e])]);
      const [p] = sealed(r);
      expect(p?.path, JSON.stringify(e)).toBe(e.path);
      expect(p.message).toMatch(/mode or owner/);
      const kept = r.entries.find((x) => x.path === e.path)!;
      expect(kept.origin).toBe('lib.closure');
      expect(kept.mode === 0o555 && kept.uid === 0).toBe(true);
    }
  });

  it('refuses replacing a file of a store path with other bytes or another type', async () => {
    for (const e of [
      file(`${LIB}/data`, 'tampered\n', 0o444),
      file(`${LIB}/data`, 'certifieD\n', 0o444), // same size, one byte differs
      {
        path: `${LIB}/data`,
        type: 'symlink',
        mode: 0o777,
        uid: 0,
        gid: 0,
        mtime: 1,
        size: 11,
        target: '/etc/shadow',
        origin: 'extra-files',
      } as TreeEntry,
      {
        path: LIB,
        type: 'symlink',
        mode: 0o777,
        uid: 0,
        gid: 0,
        mtime: 1,
        size: 4,
        target: '/tmp',
        origin: 'extra-files',
      } as TreeEntry,
    ]) {
      const r = await resolveInputs([...closureInputs, tree([e])]);
      expect(
        sealed(r).map((p) => p.path),
        JSON.stringify(e.target ?? e.path),
      ).toEqual([e.path]);
      const kept = r.entries.find((x) => x.path === e.path)!;
      expect(kept.origin).toBe('lib.closure');
    }
  });

  it('accepts byte-identical entries silently and keeps the closure its own', async () => {
    const r = await resolveInputs([
      ...closureInputs,
      tree([
        file(`${LIB}/data`, 'certified\n', 0o444),
        file(`${LIB}/bin/tool`, '#!/bin/sh\necho tool\n', 0o555),
        {
          path: `${LIB}/bin`,
          type: 'directory',
          mode: 0o555,
          uid: 0,
          gid: 0,
          mtime: 5,
          size: 0,
          origin: 'extra-files',
        },
        file('/etc/motd', 'hello\n'),
      ]),
    ]);
    expect(r.problems).toEqual([]);
    expect(r.entries.find((e) => e.path === `${LIB}/data`)!.origin).toBe('lib.closure');
    expect(r.entries.find((e) => e.path === '/etc/motd')!.origin).toBe('extra-files');
  });

  it('refuses replacing /nix/store or the registration, and placing a store path through `at`', async () => {
    const r1 = await resolveInputs([
      ...closureInputs,
      tree([
        {
          path: '/nix/store',
          type: 'symlink',
          mode: 0o777,
          uid: 0,
          gid: 0,
          mtime: 1,
          size: 4,
          target: '/tmp',
          origin: 'extra-files',
        },
      ]),
    ]);
    expect(sealed(r1).map((p) => p.path)).toEqual(['/nix/store']);
    const r2 = await resolveInputs([...closureInputs, tree([file(REGISTRATION_PATH, 'fake\n')])]);
    expect(sealed(r2).map((p) => p.path)).toEqual([REGISTRATION_PATH]);
    expect(r2.entries.find((e) => e.path === REGISTRATION_PATH)!.origin).toBe('generated registration');
    // A folder placed at the store path itself.
    const r3 = await resolveInputs([...closureInputs, tree([file('/extra', 'x\n')], LIB)]);
    expect(sealed(r3).map((p) => p.path)).toEqual([`${LIB}/extra`]);
    // Directories /nix and /nix/store from another input merge as before.
    const r4 = await resolveInputs([
      ...closureInputs,
      tree([
        {
          path: '/nix/store',
          type: 'directory',
          mode: 0o1775,
          uid: 0,
          gid: 30000,
          mtime: 1,
          size: 0,
          origin: 'extra-files',
        },
      ]),
    ]);
    expect(sealed(r4)).toEqual([]);
  });

  it('refuses the same through a tar archive and a host folder', async () => {
    const base = LIB.slice('/nix/store/'.length);
    const src = join(dir, 'tarsrc');
    mkdirSync(join(src, 'nix', 'store', base), { recursive: true });
    writeFileSync(join(src, 'nix', 'store', base, 'evil.sh'), 'evil\n');
    const tarPath = join(dir, 'evil.tar');
    run('tar', ['--owner=0', '--group=0', '-C', src, '-cf', tarPath, 'nix/store/' + base + '/evil.sh']);
    const viaTar = await resolveInputs(
      [...closureInputs, { kind: 'archive', at: '/', file: { name: 'evil.tar', hostPath: tarPath } }],
      { host: nodeHost },
    );
    expect(sealed(viaTar).map((p) => [p.input, p.path])).toEqual([['evil.tar', `${LIB}/evil.sh`]]);
    const walked = await nodeHost.walk(src, 'rootfs');
    const viaFolder = await resolveInputs([...closureInputs, tree(walked)], { host: nodeHost });
    // The folder's own directory at the store path (mode 0755, not Nix's 0555) is refused too.
    expect(sealed(viaFolder).map((p) => [p.input, p.path])).toEqual([
      ['rootfs', LIB],
      ['rootfs', `${LIB}/evil.sh`],
    ]);
  });

  it('leaves store paths no closure input holds to the other inputs', async () => {
    const other = '/nix/store/0123456789abcdfghijklmnpqrsvwxyz-other';
    const r = await resolveInputs([...closureInputs, tree([file(`${other}/x`, 'x\n')])]);
    expect(sealed(r)).toEqual([]);
  });
});

describe('browser Files changed on disk while resolving', () => {
  it('a NotReadableError becomes an input-changed problem naming the input', async () => {
    const blob = new Blob(['x']);
    Object.defineProperty(blob, 'slice', {
      value: () => ({
        arrayBuffer: () => Promise.reject(new DOMException('The requested file could not be read', 'NotReadableError')),
      }),
    });
    const r = await resolveInputs([{ kind: 'archive', at: '/', file: { name: 'photos.tar', blob } }]);
    expect(r.problems).toEqual([
      expect.objectContaining({ code: 'input-changed', input: 'photos.tar', severity: 'error' }),
    ]);
    expect(r.problems[0].message).toMatch(/changed, moved or deleted on disk/);
  });
});
