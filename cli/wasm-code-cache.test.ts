/**
 * The wasm tools' optimized code kept between processes (workers/runtime/wasm-code-cache.ts):
 * each `disk-image-studio build` is a new process, so these run the real command and read
 * its `--debug` line about the cache, the files it left, and the image it wrote.
 *
 * Node runs with `--no-liftoff`: every wasm function that runs is compiled optimized at once,
 * so every tool has code to save whatever the machine's load. (By default a function is
 * optimized in the background once it is hot; V8 serializes only optimized code, so a tool
 * run briefly on a busy machine may have nothing to save yet, and its file comes later.)
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('./bin.mjs', import.meta.url));
const MAGIC = 'DIS-WASM-CODE-1\n';
const TOOLS = ['mke2fs', 'e2fsck', 'resize2fs', 'zstd'];
const NODE = [process.execPath, '--no-liftoff'] as const;

describe('wasm code cache', () => {
  let work: string;
  let tree: string;
  let runs = 0;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'dis-code-cache-'));
    tree = join(work, 'tree');
    mkdirSync(join(tree, 'etc'), { recursive: true });
    for (let i = 0; i < 40; i++) writeFileSync(join(tree, 'etc', `file-${i}`), `contents ${i}\n`.repeat(200 * i + 1));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  /** One build with the cache in `dir`: its debug line about the cache and the output's sha256. */
  const build = (dir: string) => {
    const out = join(work, `out-${++runs}.img.zst`);
    const r = spawnSync(NODE[0], [NODE[1], bin, 'build', '--files', tree, '-q', '--debug', '-o', out], {
      encoding: 'utf8',
      env: { ...process.env, DISK_IMAGE_STUDIO_WASM_CACHE: dir },
    });
    expect(r.status, r.stderr).toBe(0);
    const line = r.stderr.split('\n').find((l) => l.startsWith('wasm code cache')) ?? '';
    const sha256 = /sha256 ([0-9a-f]{64})/.exec(r.stdout)?.[1];
    expect(sha256).toBeDefined();
    return { line, sha256 };
  };
  /** The part of the line about one tool. */
  const about = (line: string, tool: string) =>
    line
      .slice(line.indexOf(': ') + 2)
      .split('; ')
      .find((p) => p.startsWith(`${tool} `)) ?? '';
  const files = (dir: string) => readdirSync(dir).sort();
  const fileOf = (dir: string, tool: string) => join(dir, files(dir).find((f) => f.startsWith(`${tool}-`))!);

  it("saves each tool's code, and the next process starts from it and writes the same image", () => {
    const dir = join(work, 'cache-a');
    const first = build(dir);
    for (const tool of TOOLS) expect(about(first.line, tool)).toMatch(/^\S+ compiled, saved \d+ bytes$/);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(files(dir)).toHaveLength(TOOLS.length);
    for (const tool of TOOLS) {
      const file = fileOf(dir, tool);
      expect(file).toMatch(new RegExp(`/${tool}-[0-9a-f]{16}-v8-[^/]+\\.code$`));
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readFileSync(file).subarray(0, MAGIC.length).toString()).toBe(MAGIC);
    }

    const second = build(dir);
    for (const tool of TOOLS) expect(about(second.line, tool)).toMatch(/^\S+ from saved code \(\d+ bytes\)/);
    expect(second.sha256).toBe(first.sha256);
    const off = build('off');
    expect(off.line).toBe('wasm code cache off: turned off by DISK_IMAGE_STUDIO_WASM_CACHE');
    expect(off.sha256).toBe(first.sha256);
  });

  it('refuses code that is damaged, cut short, writable by others, a link or of another build, and compiles instead', () => {
    const dir = join(work, 'cache-b');
    const clean = build(dir);
    const flip = (file: string, at: number) => {
      const bytes = readFileSync(file);
      bytes[at]! ^= 1;
      writeFileSync(file, bytes);
    };
    flip(fileOf(dir, 'mke2fs'), statSync(fileOf(dir, 'mke2fs')).size - 1);
    chmodSync(fileOf(dir, 'e2fsck'), 0o620);
    const resize = fileOf(dir, 'resize2fs');
    copyFileSync(resize, join(work, 'resize2fs-elsewhere.code'));
    rmSync(resize);
    symlinkSync(join(work, 'resize2fs-elsewhere.code'), resize);
    flip(fileOf(dir, 'zstd'), MAGIC.length); // the sha256 of the .wasm it was made from

    const refused = build(dir);
    expect(about(refused.line, 'mke2fs')).toContain(
      'compiled (saved code refused: its contents do not match their checksum)',
    );
    expect(about(refused.line, 'e2fsck')).toContain('compiled (saved code refused: other users can write to it)');
    expect(about(refused.line, 'resize2fs')).toContain('compiled (saved code refused: cannot open it (ELOOP))');
    expect(about(refused.line, 'zstd')).toContain('compiled (saved code refused: made from another build of the tool)');
    expect(refused.sha256).toBe(clean.sha256);
    // Each was replaced by a new file of this user's (the link itself, not what it points to).
    expect(statSync(join(work, 'resize2fs-elsewhere.code')).size).toBeGreaterThan(MAGIC.length);
    for (const tool of TOOLS) expect(statSync(fileOf(dir, tool)).mode & 0o777).toBe(0o600);

    truncateSync(fileOf(dir, 'mke2fs'), 10);
    const again = build(dir);
    expect(about(again.line, 'mke2fs')).toContain('compiled (saved code refused: its size (10 bytes) is out of range)');
    for (const tool of ['e2fsck', 'resize2fs', 'zstd']) expect(about(again.line, tool)).toMatch(/from saved code/);
    expect(again.sha256).toBe(clean.sha256);
  });

  it('removes code unused for 30 days and temporary files left an hour ago, and nothing else', () => {
    const dir = join(work, 'cache-stale');
    build(dir);
    const days = (n: number) => new Date(Date.now() - n * 24 * 3600 * 1000);
    const inUse = fileOf(dir, 'mke2fs');
    utimesSync(inUse, days(40), days(40)); // read at the next build, so marked as used
    const stale = join(dir, 'mke2fs-0123456789abcdef-v8-1.2.3-x64.code');
    const recent = join(dir, 'e2fsck-0123456789abcdef-v8-1.2.3-x64.code');
    const leftOver = `${fileOf(dir, 'zstd')}.12345-0123456789abcdef.tmp`;
    const fresh = `${fileOf(dir, 'zstd')}.12346-0123456789abcdef.tmp`;
    const foreign = join(dir, 'notes.txt');
    for (const f of [stale, recent, leftOver, fresh, foreign]) writeFileSync(f, 'x', { mode: 0o600 });
    utimesSync(stale, days(31), days(31));
    utimesSync(recent, days(29), days(29));
    utimesSync(leftOver, days(0.05), days(0.05)); // 72 minutes
    utimesSync(foreign, days(400), days(400));
    rmSync(fileOf(dir, 'resize2fs')); // saved again by the next build: a save is what removes them

    const r = build(dir);
    expect(about(r.line, 'resize2fs')).toMatch(/^resize2fs compiled, saved \d+ bytes$/);
    const left = files(dir);
    expect(left).not.toContain(basename(stale));
    expect(left).not.toContain(basename(leftOver));
    for (const f of [inUse, recent, fresh, foreign]) expect(left).toContain(basename(f));
    expect(Date.now() - statSync(inUse).mtimeMs).toBeLessThan(3600 * 1000);
  });

  it('saves the code of the tools `inspect` and `ls` run', () => {
    const image = join(work, 'plain.img');
    const b = spawnSync(NODE[0], [NODE[1], bin, 'build', '--files', tree, '-q', '-o', image], {
      encoding: 'utf8',
      env: { ...process.env, DISK_IMAGE_STUDIO_WASM_CACHE: 'off' },
    });
    expect(b.status, b.stderr).toBe(0);
    const dir = join(work, 'cache-inspect');
    const env = { ...process.env, DISK_IMAGE_STUDIO_WASM_CACHE: dir };
    const inspect = spawnSync(NODE[0], [NODE[1], bin, 'inspect', image], { encoding: 'utf8', env });
    expect(inspect.status, inspect.stderr).toBe(0);
    expect(files(dir).map((f) => f.split('-')[0])).toEqual(['e2fsck']); // the fsck verdict
    const ls = spawnSync(NODE[0], [NODE[1], bin, 'ls', image, '/etc'], { encoding: 'utf8', env });
    expect(ls.status, ls.stderr).toBe(0);
    expect(ls.stdout).toContain('file-39');
    expect(files(dir).map((f) => f.split('-')[0])).toEqual(['debugfs', 'e2fsck']);
  });

  it('stays off where other users could write the folder', () => {
    const dir = join(work, 'cache-c');
    mkdirSync(dir, { mode: 0o700 });
    chmodSync(dir, 0o777);
    const r = build(dir);
    expect(r.line).toBe(`wasm code cache off: ${dir} can be written by other users`);
    expect(files(dir)).toEqual([]);
  });

  it.runIf(process.getuid?.() === 0)("stays off in another user's folder", () => {
    const dir = join(work, 'cache-d');
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, 65534, 65534);
    const r = build(dir);
    expect(r.line).toBe(`wasm code cache off: ${dir} belongs to another user`);
    expect(files(dir)).toEqual([]);
  });
});
