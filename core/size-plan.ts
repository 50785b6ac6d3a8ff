/**
 * Image size planning. Starts from nixpkgs' make-ext4-fs.nix:
 *
 *   numInodes=$(find ./rootImage | wc -l)
 *   numDataBlocks=$(du -s -c -B 4096 --apparent-size ./rootImage | tail -1 | awk '{ print int($1 * 1.10) }')
 *   bytes=$((2 * 4096 * $numInodes + 4096 * $numDataBlocks))
 *
 * and checks it against an ext4 layout estimate (blocks per file, directory blocks, symlinks
 * over 60 bytes, extent/indirect blocks, inode tables, journal, group metadata), taking the
 * larger, rounded up to a MiB. `grow` gives the next attempt when mkfs runs out of space.
 */
import type { BuildOptions, SizeEstimate } from './engine-contract.ts';
import type { TreeEntry } from './image-tree.ts';

const MiB = 1024 * 1024;
/** ext4 reserves inodes 1..10 and puts lost+found at 11. */
const RESERVED_INODES = 11;
/** Symlink targets shorter than this live in the inode ("fast symlinks"). */
const FAST_SYMLINK_MAX = 59;
const enc = new TextEncoder();

export type SizePlanOptions = Partial<Pick<BuildOptions, 'blockSize' | 'inodeSize' | 'fsType' | 'headroomMiB'>>;

/** Rounds up to a whole MiB. */
export function roundUpMiB(bytes: number): number {
  return Math.ceil(bytes / MiB) * MiB;
}

/** make-ext4-fs.nix's initial size for the tree (its `bytes`, before any rounding). */
export function nixpkgsInitialBytes(entries: readonly TreeEntry[]): {
  bytes: number;
  numInodes: number;
  numDataBlocks: number;
} {
  // find lists every name, the root included; du --apparent-size counts each inode once
  // (directories at 4096, their usual st_size on ext4) and rounds the total up to blocks.
  const numInodes = entries.length + (entries.some((e) => e.path === '/') ? 0 : 1);
  let apparent = 0;
  for (const e of entries) {
    if (e.type === 'hardlink') continue;
    apparent += e.type === 'directory' ? 4096 : e.size;
  }
  const numDataBlocks = Math.floor(Math.ceil(apparent / 4096) * 1.1);
  return { bytes: 2 * 4096 * numInodes + 4096 * numDataBlocks, numInodes, numDataBlocks };
}

/** Blocks of extent-tree / indirect-block metadata for a file of `n` data blocks. */
export function mappingBlocks(n: number, blockSize: number, extents: boolean): number {
  if (extents) {
    const count = Math.ceil(n / 32768); // one extent maps at most 32768 blocks
    if (count <= 4) return 0; // four extents fit in the inode
    const perBlock = Math.floor((blockSize - 12) / 12);
    let blocks = 0;
    for (let level = Math.ceil(count / perBlock); ; level = Math.ceil(level / perBlock)) {
      blocks += level;
      if (level <= 4) break;
    }
    return blocks;
  }
  const p = blockSize / 4;
  let left = n - 12;
  if (left <= 0) return 0;
  if (left <= p) return 1;
  left -= p;
  if (left <= p * p) return 1 + 1 + Math.ceil(left / p);
  left -= p * p;
  return 1 + (1 + p) + 1 + Math.ceil(left / (p * p)) + Math.ceil(left / p);
}

/** Journal blocks mke2fs picks for a filesystem of `blocks` blocks (ext2fs_default_journal_size). */
export function defaultJournalBlocks(blocks: number): number {
  if (blocks < 2048) return 0;
  if (blocks < 32768) return 1024;
  if (blocks < 256 * 1024) return 4096;
  if (blocks < 512 * 1024) return 8192;
  if (blocks < 4096 * 1024) return 16384;
  if (blocks < 8192 * 1024) return 32768;
  if (blocks < 16384 * 1024) return 65536;
  if (blocks < 32768 * 1024) return 131072;
  return 262144;
}

