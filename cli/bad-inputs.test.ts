/**
 * Bad inputs end the build with a message naming the input (file or folder) and the path at
 * fault, a non-zero exit code, and no output: neither OUT nor OUT.partial.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../workers/test-support/native.ts';
import { pseudoRandom } from '../workers/test-support/tree-fixture.ts';
import { runCli } from './test-support/cli.ts';
import { buildNixClosure, type NixClosure } from './test-support/nix-closure.ts';
import { tarBytes } from './test-support/tar.ts';
import { useTestWasm } from '../workers/test-support/wasm.ts';
import { main } from './main.ts';

useTestWasm();
const { dir: work, cleanup } = tempDir('cli-bad-');
afterAll(cleanup);

let c: NixClosure;
beforeAll(() => {
  c = buildNixClosure(join(work, 'nix'));
});

const base = (p: string) => p.slice('/nix/store/'.length);
let n = 0;

/** A copy of the private store folder, optionally changed. */
function storeCopy(change: (dir: string) => void = () => {}): string {
  const d = join(work, `store-${++n}`);
  execFileSync('cp', ['-a', c.storeDir, d]);
  execFileSync('chmod', ['-R', 'u+w', d]);
  change(d);
  return d;
}

/** The registration's records, one per store path. */
const records = (text: string) => text.split(/(?=^\/nix\/store\/[^\n]+\nsha256:)/m).filter(Boolean);

function file(name: string, bytes: string | Uint8Array): string {
  const p = join(work, `${++n}-${name}`);
  writeFileSync(p, bytes);
  return p;
}

/**
 * Runs a build expected to fail; checks the exit code, that stderr matches every pattern,
 * and that the output folder holds nothing.
 */
