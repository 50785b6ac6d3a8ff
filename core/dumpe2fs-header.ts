/**
 * Reads the superblock summary that `dumpe2fs -h` prints ("Block count:   1234" lines).
 * Used to size the headroom resize (as make-ext4-fs.nix does) and for the result card.
 */
import type { FilesystemSummary, FsType } from './engine-contract.ts';

/** Features only ext4 sets (mke2fs's ext4 profile); ext3 is ext2 plus a journal. */
const EXT4_FEATURES = [
  'extent',
  'extents',
  'flex_bg',
  '64bit',
  'huge_file',
  'dir_nlink',
  'extra_isize',
  'metadata_csum',
  'inline_data',
];

/** The `Name: value` fields of `dumpe2fs -h` output, by name. */
export function parseDumpe2fsFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z][A-Za-z0-9 /#_-]*?):\s*(.*)$/.exec(line);
    if (m && !fields.has(m[1])) fields.set(m[1], m[2].trim());
  }
  return fields;
}

/** Which ext flavour a feature list describes. */
export function fsTypeOfFeatures(features: readonly string[]): FsType {
  if (features.some((f) => EXT4_FEATURES.includes(f))) return 'ext4';
  return features.includes('has_journal') ? 'ext3' : 'ext2';
}

/** Summarizes `dumpe2fs -h` output; throws when a required field is missing. */
export function parseDumpe2fsHeader(text: string): FilesystemSummary {
  const f = parseDumpe2fsFields(text);
  const num = (name: string): number => {
    const v = f.get(name);
    if (v === undefined || !/^\d+$/.test(v)) throw new Error(`dumpe2fs output lacks a numeric "${name}" field`);
    return Number(v);
  };
  const features = (f.get('Filesystem features') ?? '').split(/\s+/).filter((x) => x && x !== '(none)');
  const label = f.get('Filesystem volume name') ?? '';
  return {
    fsType: fsTypeOfFeatures(features),
    label: label === '<none>' ? '' : label,
    uuid: f.get('Filesystem UUID') ?? '',
    blockSize: num('Block size'),
    blockCount: num('Block count'),
    freeBlocks: num('Free blocks'),
    inodeCount: num('Inode count'),
    freeInodes: num('Free inodes'),
    features,
  };
}
