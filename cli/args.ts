/**
 * Command-line parsing for `disk-image-studio`. Pure: turns argv into a typed command or a
 * `UsageError` whose message says what is wrong and what to type instead.
 */
import type { BuildOptions } from '../core/engine-contract.ts';
import { parsePublicKey } from '../core/binary-cache/public-key.ts';
import { normalizeCacheUrl } from '../core/binary-cache/caches.ts';
import { storePathProblem } from '../core/store-path.ts';
import { DEFAULT_BUILD_OPTIONS, validateBuildOptions } from '../core/build-options.ts';

export const USAGE = `Usage:
  disk-image-studio build [inputs] [options] -o OUT.img|OUT.img.zst
  disk-image-studio inspect IMG
  disk-image-studio ls IMG [PATH]

Inputs (each may be repeated):
  --closure FILE     closure manifest: closureInfo registration or store-paths,
                     \`nix path-info --json --recursive\` output, or an export stream
  --store DIR        a folder of <hash>-<name> store paths
  --nar FILE         a store path as a NAR, named <hash>-<name>.nar
  --export FILE      a \`nix-store --export\` stream
  --files DIR        a folder whose entries go to /
  --tar FILE         a tar archive (.tar, .tar.gz, .tar.zst) extracted at /
  --store-path P     a store path (/nix/store/<hash>-<name>) fetched with its whole
                     closure from the binary caches

Binary caches (store paths that no input holds are fetched and verified):
  --substituter URL  a Nix binary cache, in priority order (default
                     https://cache.nixos.org when --store-path is given); giving one
                     fetches what manifests list but no input holds
  --trusted-public-key KEY
                     a key (<name>:<base64>) whose signatures are trusted; default
                     cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=
  --no-check-sigs    accept narinfos without a valid trusted signature (private
                     caches only: anything the cache or the network sends goes in)

Options:
  --label L          filesystem label (default nixos)
  --uuid U           filesystem UUID (default 44444444-4444-4444-8888-888888888888),
                     or "random"
  --fs-type T        ext2, ext3 or ext4 (default ext4)
  --block-size N     1024, 2048, 4096 or auto (default auto)
  --inode-size N     128, 256, 512, 1024 or auto (default auto)
  --epoch S          every timestamp in the image, seconds since 1970 (default 1)
  --headroom MIB     free space added after shrinking (default 0)
  --compat           ext4 without orphan_file and metadata_csum_seed, for kernels
                     before 5.15 and boot loaders such as GRUB before 2.12
  --compress[=LEVEL] zstd-compress the output (level 1-19, default 3); implied by .zst
  -o, --output OUT   where to write the image
  -q, --quiet        no progress output
  --debug            print every tool's output as it runs and, when something fails,
                     where it failed (the stack); goes with any command
  --max-expanded-bytes N
                     most bytes the members of compressed inputs (.tar.gz, .tar.zst,
                     compressed exports) may expand to; they are unpacked into a
                     temporary file under TMPDIR, not held in memory.
                     Bytes, or with a K, M or G suffix (KiB, MiB, GiB); default 8G
`;

/** A command line that cannot be followed; the message names the argument and the fix. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface BuildCommand {
  command: 'build';
  closures: string[];
  stores: string[];
  nars: string[];
  exports: string[];
  files: string[];
  tars: string[];
  output: string;
  options: BuildOptions;
  quiet: boolean;
  /** `--max-expanded-bytes`; undefined: the readers' default (8 GiB). */
  maxExpandedBytes?: number;
  /** `--store-path`: store paths fetched with their closures. */
  storePaths: string[];
  /** `--substituter`: binary caches in priority order. */
  substituters: string[];
  /** `--trusted-public-key` */
  trustedKeys: string[];
  /** `--no-check-sigs` */
  noCheckSigs: boolean;
}

/**
 * Whether the command fetches from binary caches. Only then does the build thread load the
 * fetcher (cli/fetch-closure.ts) and its packages: signatures, hashes and decompressors.
 */
export function wantsFetch(cmd: BuildCommand): boolean {
  return cmd.storePaths.length > 0 || cmd.substituters.length > 0;
}

export type Command =
  | BuildCommand
  | { command: 'inspect'; image: string }
  | { command: 'ls'; image: string; path: string }
  | { command: 'help' };

const LIST_FLAGS = {
  '--closure': 'closures',
  '--store': 'stores',
  '--nar': 'nars',
  '--export': 'exports',
  '--files': 'files',
  '--tar': 'tars',
  '--store-path': 'storePaths',
  '--substituter': 'substituters',
  '--trusted-public-key': 'trustedKeys',
} as const;

