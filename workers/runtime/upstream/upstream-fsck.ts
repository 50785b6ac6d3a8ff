/**
 * e2fsprogs' own fsck test cases (`tests/f_*` and `tests/j_*` of the pinned 1.47.4 source) run with a given
 * e2fsck: ours (wasm) or a native build of the same source. Mimics upstream's
 * `tests/run_e2fsck`: the image is gunzipped, `e2fsck $FSCK_OPT -N test_filesys IMAGE` runs,
 * then `e2fsck $SECOND_FSCK_OPT ...` on the result; each output (stdout and stderr as they
 * interleave, then `Exit status is N`) goes through upstream's `filter.sed` (with the
 * system's sed) and must equal `expect.1` / `expect.2`. The environment is `tests/test_config`'s.
 *
 * Cases whose `script` does more than set FSCK_OPT, SECOND_FSCK_OPT, ONE_PASS_ONLY, IMAGE or
 * DESCRIPTION before running run_e2fsck (debugfs set-ups, mke2fs, external journals, ...)
 * are listed as not run, with the reason.
 *
 * Used by `upstream-fsck.test.ts` (CI) and, to rewrite the committed results list,
 * `node --import tsx workers/runtime/upstream/upstream-fsck.ts --write`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { MemoryImageStore } from '../image-store.ts';
import { runTool } from '../run-tool.ts';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
/** The committed list of results. */
export const RESULTS_FILE = fileURLToPath(new URL('./upstream-fsck-results.txt', import.meta.url));

/** One f_* or j_* case that the harness can run. */
export interface FsckCase {
  name: string;
  dir: string;
  image: string;
  fsckOpt: string[];
  secondOpt: string[];
  onePass: boolean;
}

export type Outcome = 'pass' | 'fail';

/** Runs e2fsck with `args` on the image file named last; returns the combined output and exit code. */
export type FsckRunner = (
  args: string[],
  image: Uint8Array,
) => Promise<{ output: string; exitCode: number; image: Uint8Array }>;

/** Upstream's tests/ folder of the pinned source, extracted once under wasm/.build. */
export function upstreamTestsDir(): string {
  const out = join(repo, 'wasm/.build/upstream-1.47.4');
  const tests = join(out, 'e2fsprogs-1.47.4/tests');
  if (existsSync(join(tests, '.complete'))) return tests;
  execFileSync('bash', [join(repo, 'wasm/build.sh'), '--fetch'], { stdio: ['ignore', 'ignore', 'inherit'] });
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  execFileSync('tar', [
    '-xzf',
    join(repo, 'wasm/.build/src/e2fsprogs_1.47.4.orig.tar.gz'),
    '-C',
    out,
    'e2fsprogs-1.47.4/tests',
  ]);
  writeFileSync(join(tests, '.complete'), '');
  return tests;
}

const SIMPLE_VARS = new Set(['FSCK_OPT', 'SECOND_FSCK_OPT', 'ONE_PASS_ONLY', 'IMAGE', 'DESCRIPTION']);

