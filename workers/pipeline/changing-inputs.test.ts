/**
 * Inputs that change between the check (scan, NAR hash) and the copy into the image: the
 * build fails naming the entry, and never puts other bytes in, whatever kind of change.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_BUILD_OPTIONS } from '../../core/build-options.ts';
import type { BuildInput } from '../../core/engine-contract.ts';
import type { TreeEntry } from '../../core/image-tree.ts';
import { nodeHost } from '../../core/io/host-tree.ts';
import { resolveInputs } from '../../core/resolve-inputs.ts';
import { nativeDebugfs, runNative, tempDir } from '../test-support/native.ts';
import { file } from '../test-support/tree-fixture.ts';
import { useTestWasm } from '../test-support/wasm.ts';
import { buildImage } from './build-image.ts';
import { EngineFailure } from './engine-failure.ts';

useTestWasm();
const tmp = tempDir('changing-');
afterAll(() => tmp.cleanup());

async function build(
  entries: TreeEntry[],
  closure: Awaited<ReturnType<typeof resolveInputs>>['closure'] = [],
  readBlobSync?: (b: Blob, s: number, e: number) => Uint8Array,
) {
  const chunks: Uint8Array[] = [];
  const result = await buildImage(
    { entries, closure, options: { ...DEFAULT_BUILD_OPTIONS } },
    { sink: (c) => void chunks.push(c.slice()), readBlobSync },
  );
  const path = join(tmp.dir, `${result.sha256}.img`);
  writeFileSync(path, Buffer.concat(chunks));
  return { result, path, chunks };
}

async function failure(p: Promise<unknown>) {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EngineFailure);
  return (err as EngineFailure).failure;
}

let n = 0;
function hostFolder(files: Record<string, string>): string {
  const root = join(tmp.dir, `in${n++}`);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
  return root;
}

describe('host files changed after the scan', () => {
  const secret = join(tmp.dir, 'secret');
  writeFileSync(secret, 'root:SECRET-HASH:19000:0:99999:7:::\n');

  it('a file replaced by a symlink (to a secret) fails the build naming it; the secret never goes in', async () => {
    const root = hostFolder({ 'etc/motd': 'welcome to the machine\n', 'etc/issue': 'issue\n' });
    const entries = await nodeHost.walk(root, 'rootfs');
    unlinkSync(join(root, 'etc/motd'));
    symlinkSync(secret, join(root, 'etc/motd'));
    const f = await failure(build(entries));
    expect(f.code).toBe('bad-input');
    expect(f.problems[0]).toMatchObject({ code: 'input-changed', input: 'rootfs', path: '/etc/motd' });
    expect(f.message).toMatch(/symbolic link/);
  });

  it('a file replaced by another file, rewritten, grown or shrunk fails the build', async () => {
    const cases: [string, (p: string) => void, RegExp][] = [
      [
        'replaced',
        (p) => {
          writeFileSync(`${p}.new`, 'same size!!\n');
          renameSync(`${p}.new`, p);
        },
        /replaced by another file/,
      ],
      [
        'rewritten in place',
        (p) => {
          const t = statSync(p).mtimeMs;
          writeFileSync(p, 'SAME SIZE!!\n');
          utimesSync(p, new Date(t + 5000), new Date(t + 5000));
        },
        /modified/,
      ],
      ['grown', (p) => writeFileSync(p, 'much longer than before\n'), /size changed/],
      ['truncated', (p) => writeFileSync(p, ''), /size changed/],
      ['removed', (p) => unlinkSync(p), /removed/],
    ];
    for (const [what, change, message] of cases) {
      const root = hostFolder({ 'data/file.txt': 'original!!!\n' });
      const entries = await nodeHost.walk(root, 'rootfs');
      change(join(root, 'data/file.txt'));
      const f = await failure(build(entries));
      expect(f.problems[0], what).toMatchObject({ code: 'input-changed', path: '/data/file.txt' });
      expect(f.problems[0].message, what).toMatch(message);
    }
  });

  it('an unchanged folder builds, and the image holds its bytes', async () => {
    const root = hostFolder({ 'etc/motd': 'welcome\n' });
    const { path } = await build(await nodeHost.walk(root, 'rootfs'));
    expect(runNative('e2fsck', ['-fn', path]).status).toBe(0);
    expect(nativeDebugfs(path, ['cat /etc/motd'])).toContain('welcome');
  });
});

describe('closure contents changed after their NAR hash was checked', () => {
  const S = `local?root=${join(tmp.dir, 'store')}`;
  const src = hostFolder({ 'bin/hello': '#!/bin/sh\necho hello\n', 'share/doc': 'documentation text\n' });
  chmodSync(join(src, 'bin/hello'), 0o755);
  const P = execFileSync('nix-store', ['--store', S, '--add', src], { encoding: 'utf8' }).trim();
  const base = P.slice('/nix/store/'.length);
  const narPath = join(tmp.dir, `${base}.nar`);
  writeFileSync(narPath, execFileSync('nix-store', ['--dump', join(tmp.dir, 'store', P)]));

  it('a NAR rewritten after hashing (same size, mtime put back) fails the build: other bytes never go in under the hash', async () => {
    const inputs: BuildInput[] = [{ kind: 'closure', file: { name: `${base}.nar`, hostPath: narPath } }];
    const r = await resolveInputs(inputs, { host: nodeHost });
    expect(r.problems.filter((p) => p.severity === 'error')).toEqual([]);
    // Keep the exact modification time (touch -r copies it to the nanosecond), so that only
    // the bytes tell: the check while copying must catch it.
    const ref = `${narPath}.times`;
    writeFileSync(ref, '');
    execFileSync('touch', ['-r', narPath, ref]);
    const keepTimes = () => execFileSync('touch', ['-r', ref, narPath]);
    const bytes = readFileSync(narPath);
    const at = bytes.indexOf('documentation text');
    bytes.set(Buffer.from('DOCUMENTATION TEXT'), at);
    writeFileSync(narPath, bytes);
    keepTimes();
    const f = await failure(build(r.entries, r.closure));
    expect(f.problems[0]).toMatchObject({ code: 'store-path-changed', path: P });
    expect(f.problems[0].message).toMatch(/NAR hash/);
    // Put back: builds, and the image holds the certified bytes.
    bytes.set(Buffer.from('documentation text'), at);
    writeFileSync(narPath, bytes);
    keepTimes();
    const ok = await build(r.entries, r.closure);
    expect(nativeDebugfs(ok.path, [`cat ${P}/share/doc`])).toContain('documentation text');
  });

  it('a store path edited in the tree (executable bit, added file, other target) fails the build', async () => {
    const r = await resolveInputs([{ kind: 'closure', file: { name: `${base}.nar`, hostPath: narPath } }], {
      host: nodeHost,
    });
    const edits: [string, (e: TreeEntry[]) => TreeEntry[]][] = [
      ['exec bit dropped', (es) => es.map((e) => (e.path === `${P}/bin/hello` ? { ...e, mode: 0o444 } : e))],
      ['file added', (es) => [...es, { ...file(`${P}/share/extra`, 'x'), mode: 0o444 }]],
      ['file removed', (es) => es.filter((e) => e.path !== `${P}/share/doc`)],
    ];
    for (const [what, edit] of edits) {
      const f = await failure(build(edit(r.entries), r.closure));
      expect(f.problems[0]?.code, what).toBe('store-path-changed');
    }
    // A mode Nix never gives is refused before anything runs.
    const writable = r.entries.map((e) => (e.path === `${P}/share/doc` ? { ...e, mode: 0o644 } : e));
    const f = await failure(build(writable, r.closure));
    expect(f.problems[0]).toMatchObject({ code: 'store-path-sealed', path: `${P}/share/doc` });
  });

  it('a store folder with hard-linked files (an optimised store) builds and passes the check', async () => {
    const store = join(tmp.dir, 'optimised');
    const S2 = `local?root=${store}`;
    const twin = hostFolder({ 'a/same': 'identical contents\n', 'b/same': 'identical contents\n', c: 'other\n' });
    const Q = execFileSync('nix-store', ['--store', S2, '--add', twin], { encoding: 'utf8' }).trim();
    execFileSync('nix-store', ['--store', S2, '--optimise']);
    const storeDir = join(store, 'nix', 'store');
    expect(statSync(join(storeDir, Q.slice(11), 'a/same')).nlink).toBeGreaterThan(1);
    const reg = execFileSync('nix-store', ['--store', S2, '--dump-db', Q]);
    const r = await resolveInputs(
      [
        { kind: 'store-dir', hostPath: storeDir },
        { kind: 'closure', file: { name: 'registration', blob: new Blob([reg]) } },
      ],
      { host: nodeHost },
    );
    expect(r.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(r.entries.some((e) => e.type === 'hardlink')).toBe(true);
    const { path } = await build(r.entries, r.closure);
    expect(runNative('e2fsck', ['-fn', path]).status).toBe(0);
  });
});

describe('browser Files changed on disk', () => {
  it('NotReadableError becomes a message naming the file', async () => {
    const blob = new Blob(['x'.repeat(5000)]);
    const entries: TreeEntry[] = [
      {
        path: '/photo.jpg',
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 1,
        size: 5000,
        source: { kind: 'blob', blob, offset: 0, size: 5000 },
        origin: 'holiday',
      },
    ];
    const reader = () => {
      throw new DOMException('The requested file could not be read', 'NotReadableError');
    };
    const f = await failure(build(entries, [], reader));
    expect(f.problems[0]).toMatchObject({ code: 'input-changed', input: 'holiday', path: '/photo.jpg' });
    expect(f.problems[0].message).toMatch(/changed, moved or deleted on disk/);
  });
});