/** Details of a plan, for display and for the pipeline's mke2fs arguments. */
export interface SizePlan extends SizeEstimate {
  blockSize: number;
  inodeSize: number;
  /** Blocks the tree's contents need: file data, directories, long symlinks, mapping blocks. */
  contentBlocks: number;
  /** The nixpkgs formula's result (bytes), for comparison. */
  nixpkgsBytes: number;
  /** Bytes per inode to pass to mke2fs (`-i`) when mke2fs.conf's ratio gives too few inodes. */
  inodeRatio?: number;
}

/**
 * Plans an image for `entries`. `inodes` is what the tree needs (entries other than hard
 * links, plus the 11 reserved). The initial size also covers mke2fs's bytes-per-inode ratio
 * (mke2fs.conf: 4096 under 512 MiB, where blocks are 1 KiB, else 16384), so mke2fs needs no
 * `-N`. Defaults: blockSize `auto` (as mke2fs chooses), inode size 256, ext4, headroom 0.
 */
export function planSize(entries: readonly TreeEntry[], options: SizePlanOptions = {}): SizePlan {
  const auto = !options.blockSize || options.blockSize === 'auto';
  // mke2fs.conf types by size: floppy (< 3 MiB) 1 KiB blocks and 8192 bytes per inode,
  // small (< 512 MiB) 1 KiB and 4096, default 4 KiB and 16384.
  const classes: { below: number; blockSize: 1024 | 2048 | 4096; ratio: number }[] = [
    { below: 3 * MiB, blockSize: 1024, ratio: 8192 },
    { below: 512 * MiB, blockSize: 1024, ratio: 4096 },
    { below: Infinity, blockSize: 4096, ratio: 16384 },
  ];
  for (const c of classes) {
    const blockSize = auto ? c.blockSize : (options.blockSize as 1024 | 2048 | 4096);
    const plan = planWith(entries, { ...options, blockSize }, c.ratio);
    if (plan.initialImageBytes < c.below) return plan;
  }
  return planWith(entries, { ...options, blockSize: auto ? 4096 : options.blockSize }, 16384);
}

