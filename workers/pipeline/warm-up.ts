/**
 * A build of a small made-up tree, run by the page's engine when the page starts it (with
 * the first input), so that the tools' hot functions are already optimized when Build is
 * pressed. A browser compiles a module's functions at first on its baseline tier and
 * optimizes the hot ones while they run; compiled code belongs to the module, which the
 * engine keeps, so every later run of the tool starts from it. In a fresh page the checks
 * of the bench's `small` workload took 0.06 s and the shrink 0.04 s on baseline code,
 * 0.02 s each after this run. Node keeps optimized code between processes instead (the
 * wasm code cache, `workers/runtime/wasm-code-cache.ts`).
 */
import { DEFAULT_BUILD_OPTIONS } from '../../core/build-options.ts';
import type { TreeEntry } from '../../core/image-tree.ts';
import { buildImage } from './build-image.ts';

/**
 * The made-up tree: 12 folders of 25 files of 0.5-4 KiB of text and a symbolic link, much
 * like a system's files, and small enough to build in a few tenths of a second on baseline
 * code (an 8 MiB image, the plan's smallest).
 */
export function warmUpTree(): TreeEntry[] {
  const enc = new TextEncoder();
  const base = { uid: 0, gid: 0, mtime: 1, origin: 'warm-up' };
  const entries: TreeEntry[] = [{ ...base, path: '/', type: 'directory', mode: 0o755, size: 0 }];
  for (let d = 0; d < 12; d++) {
    entries.push({ ...base, path: `/d${d}`, type: 'directory', mode: 0o755, size: 0 });
    for (let f = 0; f < 25; f++) {
      const bytes = enc.encode(`warm-up ${d} ${f} `.repeat(40 + ((d * 25 + f) % 200)));
      entries.push({
        ...base,
        path: `/d${d}/f${f}`,
        type: 'file',
        mode: 0o644,
        size: bytes.length,
        source: { kind: 'bytes', bytes },
      });
    }
    entries.push({ ...base, path: `/d${d}/link`, type: 'symlink', mode: 0o777, size: 2, target: 'f0' });
  }
  return entries;
}

/**
 * Builds {@link warmUpTree} (mkfs, check, shrink, check again; not compressed: zstd's hot
 * loop is optimized within a build's first piece) in memory and drops the image. Stops at
 * the next stage once `signal` aborts (a build of the user's starts): a tool's run is not
 * interrupted, and what it optimized stays. Rejects with the signal's reason when aborted.
 */
export async function warmUpTools(signal?: AbortSignal): Promise<void> {
  await buildImage(
    { entries: warmUpTree(), closure: [], options: { ...DEFAULT_BUILD_OPTIONS, compress: false } },
    { signal },
  );
}
