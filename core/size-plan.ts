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
/** UTF-8 length of a name, without encoding it (400,000 names: 1.3 s less). */
function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) n += c >= 0x800 && (c < 0xd800 || c > 0xdfff) ? 2 : 1;
  }
  return n;
}

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
  /**
   * Inodes per block group for mke2fs (as `-N`, see {@link mkfsInodeCount}), chosen so that
   * `resize2fs -M` shrinks the filesystem furthest (see {@link planInodesPerGroup}).
   */
  inodesPerGroup: number;
}

/** Blocks per group mke2fs makes (one block of block bitmap). */
export const blocksPerGroup = (blockSize: number): number => blockSize * 8;

/** flex_bg groups mke2fs packs together (its default, `-G 16`), for ext4. */
const FLEX_BG_SIZE = 16;

/** Whether group `g` holds a superblock backup (sparse_super: 0, 1 and powers of 3, 5 and 7). */
export function hasSuperBackup(g: number): boolean {
  if (g <= 1) return true;
  // Bases 3, 5, 7 (a loop, not an array: the plan asks this tens of thousands of times).
  for (let base = 3; base <= 7; base += 2) {
    let p = base;
    while (p < g) p *= base;
    if (p === g) return true;
  }
  return false;
}

/** The groups in [from, to) holding a superblock backup. */
function superBackupsIn(from: number, to: number): number {
  let n = 0;
  if (from <= 0 && to > 0) n++;
  if (from <= 1 && to > 1) n++;
  for (let base = 3; base <= 7; base += 2) for (let p = base; p < to; p *= base) if (p >= from) n++;
  return n;
}

/** Overhead of groups [from, to): calc_group_overhead summed. */
function overheadIn(from: number, to: number, base: number, backup: number): number {
  return to <= from ? 0 : (to - from) * base + backup * superBackupsIn(from, to);
}

/** What `resize2fs -M` sees of a filesystem mke2fs made: its geometry and what is in use. */
export interface ShrinkInput {
  blockSize: number;
  /** Blocks and groups of the filesystem as made (before shrinking). */
  blocksCount: number;
  groups: number;
  /** Inode table blocks per group. */
  inodeTableBlocks: number;
  inodesPerGroup: number;
  /** Group descriptor blocks plus reserved GDT blocks (what each backup carries). */
  oldDescBlocks: number;
  flexBg: boolean;
  extents: boolean;
  /** Inodes in use, the reserved ones included. */
  usedInodes: number;
  /** Blocks in use outside the groups' own metadata (data, directories, journal, ...). */
  dataBlocks: number;
}

/**
 * The size `resize2fs -M` shrinks to: e2fsprogs 1.47's calculate_minimum_resize_size
 * (resize/resize2fs.c), step for step, with per-group overheads summed in closed form.
 *
 * It matters how it counts: it starts from the groups the used inodes need and, when the
 * data needs more groups than that, adds groups but does not count the room of the groups
 * between the inode groups and the end of their flex_bg group. Each of those adds a whole
 * group of empty space (up to 15 of 16, about 6% on a 5 GiB tree with mke2fs's default
 * 16384 bytes per inode). Planning the inodes per group so the inode groups already hold
 * the data avoids that path.
 */
