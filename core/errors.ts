/**
 * Typed failures of the parsers and resolvers. Every one carries what an `InputProblem`
 * needs, so a caller can show it without knowing which parser threw.
 */
import type { InputProblem } from './image-tree.ts';

/** Fields of an input failure; `severity` defaults to `error`. */
export interface InputErrorInit {
  code: string;
  input: string;
  path?: string;
  message: string;
  hint: string;
  severity?: 'error' | 'warning';
}

/** Base class of every input failure thrown by `core/`. */
export class InputError extends Error {
  readonly code: string;
  readonly input: string;
  readonly path: string | undefined;
  readonly hint: string;
  readonly severity: 'error' | 'warning';

  constructor(init: InputErrorInit) {
    super(init.message);
    this.name = new.target.name;
    this.code = init.code;
    this.input = init.input;
    this.path = init.path;
    this.hint = init.hint;
    this.severity = init.severity ?? 'error';
  }

  /** The plain-data form that crosses the worker boundary. */
  toProblem(): InputProblem {
    const p: InputProblem = {
      severity: this.severity,
      code: this.code,
      input: this.input,
      message: this.message,
      hint: this.hint,
    };
    if (this.path !== undefined) p.path = this.path;
    return p;
  }
}

/** A tar archive that cannot be read (codes start with `tar-`). */
export class TarError extends InputError {}
/** A NAR that cannot be read (codes start with `nar-`). */
export class NarError extends InputError {}
/** A `nix-store --export` stream that cannot be read (codes start with `export-`). */
export class ExportError extends InputError {}
/** A closure manifest that cannot be read (codes start with `manifest-`). */
export class ManifestError extends InputError {}
/** A malformed Nix store path or hash (codes start with `store-path-` / `hash-`). */
export class StorePathError extends InputError {}
/** Decompression failed or produced more than the expansion limit allows. */
export class DecompressError extends InputError {}

/** Turns anything thrown into an `InputProblem`; unexpected errors become `internal-error`. */
export function toProblem(err: unknown, input: string): InputProblem {
  if (err instanceof InputError) return err.toProblem();
  if ((err as { name?: unknown } | null)?.name === 'NotReadableError') {
    // A browser File that changed, moved or was deleted on disk after it was picked.
    return {
      severity: 'error',
      code: 'input-changed',
      input,
      message: `${input} can no longer be read: it was changed, moved or deleted on disk after it was added.`,
      hint: 'Add the file again (remove it from the inputs, then drop it in once more).',
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return {
    severity: 'error',
    code: 'internal-error',
    input,
    message: `Unexpected failure while reading this input: ${message}`,
    hint: 'This is a bug in Disk Image Studio; please report it with the input if you can.',
  };
}
