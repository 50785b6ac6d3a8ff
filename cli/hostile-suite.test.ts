/**
 * The hostile-input suite: cases generated from a seed (`HOSTILE_SEED`, default below) over
 * every input kind (--files, --tar, --tar.gz, --nar, --export, --closure + --store),
 * hostile forms of each (missing, a FIFO, a device, the wrong kind), options (labels with
 * control characters, block sizes, filesystem types, headroom, compression) and traps at
 * the output (an old output, a symlink at the old predictable temporary name, a FIFO, one
 * of the inputs). Each case runs the installed command (`cli/bin.mjs`) as its own process
 * under GNU time and asserts: the exit code; a message naming the input at fault; no
 * output file on failure and an old output untouched; peak memory under a bound; and for
 * every successful build a clean native `e2fsck -fn` and the tree that went in (native
 * debugfs rdump compared with the source: types, modes, contents, link targets).
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../workers/test-support/native.ts';
import { fsck, rdump, walkPath } from './test-support/native.ts';
import { buildNixClosure, type NixClosure } from './test-support/nix-closure.ts';

const SEED = Number(process.env.HOSTILE_SEED ?? 20261130);
const CASES = Number(process.env.HOSTILE_CASES ?? 28);
/** Peak resident memory of one CLI process on these small inputs (it is ~150 MiB). */
const MEMORY_BOUND_KIB = 768 * 1024;
const BIN = fileURLToPath(new URL('./bin.mjs', import.meta.url));

const { dir: work, cleanup } = tempDir('cli-hostile-suite-');
afterAll(cleanup);
let c: NixClosure;
let tree: string;
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

/** mulberry32: a small, seedable generator, so a failing case can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Kind = 'files' | 'tar' | 'tar.gz' | 'nar' | 'export' | 'closure+store';
type Hazard = 'ok' | 'missing' | 'fifo' | 'device' | 'wrong-kind';
type OutputTrap = 'none' | 'old-output' | 'planted-link' | 'fifo' | 'an-input';
interface Case {
  kind: Kind;
  hazard: Hazard;
  trap: OutputTrap;
  label: string;
  options: string[];
  compress: boolean;
}

const KINDS: Kind[] = ['files', 'tar', 'tar.gz', 'nar', 'export', 'closure+store'];
const HAZARDS: Hazard[] = ['ok', 'ok', 'ok', 'missing', 'fifo', 'device', 'wrong-kind'];
const TRAPS: OutputTrap[] = ['none', 'none', 'old-output', 'planted-link', 'fifo', 'an-input'];
const LABELS = ['nixos', 'with space', 'é-ü', '\nBlock count: 1', 'tab\there', 'x'.repeat(17)];
const OPTION_SETS = [
  [],
  ['--block-size', '1024'],
  ['--block-size', '4096', '--fs-type', 'ext2'],
  ['--fs-type', 'ext3', '--headroom', '4'],
  ['--inode-size', '128', '--epoch', '1000000'],
  ['--headroom', '64'],
];

function generate(seed: number, n: number): Case[] {
  const r = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const out: Case[] = [];
  for (let i = 0; i < n; i++) {
    // Every kind in turn, the rest from the seed; bad labels are rare, so most cases build.
    const trap = pick(TRAPS);
    out.push({
      kind: KINDS[i % KINDS.length],
      // An output onto one of the inputs needs that input to be there.
      hazard: trap === 'an-input' ? 'ok' : pick(HAZARDS),
      trap,
      label: r() < 0.75 ? 'nixos' : pick(LABELS),
      options: pick(OPTION_SETS),
      compress: r() < 0.3,
    });
  }
  return out;
}

beforeAll(() => {
  c = buildNixClosure(join(work, 'nix'));
  tree = join(work, 'tree');
  mkdirSync(join(tree, 'etc/ssh'), { recursive: true });
  mkdirSync(join(tree, 'bin'));
  writeFileSync(join(tree, 'etc/motd'), 'hello\n');
  writeFileSync(join(tree, 'etc/ssh/sshd_config'), 'PermitRootLogin no\n');
  chmodSync(join(tree, 'etc/ssh/sshd_config'), 0o600);
  writeFileSync(join(tree, 'bin/run'), '#!/bin/sh\necho run\n');
  chmodSync(join(tree, 'bin/run'), 0o755);
  writeFileSync(join(tree, 'zeros.bin'), new Uint8Array(300_000));
  symlinkSync('../etc/motd', join(tree, 'bin/motd-link'));
  symlinkSync('/etc/shadow', join(tree, 'shadow-link'));
  execFileSync('tar', ['-C', tree, '-cf', join(work, 'tree.tar'), '.']);
  writeFileSync(join(work, 'tree.tar.gz'), gzipSync(readFileSync(join(work, 'tree.tar'))));
  execFileSync('mkfifo', [join(work, 'fifo')]);
  mkdirSync(join(work, 'a-folder'));
});

interface Prepared {
  args: string[];
  /** The path a failure must name. */
  names?: string;
  /** What a successful build holds: a folder to compare with `/`, or store paths. */
  want: { root: string } | { store: true };
}