export function minimumShrinkBlocks(fs: ShrinkInput): number {
  const bpg = blocksPerGroup(fs.blockSize);
  const flex = fs.flexBg ? FLEX_BG_SIZE : 1;
  const firstDataBlock = fs.blockSize === 1024 ? 1 : 0;
  const base = fs.inodeTableBlocks + 2;
  const backup = 1 + fs.oldDescBlocks;

  let groups = Math.ceil(fs.usedInodes / fs.inodesPerGroup);
  let flexGroups = groups;
  if (fs.flexBg) flexGroups = Math.min(groups + flex - (groups & (flex - 1)), fs.groups);
  let dataBlocks = groups * bpg;
  // Room in the groups before the last one.
  let lastStart =
    Math.max(0, groups - 1) * bpg - overheadIn(0, Math.max(0, Math.min(groups - 1, flexGroups)), base, backup);
  dataBlocks = Math.max(0, dataBlocks - overheadIn(0, flexGroups, base, backup));
  const needed = fs.dataBlocks;
  while (needed > dataBlocks) {
    const extra = Math.ceil((needed - dataBlocks) / bpg);
    dataBlocks += extra * bpg;
    lastStart += bpg - (base + (hasSuperBackup(groups - 1) ? backup : 0));
    const from = flexGroups;
    groups += extra;
    if (!fs.flexBg) flexGroups = groups;
    else if (groups > flexGroups) flexGroups = Math.min(groups + flex - (groups & (flex - 1)), fs.groups);
    if (flexGroups > from) {
      const credited = Math.max(from, Math.min(groups - 1, flexGroups));
      lastStart += (credited - from) * bpg - overheadIn(from, credited, base, backup);
      dataBlocks -= overheadIn(from, flexGroups, base, backup);
    }
  }
  let first = groups - 1;
  if (fs.flexBg && (first & ~(flex - 1)) === 0) first &= ~(flex - 1);
  let overhead = overheadIn(first, flexGroups, base, backup);
  overhead += lastStart < needed ? Math.max(needed - lastStart, 50) : 50;
  overhead += firstDataBlock;
  let blocks = (groups - 1) * bpg + overhead;
  if (blocks >= fs.blocksCount) return fs.blocksCount;
  if (fs.extents) {
    // Room for extent trees that grow while blocks move.
    const perBlock = fs.blockSize / 12 - 1;
    const worst = Math.max(Math.floor((needed + perBlock - 1) / perBlock), fs.usedInodes);
    blocks += Math.min(Math.floor((fs.blocksCount - blocks) / 500), worst);
  }
  return blocks;
}

/** The fields of {@link ShrinkInput} that follow from the geometry mke2fs makes. */
export function mkfsGeometry(
  blockSize: number,
  inodeSize: number,
  initialBytes: number,
  inodesPerGroup: number,
  fsType: 'ext2' | 'ext3' | 'ext4',
): Omit<ShrinkInput, 'usedInodes' | 'dataBlocks'> {
  const blocksCount = Math.floor(initialBytes / blockSize);
  const firstDataBlock = blockSize === 1024 ? 1 : 0;
  const bpg = blocksPerGroup(blockSize);
  const groups = Math.ceil((blocksCount - firstDataBlock) / bpg);
  const descPerBlock = blockSize / (fsType === 'ext4' ? 64 : 32);
  const descBlocks = Math.ceil(groups / descPerBlock);
  // calc_reserved_gdt_blocks: room to grow 1024-fold (at most 2^32 blocks), at most a block of pointers.
  const maxBlocks = blocksCount < 0xffffffff / 1024 ? blocksCount * 1024 : 0xffffffff;
  const reservedGdt = Math.min(
    blockSize / 4,
    Math.max(0, Math.ceil(Math.ceil((maxBlocks - firstDataBlock) / bpg) / descPerBlock) - descBlocks),
  );
  return {
    blockSize,
    blocksCount,
    groups,
    inodeTableBlocks: Math.ceil((inodesPerGroup * inodeSize) / blockSize),
    inodesPerGroup,
    oldDescBlocks: descBlocks + reservedGdt,
    flexBg: fsType === 'ext4',
    extents: fsType === 'ext4',
  };
}

/** The inode count (`-N`) that gives `inodesPerGroup` in a filesystem of `bytes` (whole groups). */
export function mkfsInodeCount(bytes: number, blockSize: number, inodesPerGroup: number): number {
  const firstDataBlock = blockSize === 1024 ? 1 : 0;
  const groups = Math.ceil((Math.floor(bytes / blockSize) - firstDataBlock) / blocksPerGroup(blockSize));
  return groups * inodesPerGroup;
}

/** The data counts the plan must hold up under: as planned and up to 1% more. */
const DATA_MARGINS = [1, 1.0025, 1.005, 1.0075, 1.01];

/**
 * Picks the inodes per group for which `resize2fs -M` shrinks furthest, given the inodes and
 * data blocks the tree will use. Too many per group and the data needs more groups than the
 * inodes, where resize2fs leaves up to 15 groups empty (see {@link minimumShrinkBlocks});
 * too few and the inodes need more groups than the data. Each candidate is judged at the
 * data estimate and up to 1% above it (the estimate is within 0.1% on real trees) and with
 * a few more inodes in use, and among equals the one with the most inodes wins (room for
 * files added later).
 */
