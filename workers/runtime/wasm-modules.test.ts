/** The loader: one compilation per tool, and the fetch path browsers take (over HTTP). */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileTool, loadMke2fsConf, loadToolFactory, setWasmDirs, toolWasmUrl } from './wasm-modules.ts';
import { runTool } from './run-tool.ts';
import { useTestWasm } from '../test-support/wasm.ts';

describe('wasm-modules', () => {
  beforeAll(() => useTestWasm());
  afterAll(() => {
    setWasmDirs({});
    useTestWasm();
  });

  it('compiles each tool once and imports its factory once', async () => {
    const [a, b] = await Promise.all([compileTool('e2fsck'), compileTool('e2fsck')]);
    expect(a).toBeInstanceOf(WebAssembly.Module);
    expect(b).toBe(a);
    expect(await compileTool('e2fsck')).toBe(a);
    expect(await loadToolFactory('e2fsck')).toBe(await loadToolFactory('e2fsck'));
    expect(WebAssembly.Module.exports(a).some((e) => e.name === 'main' || e.name === '__main_argc_argv')).toBe(true);
  });

  it('ships mke2fs.conf with an ext4 profile', async () => {
    const conf = new TextDecoder().decode(await loadMke2fsConf());
    expect(conf).toMatch(/\[fs_types\]/);
    expect(conf).toMatch(/ext4 = \{/);
  });

  it('the installed glue passes 64-bit offsets to pread/pwrite/ftruncate', () => {
    const glue = readFileSync(fileURLToPath(new URL(toolWasmUrl('mke2fs').href.replace(/\.wasm$/, '.mjs'))), 'utf8');
    for (const fn of ['_fd_pread', '_fd_pwrite', '___syscall_ftruncate64']) {
      const body = new RegExp(`function ${fn}\\(([^)]*)\\)\\{([^}]*)`).exec(glue);
      expect(body, fn).not.toBeNull();
      // The high half of the offset is used, not dropped.
      const high = body![1].split(',').find((p) => /high/.test(p));
      expect(high, fn).toBeDefined();
      expect(body![2], fn).toContain(high!.trim());
      expect(body![2], fn).not.toMatch(/SYSCALLS\.get64/); // 3.1.6's get64 returns the low half
    }
  });

  it('e2fsprogs copies large blocks inside the wasm, not through a JavaScript import', async () => {
    // wasm/common/memcpy-big.c replaces emscripten 3.1.6's JS `emscripten_memcpy_big`.
    for (const tool of ['mke2fs', 'e2fsck', 'resize2fs', 'dumpe2fs', 'debugfs', 'tune2fs'] as const) {
      const imports = WebAssembly.Module.imports(await compileTool(tool)).map((i) => i.name);
      expect(imports, tool).toContain('fd_write');
      expect(imports, tool).not.toContain('emscripten_memcpy_big');
    }
  });

  describe('over HTTP, as in a browser', () => {
    let server: Server;
    let base: string;
    const hits: string[] = [];
    beforeAll(async () => {
      const dir = new URL('.', toolWasmUrl('mke2fs'));
      server = createServer((req, res) => {
        hits.push(req.url!);
        try {
          const body = readFileSync(new URL(req.url!.slice(1), dir));
          // e2fsck.wasm is served with the wrong type: compileStreaming refuses it, the loader falls back.
          const type =
            req.url!.endsWith('.wasm') && !req.url!.includes('e2fsck')
              ? 'application/wasm'
              : 'application/octet-stream';
          res.writeHead(200, { 'content-type': type }).end(body);
        } catch {
          res.writeHead(404).end();
        }
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const addr = server.address();
      base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it('fetches and compiles the wasm (streaming, or from bytes on a wrong MIME type) and the conf', async () => {
      setWasmDirs({ e2fsprogs: base });
      const mod = await compileTool('mke2fs');
      expect(mod).toBeInstanceOf(WebAssembly.Module);
      expect(await compileTool('e2fsck')).toBeInstanceOf(WebAssembly.Module);
      expect(new TextDecoder().decode(await loadMke2fsConf())).toMatch(/\[defaults\]/);
      expect(hits).toEqual(expect.arrayContaining(['/mke2fs.wasm', '/e2fsck.wasm', '/mke2fs.conf']));
      setWasmDirs({ e2fsprogs: 'http://127.0.0.1:9/nowhere/' });
      await expect(compileTool('resize2fs')).rejects.toThrow();
    });
  });

  it('leaves no process listeners behind after many runs', async () => {
    setWasmDirs({});
    useTestWasm();
    const before = ['uncaughtException', 'unhandledRejection', 'exit'].map((e) => process.listenerCount(e));
    for (let i = 0; i < 12; i++) await runTool('e2fsck', ['-V']);
    const after = ['uncaughtException', 'unhandledRejection', 'exit'].map((e) => process.listenerCount(e));
    expect(after).toEqual(before);
  });
});
