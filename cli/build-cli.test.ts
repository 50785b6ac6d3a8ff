/**
 * `disk-image-studio build` end to end on a real Nix closure (a private store made with
 * Debian's nix-bin), checked with native tools only: e2fsck, debugfs rdump/stat/cat,
 * nix-hash, zstd, and a fresh Nix store loaded from the image's /nix-path-registration
 * and verified with `nix-store --verify --check-contents`.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeStat, runNative, tempDir } from '../workers/test-support/native.ts';
import { runCli } from './test-support/cli.ts';
import {
  debugfsCat,
  diffStoreCopies,
  fsck,
  loadIntoFreshStore,
  narHashOf,
  rdump,
  referencesIn,
  zstd,
} from './test-support/native.ts';
import { buildNixClosure, type NixClosure } from './test-support/nix-closure.ts';
import { tarBytes } from './test-support/tar.ts';
import { useTestWasm } from '../workers/test-support/wasm.ts';

useTestWasm();
const { dir: work, cleanup } = tempDir('cli-build-');
afterAll(cleanup);

let c: NixClosure;
beforeAll(() => {
  c = buildNixClosure(join(work, 'nix'));
});

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const base = (p: string) => p.slice('/nix/store/'.length);
let n = 0;
/** A fresh folder for one check. */
const scratch = (label: string) => {
  const d = join(work, `${label}-${++n}`);
  mkdirSync(d, { recursive: true });
  return d;
};

/** Parses closureInfo's registration into path -> [hash, size, refs]. */
function parseReg(text: string): Map<string, { hash: string; size: string; refs: string[] }> {
  const lines = text.split('\n');
  const out = new Map<string, { hash: string; size: string; refs: string[] }>();
  for (let i = 0; i < lines.length && lines[i]; ) {
    const path = lines[i++];
    const hash = lines[i++];
    const size = lines[i++];
    i++; // deriver
    const k = Number(lines[i++]);
    out.set(path, { hash, size, refs: lines.slice(i, i + k) });
    i += k;
  }
  return out;
}

/**
 * Everything a closure image must satisfy: fsck clean; /nix/store holds exactly the closure,
 * each path identical to the private store's (walk and NAR hash); times pinned to 1 and
 * owner 0:0; the registration loads into a fresh store that then verifies.
 */
function expectClosureImage(img: string, opts: { references: boolean }): void {
  const f = fsck(img);
  expect(f.output).toMatch(/clean|\d+\/\d+ files/);
  expect(f.status, f.output).toBe(0);

  const dump = scratch('dump');
  rdump(img, '/nix/store', dump);
  expect(readdirSync(join(dump, 'store')).sort()).toEqual(c.paths.map(base).sort());
  expect(diffStoreCopies(c.storeDir, join(dump, 'store'), c.paths.map(base))).toEqual([]);
  const reg = parseReg(c.registrationText);
  for (const p of c.paths) expect(narHashOf(join(dump, 'store', base(p))), p).toBe(reg.get(p)!.hash);

  const probe = [
    '/nix',
    '/nix/store',
    '/nix-path-registration',
    ...c.paths,
    `${c.named.lib}/lib/libdemo.so`,
    `${c.named.lib}/lib/libdemo.so.1`,
    `${c.named.lib}/etc/hostname`,
    `${c.named.lib}/share/empty`,
    `${c.named.tool}/bin/tool`,
    `${c.named.tool}/bin/helper`,
    `${c.named.tool}/libexec/deep/a/b/c/file`,
    `${c.named.env}/bin`,
  ];
  const stats = nativeStat(img, probe);
  for (const p of probe) {
    const s = stats.get(p)!;
    expect({ p, mtime: s.mtime, atime: s.atime, ctime: s.ctime, uid: s.uid, gid: s.gid }).toEqual({
      p,
      mtime: 1,
      atime: 1,
      ctime: 1,
      uid: 0,
      gid: 0,
    });
  }
  // Nix's canonical modes.
  expect(stats.get(c.named.lib)!.mode & 0o7777).toBe(0o555);
  expect(stats.get(`${c.named.lib}/lib/libdemo.so`)!.mode & 0o7777).toBe(0o444);
  expect(stats.get(`${c.named.tool}/bin/helper`)!.mode & 0o7777).toBe(0o555);
  expect(stats.get(c.named.single)!.mode & 0o7777).toBe(0o444);
  expect(stats.get(c.named.alink)!.type).toBe('symlink');
  expect(stats.get('/nix-path-registration')!.mode & 0o7777).toBe(0o644);

  const fresh = loadIntoFreshStore(img, scratch('fresh'));
  expect(fresh.loadDb.status, fresh.loadDb.stderr).toBe(0);
  expect(fresh.verify.output).not.toMatch(/modified|disappeared|error/i);
  expect(fresh.verify.status, fresh.verify.output).toBe(0);
  const got = parseReg(fresh.registration);
  expect([...got.keys()]).toEqual(c.paths);
  for (const p of c.paths)
    expect({ p, hash: got.get(p)!.hash, size: got.get(p)!.size }).toEqual({
      p,
      hash: reg.get(p)!.hash,
      size: reg.get(p)!.size,
    });
  if (opts.references) {
    // Byte for byte what closureInfo writes, and the fresh store knows every reference.
    expect(fresh.registration).toBe(c.registrationText);
    expect(referencesIn(fresh.storeUri, c.paths)).toEqual(referencesIn(c.storeUri, c.paths));
    expect(referencesIn(fresh.storeUri, [c.named.runDemo])[c.named.runDemo].length).toBe(4);
  } else {
    for (const p of c.paths) expect(got.get(p)!.refs, p).toEqual([]);
  }
}

