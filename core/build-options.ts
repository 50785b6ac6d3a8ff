/** Defaults and validation of `BuildOptions`, shared by the page, the worker and the CLI. */
import type { BuildOptions } from './engine-contract.ts';

/** The defaults of nixpkgs' `make-ext4-fs.nix`. */
export const DEFAULT_BUILD_OPTIONS: Readonly<BuildOptions> = Object.freeze({
  label: 'nixos',
  uuid: '44444444-4444-4444-8888-888888888888',
  fsType: 'ext4',
  blockSize: 'auto',
  inodeSize: 'auto',
  epoch: 1,
  headroomMiB: 0,
  compress: false,
  compressionLevel: 3,
  compat: false,
});

/** What `compat` leaves out of an ext4 filesystem (mke2fs `-O ^feature`). */
export const COMPAT_DISABLED_FEATURES = ['orphan_file', 'metadata_csum_seed'] as const;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const CONTROL = /[\x00-\x1f\x7f-\x9f]/g;

/** `text` with control characters shown as `\xNN` (never a raw line break in a message or listing). */
export function showControlCharacters(text: string): string {
  return text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * What is wrong with a filesystem label, or `undefined`: at most 16 bytes (s_volume_name;
 * mke2fs would truncate with a warning) and no control characters (a line break in a label
 * shows up inside the tools' text output and in every listing of the image).
 */
export function labelProblem(label: string): string | undefined {
  if (new TextEncoder().encode(label).length > 16)
    return `label "${showControlCharacters(label)}" is longer than 16 bytes; ext filesystems keep at most 16.`;
  const c = new RegExp(CONTROL.source).exec(label);
  if (c)
    return `label "${showControlCharacters(label)}" holds a control character (${showControlCharacters(c[0])} at position ${c.index + 1}); a label is one line of plain text.`;
  return undefined;
}

/** Returns what is wrong with the options, in one sentence with the fix, or `undefined`. */
export function validateBuildOptions(o: BuildOptions): string | undefined {
  if (typeof o.label !== 'string') return 'the label is not text.';
  const label = labelProblem(o.label);
  if (label) return label;
  if (!UUID_RE.test(o.uuid))
    return `UUID "${o.uuid}" is not of the form 01234567-89ab-cdef-0123-456789abcdef (or use "random").`;
  if (!['ext2', 'ext3', 'ext4'].includes(o.fsType))
    return `filesystem type "${o.fsType}" is not one of ext2, ext3, ext4.`;
  if (o.blockSize !== 'auto' && ![1024, 2048, 4096].includes(o.blockSize))
    return `block size ${o.blockSize} is not one of 1024, 2048, 4096 or auto.`;
  if (o.inodeSize !== 'auto' && ![128, 256, 512, 1024].includes(o.inodeSize))
    return `inode size ${o.inodeSize} is not one of 128, 256, 512, 1024 or auto.`;
  // The wasm tools' time_t is 32 bits: times from 2038-01-19 on would be stored wrongly.
  if (!Number.isInteger(o.epoch) || o.epoch < 0 || o.epoch > 0x7fffffff)
    return `epoch ${o.epoch} is not a whole number of seconds between 0 and 2147483647 (2038-01-19).`;
  if (!Number.isInteger(o.headroomMiB) || o.headroomMiB < 0 || o.headroomMiB > 1 << 20)
    return `headroom ${o.headroomMiB} MiB is not a whole number between 0 and 1048576.`;
  if (!Number.isInteger(o.compressionLevel) || o.compressionLevel < 1 || o.compressionLevel > 19)
    return `compression level ${o.compressionLevel} is not between 1 and 19.`;
  return undefined;
}