async function expectRefused(args: string[], patterns: RegExp[], code = 1): Promise<string> {
  const outDir = join(work, `out-${++n}`);
  mkdirSync(outDir);
  const out = join(outDir, 'disk.img');
  const r = await runCli('build', '-q', ...args, '-o', out);
  for (const p of patterns) expect(r.stderr).toMatch(p);
  expect(r.code, r.stderr).toBe(code);
  expect(r.stdout).toBe('');
  expect(existsSync(out)).toBe(false);
  expect(existsSync(`${out}.partial`)).toBe(false);
  expect(readdirSync(outDir)).toEqual([]);
  return r.stderr;
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('closure inputs', () => {
  it('a manifest path without contents names the manifest and the path', async () => {
    const store = storeCopy((d) => execFileSync('rm', ['-rf', join(d, base(c.named.tool))]));
    await expectRefused(
      ['--store', store, '--closure', c.files.registration],
      [
        new RegExp(
          `error: registration: ${esc(c.named.tool)}: ${esc(c.named.tool)} is listed in registration but no input holds its contents`,
        ),
        /no image was written/,
      ],
    );
  });

  it('a malformed store path name in a store folder names the folder and the name', async () => {
    const store = storeCopy((d) => mkdirSync(join(d, 'not-a-store-path')));
    await expectRefused(
      ['--store', store, '--closure', c.files.registration],
      [
        new RegExp(
          `error: ${esc(store)}: /nix/store/not-a-store-path: "not-a-store-path" in the store folder is not a store path`,
        ),
      ],
    );
  });

  it('a malformed store path in a registration names the file and the path', async () => {
    const bad = c.named.chain.replace(/^(\/nix\/store\/.{31})./, '$1e'); // 'e' is not in Nix's base32
    const reg = file('registration', c.registrationText.replaceAll(c.named.chain, bad));
    await expectRefused(
      ['--store', c.storeDir, '--closure', reg],
      [new RegExp(`error: \\d+-registration: ${esc(bad)}: .*"${esc(bad)}" is not a valid store path: its hash part`)],
    );
  });

  it('a NAR not named <hash>-<name>.nar is refused, naming the file', async () => {
    const nar = file('hello.nar', readFileSync(join(c.files.narDir, `${base(c.named.single)}.nar`)));
    await expectRefused(['--nar', nar], [/error: \d+-hello\.nar: A NAR must be named <hash>-<name>\.nar/]);
  });

  it('a reference outside the closure names the manifest, the referrer and the reference', async () => {
    const reg = file(
      'registration',
      records(c.registrationText)
        .filter((r) => !r.startsWith(c.named.tool + '\n'))
        .join(''),
    );
    const store = storeCopy((d) => execFileSync('rm', ['-rf', join(d, base(c.named.tool))]));
    await expectRefused(
      ['--store', store, '--closure', reg],
      [
        new RegExp(
          `error: \\d+-registration: ${esc(c.named.runDemo)}: ${esc(c.named.runDemo)} references ${esc(c.named.tool)}, which is not in the closure`,
        ),
        new RegExp(`${esc(c.named.env)} references ${esc(c.named.tool)}`),
      ],
    );
  });

  it('contents whose NAR hash differs from the manifest name both inputs and the path', async () => {
    const store = storeCopy((d) => writeFileSync(join(d, base(c.named.lib), 'share/doc/README'), 'edited\n'));
    await expectRefused(
      ['--store', store, '--closure', c.files.registration],
      [
        new RegExp(
          `error: ${esc(store)}: ${esc(c.named.lib)}: The contents of ${esc(c.named.lib)} from ${esc(store)} have NAR hash sha256:\\w+ \\(\\d+ bytes\\) but registration says sha256:\\w+`,
        ),
      ],
    );
  });

  it("a NAR whose contents are another path's is a hash mismatch", async () => {
    const nar = join(work, `nar-${++n}`);
    mkdirSync(nar);
    // single.txt's name on run-demo's bytes.
    writeFileSync(
      join(nar, `${base(c.named.single)}.nar`),
      readFileSync(join(c.files.narDir, `${base(c.named.runDemo)}.nar`)),
    );
    const others = readdirSync(c.files.narDir)
      .filter((f) => !f.startsWith(base(c.named.single)))
      .flatMap((f) => ['--nar', join(c.files.narDir, f)]);
    await expectRefused(
      ['--closure', c.files.registration, ...others, '--nar', join(nar, `${base(c.named.single)}.nar`)],
      [new RegExp(`${esc(c.named.single)}: The contents of ${esc(c.named.single)} .* have NAR hash`)],
    );
  });

  it('one store path claimed by two inputs with different contents names both', async () => {
    const store = storeCopy((d) => writeFileSync(join(d, base(c.named.tool), 'libexec/empty-file'), 'not empty\n'));
    await expectRefused(
      ['--export', c.files.export, '--store', store],
      [
        new RegExp(
          `${esc(c.named.tool)} is claimed twice with different contents: by closure\\.export and by ${esc(store)}`,
        ),
      ],
    );
  });
});

describe('files and archives', () => {
  it('one image path claimed by a folder and a tar names the path and both inputs', async () => {
    const d = join(work, `files-${++n}`);
    mkdirSync(join(d, 'etc'), { recursive: true });
    writeFileSync(join(d, 'etc/hostname'), 'from-folder\n');
    const tar = file('etc.tar', tarBytes([{ name: 'etc/hostname', type: 'file', data: 'from-tar\n' }]));
    await expectRefused(
      ['--files', d, '--tar', tar],
      [/\/etc\/hostname is claimed twice: a file from \d+-etc\.tar and a file from files-\d+/],
    );
  });

  it('a truncated tar names the archive and where it ends', async () => {
    const whole = tarBytes([{ name: 'a.bin', type: 'file', data: new Uint8Array(5000).fill(7) }]);
    const tar = file('cut.tar', whole.subarray(0, 2048));
    await expectRefused(['--tar', tar], [/error: \d+-cut\.tar: \d+-cut\.tar ends in the middle of a tar member/]);
  });

  it('random bytes named .tar are not a tar archive', async () => {
    const tar = file(
      'noise.tar',
      new Uint8Array(4096).map((_, i) => (i * 7919 + 13) & 0xff),
    );
    await expectRefused(['--tar', tar], [/error: \d+-noise\.tar: \d+-noise\.tar is not a tar archive/]);
  });

  const bigTar = () =>
    tarBytes([
      { name: 'x', type: 'file', data: pseudoRandom(300_000, 3) },
      { name: 'y', type: 'file', data: 'y' },
    ]);

  it('a .tar.gz with a bad checksum or cut short names the archive', async () => {
    const gz = gzipSync(bigTar());
    const crc = Buffer.from(gz);
    crc.writeUInt32LE((crc.readUInt32LE(crc.length - 8) ^ 1) >>> 0, crc.length - 8);
    await expectRefused(
      ['--tar', file('crc.tar.gz', crc)],
      [
        /error: \d+-crc\.tar\.gz: Decompressing \d+-crc\.tar\.gz failed at byte \d+ of its contents: incorrect data check/,
      ],
    );
    await expectRefused(
      ['--tar', file('cut.tar.gz', gz.subarray(0, gz.length - 5000))],
      [/error: \d+-cut\.tar\.gz: Decompressing \d+-cut\.tar\.gz failed .*unexpected end of file/],
    );
  });

  it('a corrupt .tar.zst names the archive', async () => {
    // With zstd's content checksum (the default), so the damage is detectable.
    const zst = Buffer.from(execFileSync('zstd', ['-q', '-c', '--check'], { input: bigTar() }));
    zst.writeUInt32LE((zst.readUInt32LE(zst.length - 4) ^ 1) >>> 0, zst.length - 4);
    await expectRefused(
      ['--tar', file('bad.tar.zst', zst)],
      [/error: \d+-bad\.tar\.zst: Decompressing \d+-bad\.tar\.zst failed at byte \d+ of its contents/],
    );
    await expectRefused(
      ['--tar', file('cut.tar.zst', zst.subarray(0, zst.length - 1000))],
      [/error: \d+-cut\.tar\.zst: Decompressing \d+-cut\.tar\.zst failed/],
    );
  });
});

describe('the command line', () => {
  it.each([
    ['--tar', 'nope.tar'],
    ['--files', 'nope-dir'],
    ['--closure', 'nope-registration'],
    ['--store', 'nope-store'],
    ['--export', 'nope.export'],
    ['--nar', 'nope.nar'],
  ])('a nonexistent input (%s) is named with its flag', async (flag, name) => {
    const p = join(work, name);
    await expectRefused([flag, p], [new RegExp(`error: ${flag} ${esc(p)}: no such file or folder`)]);
  });

  it('an input of the wrong kind is named, with the flag to use', async () => {
    const tar = file('x.tar', tarBytes([{ name: 'x', type: 'file', data: 'x' }]));
    await expectRefused(['--files', tar], [new RegExp(`error: --files ${esc(tar)}: not a folder.*use --tar`)]);
    await expectRefused(
      ['--closure', c.storeDir],
      [new RegExp(`error: --closure ${esc(c.storeDir)}: a folder, not a file.*use --store`)],
    );
  });

  it('an output in a folder that does not exist is refused before any work', async () => {
    const out = join(work, 'no-such-folder', 'disk.img');
    const r = await runCli('build', '-q', '--export', c.files.export, '-o', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`-o ${out}: the folder ${join(work, 'no-such-folder')} does not exist`);
    expect(existsSync(join(work, 'no-such-folder'))).toBe(false);
  });

  it.each([
    [['--block-size', '3000'], /block size 3000 is not one of 1024, 2048, 4096/],
    [['--label', 'a-label-of-twenty-b'], /label "a-label-of-twenty-b" is longer than 16 bytes/],
    [['--uuid', 'not-a-uuid'], /UUID "not-a-uuid"/],
    [['--fs-type', 'btrfs'], /filesystem type "btrfs"/],
    [['--compress=25'], /compression level 25|does not end in \.zst/],
    [['--frobnicate'], /unknown option --frobnicate/],
  ])('a bad option %j exits 2 with its message', async (args, message) => {
    await expectRefused(['--export', c.files.export, ...(args as string[])], [message as RegExp], 2);
  });

  it('the installed command (cli/bin.mjs) exits 0 for --help and 2 for a bad command line', () => {
    const bin = fileURLToPath(new URL('./bin.mjs', import.meta.url));
    const help = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--max-expanded-bytes N');
    const bad = spawnSync(process.execPath, [bin, 'build', '--files', work], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('disk-image-studio: no output file: add -o OUT.img or -o OUT.img.zst.');
    const missing = spawnSync(
      process.execPath,
      [bin, 'build', '--tar', join(work, 'absent.tar'), '-o', join(work, 'absent.img')],
      { encoding: 'utf8' },
    );
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(`error: --tar ${join(work, 'absent.tar')}: no such file or folder.`);
    expect(existsSync(join(work, 'absent.img'))).toBe(false);
  });

  it('a cancelled build leaves neither OUT nor its temporary file', async () => {
    const outDir = join(work, `cancel-${++n}`);
    mkdirSync(outDir);
    const out = join(outDir, 'disk.img');
    const controller = new AbortController();
    let stderr = '';
    let sawPartial = false;
    const code = await main(
      ['build', '--export', c.files.export, '-o', out],
      {
        stdout: () => {},
        stderr: (t) => {
          stderr += t;
          // Cancel once mkfs has run: the temporary output exists by then.
          if (t.startsWith('mkfs')) {
            sawPartial = readdirSync(outDir).some((name) => /^\.disk\.img\.[\w-]+\.partial$/.test(name));
            controller.abort();
          }
        },
        interactive: false,
      },
      controller.signal,
    );
    expect(sawPartial).toBe(true);
    expect(code).toBe(130);
    expect(stderr).toMatch(/cancelled/);
    expect(readdirSync(outDir)).toEqual([]);
  });
});
