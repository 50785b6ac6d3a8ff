/**
 * Which wasm build the CLI tests run. By default the committed outputs
 * (`wasm/e2fsprogs/dist`, `wasm/zstd/dist`). With `RUNTIME_WASM_DIR` set: a folder holding
 * `e2fsprogs/` and `zstd/` when it has them, otherwise the scratch build of `wasm/build.sh`
 * (`wasm/.build/w1/dist`, `wasm/.build/z1/dist`).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setWasmDirs } from '../runtime/wasm-modules.ts';

export function useTestWasm(): void {
  const env = process.env.RUNTIME_WASM_DIR;
  if (!env) return;
  if (existsSync(`${env}/e2fsprogs/mke2fs.wasm`)) {
    setWasmDirs({ e2fsprogs: new URL(`file://${env}/e2fsprogs/`), zstd: new URL(`file://${env}/zstd/`) });
    return;
  }
  const scratch = new URL('../../wasm/.build/', import.meta.url);
  const e2fsprogs = new URL('w1/dist/', scratch);
  if (!existsSync(fileURLToPath(new URL('mke2fs.wasm', e2fsprogs)))) {
    throw new Error(
      `RUNTIME_WASM_DIR is set but neither ${env}/e2fsprogs nor ${fileURLToPath(e2fsprogs)} holds mke2fs.wasm`,
    );
  }
  setWasmDirs({ e2fsprogs, zstd: new URL('z1/dist/', scratch) });
}
