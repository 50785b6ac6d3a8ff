/**
 * Checks of a built image with native tools only: e2fsck, debugfs (cat, rdump, stat),
 * nix-hash, and a fresh private Nix store loaded from the image's `/nix-path-registration`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { nativeTool, runNative, type HostEntry, walkHost } from '../../workers/test-support/native.ts';
import { nix, nixOk, storeUriOf } from './nix-closure.ts';

/** `e2fsck -fn IMG`: exit status and report. */
export function fsck(img: string): { status: number; output: string } {
  const r = runNative('e2fsck', ['-f', '-n', img]);
  return { status: r.status, output: r.stdout + r.stderr };
}

/** A file of the image, through native `debugfs -R 'cat PATH'`. */
export function debugfsCat(img: string, path: string): Buffer {
  return execFileSync(nativeTool('debugfs'), ['-R', `cat "${path}"`, img], {
    maxBuffer: 1 << 28,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** `debugfs -R 'rdump PATH DEST'`: the directory PATH of the image appears as DEST/<name of PATH>. */
export function rdump(img: string, path: string, dest: string): void {
  mkdirSync(dest, { recursive: true });
  const r = spawnSync(nativeTool('debugfs'), ['-R', `rdump "${path}" "${dest}"`, img], { encoding: 'utf8' });
  const complaints = r.stderr.split('\n').filter((l) => l && !/^debugfs \d/.test(l));
  if (r.status !== 0 || complaints.length) throw new Error(`debugfs rdump ${path} failed:\n${r.stderr}`);
}

/** Nix's NAR hash of a host path, `sha256:<base32>`, by native nix-hash. */
export function narHashOf(path: string): string {
  return 'sha256:' + nixOk('nix-hash', ['--type', 'sha256', '--base32', path]).toString().trim();
}

/** lstat walk of a host path (a directory, file or symlink); keys relative, `/` is the path itself. */
export function walkPath(root: string): Map<string, HostEntry> {
  return walkHost(root, { withRoot: true });
}

function describe(e: HostEntry | undefined): string {
  if (!e) return 'nothing';
  return `${e.type} ${e.mode.toString(8)}${e.target !== undefined ? ` -> ${e.target}` : ''}${e.sha256 ? ` sha256 ${e.sha256.slice(0, 12)}` : ''}`;
}

/**
 * Differences between two copies of store paths (`want` and `got` folders, each holding
 * `<base>` per store path): the set of names, types, permission bits, contents, symlink
 * targets and (except symlinks, whose times rdump cannot set) mtimes.
 */
export function diffStoreCopies(want: string, got: string, bases: string[]): string[] {
  const diffs: string[] = [];
  for (const base of bases) {
    if (!lstatSync(join(got, base), { throwIfNoEntry: false })) {
      diffs.push(`${base}: missing`);
      continue;
    }
    const w = walkPath(join(want, base));
    const g = walkPath(join(got, base));
    for (const [p, we] of w) {
      const ge = g.get(p);
      const same =
        ge &&
        ge.type === we.type &&
        ge.sha256 === we.sha256 &&
        ge.target === we.target &&
        (we.type === 'symlink' || (ge.mode === we.mode && ge.mtime === we.mtime));
      if (!same)
        diffs.push(
          `${base}${p === '/' ? '' : p}: ${describe(ge)}${ge && ge.mtime !== we.mtime && we.type !== 'symlink' ? ` mtime ${ge.mtime}` : ''}, want ${describe(we)}`,
        );
    }
    for (const p of g.keys()) if (!w.has(p)) diffs.push(`${base}${p}: extra ${describe(g.get(p))}`);
  }
  return diffs;
}

export interface FreshStore {
  root: string;
  storeUri: string;
  /** The registration loaded, as the image holds it. */
  registration: string;
  loadDb: { status: number; stderr: string };
  /** `nix-store --verify --check-contents` */
  verify: { status: number; output: string };
}

/**
 * Loads the image's `/nix-path-registration` into a fresh private store
 * (`nix-store --load-db`), copies the image's `/nix/store` into that store's folder
 * (rdump), and runs `nix-store --verify --check-contents` on it.
 */
export function loadIntoFreshStore(img: string, work: string): FreshStore {
  const root = join(work, 'fresh-root');
  const storeUri = storeUriOf(root);
  const registration = debugfsCat(img, '/nix-path-registration').toString('utf8');
  const load = nix('nix-store', ['--store', storeUri, '--load-db'], registration);
  rdump(img, '/nix/store', join(work, 'fresh-dump'));
  mkdirSync(join(root, 'nix/store'), { recursive: true });
  execFileSync('cp', ['-a', `${join(work, 'fresh-dump/store')}/.`, `${join(root, 'nix/store')}/`]);
  const v = nix('nix-store', ['--store', storeUri, '--verify', '--check-contents']);
  return {
    root,
    storeUri,
    registration,
    loadDb: { status: load.status, stderr: load.stderr },
    verify: { status: v.status, output: v.stdout.toString() + v.stderr },
  };
}

/** `nix-store --query --references` of each path, in a store. */
export function referencesIn(storeUri: string, paths: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const p of paths)
    out[p] = nixOk('nix-store', ['--store', storeUri, '--query', '--references', p])
      .toString()
      .split('\n')
      .filter(Boolean)
      .sort();
  return out;
}

/** `zstd` run natively (test, decompress). */
export function zstd(args: string[]): { status: number; stdout: string; stderr: string } {
  return runNative('zstd', args);
}
