/**
 * Keeping the store paths of a closure as certified, in the build itself (whatever produced
 * the request: the CLI's resolved inputs or the page's edited tree): entries inside a store
 * path must carry Nix's metadata, and what mke2fs copies of each store path must hash to the
 * NAR hash the registration certifies (checked as it is copied, `nar-stream-check.ts`).
 */
import type { InputProblem, StorePathInfo, TreeEntry } from '../../core/image-tree.ts';
import type { NarCheckResult, SealedStorePath } from '../runtime/nar-stream-check.ts';
import type { InputChangedError } from '../runtime/tree-fs.ts';

/** Store paths whose contents the image holds, with the NAR hash each must have. */
export function sealedStorePaths(closure: readonly StorePathInfo[]): SealedStorePath[] {
  const out: SealedStorePath[] = [];
  for (const c of closure) if (c.contents === 'present' && c.narHash) out.push({ path: c.path, narHash: c.narHash });
  return out;
}

function storePathOf(path: string, sealed: ReadonlySet<string>): string | undefined {
  if (!path.startsWith('/nix/store/')) return undefined;
  const end = path.indexOf('/', '/nix/store/'.length);
  const root = end < 0 ? path : path.slice(0, end);
  return sealed.has(root) ? root : undefined;
}

/**
 * Entries inside a certified store path whose metadata Nix would never give it (owner other
 * than root, a mode other than 0444/0555 for files, 0555 for directories): refused, since
 * `nix-store --verify` and the NAR hash would not notice, and a store path must not change.
 */
export function storeMetadataProblems(
  entries: readonly TreeEntry[],
  closure: readonly StorePathInfo[],
): InputProblem[] {
  const sealed = new Set(sealedStorePaths(closure).map((s) => s.path));
  if (sealed.size === 0) return [];
  const problems: InputProblem[] = [];
  for (const e of entries) {
    const storePath = storePathOf(e.path, sealed);
    if (!storePath) continue;
    const mode = e.mode & 0o7777;
    const modeOk =
      e.type === 'directory' ? mode === 0o555 : e.type === 'file' ? mode === 0o444 || mode === 0o555 : true; // symlinks' mode is not kept; hard links share their file's
    if (modeOk && e.uid === 0 && e.gid === 0) continue;
    problems.push({
      severity: 'error',
      code: 'store-path-sealed',
      input: e.origin,
      path: e.path,
      message: `${e.path} is inside ${storePath}, a certified store path, but has mode ${mode.toString(8).padStart(4, '0')} and owner ${e.uid}:${e.gid}; a store path keeps Nix's (0444 or 0555, root).`,
      hint: `Undo the change to ${e.path}. To change a store path, build a new one with Nix.`,
      sealed: { storePath, closureInput: e.origin },
    });
    if (problems.length >= 100) break;
  }
  return problems;
}

/** Problems for store paths whose copy did not hash to the certified NAR hash. */
export function narCheckProblems(results: readonly NarCheckResult[], entries: readonly TreeEntry[]): InputProblem[] {
  const failed = results.filter((r) => !r.ok);
  if (failed.length === 0) return [];
  const origins = new Map<string, string>();
  for (const e of entries)
    if (e.type === 'directory' || e.type === 'file' || e.type === 'symlink') origins.set(e.path, e.origin);
  return failed.map((r) => ({
    severity: 'error' as const,
    code: 'store-path-changed',
    input: origins.get(r.path) ?? 'closure',
    path: r.path,
    message:
      r.actual !== undefined
        ? `What was copied of ${r.path} has NAR hash ${r.actual}, but the closure certifies ${r.expected}: its contents changed after they were checked, or the tree was edited inside it.`
        : `${r.path} could not be checked against its NAR hash while it was copied (${r.reason}).`,
    hint: 'Make sure nothing writes to the inputs during the build, undo edits inside /nix/store, and build again.',
  }));
}

/** The problem for an input that changed between its scan and its copy. */
export function inputChangedProblem(err: InputChangedError): InputProblem {
  if (err.unreadable)
    return {
      severity: 'error',
      code: 'input-unreadable',
      input: err.origin,
      path: err.path,
      message: `${err.path}: ${err.detail}. Nothing was written.`,
      hint: 'Make the file readable (chmod, or run as a user who can read it), or leave it out, then build again.',
    };
  return {
    severity: 'error',
    code: 'input-changed',
    input: err.origin,
    path: err.path,
    message: `${err.path} changed after it was checked: ${err.detail}. Nothing was written.`,
    hint: 'Make sure nothing modifies the inputs while the image is built, then build again.',
  };
}
