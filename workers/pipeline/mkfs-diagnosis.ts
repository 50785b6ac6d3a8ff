/**
 * What a failed `mke2fs -d` run means. Only its error lines count (com_err's
 * `prog: message while doing "name"`), never its progress lines ("Writing inode tables:
 * done" is not an inode shortage), and only a real lack of room in the filesystem
 * (ext2fs could not allocate a block or an inode) makes the pipeline grow the image and
 * retry. Any other failure names the entry mke2fs was copying, what went wrong and what to
 * do; limits mke2fs would fail on are checked before it runs.
 */
import type { InputProblem, TreeEntry } from '../../core/image-tree.ts';

/** Why mke2fs stopped: out of inodes, out of blocks, or anything else. */
export type MkfsFailureKind = 'inodes' | 'blocks' | 'other';

/** An error line of mke2fs: `prog: message while doing "name"` (the name may be missing). */
interface ErrorLine {
  message: string;
  doing: string;
  name?: string;
}

const ERROR_LINE = /^([A-Za-z_][\w.-]*): (.+?) while ([a-z][a-z ]*?) ?(?:"(.*)")?$/;

function errorLines(output: string): ErrorLine[] {
  const out: ErrorLine[] = [];
  for (const line of output.split('\n')) {
    const m = ERROR_LINE.exec(line.replace(/\r$/, ''));
    if (m) out.push({ message: m[2], doing: m[3], name: m[4] });
  }
  return out;
}

/** Classifies a failed mke2fs run by its error lines. */
export function classifyMkfsFailure(output: string): MkfsFailureKind {
  const lines = errorLines(output);
  if (lines.some((l) => /Could not allocate inode|No free inodes/i.test(l.message))) return 'inodes';
  if (
    lines.some((l) =>
      /Could not allocate block|No space left on device|No free space in the directory|Ran out of/i.test(l.message),
    )
  )
    return 'blocks';
  return 'other';
}

/**
 * Symlinks whose target cannot be stored with `blockSize`-byte blocks (a target lives in one
 * block, so it holds at most `blockSize - 1` bytes), as problems naming each one (at most 20).
 */
export function symlinkTargetProblems(entries: readonly TreeEntry[], blockSize: number): InputProblem[] {
  const problems: InputProblem[] = [];
  const encoder = new TextEncoder();
  for (const e of entries) {
    if (e.type !== 'symlink' || e.target === undefined) continue;
    // Only long targets need encoding: a UTF-16 length under a quarter block fits for sure.
    if (e.target.length * 3 < blockSize) continue;
    const bytes = encoder.encode(e.target).length;
    if (bytes < blockSize) continue;
    problems.push({
      severity: 'error',
      code: 'symlink-target-too-long',
      input: e.origin,
      path: e.path,
      message: `the symlink's target is ${bytes} bytes, but with ${blockSize}-byte blocks a target holds at most ${blockSize - 1}`,
      hint:
        bytes < 4096
          ? 'Build with --block-size 4096 (targets up to 4095 bytes), or shorten the link.'
          : 'No ext2/3/4 filesystem stores a target this long (at most 4095 bytes); shorten the link or leave it out.',
    });
    if (problems.length >= 20) break;
  }
  return problems;
}

/**
 * The problem behind a failed mke2fs run that was not out of room: the entry it names (by
 * its name in the error line), what went wrong and what to do. `undefined` when the output
 * names no entry of the tree.
 */
export function mkfsFailureProblem(
  output: string,
  entries: readonly TreeEntry[],
  blockSize: number,
): InputProblem | undefined {
  const lines = errorLines(output).filter((l) => l.name !== undefined && l.name !== '');
  if (lines.length === 0) return undefined;
  const first = lines[0];
  const name = first.name!;
  const matches = entries.filter((e) => e.path === `/${name}` || e.path.endsWith(`/${name}`));
  const entry = matches.length === 1 ? matches[0] : undefined;
  if (entry?.type === 'symlink') {
    const long = symlinkTargetProblems([entry], blockSize);
    if (long.length) return long[0];
  }
  const where = entry
    ? entry.path
    : matches.length > 1
      ? `one of ${matches
          .slice(0, 3)
          .map((e) => e.path)
          .join(', ')}${matches.length > 3 ? ', ...' : ''}`
      : `an entry named "${name}"`;
  return {
    severity: 'error',
    code: 'mkfs-entry-failed',
    input: entry?.origin ?? 'tree',
    path: entry?.path,
    message: `mke2fs could not copy ${where}: ${first.message} (while ${first.doing})`,
    hint:
      entry?.type === 'file'
        ? 'Check that the file can be read and does not change during the build; fix it or leave it out, and build again.'
        : 'Fix that entry or leave it out, and build again.',
  };
}
