/**
 * The installed command runs compiled JavaScript (scripts/build-cli.mjs), built when missing
 * and rebuilt when a source changed, and still works where it cannot be built. Checked on a
 * copy of the repository's files, as a fresh clone has them (no .cache/).
 */
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('..', import.meta.url));

describe('compiled command line', () => {
  let clone: string;
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'dis-compiled-cli-'));
    clone = join(work, 'repo');
    const tracked = spawnSync('git', ['ls-files', '-z', 'addon', 'cli', 'core', 'workers', 'scripts', 'package.json'], {
      cwd: repo,
      encoding: 'utf8',
    });
    expect(tracked.status).toBe(0);
    for (const file of tracked.stdout.split('\0').filter(Boolean)) {
      if (!existsSync(join(repo, file))) continue; // deleted in the working tree
      mkdirSync(join(clone, file, '..'), { recursive: true });
      cpSync(join(repo, file), join(clone, file));
    }
    // Installed packages and the committed wasm outputs, shared rather than copied.
    symlinkSync(join(repo, 'node_modules'), join(clone, 'node_modules'));
    symlinkSync(join(repo, 'wasm'), join(clone, 'wasm'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const bin = () => join(clone, 'cli/bin.mjs');
  const bundle = () => join(clone, '.cache/cli/main.mjs');
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [bin(), ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

  it('builds the bundle on first use and runs it', () => {
    expect(existsSync(bundle())).toBe(false);
    const help = run(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('disk-image-studio build');
    expect(existsSync(bundle())).toBe(true);
    const inputs = JSON.parse(readFileSync(join(clone, '.cache/cli/inputs.json'), 'utf8')).inputs;
    expect(Object.keys(inputs)).toContain('cli/main.ts');
    expect(Object.keys(inputs)).toContain('workers/pipeline/build-image.ts');
  });

  it('builds a real image from the bundle, checked by native e2fsck and zstd', () => {
    const tree = join(work, 'tree');
    mkdirSync(join(tree, 'etc'), { recursive: true });
    writeFileSync(join(tree, 'etc/hostname'), 'studio\n');
    symlinkSync('hostname', join(tree, 'etc/name'));
    const out = join(work, 'out.img.zst');
    const r = run(['build', '--files', tree, '-q', '-o', out]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const img = join(work, 'out.img');
    expect(spawnSync('zstd', ['-q', '-d', '-f', out, '-o', img]).status).toBe(0);
    const fsck = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
    expect(fsck.status).toBe(0);
    const cat = spawnSync('debugfs', ['-R', 'cat /etc/hostname', img], { encoding: 'utf8' });
    expect(cat.stdout).toBe('studio\n');
  });

  it('works without the wasm code cache addon, says why with --debug, and uses the addon once built', () => {
    const tree = join(work, 'addon-tree');
    mkdirSync(tree);
    writeFileSync(join(tree, 'motd'), 'hello\n'.repeat(1000));
    const env = { DISK_IMAGE_STUDIO_WASM_CACHE: join(work, 'wasm-code') };
    const addon = join(
      clone,
      '.cache/addon',
      `wasm-code-cache-${process.platform}-${process.arch}-abi${process.versions.modules}.node`,
    );
    expect(existsSync(addon)).toBe(false);
    const without = run(['build', '--files', tree, '-q', '--debug', '-o', join(work, 'no-addon.img')], env);
    expect(without.status, without.stderr).toBe(0);
    expect(without.stderr).toContain(
      `wasm code cache off: the addon ${addon} did not load (MODULE_NOT_FOUND); build it with \`node scripts/build-addon.mjs\`\n`,
    );

    const buildAddon = (args: string[], extra: Record<string, string> = {}) =>
      spawnSync(process.execPath, [join(clone, 'scripts/build-addon.mjs'), ...args], {
        encoding: 'utf8',
        env: { ...process.env, ...extra },
      });
    const noCompiler = { CXX: join(work, 'no-such-compiler') };
    const failed = buildAddon([], noCompiler);
    expect(failed.status).toBe(1);
    expect(failed.stderr).toContain(
      `the C++ compiler \`${noCompiler.CXX}\` did not start (ENOENT); install one (Debian: g++) or set CXX`,
    );
    expect(buildAddon(['--quiet-failure'], noCompiler).status).toBe(0); // as `prepare` runs it
    expect(existsSync(addon)).toBe(false);

    const built = buildAddon([]);
    expect(built.status, built.stderr).toBe(0);
    expect(existsSync(addon)).toBe(true);
    const withAddon = run(['build', '--files', tree, '-q', '--debug', '-o', join(work, 'addon.img')], env);
    expect(withAddon.status, withAddon.stderr).toBe(0);
    expect(withAddon.stderr).toMatch(
      /^wasm code cache \S+: mke2fs compiled, saved \d+ bytes; e2fsck compiled, saved \d+ bytes/m,
    );
    expect(readFileSync(join(work, 'addon.img'))).toEqual(readFileSync(join(work, 'no-addon.img')));
  });

  it('rebuilds the bundle when a source changed', () => {
    const before = statSync(bundle()).mtimeMs;
    const usage = join(clone, 'cli/args.ts');
    const text = readFileSync(usage, 'utf8');
    expect(text).toContain('Usage:');
    writeFileSync(usage, text.replace('Usage:', 'Usage (changed):'));
    const future = new Date(Date.now() + 5000);
    utimesSync(usage, future, future);
    const help = run(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage (changed):');
    expect(statSync(bundle()).mtimeMs).toBeGreaterThan(before);
  });

  it('keeps lazily imported code in chunks beside the bundle, and rebuilds when one is missing', () => {
    const { chunks } = JSON.parse(readFileSync(join(clone, '.cache/cli/inputs.json'), 'utf8'));
    expect(chunks.length).toBeGreaterThan(0);
    // The fetcher's packages are imported by a chunk, not by the bundle itself.
    expect(readFileSync(bundle(), 'utf8')).not.toMatch(/from "(@noble\/curves|xz-decompress|unbzip2-stream)/);
    rmSync(join(clone, '.cache/cli', chunks[0]));
    const help = run(['--help']);
    expect(help.status).toBe(0);
    expect(existsSync(join(clone, '.cache/cli', chunks[0]))).toBe(true);
  });

  it('runs from the TypeScript sources with DISK_IMAGE_STUDIO_FROM_SOURCE=1', () => {
    rmSync(join(clone, '.cache'), { recursive: true, force: true });
    const help = run(['--help'], { DISK_IMAGE_STUDIO_FROM_SOURCE: '1' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage (changed):');
    expect(existsSync(bundle())).toBe(false);
  });
});