/** The f_* and j_* cases, split into those the harness runs and those it cannot (with why). */
export function listCases(tests: string): { cases: FsckCase[]; notRun: { name: string; reason: string }[] } {
  const cases: FsckCase[] = [];
  const notRun: { name: string; reason: string }[] = [];
  for (const name of readdirSync(tests)
    .filter((n) => /^[fj]_/.test(n))
    .sort()) {
    const dir = join(tests, name);
    const vars: Record<string, string> = {};
    const scriptFile = join(dir, 'script');
    let reason: string | undefined;
    if (existsSync(scriptFile)) {
      // tests/Makefile sets HTREE=y: the f_h_* scripts run run_e2fsck under that test.
      const script = readFileSync(scriptFile, 'utf8').replace(
        /^if test "\$HTREE"x = yx ; then\n(\. \$cmd_dir\/run_e2fsck)\nelse\n\techo "[^"\n]*"\nfi\n/,
        '$1\n',
      );
      for (const raw of script.split('\n')) {
        const line = raw.trim();
        if (!line || line.startsWith('#')) continue;
        if (line === '. $cmd_dir/run_e2fsck') continue;
        const m = /^([A-Z_0-9]+)=(?:"([^"$`\\]*)"|'([^']*)'|([^\s"'$`\\;&|]*))$/.exec(line);
        const m2 = /^IMAGE=\$test_dir\/([A-Za-z0-9_./-]+)$/.exec(line);
        if (m2) vars.IMAGE = join(dir, m2[1]);
        else if (m && SIMPLE_VARS.has(m[1])) vars[m[1]] = m[2] ?? m[3] ?? m[4] ?? '';
        else {
          reason = `its script does more than run_e2fsck (${line.slice(0, 60)})`;
          break;
        }
      }
    }
    const image = vars.IMAGE ?? join(dir, 'image.gz');
    if (!reason && !image.endsWith('.gz')) reason = `its image is not gzip (${image.replace(/^.*\//, '')})`;
    if (!reason && !existsSync(image)) reason = 'it has no image';
    if (!reason && !existsSync(join(dir, 'expect.1')) && !existsSync(join(dir, 'expect.1.gz')))
      reason = 'it has no expect.1';
    if (reason) {
      notRun.push({ name, reason });
      continue;
    }
    const opts = (v: string | undefined) => (v ?? '-yf').split(/\s+/).filter(Boolean);
    cases.push({
      name,
      dir,
      image,
      fsckOpt: opts(vars.FSCK_OPT),
      secondOpt: opts(vars.SECOND_FSCK_OPT),
      onePass: vars.ONE_PASS_ONLY === 'true',
    });
  }
  return { cases, notRun };
}

function expected(dir: string, n: 1 | 2): string {
  const plain = join(dir, `expect.${n}`);
  if (existsSync(plain)) return readFileSync(plain, 'utf8');
  return gunzipSync(readFileSync(`${plain}.gz`)).toString('utf8');
}

/** Upstream's filter.sed, applied with the system's sed (as run_e2fsck does). */
function filter(tests: string, text: string): string {
  return execFileSync('sed', ['-f', join(tests, 'filter.sed')], { input: text, encoding: 'utf8', maxBuffer: 1 << 26 });
}

/** Runs one case; `detail` holds the first differing lines when it fails. */
export async function runCase(
  tests: string,
  c: FsckCase,
  run: FsckRunner,
): Promise<{ outcome: Outcome; detail?: string }> {
  let image: Uint8Array = gunzipSync(readFileSync(c.image));
  const passes: [string[], string][] = [[c.fsckOpt, expected(c.dir, 1)]];
  if (!c.onePass) passes.push([c.secondOpt, expected(c.dir, 2)]);
  for (let i = 0; i < passes.length; i++) {
    const [opts, want] = passes[i];
    const r = await run([...opts, '-N', 'test_filesys'], image);
    image = r.image;
    const got = filter(tests, `${r.output}Exit status is ${r.exitCode}\n`);
    if (got !== want) {
      const a = want.split('\n');
      const b = got.split('\n');
      let k = 0;
      while (k < a.length && a[k] === b[k]) k++;
      return {
        outcome: 'fail',
        detail: `pass ${i + 1}, line ${k + 1}: expected ${JSON.stringify(a[k] ?? '')}, got ${JSON.stringify(b[k] ?? '')}`,
      };
    }
  }
  return { outcome: 'pass' };
}

/** argv[0] as upstream runs it (`FSCK=../e2fsck/e2fsck`); messages start with it. */
const PROGRAM = '../e2fsck/e2fsck';

/** tests/test_config's environment, for both e2fsck builds. */
export const TEST_ENV: Record<string, string> = {
  TZ: 'GMT0',
  LC_ALL: 'C',
  E2FSCK_CONFIG: '/dev/null',
  BLKID_FILE: '/dev/null',
  E2FSPROGS_SKIP_PROGRESS: 'yes',
  EXT2FS_NO_MTAB_OK: 'yes',
  RESIZE2FS_FORCE_LAZY_ITABLE_INIT: 'yes',
  E2FSPROGS_LIBMAGIC_SUPPRESS: 'yes',
};

/** Our wasm e2fsck, on the image in memory; stdout and stderr interleaved as written. */
export const wasmRunner: FsckRunner = async (args, image) => {
  const store = MemoryImageStore.fromBytes(image);
  if (store.size < image.length) store.truncate(image.length);
  const bytes: number[] = [];
  const r = await runTool('e2fsck', [...args, '/image/test.img'], {
    env: TEST_ENV,
    programName: PROGRAM,
    mounts: [{ type: 'image', path: '/image/test.img', store }],
    onOutputByte: (_stream, byte) => void bytes.push(byte),
  });
  return {
    output: new TextDecoder().decode(new Uint8Array(bytes)),
    exitCode: r.exitCode,
    image: store.read(0, store.size),
  };
};

