/**
 * Reads an ext2/3/4 superblock from its bytes: what the studio needs to know about an
 * image (size, block size, features, label, UUID, free counts, state) comes from here,
 * never from a tool's text output, which text inside the image (a label holding a line
 * break) could fake. Offsets and feature names follow e2fsprogs' `ext2_fs.h` and
 * `lib/e2p/feature.c`; features are listed in dumpe2fs's order (compat, incompat, ro_compat).
 */
import type { FilesystemSummary, FsType } from './engine-contract.ts';

/** Byte offset of the primary superblock in the image. */
export const SUPERBLOCK_OFFSET = 1024;
/** Bytes of a superblock. */
export const SUPERBLOCK_SIZE = 1024;
const EXT2_MAGIC = 0xef53;

const COMPAT: Record<number, string> = {
  0x1: 'dir_prealloc',
  0x2: 'imagic_inodes',
  0x4: 'has_journal',
  0x8: 'ext_attr',
  0x10: 'resize_inode',
  0x20: 'dir_index',
  0x40: 'lazy_bg',
  0x100: 'snapshot_bitmap',
  0x200: 'sparse_super2',
  0x400: 'fast_commit',
  0x800: 'stable_inodes',
  0x1000: 'orphan_file',
};
const INCOMPAT: Record<number, string> = {
  0x1: 'compression',
  0x2: 'filetype',
  0x4: 'needs_recovery',
  0x8: 'journal_dev',
  0x10: 'meta_bg',
  0x40: 'extent',
  0x80: '64bit',
  0x100: 'mmp',
  0x200: 'flex_bg',
  0x400: 'ea_inode',
  0x1000: 'dirdata',
  0x2000: 'metadata_csum_seed',
  0x4000: 'large_dir',
  0x8000: 'inline_data',
  0x10000: 'encrypt',
  0x20000: 'casefold',
};
const RO_COMPAT: Record<number, string> = {
  0x1: 'sparse_super',
  0x2: 'large_file',
  0x8: 'huge_file',
  0x10: 'uninit_bg',
  0x20: 'dir_nlink',
  0x40: 'extra_isize',
  0x100: 'quota',
  0x200: 'bigalloc',
  0x400: 'metadata_csum',
  0x800: 'replica',
  0x1000: 'read-only',
  0x2000: 'project',
  0x4000: 'shared_blocks',
  0x8000: 'verity',
  0x10000: 'orphan_present',
};

const INCOMPAT_64BIT = 0x80;
const COMPAT_HAS_JOURNAL = 0x4;
/** Features only ext4 sets (mke2fs's ext4 profile); ext3 is ext2 plus a journal. */
const EXT4_INCOMPAT = 0x40 | 0x80 | 0x200 | 0x8000;
const EXT4_RO_COMPAT = 0x8 | 0x20 | 0x40 | 0x400;

/** The superblock fields the studio uses. */
export interface Superblock extends FilesystemSummary {
  /** `s_state`: bit 0 cleanly unmounted, bit 1 errors found. */
  state: number;
  /** Bytes of the filesystem: block count times block size. */
  filesystemBytes: number;
  /** The label's raw bytes (up to 16, NUL-terminated when shorter). */
  labelBytes: Uint8Array;
  compat: number;
  incompat: number;
  roCompat: number;
}

/** Why bytes are not a usable superblock. */
export class SuperblockError extends Error {
  override name = 'SuperblockError';
}

function names(mask: number, table: Record<number, string>, letter: string): string[] {
  const out: string[] = [];
  for (let bit = 0; bit < 32; bit++) {
    const m = 2 ** bit;
    if (Math.floor(mask / m) % 2 === 1) out.push(table[m] ?? `FEATURE_${letter}${bit}`);
  }
  return out;
}

/** Which ext flavour the feature bits describe. */
export function fsTypeOfBits(compat: number, incompat: number, roCompat: number): FsType {
  if (incompat & EXT4_INCOMPAT || roCompat & EXT4_RO_COMPAT) return 'ext4';
  return compat & COMPAT_HAS_JOURNAL ? 'ext3' : 'ext2';
}

const hex = (b: number) => b.toString(16).padStart(2, '0');

/**
 * Parses the superblock in `bytes` (the 1024 bytes at {@link SUPERBLOCK_OFFSET}). Throws a
 * {@link SuperblockError} when the magic number is missing or the geometry is impossible.
 */
export function parseSuperblock(bytes: Uint8Array): Superblock {
  if (bytes.length < SUPERBLOCK_SIZE)
    throw new SuperblockError(`only ${bytes.length} bytes where the superblock's ${SUPERBLOCK_SIZE} belong`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, SUPERBLOCK_SIZE);
  const u32 = (o: number) => v.getUint32(o, true);
  const u16 = (o: number) => v.getUint16(o, true);
  if (u16(0x38) !== EXT2_MAGIC)
    throw new SuperblockError('no ext2/3/4 superblock was found (its magic number 0xEF53 is not at byte 1080)');
  const logBlock = u32(0x18);
  if (logBlock > 6) throw new SuperblockError(`impossible block size 1024 << ${logBlock}`);
  const blockSize = 1024 * 2 ** logBlock;
  const compat = u32(0x5c);
  const incompat = u32(0x60);
  const roCompat = u32(0x64);
  const wide = (incompat & INCOMPAT_64BIT) !== 0;
  const blockCount = u32(0x04) + (wide ? u32(0x150) * 2 ** 32 : 0);
  const freeBlocks = u32(0x0c) + (wide ? u32(0x158) * 2 ** 32 : 0);
  const inodeCount = u32(0x00);
  const freeInodes = u32(0x10);
  const filesystemBytes = blockCount * blockSize;
  if (blockCount === 0 || !Number.isSafeInteger(filesystemBytes))
    throw new SuperblockError(`impossible block count ${blockCount}`);
  if (freeBlocks > blockCount || freeInodes > inodeCount)
    throw new SuperblockError(
      `impossible free counts (${freeBlocks} of ${blockCount} blocks, ${freeInodes} of ${inodeCount} inodes)`,
    );
  const u = bytes.subarray(0x68, 0x78);
  const uuidHex = Array.from(u, hex).join('');
  const uuid = `${uuidHex.slice(0, 8)}-${uuidHex.slice(8, 12)}-${uuidHex.slice(12, 16)}-${uuidHex.slice(16, 20)}-${uuidHex.slice(20)}`;
  const raw = bytes.subarray(0x78, 0x88);
  const nul = raw.indexOf(0);
  const labelBytes = raw.slice(0, nul < 0 ? 16 : nul);
  return {
    fsType: fsTypeOfBits(compat, incompat, roCompat),
    label: new TextDecoder().decode(labelBytes),
    labelBytes,
    uuid: u.every((b) => b === 0) ? '<none>' : uuid,
    blockSize,
    blockCount,
    freeBlocks,
    inodeCount,
    freeInodes,
    features: [...names(compat, COMPAT, 'C'), ...names(incompat, INCOMPAT, 'I'), ...names(roCompat, RO_COMPAT, 'R')],
    state: u16(0x3a),
    filesystemBytes,
    compat,
    incompat,
    roCompat,
  };
}

/** The summary shape of the engine's contract (without the raw fields). */
export function summaryOf(sb: Superblock): FilesystemSummary {
  const { fsType, label, uuid, blockSize, blockCount, freeBlocks, inodeCount, freeInodes, features } = sb;
  return { fsType, label, uuid, blockSize, blockCount, freeBlocks, inodeCount, freeInodes, features: [...features] };
}
