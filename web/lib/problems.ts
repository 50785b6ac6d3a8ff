/**
 * Problems as a person wants to read them: each kind once, with how many times it happened
 * and the paths it concerns, and without a tool's name said twice ("dumpe2fs: dumpe2fs: …").
 */
import type { InputProblem } from '../../core/image-tree.ts';

/** A problem standing for `count` identical ones, at `paths`. */
export interface MergedProblem extends InputProblem {
  /** The message with the path left out ("…"), said when several paths share it. */
  general: string;
  count: number;
  paths: string[];
}

/** "dumpe2fs: dumpe2fs: x" → "dumpe2fs: x"; any repeated "word: " prefix is said once. */
export function tidyMessage(message: string): string {
  let m = message;
  for (;;) {
    const next = m.replace(/^([\w.-]+): \1: /, '$1: ');
    if (next === m) break;
    m = next;
  }
  // Sentences ending in two periods (a message that ended in "." followed by our "."), and "…." with them.
  return m.replace(/([.!?…])\.(?=\s|$)/g, '$1').replace(/\.\.(?=\s|$)/g, '.');
}

/**
 * Merges problems that say the same thing (severity, code, message once the path is taken
 * out, hint). Order: first appearance. Bounded: paths are all kept, messages compared as keys.
 */
export function mergeProblems(problems: readonly InputProblem[]): MergedProblem[] {
  const byKey = new Map<string, MergedProblem>();
  for (const p of problems) {
    const message = tidyMessage(p.message);
    const general = p.path ? message.split(p.path).join('…') : message;
    const key = `${p.severity}\0${p.code}\0${general}\0${p.hint ?? ''}`;
    const had = byKey.get(key);
    if (had) {
      had.count++;
      if (p.path && !had.paths.includes(p.path)) had.paths.push(p.path);
      continue;
    }
    byKey.set(key, {
      ...p,
      message,
      general,
      hint: p.hint ? tidyMessage(p.hint) : p.hint,
      count: 1,
      paths: p.path ? [p.path] : [],
    });
  }
  return [...byKey.values()];
}
