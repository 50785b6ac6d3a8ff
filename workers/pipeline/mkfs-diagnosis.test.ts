import { describe, expect, it } from 'vitest';
import type { TreeEntry } from '../../core/image-tree.ts';
import { classifyMkfsFailure, mkfsFailureProblem, symlinkTargetProblems } from './mkfs-diagnosis.ts';

/** mke2fs's normal progress output: none of it is a failure, whatever words it holds. */
const PROGRESS = `Discarding device blocks:              done
Creating filesystem with 335872 1k blocks and 1312 inodes
Allocating group tables:      done
Writing inode tables:      done
Creating journal (8192 blocks): done
Copying files into the device:
mke2fs 1.47.4 (6-Mar-2025)
`;

const entry = (path: string, type: TreeEntry['type'], extra: Partial<TreeEntry> = {}): TreeEntry => ({
  path,
  type,
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: 1,
  size: 0,
  origin: 'in',
  ...extra,
});

describe('classifyMkfsFailure', () => {
  it('reads only error lines: progress lines about inode tables or space are not a shortage', () => {
    expect(classifyMkfsFailure(PROGRESS)).toBe('other');
    expect(
      classifyMkfsFailure(
        `${PROGRESS}__populate_fs: Invalid argument passed to ext2 library while writing symlink"longlink"\nmke2fs: Invalid argument passed to ext2 library while populating file system\n`,
      ),
    ).toBe('other');
  });

  it('grows only for a real lack of blocks or inodes', () => {
    expect(
      classifyMkfsFailure(
        `${PROGRESS}__populate_fs: Could not allocate block in ext2 filesystem while writing file "big"\n`,
      ),
    ).toBe('blocks');
    expect(
      classifyMkfsFailure(
        `${PROGRESS}__populate_fs: Could not allocate inode in ext2 filesystem while creating directory "d"\n`,
      ),
    ).toBe('inodes');
    expect(classifyMkfsFailure('__populate_fs: No free space in the directory while linking "x"\n')).toBe('blocks');
    expect(classifyMkfsFailure('mke2fs: No space left on device while writing out and closing file system\n')).toBe(
      'blocks',
    );
    // The same words outside an error line do not count.
    expect(classifyMkfsFailure('Could not allocate block in ext2 filesystem\n')).toBe('other');
  });
});

describe('mkfsFailureProblem', () => {
  const entries = [
    entry('/', 'directory'),
    entry('/etc', 'directory'),
    entry('/etc/passwd', 'file', { size: 10 }),
    entry('/a/x', 'file'),
    entry('/b/x', 'file'),
    entry('/link', 'symlink', { target: 'y'.repeat(1500), size: 1500 }),
  ];

  it('names the entry mke2fs stopped at, what went wrong, and what to do', () => {
    const p = mkfsFailureProblem(
      `${PROGRESS}__populate_fs: Attempt to read block from filesystem resulted in short read while writing file "passwd"\nmke2fs: Attempt to read block from filesystem resulted in short read while populating file system\n`,
      entries,
      4096,
    );
    expect(p).toMatchObject({ code: 'mkfs-entry-failed', input: 'in', path: '/etc/passwd' });
    expect(p!.message).toBe(
      'mke2fs could not copy /etc/passwd: Attempt to read block from filesystem resulted in short read (while writing file)',
    );
    expect(p!.hint).toMatch(/can be read and does not change/);
  });

  it('lists the candidates when the name is not unique, and says so when it is unknown', () => {
    expect(mkfsFailureProblem('__populate_fs: Bad thing while writing file "x"\n', entries, 4096)!.message).toMatch(
      /one of \/a\/x, \/b\/x: Bad thing/,
    );
    expect(mkfsFailureProblem('__populate_fs: Bad thing while writing file "zz"\n', entries, 4096)!.message).toMatch(
      /an entry named "zz"/,
    );
    expect(mkfsFailureProblem(`${PROGRESS}mke2fs: Bad magic while setting up superblock\n`, entries, 4096)).toBe(
      undefined,
    );
  });

  it('explains a symlink target longer than a block', () => {
    const p = mkfsFailureProblem(
      'ext2fs_symlink: Invalid argument passed to ext2 library while creating symlink "link"\n',
      entries,
      1024,
    );
    expect(p).toMatchObject({ code: 'symlink-target-too-long', path: '/link' });
    expect(p!.message).toBe(
      "the symlink's target is 1500 bytes, but with 1024-byte blocks a target holds at most 1023",
    );
    expect(p!.hint).toMatch(/--block-size 4096/);
  });
});

describe('symlinkTargetProblems', () => {
  it('counts bytes, not characters, and knows no block holds 4096', () => {
    const multi = entry('/m', 'symlink', { target: 'é'.repeat(600) }); // 1200 bytes
    const huge = entry('/h', 'symlink', { target: 'a'.repeat(5000) });
    const fine = entry('/f', 'symlink', { target: 'a'.repeat(1023) });
    expect(symlinkTargetProblems([multi, huge, fine], 1024).map((p) => p.path)).toEqual(['/m', '/h']);
    expect(symlinkTargetProblems([multi, huge, fine], 4096).map((p) => p.path)).toEqual(['/h']);
    expect(symlinkTargetProblems([huge], 4096)[0].hint).toMatch(/at most 4095/);
  });
});

describe('a host file that cannot be read when mke2fs copies it', () => {
  it('names the file and says permission denied, not a change or a defect', async () => {
    const { openHostChecked, InputChangedError } = await import('../runtime/tree-fs.ts');
    const { inputChangedProblem } = await import('./sealed-store.ts');
    const { constants } = await import('node:fs');
    const fs = {
      constants,
      openSync: () => {
        throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      },
    } as unknown as Parameters<typeof openHostChecked>[0];
    let caught: unknown;
    try {
      openHostChecked(
        fs,
        { path: '/host/secret', offset: 0, size: 1 },
        (d) => new InputChangedError('/etc/secret', 'in', d),
      );
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(InputChangedError);
    const p = inputChangedProblem(caught as InstanceType<typeof InputChangedError>);
    expect(p).toMatchObject({ code: 'input-unreadable', input: 'in', path: '/etc/secret' });
    expect(p.message).toBe('/etc/secret: it cannot be read: permission denied. Nothing was written.');
    expect(p.hint).toMatch(/readable/);
  });
});
