/**
 * Which WebAssembly build the bench runs: the committed outputs (`wasm/e2fsprogs/dist`,
 * `wasm/zstd/dist`) by default; with `RUNTIME_WASM_DIR` set, a scratch build instead:
 * `wasm/.build/w1/dist` (e2fsprogs) and `wasm/.build/z1/dist` (zstd), or the same two
 * folders under the directory RUNTIME_WASM_DIR names, when it names one that has them.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface WasmDirs {
  /** Folder with `<tool>.wasm`, `<tool>.mjs`, `mke2fs.conf`. */
  e2fsprogs: string;
  /** Folder with `zstd.wasm`, `zstd.mjs`. */
  zstd: string;
  /** True for the committed outputs; false for a scratch build. */
  committed: boolean;
}

export function wasmDirs(env: NodeJS.ProcessEnv = process.env): WasmDirs {
  const override = env.RUNTIME_WASM_DIR;
  if (!override) {
    return {
      e2fsprogs: join(REPO_ROOT, 'wasm/e2fsprogs/dist'),
      zstd: join(REPO_ROOT, 'wasm/zstd/dist'),
      committed: true,
    };
  }
  const named = resolve(override);
  const base = existsSync(join(named, 'w1/dist/mke2fs.wasm')) ? named : join(REPO_ROOT, 'wasm/.build');
  return { e2fsprogs: join(base, 'w1/dist'), zstd: join(base, 'z1/dist'), committed: false };
}

/** What is missing from the chosen build, if anything. */
export function missingWasm(d: WasmDirs): string[] {
  const need = [
    ...['mke2fs', 'e2fsck', 'resize2fs', 'dumpe2fs'].flatMap((t) => [
      join(d.e2fsprogs, `${t}.wasm`),
      join(d.e2fsprogs, `${t}.mjs`),
    ]),
    join(d.e2fsprogs, 'mke2fs.conf'),
    join(d.zstd, 'zstd.wasm'),
    join(d.zstd, 'zstd.mjs'),
  ];
  return need.filter((p) => !existsSync(p));
}
