/**
 * Same bytes as native e2fsprogs: native 1.47.4, built from the same pinned source with the
 * same configure options (`wasm/native/build.sh`), and our wasm build, given the same
 * arguments (the pipeline's own `mkfsArgs`), environment and mke2fs.conf, make identical
 * images from the same trees, byte for byte; so do their `resize2fs -M` runs after.
 *
 * The first run builds native e2fsprogs (about half a minute on 2 cores; cached under
 * wasm/.build afterwards).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  linkSync,
  lutimesSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BUILD_OPTIONS } from '../../core/build-options.ts';
import type { BuildOptions } from '../../core/engine-contract.ts';
import { walkHostDir } from '../../core/io/host-tree.ts';
import { planSize } from '../../core/size-plan.ts';
import { mkfsArgs } from './build-image.ts';
import { MemoryImageStore } from '../runtime/image-store.ts';
import { runTool } from '../runtime/run-tool.ts';
import { tempDir } from '../test-support/native.ts';
import { pseudoRandom } from '../test-support/tree-fixture.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const conf = join(repo, 'wasm/e2fsprogs/dist/mke2fs.conf');
const tmp = tempDir('parity-');
afterAll(() => tmp.cleanup());
let native = '';

beforeAll(() => {
  native = execFileSync('bash', [join(repo, 'wasm/native/build.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}, 600_000);

const EPOCH = 1;

/** Every name of the tree gets atime = mtime = the epoch (symlinks too), as TREEFS reports. */
function pinTimes(root: string): void {
  const paths = execFileSync('find', [root, '-print0'], { encoding: 'buffer' }).toString().split('\0').filter(Boolean);
  for (const p of paths) lutimesSync(p, EPOCH, EPOCH);
}

function fixtureTree(): string {
  const root = join(tmp.dir, 'fixture');
  mkdirSync(join(root, 'etc/ssh'), { recursive: true });
  mkdirSync(join(root, 'bin'));
  mkdirSync(join(root, 'empty'));
  mkdirSync(join(root, 'deep/a/b/c/d/e/f/g'), { recursive: true });
  writeFileSync(join(root, 'etc/motd'), 'welcome\n');
  writeFileSync(join(root, 'etc/ssh/sshd_config'), 'PermitRootLogin no\n');
  chmodSync(join(root, 'etc/ssh/sshd_config'), 0o600);
  writeFileSync(join(root, 'bin/tool'), '#!/bin/sh\necho tool\n');
  chmodSync(join(root, 'bin/tool'), 0o4755);
  chmodSync(join(root, 'deep'), 0o1777);
  writeFileSync(join(root, 'empty-file'), '');
  writeFileSync(join(root, 'block-4095'), pseudoRandom(4095, 2));
  writeFileSync(join(root, 'block-4096'), pseudoRandom(4096, 3));
  writeFileSync(join(root, 'big.bin'), pseudoRandom(3 << 20, 4));
  // Zero blocks inside a file: mke2fs leaves them out (holes), both builds alike.
  const holes = pseudoRandom(300_000, 5);
  holes.fill(0, 40_000, 200_000);
  writeFileSync(join(root, 'holes.bin'), holes);
  writeFileSync(join(root, 'zeros.bin'), new Uint8Array(1 << 20));
  writeFileSync(join(root, 'deep/a/b/c/d/e/f/g/leaf'), 'leaf\n');
  symlinkSync('../etc/motd', join(root, 'bin/motd'));
  symlinkSync(`/${'long-target/'.repeat(20)}end`, join(root, 'long-link'));
  linkSync(join(root, 'etc/motd'), join(root, 'etc/motd.hardlink'));
  linkSync(join(root, 'bin/tool'), join(root, 'deep/tool-again'));
  chownSync(join(root, 'etc/motd'), 1000, 100);
  chownSync(join(root, 'deep/a'), 65534, 65534);
  writeFileSync(join(root, 'unicode-ünïcode-漢字'), 'names\n');
  pinTimes(root);
  return root;
}

function manyFilesTree(): string {
  const root = join(tmp.dir, 'many');
  for (let d = 0; d < 60; d++) {
    mkdirSync(join(root, `dir-${d}`), { recursive: true });
    for (let f = 0; f < 50; f++) writeFileSync(join(root, `dir-${d}`, `file-${f}.txt`), `${d}/${f}\n`.repeat(f));
  }
  pinTimes(root);
  return root;
}

interface Made {
  bytes: Buffer;
  output: string;
}