function inputArgs(t: Case): Prepared {
  const bad = (flag: string, wantsFolder: boolean): Prepared => {
    const p =
      t.hazard === 'missing'
        ? join(work, 'no-such-input')
        : t.hazard === 'fifo'
          ? join(work, 'fifo')
          : t.hazard === 'device'
            ? wantsFolder
              ? '/dev/null'
              : '/dev/zero'
            : wantsFolder
              ? join(work, 'tree.tar')
              : join(work, 'a-folder');
    return { args: [flag, p], names: p, want: { root: tree } };
  };
  switch (t.kind) {
    case 'files':
      return t.hazard === 'ok' ? { args: ['--files', tree], want: { root: tree } } : bad('--files', true);
    case 'tar':
      return t.hazard === 'ok'
        ? { args: ['--tar', join(work, 'tree.tar')], want: { root: tree } }
        : bad('--tar', false);
    case 'tar.gz':
      return t.hazard === 'ok'
        ? { args: ['--tar', join(work, 'tree.tar.gz')], want: { root: tree } }
        : bad('--tar', false);
    case 'nar':
      return t.hazard === 'ok'
        ? { args: ['--closure', c.files.registration, ...narList()], want: { store: true } }
        : bad('--nar', false);
    case 'export':
      return t.hazard === 'ok' ? { args: ['--export', c.files.export], want: { store: true } } : bad('--export', false);
    case 'closure+store':
      return t.hazard === 'ok'
        ? { args: ['--closure', c.files.registration, '--store', c.storeDir], want: { store: true } }
        : t.hazard === 'wrong-kind'
          ? { args: ['--closure', c.storeDir], names: c.storeDir, want: { store: true } }
          : bad('--closure', false);
  }
}

function narList(): string[] {
  return readdirSync(c.files.narDir)
    .sort()
    .flatMap((n) => ['--nar', join(c.files.narDir, n)]);
}

/** Runs the installed command under GNU time: exit code, output, peak RSS in KiB. */
function runBin(args: string[]): Promise<{ code: number; stdout: string; stderr: string; maxRssKiB: number }> {
  const timeFile = join(work, `time-${Math.random().toString(36).slice(2)}`);
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/time', ['-o', timeFile, '-f', '%M', process.execPath, BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => {
      const lines = readFileSync(timeFile, 'utf8').trim().split('\n');
      resolve({ code: code ?? -1, stdout, stderr, maxRssKiB: Number(lines[lines.length - 1]) });
    });
  });
}

/** Differences between a host folder and the image's root dumped by native debugfs (type, mode, contents, target). */
function treeDiffs(want: string, got: string): string[] {
  const w = walkPath(want);
  const g = walkPath(got);
  const diffs: string[] = [];
  const show = (e: ReturnType<typeof w.get>) =>
    e ? `${e.type} ${e.mode.toString(8)} ${e.target ?? ''}${e.sha256?.slice(0, 12) ?? ''}` : 'nothing';
  for (const [p, we] of w) {
    const ge = g.get(p);
    const same =
      ge &&
      ge.type === we.type &&
      ge.sha256 === we.sha256 &&
      ge.target === we.target &&
      (we.type === 'symlink' || p === '/' || ge.mode === we.mode);
    if (!same) diffs.push(`${p}: ${show(ge)}, want ${show(we)}`);
  }
  for (const p of g.keys()) if (!w.has(p) && p !== '/lost+found') diffs.push(`${p}: extra`);
  return diffs;
}