/** A native e2fsck binary, on a temporary file; stdout and stderr share one file, as `>> log 2>&1`. */
export function nativeRunner(e2fsck: string): FsckRunner {
  return async (args, image) => {
    const dir = mkdtempSync(join(tmpdir(), 'upstream-fsck-'));
    try {
      const img = join(dir, 'test.img');
      writeFileSync(img, image);
      const logPath = join(dir, 'log');
      const log = openSync(logPath, 'w');
      let status: number | null;
      try {
        status = spawnSync(e2fsck, [...args, img], {
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...TEST_ENV },
          argv0: PROGRAM,
          stdio: ['ignore', log, log],
        }).status;
      } finally {
        closeSync(log);
      }
      return { output: readFileSync(logPath, 'utf8'), exitCode: status ?? -1, image: readFileSync(img) };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** One line of the results list: `name  native=pass  wasm=fail  reason` or `name  not run: reason`. */
export interface ResultLine {
  name: string;
  native?: Outcome;
  wasm?: Outcome;
  notRun?: string;
  reason?: string;
}

export function parseResults(text: string): Map<string, ResultLine> {
  const out = new Map<string, ResultLine>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const nr = /^([fj]_\S+)\s+not run: (.*)$/.exec(line);
    if (nr) {
      out.set(nr[1], { name: nr[1], notRun: nr[2] });
      continue;
    }
    const m = /^([fj]_\S+)\s+native=(pass|fail)\s+wasm=(pass|fail)(?:\s+(.*))?$/.exec(line);
    if (!m) throw new Error(`bad line in ${RESULTS_FILE}: ${line}`);
    out.set(m[1], { name: m[1], native: m[2] as Outcome, wasm: m[3] as Outcome, reason: m[4] });
  }
  return out;
}

export function formatResults(lines: ResultLine[], header: string): string {
  const body = lines.map((l) =>
    l.notRun !== undefined
      ? `${l.name.padEnd(40)} not run: ${l.notRun}`
      : `${l.name.padEnd(40)} native=${l.native} wasm=${l.wasm}${l.reason ? `  ${l.reason}` : ''}`,
  );
  return `${header}\n${body.join('\n')}\n`;
}

export const RESULTS_HEADER = `# e2fsprogs 1.47.4 tests/f_* and j_* run by workers/runtime/upstream/upstream-fsck.ts with a native
# build of the pinned source (wasm/native/build.sh) and with our wasm e2fsck.
# A case where the two differ carries the reason after the outcomes. CI fails when a case
# that passes here with wasm stops passing, or a new difference has no reason.
# Rewrite: node --import tsx workers/runtime/upstream/upstream-fsck.ts --write`;

async function main(): Promise<void> {
  const tests = upstreamTestsDir();
  const native = execFileSync('bash', [join(repo, 'wasm/native/build.sh')], { encoding: 'utf8' }).trim();
  const { cases, notRun } = listCases(tests);
  const old = existsSync(RESULTS_FILE) ? parseResults(readFileSync(RESULTS_FILE, 'utf8')) : new Map();
  const lines: ResultLine[] = [];
  for (const c of cases) {
    const n = await runCase(tests, c, nativeRunner(join(native, 'e2fsck')));
    const w = await runCase(tests, c, wasmRunner);
    const line: ResultLine = { name: c.name, native: n.outcome, wasm: w.outcome };
    if (n.outcome !== w.outcome) line.reason = old.get(c.name)?.reason ?? `REASON NEEDED: ${w.detail ?? n.detail}`;
    lines.push(line);
    process.stderr.write(`${c.name}: native ${n.outcome}, wasm ${w.outcome}${w.detail ? ` (${w.detail})` : ''}\n`);
  }
  for (const n of notRun) lines.push({ name: n.name, notRun: n.reason });
  lines.sort((a, b) => (a.name < b.name ? -1 : 1));
  const text = formatResults(lines, RESULTS_HEADER);
  if (process.argv.includes('--write')) writeFileSync(RESULTS_FILE, text);
  else process.stdout.write(text);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