export function planInodesPerGroup(
  geometryFor: (inodesPerGroup: number) => Omit<ShrinkInput, 'usedInodes' | 'dataBlocks'>,
  blockSize: number,
  inodeSize: number,
  usedInodes: number,
  minimumInodes: number,
  dataBlocks: number,
): { inodesPerGroup: number; shrunkBlocks: number } {
  // Whole inode table blocks, a multiple of 8 (ext2fs_initialize), at most a bitmap block's worth.
  const perBlock = blockSize / inodeSize;
  const step = perBlock % 8 === 0 ? perBlock : 8 * perBlock;
  const max = Math.floor(Math.min(blockSize * 8, 65536 - perBlock) / step) * step;
  const groups = geometryFor(max).groups;
  const min = Math.min(max, Math.max(step, Math.ceil(minimumInodes / groups / step) * step));
  let best = { inodesPerGroup: max, worst: Infinity, shrunkBlocks: Infinity };
  // Up to a few thousand candidates, ten shrink sizes each: one input object per candidate,
  // its two counts set in place.
  const inodeCounts = [usedInodes, Math.ceil(usedInodes * 1.002) + 8];
  const dataCounts = DATA_MARGINS.map((f) => Math.ceil(dataBlocks * f));
  for (let ipg = min; ipg <= max; ipg += step) {
    const fs: ShrinkInput = { ...geometryFor(ipg), usedInodes, dataBlocks };
    let worst = 0;
    for (const d of dataCounts)
      for (const inodes of inodeCounts) {
        fs.usedInodes = inodes;
        fs.dataBlocks = d;
        worst = Math.max(worst, minimumShrinkBlocks(fs));
      }
    if (worst <= best.worst) {
      fs.usedInodes = usedInodes;
      fs.dataBlocks = dataBlocks;
      best = { inodesPerGroup: ipg, worst, shrunkBlocks: minimumShrinkBlocks(fs) };
    }
  }
  return { inodesPerGroup: best.inodesPerGroup, shrunkBlocks: best.shrunkBlocks };
}

/** What mke2fs made, from its superblock, and the layout it was asked for. */
export interface MadeFilesystem {
  blockSize: number;
  inodeSize: number;
  /** The size mkfs was given, bytes. */
  initialBytes: number;
  inodesPerGroup: number;
  fsType: 'ext2' | 'ext3' | 'ext4';
  blockCount: number;
  freeBlocks: number;
  inodeCount: number;
  freeInodes: number;
}

/**
 * After mkfs: inodes per group that let `resize2fs -M` shrink the filesystem clearly further
 * (by more than 2%) than the ones it was made with, judged on the blocks and inodes it really
 * uses; undefined when the plan holds. The plan counts every byte of every file, but
 * `mke2fs -d` leaves all-zero blocks out (holes), so on sparse or zero-filled files it
 * expected many more groups of data than there are and spread the inodes thin: their groups,
 * which resize2fs keeps, then outnumber the data's (a tree with 2.6 GiB of holes shrank to
 * 2.5 GiB instead of make-ext4-fs.nix's 175 MiB). Making the filesystem again with these
 * inodes per group fixes that.
 */
export function replanInodesPerGroup(
  made: MadeFilesystem,
  minimumInodes: number,
): { inodesPerGroup: number; shrunkBlocks: number; plannedBlocks: number } | undefined {
  const { blockSize: B, inodeSize, initialBytes, fsType } = made;
  const geometryFor = (ipg: number) => mkfsGeometry(B, inodeSize, initialBytes, ipg, fsType);
  const g = geometryFor(made.inodesPerGroup);
  if (g.blocksCount !== made.blockCount) return undefined;
  // The groups' own metadata: inode tables, bitmaps, superblock and descriptor backups.
  const metadata =
    g.groups * (g.inodeTableBlocks + 2) + superBackupsIn(0, g.groups) * (1 + g.oldDescBlocks) + (B === 1024 ? 1 : 0);
  const dataBlocks = Math.max(0, made.blockCount - made.freeBlocks - metadata);
  const usedInodes = made.inodeCount - made.freeInodes;
  const plannedBlocks = minimumShrinkBlocks({ ...g, usedInodes, dataBlocks });
  const best = planInodesPerGroup(geometryFor, B, inodeSize, usedInodes, minimumInodes, dataBlocks);
  if (best.inodesPerGroup === made.inodesPerGroup || best.shrunkBlocks * 1.02 >= plannedBlocks) return undefined;
  return { ...best, plannedBlocks };
}

