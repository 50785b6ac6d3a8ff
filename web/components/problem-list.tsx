/** A list of input problems: what is wrong, where, and what to do. */
import type { InputProblem } from '../../core/image-tree.ts';
import { AlertIcon, InfoIcon } from './icons.tsx';

export function ProblemList({ problems, id }: { problems: readonly InputProblem[]; id?: string }) {
  if (problems.length === 0) return null;
  const shown = problems.slice(0, 50);
  return (
    <ul className="problems" id={id}>
      {shown.map((p, i) => (
        <li key={i} className={`problem problem-${p.severity}`} data-code={p.code}>
          <span className="problem-icon">{p.severity === 'error' ? <AlertIcon /> : <InfoIcon />}</span>
          <div>
            <p className="problem-message">
              <span className="visually-hidden">{p.severity === 'error' ? 'Error: ' : 'Warning: '}</span>
              {p.message}
              {p.path ? (
                <>
                  {' '}
                  <code className="problem-path">{p.path}</code>
                </>
              ) : null}
            </p>
            {p.hint ? <p className="problem-hint">{p.hint}</p> : null}
          </div>
        </li>
      ))}
      {problems.length > shown.length ? (
        <li className="problem-more">…and {problems.length - shown.length} more.</li>
      ) : null}
    </ul>
  );
}