function planWith(entries: readonly TreeEntry[], options: SizePlanOptions, inodeRatio: number): SizePlan {
  const B = options.blockSize && options.blockSize !== 'auto' ? options.blockSize : 4096;
  const inodeSize = options.inodeSize && options.inodeSize !== 'auto' ? options.inodeSize : 256;
  const fsType = options.fsType ?? 'ext4';
  const extents = fsType === 'ext4';
  const csumTail = fsType === 'ext4' ? 12 : 0; // metadata_csum dirent tail

  // Directory sizes come from their children's names.
  const dirBytes = new Map<string, number>();
  let hasRoot = false;
  for (const e of entries) if (e.type === 'directory') dirBytes.set(e.path, 24); // "." and ".."
  let contentBlocks = 0;
  let inodes = RESERVED_INODES;
  for (const e of entries) {
    if (e.path === '/') hasRoot = true;
    else {
      const cut = e.path.lastIndexOf('/');
      const parent = cut <= 0 ? '/' : e.path.slice(0, cut);
      const nameLen = enc.encode(e.path.slice(cut + 1)).length;
      dirBytes.set(parent, (dirBytes.get(parent) ?? 24) + ((8 + nameLen + 3) & ~3));
      if (e.type !== 'hardlink') inodes++;
    }
    if (e.type === 'file') {
      const n = Math.ceil(e.size / B);
      contentBlocks += n + mappingBlocks(n, B, extents);
    } else if (e.type === 'symlink' && e.size > FAST_SYMLINK_MAX) contentBlocks += 1;
  }
  if (!hasRoot && !dirBytes.has('/')) dirBytes.set('/', 24);
  for (const bytes of dirBytes.values()) {
    const n = Math.max(1, Math.ceil(bytes / (B - csumTail)));
    contentBlocks += n + (n > 1 ? 1 : 0); // an htree index block once a directory spans blocks
  }
  contentBlocks += 4; // lost+found is created with 16 KiB

  // Layout overhead for a filesystem of `blocks` blocks holding `inodes` inodes.
  const blocksPerGroup = B * 8;
  const overhead = (blocks: number, journalOf = blocks) => {
    const groups = Math.max(1, Math.ceil(blocks / blocksPerGroup));
    const inodesPerGroup = Math.ceil(inodes / groups / (B / inodeSize)) * (B / inodeSize);
    const inodeTables = groups * ((inodesPerGroup * inodeSize) / B);
    const descPerBlock = B / (fsType === 'ext4' ? 64 : 32);
    const gdt = Math.ceil(groups / descPerBlock);
    const reservedGdt = Math.min(1024, Math.ceil((groups * 1024) / descPerBlock)); // resize_inode room
    const backups = Math.min(groups, 2 + Math.ceil(Math.log(Math.max(groups, 1)) / Math.log(3)) * 3);
    const journal = fsType === 'ext2' ? 0 : defaultJournalBlocks(journalOf);
    return inodeTables + groups * 2 + backups * (1 + gdt + reservedGdt) + journal + (B === 1024 ? 1 : 0);
  };
  let blocks = contentBlocks;
  for (let i = 0; i < 8; i++) blocks = contentBlocks + overhead(blocks);
  const minimumBytes = blocks * B;

  const nix = nixpkgsInitialBytes(entries);
  // mkfs -d places files less tightly than a count of blocks: a 10% margin plus a MiB; and
  // mke2fs makes one inode per `inodeRatio` bytes, so enough bytes for the inodes (+10%).
  // mke2fs adds no journal below 2048 blocks: an ext3/ext4 image starts at least that large.
  const journalFloor = fsType === 'ext2' ? 0 : 2048 * B;
  const byBlocks = roundUpMiB(Math.max(nix.bytes, Math.ceil(minimumBytes * 1.1) + MiB, journalFloor));
  const wantedInodes = Math.ceil(inodes * 1.1);
  // A tree of many small files needs more inodes than mke2fs.conf's ratio gives the size
  // its blocks need. Rather than a larger filesystem, ask for one inode per block (-i B,
  // the most a group can hold): resize2fs -M keeps the inodes per group, so the denser
  // they are, the fewer groups the shrunk image needs (100,000 tiny files: 1.6 GB with
  // the default ratio, 0.8 GB with just enough inodes, under 0.5 GB with one per block).
  const explicitRatio = wantedInodes * inodeRatio > byBlocks ? B : undefined;
  const ratioUsed = explicitRatio ?? inodeRatio;
  const initialImageBytes = Math.max(byBlocks, roundUpMiB(wantedInodes * ratioUsed));
  // resize2fs -M keeps the inodes per group, so it needs as many groups as hold the inodes.
  const initialBlocks = initialImageBytes / B;
  const groupsInitial = Math.ceil(initialBlocks / blocksPerGroup);
  const perBlock = B / inodeSize;
  const inodesPerGroup = Math.max(
    perBlock,
    Math.ceil(Math.floor(initialImageBytes / ratioUsed) / groupsInitial / perBlock) * perBlock,
  );
  const groupsForInodes = Math.ceil(inodes / inodesPerGroup);
  const inodeBound = (groupsForInodes - 1) * blocksPerGroup + (inodesPerGroup * inodeSize) / B + 64;
  // The journal is sized for the filesystem mkfs makes, and resize2fs -M keeps it.
  let shrunk = contentBlocks;
  for (let i = 0; i < 8; i++) shrunk = contentBlocks + overhead(shrunk, initialBlocks);
  const finalBlocks = Math.max(shrunk, inodeBound);
  const headroom = (options.headroomMiB ?? 0) * MiB;
  const finalImageBytes = Math.ceil((finalBlocks * B + headroom) / B) * B;
  return {
    inodes,
    dataBytes: contentBlocks * B,
    initialImageBytes,
    finalImageBytes,
    blockSize: B,
    inodeSize,
    contentBlocks,
    nixpkgsBytes: nix.bytes,
    ...(explicitRatio === undefined ? {} : { inodeRatio: ratioUsed }),
  };
}

/**
 * The next attempt after mkfs reported no space (blocks or inodes): 1.5x the bytes (at least
 * 16 MiB more), 1.25x the inodes, rounded up to a MiB. The final size stays as estimated,
 * since `resize2fs -M` shrinks to fit anyway.
 */
export function grow(previous: SizeEstimate): SizeEstimate {
  return {
    ...previous,
    inodes: Math.ceil(previous.inodes * 1.25),
    initialImageBytes: roundUpMiB(Math.max(previous.initialImageBytes * 1.5, previous.initialImageBytes + 16 * MiB)),
  };
}