/**
 * Plans an image for `entries`. `inodes` is what the tree needs (entries other than hard
 * links, plus the 11 reserved). The initial size is a whole number of block groups, and the
 * inode count is chosen for the smallest `resize2fs -M` result ({@link planInodesPerGroup}).
 * Defaults: blockSize `auto` (as mke2fs chooses), inode size 256, ext4, headroom 0.
 */
export function planSize(entries: readonly TreeEntry[], options: SizePlanOptions = {}): SizePlan {
  const auto = !options.blockSize || options.blockSize === 'auto';
  // mke2fs.conf types by size: floppy (< 3 MiB) and small (< 512 MiB) get 1 KiB blocks, the
  // rest 4 KiB; the inode ratios of those types no longer matter (the plan gives -N).
  const classes: { below: number; blockSize: 1024 | 2048 | 4096 }[] = [
    { below: 512 * MiB, blockSize: 1024 },
    { below: Infinity, blockSize: 4096 },
  ];
  // The plan never starts below make-ext4-fs.nix's size: past a class's bound, skip it.
  const nixBytes = auto ? nixpkgsInitialBytes(entries).bytes : 0;
  for (const c of classes) {
    if (auto && nixBytes >= c.below) continue;
    const blockSize = auto ? c.blockSize : (options.blockSize as 1024 | 2048 | 4096);
    const plan = planWith(entries, { ...options, blockSize });
    // The size after the headroom counts too: resize2fs cannot grow a filesystem of 1 KiB
    // blocks a thousandfold (its reserved group descriptor blocks run out).
    if (Math.max(plan.initialImageBytes, plan.finalImageBytes) < c.below || !auto) return plan;
  }
  return planWith(entries, { ...options, blockSize: auto ? 4096 : options.blockSize });
}

