/**
 * `npm run bench:open`: the speed of working on an existing image, against native tools on
 * the same bytes in the same run: zstd decompression of a `.img.zst`, and listing a folder
 * of 10,000 entries (the studio: two debugfs runs through `ImageSessions.listDir`; native:
 * `debugfs -R 'ls -l'` as a process). The tests check what these do; this measures how fast.
 *
 *   node --import tsx bench/opened-image.ts [--runs N]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ImageSessions } from '../workers/pipeline/image-session.ts';
import { setWasmDirs } from '../workers/runtime/wasm-modules.ts';
import { decompressStream } from '../workers/runtime/zstd-stream.ts';
import { findTool } from './measure.ts';
import { wasmDirs } from './wasm-dirs.ts';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 3;
const MiB = 1 << 20;

function tool(name: string): string {
  const path = findTool(name);
  if (!path) throw new Error(`bench:open needs native ${name} (apt-get install e2fsprogs zstd)`);
  return path;
}

/** Compressible, deterministic bytes (a text-like mix), so zstd has real work to do. */
function sample(n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 29 === 0 ? x & 0xff : 97 + ((x >>> 16) % 16);
  }
  return out;
}

/** The median of `runs` timings of `work`, ms. */
async function median(work: () => Promise<void> | void): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await work();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

function row(what: string, studio: number, native: number): void {
  console.log(
    `${what.padEnd(40)} studio ${studio.toFixed(0).padStart(6)} ms   native ${native.toFixed(0).padStart(6)} ms   ratio ${(studio / native).toFixed(2)}`,
  );
}

async function main(): Promise<void> {
  const dirs = wasmDirs();
  setWasmDirs({ e2fsprogs: pathToFileURL(`${dirs.e2fsprogs}/`), zstd: pathToFileURL(`${dirs.zstd}/`) });
  const work = mkdtempSync(join(tmpdir(), 'bench-open-'));
  try {
    console.log(`Opened images (${RUNS} runs each, median)\n`);

    // zstd -d: 64 MiB compressed with native zstd -3.
    const raw = join(work, 'raw');
    writeFileSync(raw, sample(64 * MiB));
    const zst = join(work, 'raw.zst');
    execFileSync(tool('zstd'), ['-3', '-q', '-f', raw, '-o', zst]);
    const z = new Uint8Array(readFileSync(zst));
    const studioD = await median(async () => {
      let n = 0;
      for await (const piece of decompressStream([z])) n += piece.length;
      if (n !== 64 * MiB) throw new Error(`decompressed ${n} bytes`);
    });
    const nativeD = await median(() => {
      const r = spawnSync(tool('zstd'), ['-d', '-q', '-c', zst], { maxBuffer: 128 * MiB });
      if (r.status !== 0) throw new Error(`zstd -d: ${r.stderr}`);
    });
    row('zstd -d, 64 MiB', studioD, nativeD);

    // A folder of 10,000 entries.
    const tree = join(work, 'tree');
    mkdirSync(join(tree, 'd'), { recursive: true });
    for (let i = 0; i < 10_000; i++) writeFileSync(join(tree, 'd', `file-${String(i).padStart(5, '0')}.txt`), 'x');
    const image = join(work, 'many.img');
    execFileSync(tool('mkfs.ext4'), ['-q', '-F', '-d', tree, image, '64M']);
    const sessions = new ImageSessions();
    const st = await sessions.openStream(
      'many.img',
      createReadStream(image, { highWaterMark: MiB }) as AsyncIterable<Uint8Array>,
    );
    const studioL = await median(async () => {
      const listing = await sessions.listDir(st.id, '/d');
      if (listing.entries.length !== 10_000) throw new Error(`listed ${listing.entries.length}`);
    });
    const nativeL = await median(() => {
      const r = spawnSync(tool('debugfs'), ['-R', 'ls -l /d', image], { maxBuffer: 64 * MiB });
      if (r.status !== 0) throw new Error(`debugfs: ${r.stderr}`);
    });
    row('list a folder of 10,000 entries', studioL, nativeL);
    await sessions.close(st.id);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