describe('build from a real Nix closure', () => {
  let exportImageSha = '';

  it('--export: image with the closure, checked natively and loadable by nix-store --load-db', async () => {
    const out = join(work, 'export.img');
    const r = await runCli('build', '--export', c.files.export, '-o', out);
    expect(r.stderr).not.toMatch(/error|warning/i);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(`${out}.partial`)).toBe(false);
    exportImageSha = sha256(out);
    expect(r.stdout).toContain(`sha256 ${exportImageSha}`);
    expect(r.stdout).toMatch(/ext4 "nixos" 44444444-4444-4444-8888-888888888888/);
    expectClosureImage(out, { references: true });
  });

  it('--store DIR --closure registration: the same image as from the export stream', async () => {
    const out = join(work, 'store-reg.img');
    const r = await runCli('build', '-q', '--store', c.storeDir, '--closure', c.files.registration, '-o', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expectClosureImage(out, { references: true });
    expect(sha256(out)).toBe(exportImageSha);
  });

  it('--store DIR of an optimised store (hard links within and across store paths)', async () => {
    const store = join(work, 'optimised-store');
    execFileSync('cp', ['-a', c.storeDir, store]);
    const lib = join(store, base(c.named.lib));
    const tool = join(store, base(c.named.tool));
    execFileSync('chmod', ['u+w', join(lib, 'share/doc'), join(tool, 'libexec')]);
    execFileSync('ln', ['-f', join(lib, 'share/doc/README'), join(lib, 'share/doc/README.copy')]);
    execFileSync('ln', ['-f', join(lib, 'share/doc/LICENSE'), join(tool, 'libexec/LICENSE')]);
    execFileSync('chmod', ['a-w', join(lib, 'share/doc'), join(tool, 'libexec')]);
    const out = join(work, 'optimised.img');
    const r = await runCli('build', '-q', '--store', store, '--closure', c.files.registration, '-o', out);
    expect(r.code, r.stderr).toBe(0);
    expectClosureImage(out, { references: true });
    // Within a store path the hard link stays one inode (as cp -a of the path would keep it).
    const st = nativeStat(out, [`${c.named.lib}/share/doc/README`, `${c.named.lib}/share/doc/README.copy`]);
    expect(st.get(`${c.named.lib}/share/doc/README.copy`)!.inode).toBe(
      st.get(`${c.named.lib}/share/doc/README`)!.inode,
    );
  });

  it('--closure registration with one --nar per path: the same image again', async () => {
    const out = join(work, 'nars.img');
    const nars = readdirSync(c.files.narDir).flatMap((f) => ['--nar', join(c.files.narDir, f)]);
    const r = await runCli('build', '-q', '--closure', c.files.registration, ...nars, '-o', out);
    expect(r.code, r.stderr).toBe(0);
    expect(sha256(out)).toBe(exportImageSha);
  });

  it('--store DIR --closure store-paths: hashes computed from the contents, references unknown (warned)', async () => {
    const out = join(work, 'store-paths.img');
    const r = await runCli('build', '-q', '--store', c.storeDir, '--closure', c.files.storePaths, '-o', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: store-paths: .*without references/);
    expect(r.stderr).not.toMatch(/error/);
    expectClosureImage(out, { references: false });
  });

  it('.img.zst output (export + path-info JSON): valid zstd whose content is the same image', async () => {
    if (!c.files.pathInfoJson) throw new Error('nix path-info --json is not available with this nix-bin');
    const out = join(work, 'closure.img.zst');
    const r = await runCli('build', '-q', '--export', c.files.export, '--closure', c.files.pathInfoJson, '-o', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`sha256 ${sha256(out)}`);
    expect(readFileSync(out).subarray(0, 4)).toEqual(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
    const t = zstd(['-t', out]);
    expect(t.status, t.stderr).toBe(0);
    const img = join(work, 'closure-from-zst.img');
    const d = zstd(['-d', '-q', '-o', img, out]);
    expect(d.status, d.stderr).toBe(0);
    expect(sha256(img)).toBe(exportImageSha);
    expectClosureImage(img, { references: true });
  });
});

describe('options reach the filesystem', () => {
  it('--label, --uuid, --epoch, --block-size, --inode-size, --fs-type and --headroom, read back natively', async () => {
    const d = join(work, 'opts-tree');
    mkdirSync(join(d, 'etc'), { recursive: true });
    writeFileSync(join(d, 'etc/motd'), 'options\n');
    const header = (img: string) => runNative('dumpe2fs', ['-h', img]).stdout;
    const field = (h: string, name: string) => new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(h)?.[1];
    for (const fsType of ['ext2', 'ext4'] as const) {
      const out = join(work, `opts-${fsType}.img`);
      const uuid = fsType === 'ext2' ? '01234567-89ab-4def-8123-456789abcdef' : 'fedcba98-7654-4321-8fed-cba987654321';
      const r = await runCli(
        'build',
        '-q',
        '--files',
        d,
        '--fs-type',
        fsType,
        '--label',
        `lbl-${fsType}`,
        '--uuid',
        uuid.toUpperCase(),
        '--epoch',
        '1234567890',
        '--block-size',
        '4096',
        '--inode-size',
        '512',
        '--headroom',
        '3',
        '-o',
        out,
      );
      expect(r.code, r.stderr).toBe(0);
      expect(fsck(out).status).toBe(0);
      const h = header(out);
      expect(field(h, 'Filesystem volume name')).toBe(`lbl-${fsType}`);
      expect(field(h, 'Filesystem UUID')).toBe(uuid);
      expect(field(h, 'Block size')).toBe('4096');
      expect(field(h, 'Inode size')).toBe('512');
      expect(field(h, 'Filesystem features')!.split(' ').includes('extent')).toBe(fsType === 'ext4');
      // At least the headroom is free after resize2fs -M.
      expect(Number(field(h, 'Free blocks')) * 4096).toBeGreaterThanOrEqual(3 << 20);
      expect(readFileSync(out).length).toBe(Number(field(h, 'Block count')) * 4096);
      const st = nativeStat(out, ['/etc', '/etc/motd']);
      for (const s of st.values()) expect([s.mtime, s.atime, s.ctime]).toEqual([1234567890, 1234567890, 1234567890]);
    }
  });
});

describe('--compat', () => {
  it('leaves orphan_file and metadata_csum_seed out (dumpe2fs), and the image is clean', async () => {
    const d = join(work, 'compat-tree');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'hello'), 'hi\n');
    const features = (img: string) =>
      (/^Filesystem features:\s+(.*)$/m.exec(runNative('dumpe2fs', ['-h', img]).stdout)?.[1] ?? '').split(' ');
    const plainImg = join(work, 'compat-off.img');
    const compatImg = join(work, 'compat-on.img');
    expect((await runCli('build', '-q', '--files', d, '-o', plainImg)).code).toBe(0);
    const r = await runCli('build', '-q', '--files', d, '--compat', '-o', compatImg);
    expect(r.code, r.stderr).toBe(0);
    expect(fsck(compatImg).status).toBe(0);
    // Without --compat the image has orphan_file (mke2fs 1.47's default), so the test can fail.
    expect(features(plainImg)).toContain('orphan_file');
    expect(features(compatImg)).not.toContain('orphan_file');
    expect(features(compatImg)).not.toContain('metadata_csum_seed');
    expect(features(compatImg)).toContain('metadata_csum');
  });
});