/** Parses `argv` (without `node` and the script). */
export function parseArgs(argv: string[]): Command {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h')
    return { command: 'help' };
  if (command === 'inspect' || command === 'ls') {
    const positional = rest.filter((a) => !a.startsWith('-'));
    const unknown = rest.find((a) => a.startsWith('-'));
    if (unknown) throw new UsageError(`unknown option ${unknown} for "${command}".`);
    if (positional.length === 0)
      throw new UsageError(
        `"${command}" needs an image file: disk-image-studio ${command} IMG${command === 'ls' ? ' [PATH]' : ''}`,
      );
    if (command === 'inspect') {
      if (positional.length > 1) throw new UsageError(`"inspect" takes one image, got ${positional.length}.`);
      return { command, image: positional[0] };
    }
    if (positional.length > 2)
      throw new UsageError(`"ls" takes an image and at most one path, got ${positional.length} arguments.`);
    return { command, image: positional[0], path: positional[1] ?? '/' };
  }
  if (command !== 'build') throw new UsageError(`unknown command "${command}"; use build, inspect or ls (see --help).`);

  const cmd: BuildCommand = {
    command: 'build',
    closures: [],
    stores: [],
    nars: [],
    exports: [],
    files: [],
    tars: [],
    output: '',
    options: { ...DEFAULT_BUILD_OPTIONS },
    quiet: false,
    storePaths: [],
    substituters: [],
    trustedKeys: [],
    noCheckSigs: false,
  };
  let compressFlag: number | undefined;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = rest[i + 1];
      if (next === undefined || (next.startsWith('-') && next !== '-')) throw new UsageError(`${flag} needs a value.`);
      i++;
      return next;
    };
    if (flag in LIST_FLAGS) {
      cmd[LIST_FLAGS[flag as keyof typeof LIST_FLAGS]].push(value());
      continue;
    }
    switch (flag) {
      case '-o':
      case '--output':
        cmd.output = value();
        break;
      case '--label':
        cmd.options.label = value();
        break;
      case '--uuid': {
        const v = value();
        cmd.options.uuid = v === 'random' ? crypto.randomUUID() : v.toLowerCase();
        break;
      }
      case '--fs-type':
        cmd.options.fsType = value() as BuildOptions['fsType'];
        break;
      case '--block-size': {
        const v = value();
        cmd.options.blockSize = v === 'auto' ? 'auto' : (integer(flag, v) as BuildOptions['blockSize']);
        break;
      }
      case '--inode-size': {
        const v = value();
        cmd.options.inodeSize = v === 'auto' ? 'auto' : (integer(flag, v) as BuildOptions['inodeSize']);
        break;
      }
      case '--epoch':
        cmd.options.epoch = integer(flag, value());
        break;
      case '--headroom':
        cmd.options.headroomMiB = integer(flag, value());
        break;
      case '--compress':
        compressFlag = inline === undefined ? DEFAULT_BUILD_OPTIONS.compressionLevel : integer(flag, inline);
        break;
      case '-q':
      case '--quiet':
        cmd.quiet = true;
        break;
      case '--compat':
        cmd.options.compat = true;
        break;
      case '--no-check-sigs':
        cmd.noCheckSigs = true;
        break;
      case '--max-expanded-bytes':
        cmd.maxExpandedBytes = byteCount(flag, value());
        break;
      default:
        throw new UsageError(
          arg.startsWith('-')
            ? `unknown option ${flag} (see --help).`
            : `unexpected argument "${arg}"; inputs need a flag such as --files or --closure.`,
        );
    }
  }
  if (!cmd.output) throw new UsageError('no output file: add -o OUT.img or -o OUT.img.zst.');
  const zstName = cmd.output.endsWith('.zst');
  if (compressFlag !== undefined && !zstName) {
    throw new UsageError(
      `--compress writes zstd, but the output "${cmd.output}" does not end in .zst; name it ${cmd.output}.zst.`,
    );
  }
  if (zstName) {
    cmd.options.compress = true;
    cmd.options.compressionLevel = compressFlag ?? DEFAULT_BUILD_OPTIONS.compressionLevel;
  }
  const inputs =
    cmd.closures.length +
    cmd.stores.length +
    cmd.nars.length +
    cmd.exports.length +
    cmd.files.length +
    cmd.tars.length +
    cmd.storePaths.length;
  if (inputs === 0)
    throw new UsageError(
      'nothing to put in the image: give at least one of --closure, --store, --nar, --export, --files, --tar, --store-path.',
    );
  for (const p of cmd.storePaths) {
    const why = storePathProblem(p);
    if (why) throw new UsageError(`--store-path ${p}: not a store path: ${why}.`);
  }
  for (const u of cmd.substituters) {
    const n = normalizeCacheUrl(u);
    if (typeof n === 'string') throw new UsageError(`--substituter ${u}: ${n}.`);
  }
  for (const k of cmd.trustedKeys) {
    const why = parsePublicKey(k);
    if (typeof why === 'string') throw new UsageError(`--trusted-public-key: ${why}.`);
  }
  if ((cmd.trustedKeys.length || cmd.noCheckSigs) && !cmd.substituters.length && !cmd.storePaths.length)
    throw new UsageError(
      `${cmd.noCheckSigs ? '--no-check-sigs' : '--trusted-public-key'} only matters when fetching: add --substituter URL or --store-path PATH.`,
    );
  const problem = validateBuildOptions(cmd.options);
  if (problem) throw new UsageError(problem);
  return cmd;
}

function integer(flag: string, v: string): number {
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag} takes a whole number, got "${v}".`);
  return Number(v);
}

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** `123`, `64K`, `512M`, `8G` (binary units); at least 1. */
function byteCount(flag: string, v: string): number {
  const m = /^(\d+)([KMG]?)(?:i?B)?$/i.exec(v);
  const n = m ? Number(m[1]) * UNITS[m[2].toUpperCase()] : NaN;
  if (!m || !Number.isSafeInteger(n) || n < 1)
    throw new UsageError(`${flag} takes a number of bytes such as 1048576, 512M or 8G, got "${v}".`);
  return n;
}
