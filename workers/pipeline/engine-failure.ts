/**
 * The engine's one error type. It carries a `BuildFailure` (plain data), so it survives the
 * worker boundary: the worker throws `failure`, the page's client rethrows it as its own class.
 */
import { InputError } from '../../core/errors.ts';
import type { InputProblem } from '../../core/image-tree.ts';
import type { BuildFailure } from '../../core/engine-contract.ts';
import { ToolCrashError } from '../runtime/run-tool.ts';

export class EngineFailure extends Error {
  override name = 'EngineFailure';
  constructor(readonly failure: BuildFailure) {
    super(failure.message);
  }
}

/** A build stopped by bad input; `problems` name each input and what to do. */
export function badInput(problems: InputProblem[]): EngineFailure {
  const errors = problems.filter((p) => p.severity === 'error');
  const first = errors[0] ?? problems[0];
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more problem${errors.length > 2 ? 's' : ''})` : '';
  return new EngineFailure({
    code: 'bad-input',
    message: first
      ? `${first.input}${first.path ? `: ${first.path}` : ''}: ${first.message}${more}`
      : 'the inputs cannot be built',
    hint: first?.hint ?? 'Fix the inputs listed and build again.',
    problems,
  });
}

/** Turns anything thrown into a `BuildFailure`, keeping an `EngineFailure`'s own and naming aborts. */
export function toBuildFailure(err: unknown): BuildFailure {
  if (err instanceof EngineFailure) return err.failure;
  // An input refused where no parser wrapped it (a host path that is a FIFO or missing).
  if (err instanceof InputError) return badInput([err.toProblem()]).failure;
  if (isAbort(err))
    return { code: 'aborted', message: 'The build was cancelled.', hint: 'Start it again when ready.', problems: [] };
  const message = err instanceof Error ? err.message : String(err);
  const storage = storageFailure(err);
  if (storage) return storage;
  // The image and decompressed inputs live in memory; running out shows as a failed allocation.
  if (
    err instanceof RangeError &&
    /allocation failed|Array buffer|out of memory|Invalid typed array length/i.test(message)
  ) {
    return {
      code: 'too-large',
      message: `The image does not fit in this tab's memory (${message}).`,
      hint: 'Build a smaller image, close other tabs, or use the command line (`disk-image-studio build`), which has more memory to work with.',
      problems: [],
    };
  }
  const failure: BuildFailure = {
    code: 'internal',
    message: `Unexpected error: ${message}`,
    hint: 'This is a defect of the studio. Please report it with the inputs that caused it and the stack (shown with the tool output; the CLI prints it with --debug).',
    problems: [],
  };
  const stack = errorStack(err);
  if (stack) failure.stack = stack;
  if (err instanceof ToolCrashError && (err.stdout || err.stderr)) failure.toolOutput = err.stdout + err.stderr;
  return failure;
}

/**
 * The disk (or the browser's storage quota) ran out while the image was written: said as
 * such, wherever in the cause chain it shows (a tool crashes when its write fails).
 */
function storageFailure(err: unknown): BuildFailure | undefined {
  let e = err;
  for (let depth = 0; depth < 5 && e instanceof Error; depth++) {
    if (e.name === 'StorageUnavailableError')
      return {
        code: 'too-large',
        message: e.message,
        hint: "Free disk space (or this site's storage in the browser settings), or build a smaller image.",
        problems: [],
      };
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'EDQUOT')
      return {
        code: 'too-large',
        message: `The disk is full: the image could not be written (${e.message}).`,
        hint: 'Free disk space where the output goes (the image is built in a temporary file beside it), or build a smaller image.',
        problems: [],
      };
    e = e.cause;
  }
  return undefined;
}

/** The stack of `err` and of its causes (at most 5), for a defect report. */
export function errorStack(err: unknown): string | undefined {
  const parts: string[] = [];
  let e = err;
  for (let depth = 0; depth < 5 && e !== undefined && e !== null; depth++) {
    const prefix = depth ? 'Caused by: ' : '';
    if (!(e instanceof Error)) {
      parts.push(prefix + String(e));
      break;
    }
    parts.push(prefix + (e.stack ?? `${e.name}: ${e.message}`));
    e = e.cause;
  }
  return parts.length ? parts.join('\n') : undefined;
}

export function isAbort(err: unknown): boolean {
  return (
    (err instanceof DOMException || err instanceof Error) && (err.name === 'AbortError' || err.name === 'TimeoutError')
  );
}