describe('compressed inputs', () => {
  it('a folder as .tar, .tar.gz and .tar.zst (native tar, gzip, zstd) or through a symlink gives the image --files gives', async () => {
    const d = join(work, 'compressed');
    mkdirSync(join(d, 'tree/etc/app'), { recursive: true });
    mkdirSync(join(d, 'tree/bin'), { recursive: true });
    writeFileSync(join(d, 'tree/etc/app/config'), 'key = value\n'.repeat(2000));
    writeFileSync(join(d, 'tree/bin/run'), '#!/bin/sh\nexit 0\n');
    chmodSync(join(d, 'tree/bin/run'), 0o755);
    writeFileSync(join(d, 'tree/empty'), '');
    symlinkSync('etc/app/config', join(d, 'tree/config-link'));
    const tar = ['-C', join(d, 'tree'), '--owner=0', '--group=0', '--numeric-owner', '--sort=name', '-cf'];
    execFileSync('tar', [...tar, join(d, 'a.tar'), '.']);
    execFileSync('tar', ['-z', ...tar, join(d, 'a.tar.gz'), '.']);
    execFileSync('tar', ['--zstd', ...tar, join(d, 'a.tar.zst'), '.']);
    // A folder named through a symlink, as `--files ./result` does.
    symlinkSync(join(d, 'tree'), join(d, 'result'));
    const shas: Record<string, string> = {};
    for (const [name, input] of [
      ['files', ['--files', join(d, 'tree')]],
      ['link', ['--files', join(d, 'result')]],
      ['tar', ['--tar', join(d, 'a.tar')]],
      ['gz', ['--tar', join(d, 'a.tar.gz')]],
      ['zst', ['--tar', join(d, 'a.tar.zst')]],
    ] as const) {
      const out = join(d, `${name}.img`);
      const r = await runCli('build', '-q', ...input, '-o', out);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      expect(fsck(out).status).toBe(0);
      shas[name] = sha256(out);
    }
    expect(shas).toEqual({ files: shas.files, link: shas.files, tar: shas.files, gz: shas.files, zst: shas.files });
  });

  it('a zstd-compressed export stream gives the same image as the plain one', async () => {
    const zst = join(work, 'closure.export.zst');
    execFileSync('zstd', ['-q', '-o', zst, c.files.export]);
    const a = join(work, 'export-plain.img');
    const b = join(work, 'export-zst.img');
    expect((await runCli('build', '-q', '--export', c.files.export, '-o', a)).code).toBe(0);
    const r = await runCli('build', '-q', '--export', zst, '-o', b);
    expect(r.code, r.stderr).toBe(0);
    expect(sha256(b)).toBe(sha256(a));
  });
});

