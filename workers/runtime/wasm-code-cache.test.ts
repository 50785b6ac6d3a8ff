/**
 * The code cache's addon takes over `WebAssembly.compileStreaming` in the threads that
 * compile the tools (wasm-code-cache.ts). A fetch `Response` must still compile there, and
 * be refused as Node refuses it. Run in a new process: the takeover is for the whole thread.
 * (The cache itself is checked end to end in cli/wasm-code-cache.test.ts.)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toolWasmUrl } from './wasm-modules.ts';

const dir = mkdtempSync(join(tmpdir(), 'dis-code-cache-stream-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('WebAssembly.compileStreaming with the code cache installed', () => {
  it('compiles a Response of application/wasm and refuses other types and failed responses', () => {
    const script = `
      import { compileTool, toolWasmUrl } from ${JSON.stringify(new URL('./wasm-modules.ts', import.meta.url).href)};
      import { wasmCodeCacheState } from ${JSON.stringify(new URL('./wasm-code-cache.ts', import.meta.url).href)};
      import { readFileSync } from 'node:fs';
      await compileTool('zstd');
      const bytes = readFileSync(toolWasmUrl('zstd'));
      const wasm = { 'content-type': 'application/wasm' };
      const compiled = await WebAssembly.compileStreaming(new Response(bytes, { headers: wasm }));
      const failure = (response) => WebAssembly.compileStreaming(response).then(() => 'compiled', (e) => e.name + ': ' + e.message);
      console.log(JSON.stringify({
        state: wasmCodeCacheState(),
        exports: WebAssembly.Module.exports(compiled).map((e) => e.name),
        text: await failure(new Response(bytes, { headers: { 'content-type': 'text/plain' } })),
        missing: await failure(new Response(bytes, { status: 404, headers: wasm })),
        notResponse: await failure(bytes),
        broken: await failure(new Response(bytes.subarray(0, 1000), { headers: wasm })),
      }));
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, DISK_IMAGE_STUDIO_WASM_CACHE: dir },
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.state.enabled).toBe(true);
    expect(out.state.tools.zstd.source).toBe('compiled');
    const bytes = readFileSync(toolWasmUrl('zstd'));
    expect(out.exports).toEqual(WebAssembly.Module.exports(new WebAssembly.Module(bytes)).map((e) => e.name));
    expect(out.text).toMatch(/^TypeError: .*Content-Type is not application\/wasm/);
    expect(out.missing).toMatch(/^TypeError: .*HTTP status 404/);
    expect(out.notResponse).toMatch(/^TypeError: .*must be a Response/);
    expect(out.broken).toMatch(/^CompileError: /);
  });
});
