/**
 * The NAR check while mke2fs copies: it follows mke2fs's real order of reads (pre-order,
 * names in byte order, each file once at its first name), so a sealed store path with
 * hard links, nested folders and many files passes with its true hash and fails with any
 * other.
 */
import { describe, expect, it } from 'vitest';
import type { TreeEntry } from '../../core/image-tree.ts';
import { hashNarTree, narTreeFromEntries, sourceChunks } from '../../core/nar.ts';
import { MemoryImageStore } from './image-store.ts';
import { runTool } from './run-tool.ts';
import { dir, file, hardlink, pseudoRandom, symlink } from '../test-support/tree-fixture.ts';
import { useTestWasm } from '../test-support/wasm.ts';

useTestWasm();

const P = '/nix/store/0123456789abcdfghijklmnpqrsvwxyz-pkg';
const Q = '/nix/store/zyxwvsrqpnmlkjihgfdcba9876543210-other';
const store = (e: TreeEntry): TreeEntry => ({
  ...e,
  mode: e.type === 'directory' ? 0o555 : e.type === 'file' ? ((e.mode & 0o100) !== 0 ? 0o555 : 0o444) : e.mode,
});

async function narHash(entries: TreeEntry[], root: string): Promise<string> {
  return (await hashNarTree(narTreeFromEntries(entries, root), sourceChunks())).narHash;
}

async function copy(entries: TreeEntry[], sealed: { path: string; narHash: string }[]) {
  const image = new MemoryImageStore(64 << 20);
  const r = await runTool('mke2fs', ['-t', 'ext4', '-F', '-d', '/tree', '/image/disk.img', '65536k'], {
    epoch: 1,
    mounts: [
      { type: 'image', path: '/image/disk.img', store: image },
      { type: 'tree', path: '/tree', entries, sealed },
    ],
  });
  expect(r.exitCode, r.stderr).toBe(0);
  return r.narChecks['/tree'] ?? [];
}

describe('NarStreamCheck under wasm mke2fs', () => {
  it('follows hard links whose copied name comes first in a subfolder, across store paths and from outside', async () => {
    const entries: TreeEntry[] = [
      dir('/'),
      dir('/nix'),
      dir('/nix/store'),
      store(dir(P)),
      store(dir(`${P}/a`)),
      store(dir(`${P}/a/b`)),
      store(file(`${P}/z-shared`, pseudoRandom(200_000, 1))),
      // mke2fs reaches a/b/x (a < z) before z-shared: it copies the bytes there.
      hardlink(`${P}/a/b/x`, `${P}/z-shared`),
      store(file(`${P}/bin-tool`, '#!/bin/sh\n', { mode: 0o755 })),
      store(file(`${P}/empty`, '')),
      store(symlink(`${P}/link`, 'a/b/x')),
      store(dir(Q)),
      hardlink(`${Q}/same`, `${P}/z-shared`),
      store(file(`${Q}/own`, pseudoRandom(70_000, 2))),
      // A name outside the store, first of all in mke2fs's order.
      dir('/etc'),
      hardlink('/etc/aaa', `${P}/z-shared`),
    ];
    const hp = await narHash(entries, P);
    const hq = await narHash(entries, Q);
    const ok = await copy(entries, [
      { path: P, narHash: hp },
      { path: Q, narHash: hq },
    ]);
    expect(ok.map((r) => [r.path, r.ok, r.reason])).toEqual([
      [P, true, undefined],
      [Q, true, undefined],
    ]);
    const bad = await copy(entries, [{ path: P, narHash: hq }]);
    expect(bad[0]).toMatchObject({ ok: false, actual: hp, reason: 'what was copied has another NAR hash' });
  });

  it('checks a store path of 5,000 files in nested folders', async () => {
    const entries: TreeEntry[] = [dir('/'), dir('/nix'), dir('/nix/store'), store(dir(P))];
    for (let d = 0; d < 50; d++) {
      entries.push(store(dir(`${P}/d${d}`)));
      for (let f = 0; f < 100; f++) entries.push(store(file(`${P}/d${d}/f${f}`, `${d}:${f}\n`.repeat(f))));
      entries.push(store(dir(`${P}/d${d}/sub`)));
      entries.push(store(file(`${P}/d${d}/sub/leaf`, `leaf ${d}\n`)));
    }
    const h = await narHash(entries, P);
    const [r] = await copy(entries, [{ path: P, narHash: h }]);
    expect(r).toMatchObject({ path: P, ok: true, actual: h });
  });
});