const cases = generate(SEED, CASES);

describe(`hostile inputs (seed ${SEED}, ${CASES} cases)`, () => {
  it.each(cases.map((t, i) => [i, JSON.stringify(t), t] as const))('case %i: %s', async (i, _json, t) => {
    const dir = join(work, `case-${i}`);
    mkdirSync(dir);
    const prepared = inputArgs(t);
    let out = join(dir, t.compress ? 'out.img.zst' : 'out.img');
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'not to be touched\n');
    if (t.trap === 'old-output') writeFileSync(out, 'the old output\n');
    if (t.trap === 'planted-link') symlinkSync(victim, `${out}.partial`);
    if (t.trap === 'fifo') {
      out = join(dir, 'out-fifo');
      execFileSync('mkfifo', [out]);
    }
    // One of the inputs: the input file itself, or a file inside an input folder.
    if (t.trap === 'an-input')
      out =
        prepared.args.find(
          (a) => a.endsWith('.tar') || a.endsWith('.tar.gz') || a.endsWith('.export') || a.endsWith('registration'),
        ) ?? join(tree, 'etc/motd');
    const outBefore = t.trap === 'an-input' ? sha(out) : '';
    const before = new Map(readdirSync(dir).map((n) => [n, lstatSync(join(dir, n)).isFile() ? sha(join(dir, n)) : '']));
    const inputBefore = sha(join(work, 'tree.tar'));

    const r = await runBin(['build', '-q', ...prepared.args, '--label', t.label, ...t.options, '-o', out]);

    const labelBad = /[\n\t]/.test(t.label) || new TextEncoder().encode(t.label).length > 16;
    const trapBad = t.trap === 'fifo' || t.trap === 'an-input';
    const expected = labelBad ? 2 : trapBad || t.hazard !== 'ok' ? 1 : 0;
    expect(r.code, r.stderr).toBe(expected);
    if (expected === 0) expect(r.stdout).toContain(`${out}: `);
    expect(r.maxRssKiB).toBeGreaterThan(0);
    expect(r.maxRssKiB).toBeLessThan(MEMORY_BOUND_KIB);
    expect(r.stderr).not.toMatch(/Unexpected|defect|ran out of room/i);
    // Nothing outside the output was touched.
    expect(readFileSync(victim, 'utf8')).toBe('not to be touched\n');
    expect(sha(join(work, 'tree.tar'))).toBe(inputBefore);
    if (t.trap === 'an-input') expect(sha(out)).toBe(outBefore);

    if (expected !== 0) {
      if (labelBad) expect(r.stderr).toMatch(/label "/);
      else if (trapBad) expect(r.stderr).toContain(`-o ${out}:`);
      else expect(r.stderr).toContain(prepared.names!);
      // No new file; the old ones as they were.
      const after = new Map(
        readdirSync(dir).map((n) => [n, lstatSync(join(dir, n)).isFile() ? sha(join(dir, n)) : '']),
      );
      expect(after).toEqual(before);
      return;
    }

    expect(lstatSync(out).isFile()).toBe(true);
    expect(readdirSync(dir).filter((n) => n.endsWith('.partial') && !lstatSync(join(dir, n)).isSymbolicLink())).toEqual(
      [],
    );
    let img = out;
    if (t.compress) {
      img = join(dir, 'plain.img');
      execFileSync('zstd', ['-q', '-d', out, '-o', img]);
    }
    const f = fsck(img);
    expect(f.status, f.output).toBe(0);
    const dump = join(dir, 'dump');
    if ('root' in prepared.want) {
      rdump(img, '/', dump);
      // rdump of / writes the root's entries straight into the folder.
      expect(treeDiffs(prepared.want.root, dump)).toEqual([]);
    } else {
      rdump(img, '/nix/store', dump);
      // Every path of the closure, as in the store (times aside: --epoch sets them all).
      for (const p of c.paths) {
        const base = p.slice('/nix/store/'.length);
        expect(treeDiffs(join(c.storeDir, base), join(dump, 'store', base)), base).toEqual([]);
      }
    }
    expect(existsSync(join(dir, 'dump'))).toBe(true);
  });
});
