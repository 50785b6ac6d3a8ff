/**
 * Closure manifests: closureInfo's `registration` (the `nix-store --load-db` /
 * `--register-validity --hash-given` format) and `store-paths`, and
 * `nix path-info --json --recursive` (array form of Nix < 2.19, object form keyed by path of
 * later Nix). Plus sniffing which closure format a file is.
 */
import type { StorePathInfo } from './image-tree.ts';
import { ManifestError, StorePathError } from './errors.ts';
import { normalizeNarHash, parseSha256 } from './nix-base32.ts';
import { storePathProblem, toStorePath } from './store-path.ts';

export type ManifestKind = 'registration' | 'store-paths' | 'path-info-json';
export type ClosureFileKind = ManifestKind | 'export' | 'nar' | 'tar' | 'unknown';

/** A manifest's view of the closure: infos have `contents: 'missing'` until contents are found. */
export interface Manifest {
  kind: ManifestKind;
  /** Sorted by path. `narHash` is `''` and `narSize` 0 where the manifest does not say (store-paths). */
  infos: StorePathInfo[];
  /** Whether the manifest lists references (store-paths does not). */
  hasReferences: boolean;
}

const MANIFEST_HINT =
  "Give closureInfo's `registration` or `store-paths`, or `nix path-info --json --recursive` output, unchanged.";

function fail(input: string, message: string, path?: string, code = 'manifest-malformed'): ManifestError {
  return new ManifestError({ code, input, path, message, hint: MANIFEST_HINT });
}

function checkPath(p: string, input: string, what: string): string {
  const why = storePathProblem(p);
  if (why) {
    throw new ManifestError({
      code: 'store-path-malformed',
      input,
      path: p.slice(0, 300),
      message: `The ${what} "${p.slice(0, 300)}" is not a valid store path: ${why}.`,
      hint: 'Store paths look like /nix/store/<32 base32 chars>-<name>; check the manifest was not edited.',
    });
  }
  return p;
}

function hash(text: string, input: string, path: string): string {
  try {
    return normalizeNarHash(text, input, path);
  } catch (e) {
    if (e instanceof StorePathError) throw fail(input, e.message, path, 'hash-malformed');
    throw e;
  }
}

function size(text: string, input: string, path: string, what: string): number {
  if (!/^[0-9]{1,16}$/.test(text))
    throw fail(input, `The ${what} "${text.slice(0, 40)}" of ${path} is not a number.`, path);
  return Number(text);
}

