/**
 * Hostile inputs: archive and NAR names that climb out of where they go, links that try
 * to, and compressed inputs that expand without end. Each is refused with a message naming
 * the input and the member, exit 1 and no output; links are kept as links, never followed.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { wire } from '../core/test-support/nar-bytes.ts';
import { nativeStat, nativeTool, tempDir } from '../workers/test-support/native.ts';
import { parseArgs, type BuildCommand } from './args.ts';
import { runCli } from './test-support/cli.ts';
import { debugfsCat, fsck } from './test-support/native.ts';
import { tarBytes, type TarSpec } from './test-support/tar.ts';
import { useTestWasm } from '../workers/test-support/wasm.ts';

useTestWasm();
const { dir: work, cleanup } = tempDir('cli-hostile-');
afterAll(cleanup);

let n = 0;
function file(name: string, bytes: Uint8Array | string): string {
  const d = join(work, `in-${++n}`);
  mkdirSync(d);
  writeFileSync(join(d, name), bytes);
  return join(d, name);
}

async function expectRefused(args: string[], patterns: RegExp[]): Promise<string> {
  const outDir = join(work, `out-${++n}`);
  mkdirSync(outDir);
  const out = join(outDir, 'disk.img');
  const r = await runCli('build', '-q', ...args, '-o', out);
  for (const p of patterns) expect(r.stderr).toMatch(p);
  expect(r.stderr).toMatch(/no image was written/);
  expect(r.code, r.stderr).toBe(1);
  expect(readdirSync(outDir)).toEqual([]);
  return r.stderr;
}

async function build(args: string[]): Promise<string> {
  const out = join(work, `ok-${++n}.img`);
  const r = await runCli('build', '-q', ...args, '-o', out);
  expect(r.code, r.stderr).toBe(0);
  expect(fsck(out).status).toBe(0);
  return out;
}

const ok: TarSpec = { name: 'fine.txt', type: 'file', data: 'fine\n' };

describe('tar members that escape', () => {
  it.each([
    ['a leading ..', '../evil', /"\.\.\/evil" cannot be placed: it climbs out with "\.\."/],
    ['.. deep inside', 'a/b/../../../evil', /"a\/b\/\.\.\/\.\.\/\.\.\/evil" cannot be placed: it climbs out/],
    ['./..', './../evil', /"\.\/\.\.\/evil" cannot be placed: it climbs out/],
    ['an absolute name', '/etc/passwd', /"\/etc\/passwd" cannot be placed: it is absolute/],
    ['a directory ..', '../', /"\.\.\/" cannot be placed: it climbs out/],
  ])('refuses %s', async (_what, name, message) => {
    const tar = file(
      'x.tar',
      tarBytes([ok, { name, type: name.endsWith('/') ? 'directory' : 'file', data: 'evil\n' }]),
    );
    await expectRefused(
      ['--tar', tar],
      [new RegExp(`error: x\\.tar: ${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `), message],
    );
  });

  it('refuses a pax path that escapes behind a harmless ustar name', async () => {
    const tar = file(
      'pax.tar',
      tarBytes([ok, { name: 'harmless', type: 'file', data: 'evil\n', pax: { path: '../../pax-evil' } }]),
    );
    await expectRefused(
      ['--tar', tar],
      [/error: pax\.tar: \.\.\/\.\.\/pax-evil: The member "\.\.\/\.\.\/pax-evil" cannot be placed: it climbs out/],
    );
  });

  it('refuses a hard link pointing outside the archive', async () => {
    const tar = file('hard.tar', tarBytes([ok, { name: 'shadow', type: 'hardlink', linkname: '../../etc/shadow' }]));
    await expectRefused(
      ['--tar', tar],
      [/error: hard\.tar: \.\.\/\.\.\/etc\/shadow: .*the hard link shadow points outside the archive/],
    );
  });

  it('refuses writing through a symlink member (link -> /etc, then link/passwd)', async () => {
    const tar = file(
      'through.tar',
      tarBytes([
        { name: 'link', type: 'symlink', linkname: '/etc' },
        { name: 'link/passwd', type: 'file', data: 'root::0:0::/:/bin/sh\n' },
      ]),
    );
    await expectRefused(
      ['--tar', tar],
      [
        /error: through\.tar: \/link: \/link is claimed twice: a symlink from through\.tar and a file from through\.tar/,
      ],
    );
  });

  it('refuses escaping members of a gzip-compressed tar too', async () => {
    const tar = file('x.tar.gz', gzipSync(tarBytes([ok, { name: '../evil', type: 'file', data: 'evil\n' }])));
    await expectRefused(['--tar', tar], [/error: x\.tar\.gz: \.\.\/evil: .*climbs out/]);
  });

  it('refuses escaping members of a closure tar of nix/store', async () => {
    const base = '0c4pq2f6nkcz4cld0q4v2m7n9wl2k3ps-evil';
    const tar = file(
      'closure.tar',
      tarBytes([
        { name: 'nix/store/', type: 'directory' },
        { name: `nix/store/${base}/`, type: 'directory' },
        { name: `nix/store/${base}/../../../etc/passwd`, type: 'file', data: 'x' },
      ]),
    );
    await expectRefused(
      ['--closure', tar],
      [new RegExp(`error: closure\\.tar: nix/store/${base}/\\.\\./\\.\\./\\.\\./etc/passwd: .*climbs out`)],
    );
  });

  it('keeps symlinks that point outside as symlinks (stored, not followed)', async () => {
    const tar = file(
      'links.tar',
      tarBytes([
        { name: 'etc/', type: 'directory' },
        { name: 'etc/passwd-link', type: 'symlink', linkname: '../../../../etc/passwd' },
        { name: 'etc/root-link', type: 'symlink', linkname: '/' },
      ]),
    );
    const img = await build(['--tar', tar]);
    const st = nativeStat(img, ['/etc/passwd-link', '/etc/root-link']);
    expect(st.get('/etc/passwd-link')!.type).toBe('symlink');
    expect(st.get('/etc/passwd-link')!.text).toContain('Fast link dest: "../../../../etc/passwd"');
    expect(st.get('/etc/root-link')!.text).toContain('Fast link dest: "/"');
  });
});

describe('host folders with links out', () => {
  it('stores symlinks to /etc from --files and --store as symlinks, not /etc', async () => {
    const files = join(work, 'files-links');
    mkdirSync(files);
    symlinkSync('/etc', join(files, 'etc-link'));
    symlinkSync('/etc/passwd', join(files, 'passwd-link'));
    const store = join(work, 'store-links');
    mkdirSync(join(store, '1b9cxmi2y6m3yq4k8dbz0ipkxj2dxz51-out/bin'), { recursive: true });
    symlinkSync('/etc', join(store, '0c4pq2f6nkcz4cld0q4v2m7n9wl2k3ps-etc-link'));
    symlinkSync('/etc/shadow', join(store, '1b9cxmi2y6m3yq4k8dbz0ipkxj2dxz51-out/bin/shadow'));
    const img = await build(['--files', files, '--store', store]);
    const paths = [
      '/etc-link',
      '/passwd-link',
      '/nix/store/0c4pq2f6nkcz4cld0q4v2m7n9wl2k3ps-etc-link',
      '/nix/store/1b9cxmi2y6m3yq4k8dbz0ipkxj2dxz51-out/bin/shadow',
    ];
    const st = nativeStat(img, paths);
    for (const p of paths) expect(st.get(p)!.type, p).toBe('symlink');
    expect(st.get('/etc-link')!.text).toContain('Fast link dest: "/etc"');
    expect(st.get('/nix/store/1b9cxmi2y6m3yq4k8dbz0ipkxj2dxz51-out/bin/shadow')!.text).toContain(
      'Fast link dest: "/etc/shadow"',
    );
    // Nothing of the host's /etc came in.
    const names = execFileSync(nativeTool('debugfs'), ['-R', 'ls -p /', img], {
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
    expect(names).not.toMatch(/\/passwd\//);
  });
});

describe('NARs with names that escape', () => {
  const store = '/nix/store/';
  const dirNar = (...entries: [string, Uint8Array | string][]) =>
    wire(
      'nix-archive-1',
      '(',
      'type',
      'directory',
      ...entries.flatMap(([name]) => [
        'entry',
        '(',
        'name',
        name,
        'node',
        '(',
        'type',
        'regular',
        'contents',
        'evil\n',
        ')',
        ')',
      ]),
      ')',
    );

  it.each([
    ['..', dirNar(['..', ''])],
    ['.', dirNar(['.', ''])],
    ['a/../../etc', dirNar(['a/../../etc', ''])],
    ['/etc', dirNar(['/etc', ''])],
  ])('refuses an entry named %j in a .nar', async (name, nar) => {
    const base = '0c4pq2f6nkcz4cld0q4v2m7n9wl2k3ps-evil';
    const p = file(`${base}.nar`, nar);
    await expectRefused(
      ['--nar', p],
      [
        new RegExp(
          `error: ${base}\\.nar: .*The NAR holds an invalid file name "${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`,
        ),
      ],
    );
  });

  it('refuses two entries with one name (a later one would replace the first)', async () => {
    const base = '0c4pq2f6nkcz4cld0q4v2m7n9wl2k3ps-dup';
    const p = file(`${base}.nar`, dirNar(['bin', ''], ['bin', '']));
    await expectRefused(['--nar', p], [new RegExp(`error: ${base}\\.nar: .*not sorted and unique`)]);
  });

  it('refuses an export stream whose NAR holds ".."', async () => {
    const path = `${store}0c4pq2f6nkcz4cld0q4v2m7n9wl2k3ps-evil`;
    const exp = wire(
      { u64: 1 },
      { raw: dirNar(['..', '']) },
      { u64: 0x4558494e },
      path,
      { u64: 0 },
      '',
      { u64: 0 },
      { u64: 0 },
    );
    const p = file('evil.export', exp);
    await expectRefused(['--export', p], [/error: evil\.export: .*The NAR holds an invalid file name "\.\."/]);
  });

  it('refuses an export stream naming a path outside /nix/store', async () => {
    const nar = wire('nix-archive-1', '(', 'type', 'regular', 'contents', 'x', ')');
    const exp = wire(
      { u64: 1 },
      { raw: nar },
      { u64: 0x4558494e },
      '/nix/store/../../etc/0c4pq2f6nkcz4cld0q4v2m7n9wl2k3ps-x',
      { u64: 0 },
      '',
      { u64: 0 },
      { u64: 0 },
    );
    const p = file('outside.export', exp);
    await expectRefused(
      ['--export', p],
      [
        /error: outside\.export: .*"\/nix\/store\/\.\.\/\.\.\/etc\/0c4pq2f6nkcz4cld0q4v2m7n9wl2k3ps-x" in the export is not a valid store path/,
      ],
    );
  });
});

describe('expansion limit', () => {
  const MiB = 1 << 20;
  const zeros = (bytes: number) => tarBytes([{ name: 'zeros.bin', type: 'file', data: new Uint8Array(bytes) }]);

  it('parses --max-expanded-bytes with binary suffixes and refuses nonsense', () => {
    const cmd = (v: string) =>
      (parseArgs(['build', '--files', 'd', '--max-expanded-bytes', v, '-o', 'x.img']) as BuildCommand).maxExpandedBytes;
    expect(cmd('4096')).toBe(4096);
    expect(cmd('64K')).toBe(64 * 1024);
    expect(cmd('512M')).toBe(512 * MiB);
    expect(cmd('8G')).toBe(8 * 1024 * MiB);
    expect(cmd('2MiB')).toBe(2 * MiB);
    for (const bad of ['lots', '0', '1.5G', '-1', '8T']) {
      expect(() => parseArgs(['build', '--files', 'd', `--max-expanded-bytes=${bad}`, '-o', 'x.img']), bad).toThrow(
        /--max-expanded-bytes takes a number of bytes/,
      );
    }
  });

  it('stops a .tar.gz bomb at the limit, naming the archive, the limit and the flag', async () => {
    const bomb = gzipSync(zeros(64 * MiB), { level: 9 });
    expect(bomb.length).toBeLessThan(MiB / 4);
    const p = file('bomb.tar.gz', bomb);
    const stderr = await expectRefused(
      ['--tar', p, '--max-expanded-bytes', '1M'],
      [/error: bomb\.tar\.gz: bomb\.tar\.gz expands to more than the limit of 1 MiB/, /--max-expanded-bytes/],
    );
    expect(stderr).not.toMatch(/Unexpected|defect|bug/i);
  });

  it('stops a .tar.zst bomb and a zstd-compressed export bomb', async () => {
    const zst = file(
      'bomb.tar.zst',
      execFileSync('zstd', ['-q', '-19', '-c'], { input: zeros(32 * MiB), maxBuffer: 1 << 26 }),
    );
    await expectRefused(
      ['--tar', zst, '--max-expanded-bytes', '2M'],
      [/error: bomb\.tar\.zst: bomb\.tar\.zst expands to more than the limit of 2 MiB/],
    );
    const path = '/nix/store/0c4pq2f6nkcz4cld0q4v2m7n9wl2k3ps-zeros';
    const exp = wire(
      { u64: 1 },
      { raw: wire('nix-archive-1', '(', 'type', 'regular', 'contents', new Uint8Array(32 * MiB), ')') },
      { u64: 0x4558494e },
      path,
      { u64: 0 },
      '',
      { u64: 0 },
      { u64: 0 },
    );
    const ezst = file('bomb.export.zst', execFileSync('zstd', ['-q', '-c'], { input: exp, maxBuffer: 1 << 26 }));
    await expectRefused(
      ['--export', ezst, '--max-expanded-bytes', '2M'],
      [/error: bomb\.export\.zst: bomb\.export\.zst expands to more than the limit of 2 MiB/],
    );
  });

  it('builds the same archive once the limit allows it', async () => {
    const data = new Uint8Array(3 * MiB).map((_, i) => (i % 4096 === 0 ? 1 : 0));
    const p = file('fits.tar.gz', gzipSync(tarBytes([{ name: 'data.bin', type: 'file', data }])));
    await expectRefused(['--tar', p, '--max-expanded-bytes', '2M'], [/limit of 2 MiB/]);
    const img = await build(['--tar', p, '--max-expanded-bytes', '4M']);
    expect(createHash('sha256').update(debugfsCat(img, '/data.bin')).digest('hex')).toBe(
      createHash('sha256').update(data).digest('hex'),
    );
  });
});
