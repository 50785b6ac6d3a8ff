/** A list of problems: what is wrong, where, and what to do; identical ones said once with a count. */
import type { InputProblem } from '../../core/image-tree.ts';
import { formatCount } from '../lib/format.ts';
import { mergeProblems } from '../lib/problems.ts';
import { AlertIcon, InfoIcon } from './icons.tsx';

const PATHS_SHOWN = 8;

export function ProblemList({ problems, id }: { problems: readonly InputProblem[]; id?: string }) {
  if (problems.length === 0) return null;
  const merged = mergeProblems(problems);
  const shown = merged.slice(0, 50);
  return (
    <ul className="problems" id={id}>
      {shown.map((p, i) => {
        const many = p.paths.length > 1;
        return (
          <li key={i} className={`problem problem-${p.severity}`} data-code={p.code} data-count={p.count}>
            <span className="problem-icon">{p.severity === 'error' ? <AlertIcon /> : <InfoIcon />}</span>
            <div>
              <p className="problem-message">
                <span className="visually-hidden">{p.severity === 'error' ? 'Error: ' : 'Warning: '}</span>
                {many ? p.general : p.message}
                {p.count > 1 ? <span className="problem-count"> ({formatCount(p.count)} times)</span> : null}
                {!many && p.path && !p.message.includes(p.path) ? (
                  <>
                    {' '}
                    <code className="problem-path">{p.path}</code>
                  </>
                ) : null}
              </p>
              {many ? (
                <ul className="problem-paths mono">
                  {p.paths.slice(0, PATHS_SHOWN).map((path) => (
                    <li key={path}>{path}</li>
                  ))}
                  {p.paths.length > PATHS_SHOWN ? (
                    <li>… and {formatCount(p.paths.length - PATHS_SHOWN)} more</li>
                  ) : null}
                </ul>
              ) : null}
              {p.hint ? <p className="problem-hint">{p.hint}</p> : null}
            </div>
          </li>
        );
      })}
      {merged.length > shown.length ? (
        <li className="problem-more">…and {merged.length - shown.length} more.</li>
      ) : null}
    </ul>
  );
}
