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
import { createStreamHash } from '../runtime/sha256-off-thread.ts';
import { compressFrames, type FrameSource } from '../runtime/zstd-frames.ts';
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
 * Builds {@link warmUpTree} (mkfs, check, shrink, check again) in memory and drops the image,
 * then compresses {@link WARM_UP_COMPRESSED} bytes of made-up data on the compression workers
 * and hashes the frames as a build's output is. Stops at the next stage (or once the 4 MiB
 * being compressed are done) when `signal` aborts (a build of the user's starts): a tool's
 * run is not interrupted, and what it optimized stays. Rejects with the signal's reason when
 * aborted.
 */
export async function warmUpTools(signal?: AbortSignal): Promise<void> {
  await buildImage(
    { entries: warmUpTree(), closure: [], options: { ...DEFAULT_BUILD_OPTIONS, compress: false } },
    { signal },
  );
  await warmUpCompression(signal);
}

/**
 * Bytes the warm-up compresses. zstd's hot functions are optimized only after a few MiB
 * have gone through them: in a fresh page's build (`small`, Chromium 156) each compression
 * worker took 82-156 ms for each of its first 1 MiB slices and 21-28 ms for its last ones.
 * The warm-up image holds too little data to get there (its text is 0.6 MiB, the rest zeros).
 */
export const WARM_UP_COMPRESSED = 8 * 1024 * 1024;

/** Bytes of {@link WARM_UP_COMPRESSED} compressed per call: two pieces of 2 MiB. */
const WARM_UP_ROUND = 4 * 1024 * 1024;

/**
 * Compresses {@link warmUpData} (pieces of 2 MiB, on the compression workers as a build's
 * output) and hashes the frames, so that zstd's and the hash's code is loaded and optimized
 * before a build needs it. The frames are dropped. Goes {@link WARM_UP_ROUND} bytes a call
 * and stops between calls once `signal` aborts: a call stopped midway would stop the pool's
 * workers, which the build would then start again.
 */
export async function warmUpCompression(signal?: AbortSignal): Promise<void> {
  // The hash a build's output of this size gets (`stream-image.ts`).
  const hash = await createStreamHash(WARM_UP_COMPRESSED);
  for (let base = 0; base < WARM_UP_COMPRESSED; base += WARM_UP_ROUND) {
    signal?.throwIfAborted();
    const source: FrameSource = {
      size: WARM_UP_ROUND,
      readInto: (offset, target) => warmUpData(base + offset, target),
    };
    for await (const frame of compressFrames(source)) await hash.update(frame);
  }
  await hash.digestHex();
}

/** Words of the made-up text: a system's file names, options and numbers. */
const WORDS = (
  'the of and to in is for nix store lib bin share usr etc sbin var run libc so 1 2 3 x86_64 linux gnu elf ' +
  'include main return static const int char void struct if else while define endif config path file ' +
  'error warning value name type data size offset version 0 10 255 4096 0x7f /nix/store/ -o --prefix'
).split(' ');

/**
 * Fills `target` with the made-up bytes at `offset` of the warm-up data: per 64 KiB, text
 * (words and numbers, newline-separated; half of it), records of small numbers as a binary's
 * tables (three eighths), or random bytes (an eighth), so that zstd meets matches, literals
 * and incompressible blocks. The same bytes for the same reads (the compression reads
 * 1 MiB at a time from 0).
 */
export function warmUpData(offset: number, target: Uint8Array): void {
  for (let i = 0; i < target.length; ) {
    const at = offset + i;
    const chunk = Math.floor(at / 65536);
    const end = Math.min(target.length, i + (65536 - (at % 65536)));
    // xorshift32 seeded by the chunk and where in it the read starts.
    let x = (chunk * 2654435761 + (at % 65536) * 40503 + 1) >>> 0 || 1;
    const next = () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x >>> 0;
    };
    const kind = chunk % 8;
    if (kind < 4) {
      while (i < end) {
        const w = WORDS[next() % WORDS.length];
        for (let k = 0; k < w.length && i < end; k++) target[i++] = w.charCodeAt(k);
        if (i < end) target[i++] = next() % 9 === 0 ? 10 : 32;
      }
    } else if (kind < 7) {
      while (i < end) target[i++] = next() % 5 === 0 ? next() & 0xff : (i & 15) < 4 ? i & 3 : 0;
    } else {
      while (i < end) target[i++] = next() & 0xff;
    }
  }
}