describe('determinism', () => {
  const extra = () => {
    const d = join(work, 'extra');
    if (existsSync(d)) return d;
    mkdirSync(join(d, 'etc/ssh'), { recursive: true });
    writeFileSync(join(d, 'etc/motd'), 'welcome\n');
    writeFileSync(join(d, 'etc/ssh/sshd_config'), 'PermitRootLogin no\n');
    chmodSync(join(d, 'etc/ssh/sshd_config'), 0o600);
    symlinkSync('/run/current-system/sw/bin/sh', join(d, 'etc/shell'));
    mkdirSync(join(d, 'home/alice'), { recursive: true });
    writeFileSync(join(d, 'home/alice/.profile'), 'export A=1\n');
    writeFileSync(
      join(d, 'opt.tar'),
      tarBytes([
        { name: 'opt/', type: 'directory', mode: 0o755 },
        { name: 'opt/app/', type: 'directory', mode: 0o750 },
        { name: 'opt/app/run', type: 'file', mode: 0o755, data: '#!/bin/sh\necho app\n', uid: 1000, gid: 100 },
        { name: 'opt/app/link', type: 'symlink', linkname: 'run' },
      ]),
    );
    mkdirSync(join(d, 'var/lib'), { recursive: true });
    writeFileSync(join(d, 'var/lib/state'), 'state\n');
    // The registration with its records in reverse order.
    const records = c.registrationText.split(/\n(?=\/nix\/store\/[^\n]+\nsha256:)/);
    writeFileSync(
      join(d, 'registration-reversed'),
      records
        .reverse()
        .map((r) => r.replace(/\n?$/, '\n'))
        .join(''),
    );
    return d;
  };

  it('gives byte-identical images for the same inputs in another order, and on a second run', async () => {
    const d = extra();
    const a = join(work, 'order-a.img');
    const b = join(work, 'order-b.img');
    const again = join(work, 'order-a-again.img');
    const argsA = [
      '--closure',
      c.files.registration,
      '--export',
      c.files.export,
      '--files',
      join(d, 'etc'),
      '--tar',
      join(d, 'opt.tar'),
      '--files',
      join(d, 'home'),
      '--store',
      c.storeDir,
    ];
    const argsB = [
      '--store',
      c.storeDir,
      '--files',
      join(d, 'home'),
      '--tar',
      join(d, 'opt.tar'),
      '--export',
      c.files.exportReversed,
      '--files',
      join(d, 'etc'),
      '--closure',
      join(d, 'registration-reversed'),
    ];
    const ra = await runCli('build', '-q', ...argsA, '-o', a);
    expect(ra.code, ra.stderr).toBe(0);
    const rb = await runCli('build', '-q', ...argsB, '-o', b);
    expect(rb.code, rb.stderr).toBe(0);
    const rc = await runCli('build', '-q', ...argsA, '-o', again);
    expect(rc.code, rc.stderr).toBe(0);
    expect(sha256(b)).toBe(sha256(a));
    expect(sha256(again)).toBe(sha256(a));
    expect(fsck(a).status).toBe(0);
    // The image does hold every input.
    expect(debugfsCat(a, '/ssh/sshd_config').toString()).toBe('PermitRootLogin no\n');
    expect(debugfsCat(a, '/opt/app/run').toString()).toBe('#!/bin/sh\necho app\n');
    expect(debugfsCat(a, '/alice/.profile').toString()).toBe('export A=1\n');
    expect(debugfsCat(a, '/nix-path-registration').toString()).toBe(c.registrationText);
  });

  it('does not depend on the order of folders that share a base name', async () => {
    const d = join(work, 'same-name');
    // Both folders are called root and both hold etc/, with different modes.
    for (const [side, mode, file] of [
      ['one', 0o755, 'a'],
      ['two', 0o700, 'b'],
    ] as const) {
      mkdirSync(join(d, side, 'root/etc'), { recursive: true });
      writeFileSync(join(d, side, 'root/etc', file), `${side}\n`);
      chmodSync(join(d, side, 'root/etc'), mode);
    }
    const x = join(work, 'same-name-x.img');
    const y = join(work, 'same-name-y.img');
    const rx = await runCli('build', '-q', '--files', join(d, 'one/root'), '--files', join(d, 'two/root'), '-o', x);
    const ry = await runCli('build', '-q', '--files', join(d, 'two/root'), '--files', join(d, 'one/root'), '-o', y);
    expect(rx.code, rx.stderr).toBe(0);
    expect(ry.code, ry.stderr).toBe(0);
    expect(sha256(y)).toBe(sha256(x));
  });
});