function planWith(entries: readonly TreeEntry[], options: SizePlanOptions): SizePlan {
  const B = options.blockSize && options.blockSize !== 'auto' ? options.blockSize : 4096;
  const inodeSize = options.inodeSize && options.inodeSize !== 'auto' ? options.inodeSize : 256;
  const fsType = options.fsType ?? 'ext4';
  const extents = fsType === 'ext4';
  const csumTail = fsType === 'ext4' ? 12 : 0; // metadata_csum dirent tail

  // Directory sizes come from their children's names.
  const dirBytes = new Map<string, number>();
  let hasRoot = false;
  const explicitDirs = new Set<string>(['/']);
  for (const e of entries)
    if (e.type === 'directory') {
      dirBytes.set(e.path, 24); // "." and ".."
      explicitDirs.add(e.path);
    }
  let contentBlocks = 0;
  let inodes = RESERVED_INODES;
  for (const e of entries) {
    if (e.path === '/') hasRoot = true;
    else {
      const cut = e.path.lastIndexOf('/');
      const parent = cut <= 0 ? '/' : e.path.slice(0, cut);
      const nameLen = utf8Length(e.path.slice(cut + 1));
      dirBytes.set(parent, (dirBytes.get(parent) ?? 24) + ((8 + nameLen + 3) & ~3));
      if (e.type !== 'hardlink') inodes++;
    }
    if (e.type === 'file') {
      const n = Math.ceil(e.size / B);
      contentBlocks += n + mappingBlocks(n, B, extents);
    } else if (e.type === 'symlink' && e.size > FAST_SYMLINK_MAX) contentBlocks += 1;
  }
  if (!hasRoot && !dirBytes.has('/')) dirBytes.set('/', 24);
  // Folders only implied by paths below them are made too: each takes an inode, a block and
  // a name in its parent.
  const pending: string[] = [];
  for (const path of dirBytes.keys()) if (path !== '/' && !explicitDirs.has(path)) pending.push(path);
  while (pending.length > 0) {
    const path = pending.pop()!;
    if (explicitDirs.has(path)) continue;
    explicitDirs.add(path);
    inodes++;
    const cut = path.lastIndexOf('/');
    const parent = cut <= 0 ? '/' : path.slice(0, cut);
    dirBytes.set(parent, (dirBytes.get(parent) ?? 24) + ((8 + utf8Length(path.slice(cut + 1)) + 3) & ~3));
    if (parent !== '/' && !explicitDirs.has(parent)) pending.push(parent);
  }
  for (const bytes of dirBytes.values()) {
    const n = Math.max(1, Math.ceil(bytes / (B - csumTail)));
    contentBlocks += n + (n > 1 ? 1 : 0); // an htree index block once a directory spans blocks
  }
  contentBlocks += 4; // lost+found is created with 16 KiB

  const bpg = blocksPerGroup(B);
  const groupBytes = bpg * B;
  const perBlock = B / inodeSize;
  const maxPerGroup = Math.floor(Math.min(B * 8, 65536 - perBlock) / perBlock) * perBlock;
  // Layout overhead for a filesystem of `blocks` blocks with `perGroup` inodes per group.
  const overhead = (blocks: number, perGroup: number) => {
    const groups = Math.max(1, Math.ceil(blocks / bpg));
    const inodeTables = groups * Math.ceil((perGroup * inodeSize) / B);
    const descPerBlock = B / (fsType === 'ext4' ? 64 : 32);
    const gdt = Math.ceil(groups / descPerBlock);
    const reservedGdt = Math.min(B / 4, Math.ceil((groups * 1024) / descPerBlock)); // resize_inode room
    const backups = superBackupsIn(0, groups);
    const journal = fsType === 'ext2' ? 0 : defaultJournalBlocks(blocks);
    return inodeTables + groups * 2 + backups * (1 + gdt + reservedGdt) + journal + (B === 1024 ? 1 : 0);
  };
  // The tightest filesystem holding the tree with just enough inodes: where mkfs starts from.
  let blocks = contentBlocks;
  for (let i = 0; i < 8; i++)
    blocks = contentBlocks + overhead(blocks, Math.ceil(inodes / Math.max(1, Math.ceil(blocks / bpg))));
  const minimumBytes = blocks * B;

  const nix = nixpkgsInitialBytes(entries);
  // mkfs -d places files less tightly than a count of blocks: a 10% margin plus a MiB, never
  // below make-ext4-fs.nix's size. mke2fs adds no journal below 2048 blocks: an ext3/ext4
  // image starts at least that large. And whole groups, so the inode count (-N) gives
  // exactly the inodes per group planned.
  const journalFloor = fsType === 'ext2' ? 0 : 2048 * B;
  const wantedInodes = Math.ceil(inodes * 1.1);
  let initialImageBytes =
    Math.ceil(
      Math.max(
        nix.bytes,
        Math.ceil(minimumBytes * 1.1) + MiB,
        journalFloor,
        (wantedInodes / maxPerGroup) * groupBytes,
      ) / groupBytes,
    ) * groupBytes;
  // Inodes in use after mkfs: the tree's, the reserved ones, and ext4's orphan file.
  const usedInodes = inodes + (fsType === 'ext4' ? 1 : 0);
  for (;;) {
    const initialBlocks = initialImageBytes / B;
    const journal = fsType === 'ext2' ? 0 : defaultJournalBlocks(initialBlocks);
    const dataBlocks = contentBlocks + journal;
    const pick = planInodesPerGroup(
      (ipg) => mkfsGeometry(B, inodeSize, initialImageBytes, ipg, fsType),
      B,
      inodeSize,
      usedInodes,
      wantedInodes,
      dataBlocks,
    );
    // The chosen inode tables must leave mkfs its margin; else one more group and plan again.
    const fits = (contentBlocks + overhead(initialBlocks, pick.inodesPerGroup)) * 1.1 <= initialBlocks;
    if (!fits) {
      initialImageBytes += groupBytes;
      continue;
    }
    const headroom = (options.headroomMiB ?? 0) * MiB;
    return {
      inodes,
      dataBytes: contentBlocks * B,
      initialImageBytes,
      finalImageBytes: Math.ceil((pick.shrunkBlocks * B + headroom) / B) * B,
      blockSize: B,
      inodeSize,
      contentBlocks,
      nixpkgsBytes: nix.bytes,
      inodesPerGroup: pick.inodesPerGroup,
    };
  }
}

/**
 * The next attempt after mkfs reported no space (blocks or inodes): 1.5x the bytes (at least
 * 16 MiB more), 1.25x the inodes, rounded up to a MiB (or to `unitBytes`, e.g. whole groups). The final size stays as estimated,
 * since `resize2fs -M` shrinks to fit anyway.
 */
export function grow(previous: SizeEstimate, unitBytes = MiB): SizeEstimate {
  const bytes = Math.max(previous.initialImageBytes * 1.5, previous.initialImageBytes + 16 * MiB);
  return {
    ...previous,
    inodes: Math.ceil(previous.inodes * 1.25),
    initialImageBytes: Math.ceil(roundUpMiB(bytes) / unitBytes) * unitBytes,
  };
}
