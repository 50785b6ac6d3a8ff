/**
 * Writes a workload's tree to disk once and reuses it: `<cache>/<id>/tree` holds the tree,
 * `<cache>/<id>/complete.json` is written last and names the generator version, seed,
 * scale and a digest of the tree's metadata. A folder without it (an interrupted
 * generation) or with another digest is rebuilt.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { CONTENT_BLOCK, fillContent, makeWorkload, workloadId, type Workload, type WorkloadName } from './workload.ts';

export interface DiskWorkload {
  workload: Workload;
  /** The tree's root folder. */
  dir: string;
  /** Whether it was generated now (false: reused). */
  generated: boolean;
  generateMs: number;
}

const PIECE = 16 * CONTENT_BLOCK; // 1 MiB

function digestOf(w: Workload): string {
  const h = createHash('sha256');
  for (const e of w.entries) h.update(JSON.stringify(e)).update('\n');
  return h.digest('hex');
}

/** The workload on disk under `cacheDir`, generated if missing or stale. */
export function ensureWorkload(
  name: WorkloadName,
  seed: number,
  scale: number,
  cacheDir: string,
  log: (s: string) => void,
): DiskWorkload {
  const workload = makeWorkload(name, seed, scale);
  const base = join(cacheDir, workloadId(name, seed, scale));
  const dir = join(base, 'tree');
  const stampPath = join(base, 'complete.json');
  const digest = digestOf(workload);
  if (existsSync(stampPath)) {
    try {
      const stamp = JSON.parse(readFileSync(stampPath, 'utf8')) as { digest?: string };
      if (stamp.digest === digest && existsSync(dir)) return { workload, dir, generated: false, generateMs: 0 };
    } catch {
      /* rebuild */
    }
  }
  const t0 = performance.now();
  log(`generating ${name} (${workload.files} files, ${(workload.bytes / 2 ** 20).toFixed(0)} MiB) in ${dir}`);
  rmSync(base, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const buf = new Uint8Array(PIECE);
  for (const e of workload.entries) {
    const host = join(dir, e.path);
    if (e.type === 'directory') {
      mkdirSync(host, { recursive: true });
      chmodSync(host, e.mode);
    } else if (e.type === 'symlink') {
      symlinkSync(e.target, host);
    } else {
      const fd = openSync(host, 'w', e.mode);
      try {
        for (let off = 0; off < e.size; off += PIECE) {
          const piece = buf.subarray(0, Math.min(PIECE, e.size - off));
          fillContent(e, off, piece);
          for (let w = 0; w < piece.length; ) w += writeSync(fd, piece, w, piece.length - w);
        }
      } finally {
        closeSync(fd);
      }
      chmodSync(host, e.mode);
    }
  }
  const generateMs = performance.now() - t0;
  writeFileSync(
    stampPath,
    JSON.stringify(
      {
        name,
        seed,
        scale,
        version: workload.version,
        digest,
        files: workload.files,
        bytes: workload.bytes,
        generateMs: Math.round(generateMs),
      },
      null,
      2,
    ) + '\n',
  );
  return { workload, dir, generated: true, generateMs };
}

/** Reads every file once so that every contender starts from a warm page cache. */
export function warmPageCache(w: DiskWorkload): void {
  const buf = Buffer.allocUnsafe(4 << 20);
  for (const e of w.workload.entries) {
    if (e.type !== 'file' || e.size === 0) continue;
    const fd = openSync(join(w.dir, e.path), 'r');
    try {
      while (readSync(fd, buf, 0, buf.length, null) > 0) {
        /* read */
      }
    } finally {
      closeSync(fd);
    }
  }
}