/** Native mke2fs (and resize2fs -M) with our arguments, environment and mke2fs.conf. */
function nativeRun(args: string[], hostTree: string, size: number, shrink: boolean): Made {
  const img = join(tmp.dir, `native-${Math.random().toString(36).slice(2)}.img`);
  writeFileSync(img, '');
  execFileSync('truncate', ['-s', String(size), img]);
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    MKE2FS_CONFIG: conf,
    SS_READLINE_PATH: 'none',
    E2FSPROGS_LIBMAGIC_SUPPRESS: '1',
    E2FSPROGS_SKIP_PROGRESS: '1',
    LANG: 'C',
    E2FSPROGS_FAKE_TIME: String(EPOCH),
    SOURCE_DATE_EPOCH: String(EPOCH),
    E2FSCK_TIME: String(EPOCH),
  };
  const hostArgs = args.map((a) => (a === '/tree' ? hostTree : a === '/image/disk.img' ? img : a));
  const r = spawnSync(join(native, 'mke2fs'), hostArgs, { env, encoding: 'utf8' });
  expect(r.status, r.stdout + r.stderr).toBe(0);
  let output = r.stdout + r.stderr;
  if (shrink) {
    const s = spawnSync(join(native, 'resize2fs'), ['-M', img], { env, encoding: 'utf8' });
    expect(s.status, s.stdout + s.stderr).toBe(0);
    output += s.stdout + s.stderr;
  }
  return { bytes: readFileSync(img), output: output.replaceAll(img, '/image/disk.img') };
}

async function wasmRun(args: string[], hostTree: string, size: number, shrink: boolean): Promise<Made> {
  const entries = await walkHostDir(hostTree, 'parity');
  const store = new MemoryImageStore(size);
  const mounts = [{ type: 'image' as const, path: '/image/disk.img', store }];
  const r = await runTool('mke2fs', args, {
    epoch: EPOCH,
    mounts: [...mounts, { type: 'tree', path: '/tree', entries }],
  });
  expect(r.exitCode, r.stdout + r.stderr).toBe(0);
  let output = r.stdout + r.stderr;
  if (shrink) {
    const s = await runTool('resize2fs', ['-M', '/image/disk.img'], { epoch: EPOCH, mounts });
    expect(s.exitCode, s.stdout + s.stderr).toBe(0);
    output += s.stdout + s.stderr;
  }
  return { bytes: Buffer.from(store.read(0, store.size)), output };
}

/** Offsets (first few) where two images differ, and how many bytes differ. */
function differences(a: Buffer, b: Buffer): { count: number; first: number[] } {
  const first: number[] = [];
  let count = Math.abs(a.length - b.length);
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) {
      count++;
      if (first.length < 8) first.push(i);
    }
  }
  return { count, first };
}

describe('wasm mke2fs and resize2fs give the bytes native 1.47.4 gives', () => {
  const cases: [string, () => string, Partial<BuildOptions>][] = [
    ['fixture tree, defaults (ext4)', fixtureTree, {}],
    [
      'fixture tree, ext2 with 1 KiB blocks and 128-byte inodes',
      fixtureTree,
      { fsType: 'ext2', blockSize: 1024, inodeSize: 128 },
    ],
    ['fixture tree, ext3 with 4 KiB blocks', fixtureTree, { fsType: 'ext3', blockSize: 4096 }],
    ['3,000 small files in 60 folders', manyFilesTree, { label: 'many', uuid: '0b8a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d' }],
  ];
  const trees = new Map<() => string, string>();

  it.each(cases)(
    '%s',
    async (_name, makeTree, opts) => {
      let host = trees.get(makeTree);
      if (!host) trees.set(makeTree, (host = makeTree()));
      const options = { ...DEFAULT_BUILD_OPTIONS, ...opts };
      const entries = await walkHostDir(host, 'parity');
      const plan = planSize(entries, options);
      // The pipeline's own arguments, with the plan's layout (-b, -N).
      const args = mkfsArgs(options, plan.initialImageBytes, entries[0], plan);
      const ours = await wasmRun(args, host, plan.initialImageBytes, false);
      const theirs = nativeRun(args, host, plan.initialImageBytes, false);
      expect(ours.bytes.length).toBe(theirs.bytes.length);
      expect(differences(ours.bytes, theirs.bytes), `mke2fs ${args.join(' ')}`).toEqual({ count: 0, first: [] });
      // The same output too (stdout and stderr are not terminals in either).
      expect(ours.output).toBe(theirs.output);

      const shrunkOurs = await wasmRun(args, host, plan.initialImageBytes, true);
      const shrunkTheirs = nativeRun(args, host, plan.initialImageBytes, true);
      expect(differences(shrunkOurs.bytes, shrunkTheirs.bytes), 'after resize2fs -M').toEqual({ count: 0, first: [] });
      expect(shrunkOurs.output).toBe(shrunkTheirs.output);
      // Native e2fsck finds both clean.
      const img = join(tmp.dir, 'check.img');
      writeFileSync(img, shrunkOurs.bytes);
      const fsck = spawnSync(join(native, 'e2fsck'), ['-fn', img], { encoding: 'utf8' });
      expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
    },
    180_000,
  );
});
