import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fsTypeOfFeatures, parseDumpe2fsHeader } from './dumpe2fs-header.ts';

const sbin = (t: string) =>
  ['/usr/sbin', '/sbin'].map((d) => join(d, t)).find((p) => spawnSync('test', ['-x', p]).status === 0) ?? t;

describe('parseDumpe2fsHeader', () => {
  it.each(['ext2', 'ext3', 'ext4'] as const)('reads what native dumpe2fs prints for %s', (type) => {
    const dir = mkdtempSync(join(tmpdir(), 'dumpe2fs-'));
    try {
      const img = join(dir, 'x.img');
      const mk = spawnSync(
        sbin('mke2fs'),
        [
          '-q',
          '-F',
          '-t',
          type,
          '-b',
          '1024',
          '-L',
          'hello',
          '-U',
          '44444444-4444-4444-8888-888888888888',
          img,
          '4096',
        ],
        { encoding: 'utf8' },
      );
      expect(mk.status, mk.stderr).toBe(0);
      const out = spawnSync(sbin('dumpe2fs'), ['-h', img], { encoding: 'utf8' });
      expect(out.status).toBe(0);
      const s = parseDumpe2fsHeader(out.stdout);
      expect(s).toMatchObject({
        fsType: type,
        label: 'hello',
        uuid: '44444444-4444-4444-8888-888888888888',
        blockSize: 1024,
        blockCount: 4096,
      });
      expect(s.freeBlocks).toBeGreaterThan(0);
      expect(s.freeBlocks).toBeLessThan(4096);
      expect(s.inodeCount).toBeGreaterThan(s.freeInodes);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses output without the numbers it needs', () => {
    expect(() => parseDumpe2fsHeader('Filesystem volume name: x\n')).toThrow(/Block size/);
  });

  it('tells the flavours apart by features', () => {
    expect(fsTypeOfFeatures(['ext_attr', 'resize_inode'])).toBe('ext2');
    expect(fsTypeOfFeatures(['has_journal', 'ext_attr'])).toBe('ext3');
    expect(fsTypeOfFeatures(['has_journal', 'extent', 'flex_bg'])).toBe('ext4');
  });
});
