#!/usr/bin/env node
// Makes a fresh clone ready for `npm start` or `npm test`: installs the npm packages when
// they are missing or older than package-lock.json and, for tests, the Debian packages the
// tests compare our output against. Where it cannot install (not root, not Debian) it says
// exactly what is missing and stops.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAddon } from './build-addon.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const mode = process.argv[2] ?? 'test';

/** Debian packages the tests and the benchmark use, with the command each provides. */
const TEST_PACKAGES = [
  { pkg: 'e2fsprogs', cmd: 'e2fsck' },
  { pkg: 'zstd', cmd: 'zstd' },
  { pkg: 'nix-bin', cmd: 'nix-store' },
  { pkg: 'chromium', cmd: 'chromium' },
  // The binary cache decompressor tests compare with native xz and bzip2.
  { pkg: 'xz-utils', cmd: 'xz' },
  { pkg: 'bzip2', cmd: 'bzip2' },
  // Builds the Node addons (the wasm code cache, the command line's exit; the tests check them).
  { pkg: 'g++', cmd: 'c++' },
];

function have(cmd) {
  return (
    spawnSync('sh', ['-c', `command -v ${cmd} || test -x /usr/sbin/${cmd} || test -x /sbin/${cmd}`], {
      stdio: 'ignore',
    }).status === 0
  );
}

function ensureNpmPackages() {
  const lock = join(root, 'package-lock.json');
  const installed = join(root, 'node_modules', '.package-lock.json');
  if (existsSync(installed) && statSync(installed).mtimeMs >= statSync(lock).mtimeMs) return;
  console.error('setup: installing npm packages (npm ci)…');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
}

function ensureDebianPackages(list) {
  const missing = list.filter((p) => !have(p.cmd));
  if (missing.length === 0) return;
  const names = missing.map((p) => p.pkg).join(' ');
  const isRoot = process.getuid?.() === 0;
  const isDebian = existsSync('/etc/debian_version') && have('apt-get');
  if (!isRoot || !isDebian) {
    console.error(`setup: missing commands ${missing.map((p) => p.cmd).join(', ')}.`);
    console.error(
      isDebian
        ? `setup: run as root, or install them first: sudo apt-get install -y ${names}`
        : `setup: install the equivalents of the Debian packages: ${names}`,
    );
    process.exit(1);
  }
  console.error(`setup: installing Debian packages: ${names}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
  // With recommends: nix-bin's nix-setup-systemd brings /etc/nix/nix.conf (sandbox off), as the tests expect.
  execFileSync('apt-get', ['install', '-y', '-q', ...missing.map((p) => p.pkg)], { stdio: 'inherit', env });
}

ensureNpmPackages();
if (mode === 'test') ensureDebianPackages(TEST_PACKAGES);
for (const f of ['wasm/e2fsprogs/dist/mke2fs.wasm', 'wasm/zstd/dist/zstd.wasm']) {
  if (!existsSync(join(root, f))) {
    console.error(`setup: ${f} is missing; rebuild the WebAssembly tools with \`npm run build:wasm\`.`);
    process.exit(1);
  }
}
// The Node addons (scripts/build-addon.mjs): the tests need them; the studio runs without.
const addonProblem = buildAddon();
if (addonProblem) {
  console.error(`setup: the Node addons were not built: ${addonProblem}`);
  if (mode === 'test') process.exit(1);
  console.error(
    'setup: the studio works without them; the command line compiles the wasm tools again in every process.',
  );
}