function byPath(infos: StorePathInfo[], input: string): StorePathInfo[] {
  const m = new Map<string, StorePathInfo>();
  for (const i of infos) {
    const prev = m.get(i.path);
    if (
      prev &&
      (prev.narHash !== i.narHash || prev.narSize !== i.narSize || prev.references.join() !== i.references.join())
    ) {
      throw fail(input, `${i.path} is listed twice with different details.`, i.path, 'manifest-duplicate');
    }
    m.set(i.path, i);
  }
  return [...m.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function info(path: string, narHash: string, narSize: number, references: string[], deriver: string): StorePathInfo {
  return {
    path,
    narHash,
    narSize,
    references: [...new Set(references)].sort(),
    deriver,
    contents: 'missing',
    hashChecked: false,
  };
}

/**
 * Parses the registration format: per path its path, [narHash, narSize,] deriver (may be
 * empty), reference count, references. The hash lines are detected per record, so both
 * `--hash-given` and plain `--register-validity` input read.
 */
export function parseRegistration(text: string, input: string): Manifest {
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  const infos: StorePathInfo[] = [];
  let i = 0;
  const next = (what: string, path?: string): string => {
    if (i >= lines.length)
      throw fail(
        input,
        `The registration ends early: expected ${what}${path ? ` of ${path}` : ''} at line ${i + 1}.`,
        path,
        'manifest-truncated',
      );
    return lines[i++].replace(/\r$/, '');
  };
  while (i < lines.length) {
    const path = checkPath(next('a store path'), input, `path on line ${i}`);
    let narHash = '';
    let narSize = 0;
    const peek = lines[i]?.replace(/\r$/, '');
    // Deriver lines are empty or a store path; anything else is the hash line.
    if (peek !== undefined && peek !== '' && !peek.startsWith('/')) {
      narHash = hash(next('the NAR hash', path), input, path);
      narSize = size(next('the NAR size', path), input, path, 'NAR size');
    }
    const deriver = next('the deriver', path);
    if (deriver) checkPath(deriver, input, `deriver of ${path}`);
    const n = size(next('the reference count', path), input, path, 'reference count');
    if (n > lines.length - i)
      throw fail(input, `${path} claims ${n} references but the file ends first.`, path, 'manifest-truncated');
    const refs: string[] = [];
    for (let k = 0; k < n; k++) refs.push(checkPath(next('a reference', path), input, `reference of ${path}`));
    infos.push(info(path, narHash, narSize, refs, deriver));
  }
  return { kind: 'registration', infos: byPath(infos, input), hasReferences: true };
}

/** Parses closureInfo's `store-paths`: one store path per line. */
export function parseStorePaths(text: string, input: string): Manifest {
  const infos: StorePathInfo[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '').trim();
    if (!line) continue;
    infos.push(info(checkPath(line, input, 'line'), '', 0, [], ''));
  }
  return { kind: 'store-paths', infos: byPath(infos, input), hasReferences: false };
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Parses `nix path-info --json [--recursive]` output, array or object form. */
export function parsePathInfoJson(text: string, input: string): Manifest {
  let doc: Json;
  try {
    doc = JSON.parse(text) as Json;
  } catch (e) {
    throw fail(input, `It is not valid JSON (${e instanceof Error ? e.message : String(e)}).`);
  }
  const records: [string, Json][] = [];
  if (Array.isArray(doc)) {
    for (const r of doc) {
      if (!r || typeof r !== 'object' || Array.isArray(r) || typeof r.path !== 'string')
        throw fail(input, 'An element of the path-info array is not an object with a "path".');
      records.push([r.path, r]);
    }
  } else if (doc && typeof doc === 'object') {
    for (const [k, v] of Object.entries(doc)) records.push([k, v]);
  } else {
    throw fail(input, 'The JSON is neither an array nor an object of path infos.');
  }
  const infos: StorePathInfo[] = [];
  let hasReferences = true;
  for (const [rawPath, r] of records) {
    const path = checkPath(rawPath, input, 'path');
    if (r === null || typeof r !== 'object' || Array.isArray(r)) {
      throw fail(
        input,
        `${path} has no path info (Nix prints null for paths that are not valid in the queried store).`,
        path,
        'manifest-invalid-path',
      );
    }
    if ((r as { valid?: Json }).valid === false)
      throw fail(input, `${path} is marked not valid.`, path, 'manifest-invalid-path');
    const narHash = typeof r.narHash === 'string' ? hash(r.narHash, input, path) : '';
    if (r.narHash !== undefined && typeof r.narHash !== 'string')
      throw fail(input, `The narHash of ${path} is not a string.`, path);
    let narSize = 0;
    if (r.narSize !== undefined && r.narSize !== null) {
      if (typeof r.narSize !== 'number' || !Number.isSafeInteger(r.narSize) || r.narSize < 0)
        throw fail(input, `The narSize of ${path} is not a size.`, path);
      narSize = r.narSize;
    }
    let refs: string[] = [];
    if (r.references === undefined) hasReferences = false;
    else {
      if (!Array.isArray(r.references) || r.references.some((x) => typeof x !== 'string'))
        throw fail(input, `The references of ${path} are not a list of paths.`, path);
      refs = (r.references as string[]).map((x) => checkPath(toStorePath(x), input, `reference of ${path}`));
    }
    let deriver = '';
    if (typeof r.deriver === 'string' && r.deriver)
      deriver = checkPath(toStorePath(r.deriver), input, `deriver of ${path}`);
    infos.push(info(path, narHash, narSize, refs, deriver));
  }
  return { kind: 'path-info-json', infos: byPath(infos, input), hasReferences };
}

/** Which manifest format a text is, or null when it is none of them. */
export function sniffManifestText(text: string): ManifestKind | null {
  const t = text.replace(/^\uFEFF/, '').trimStart();
  if (t.startsWith('[') || t.startsWith('{')) return 'path-info-json';
  const lines = t.split('\n', 3).map((l) => l.replace(/\r$/, '').trim());
  // A malformed first path still classifies, so the parser can name what is wrong with it.
  if (!lines[0]?.startsWith('/nix/store/')) return null;
  const second = lines[1] ?? '';
  const third = lines[2] ?? '';
  if (second === '') return /^[0-9]+$/.test(third) ? 'registration' : 'store-paths';
  if (parseSha256(second) || /^[0-9]+$/.test(second)) return 'registration';
  // A deriver line also holds a store path; then line 3 is a reference count.
  return /^[0-9]+$/.test(third) ? 'registration' : 'store-paths';
}

/** Parses a manifest of the given (or sniffed) kind; throws `ManifestError`. */
export function parseManifest(
  text: string,
  input: string,
  kind: ManifestKind | null = sniffManifestText(text),
): Manifest {
  switch (kind) {
    case 'registration':
      return parseRegistration(text, input);
    case 'store-paths':
      return parseStorePaths(text, input);
    case 'path-info-json':
      return parsePathInfoJson(text, input);
    default:
      throw fail(
        input,
        `${input} is not a closure manifest, export stream, NAR or tar.`,
        undefined,
        'closure-unrecognised',
      );
  }
}

/** Which closure format the first bytes (decompressed, at least 512 if the file has them) show. */
export function sniffClosureBytes(head: Uint8Array): ClosureFileKind {
  const le64 = (at: number) =>
    head.length >= at + 8 ? head[at] + head[at + 1] * 256 + head[at + 2] * 65536 + head[at + 3] * 16777216 : -1;
  const isNarMagic = (at: number) =>
    le64(at) === 13 && new TextDecoder('latin1').decode(head.subarray(at + 8, at + 21)) === 'nix-archive-1';
  if (isNarMagic(0)) return 'nar';
  if (le64(0) === 1 && isNarMagic(8)) return 'export';
  if (le64(0) === 0 && head.length === 8) return 'export'; // an empty export
  if (head.length >= 512) {
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : head[i];
    const field = new TextDecoder('latin1').decode(head.subarray(148, 156)).replace(/[\0 ]/g, '');
    if (/^[0-7]+$/.test(field) && parseInt(field, 8) === sum) return 'tar';
  }
  const text = new TextDecoder('utf-8', { fatal: false }).decode(head.subarray(0, 4096));
  return sniffManifestText(text) ?? 'unknown';
}
