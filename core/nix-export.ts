/**
 * `nix-store --export` streams, as Nix's `Store::exportPaths` writes them: for each path
 * `u64 1`, the NAR, `u64 0x4558494e`, the path, the references (u64 count + strings), the
 * deriver (empty string when none) and `u64 0` (no legacy signature); after the last path
 * `u64 0`. NAR hashes are computed while reading (sha256 of the NAR bytes).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import type { StorePathInfo } from './image-tree.ts';
import { ExportError } from './errors.ts';
import type { Cursor } from './io/cursor.ts';
import { type OpenCursorOptions, openCursor } from './io/open-cursor.ts';
import type { RandomAccessReader } from './io/random-access-reader.ts';
import { type NarEntry, parseNar } from './nar.ts';
import { formatNarHash } from './nix-base32.ts';
import { storePathProblem } from './store-path.ts';

/** Magic after each NAR of an export ("NIXE" little-endian). */
export const EXPORT_MAGIC = 0x4558494e;

/** One path of an export: its info (hash computed, contents present) and its NAR's entries. */
export interface ExportedPath {
  info: StorePathInfo;
  entries: NarEntry[];
}

export interface ParseExportOptions {
  input?: string;
  /** Most references one path may list. Default 1,000,000. */
  maxReferences?: number;
}

/** Error for an export stream that ends early. */
export function exportEofError(input: string, at: number): ExportError {
  return new ExportError({
    code: 'export-truncated',
    input,
    message: `${input} ends early (at byte ${at}); the nix-store --export stream is incomplete.`,
    hint: 'Run `nix-store --export $(nix-store -qR <path>) > closure.export` again and give the whole file.',
  });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

async function u64(c: Cursor, fail: (m: string) => ExportError): Promise<number> {
  const b = await c.read(8);
  const lo = (b[0] | (b[1] << 8) | (b[2] << 16)) + b[3] * 0x1000000;
  const hi = (b[4] | (b[5] << 8) | (b[6] << 16)) + b[7] * 0x1000000;
  if (hi >= 0x200000) throw fail(`a number field is impossibly large (at byte ${c.position - 8})`);
  return hi * 0x100000000 + lo;
}

async function str(c: Cursor, max: number, fail: (m: string) => ExportError): Promise<string> {
  const len = await u64(c, fail);
  if (len > max) throw fail(`a string is ${len} bytes, more than the ${max} allowed (at byte ${c.position - 8})`);
  const raw = (await c.read(len)).slice();
  const pad = (8 - (len % 8)) % 8;
  if (pad) {
    const p = await c.read(pad);
    for (let i = 0; i < pad; i++) if (p[i] !== 0) throw fail(`non-zero padding (at byte ${c.position - pad})`);
  }
  try {
    return utf8.decode(raw);
  } catch {
    throw fail('a string is not valid UTF-8');
  }
}

/**
 * Parses a whole export stream. Throws `ExportError` for framing problems and malformed
 * store paths, `NarError` for a bad NAR inside it.
 */
export async function parseExport(cursor: Cursor, options: ParseExportOptions = {}): Promise<ExportedPath[]> {
  const input = options.input ?? cursor.name;
  const maxRefs = options.maxReferences ?? 1_000_000;
  const out: ExportedPath[] = [];
  let current: string | undefined;
  const fail = (message: string, code = 'export-malformed') =>
    new ExportError({
      code,
      input,
      path: current,
      message: `${input} is not a valid nix-store --export stream: ${message}.`,
      hint: 'Give the unchanged output of `nix-store --export $(nix-store -qR <path>)`.',
    });
  const checkPath = (p: string, what: string) => {
    const why = storePathProblem(p);
    if (why) {
      throw new ExportError({
        code: 'store-path-malformed',
        input,
        path: p,
        message: `The ${what} "${p.slice(0, 300)}" in the export is not a valid store path: ${why}.`,
        hint: 'The export is corrupt or from a store not at /nix/store; export from a /nix/store store.',
      });
    }
  };

  for (let index = 0; ; index++) {
    current = undefined;
    const marker = await u64(cursor, fail);
    if (marker === 0) break;
    if (marker !== 1) throw fail(`expected 0 or 1 before path #${index + 1} but found ${marker}`);
    const h = sha256.create();
    const start = cursor.position;
    cursor.tap = (chunk) => h.update(chunk);
    let entries: NarEntry[];
    try {
      entries = await parseNar(cursor, { input });
    } finally {
      cursor.tap = null;
    }
    const narSize = cursor.position - start;
    const narHash = formatNarHash(h.digest());
    const magic = await u64(cursor, fail);
    if (magic !== EXPORT_MAGIC) throw fail(`expected the export magic 0x4558494e after NAR #${index + 1}`);
    const path = await str(cursor, 4096, fail);
    checkPath(path, 'path');
    current = path;
    const nrefs = await u64(cursor, fail);
    if (nrefs > maxRefs) throw fail(`${nrefs} references are more than the ${maxRefs} accepted`);
    const references: string[] = [];
    for (let i = 0; i < nrefs; i++) {
      const r = await str(cursor, 4096, fail);
      checkPath(r, 'reference');
      references.push(r);
    }
    const deriver = await str(cursor, 4096, fail);
    if (deriver) checkPath(deriver, 'deriver');
    const sig = await u64(cursor, fail);
    if (sig === 1)
      await str(cursor, 1 << 16, fail); // legacy signature, ignored as Nix does
    else if (sig !== 0) throw fail(`expected 0 or 1 as the signature flag but found ${sig}`);
    out.push({
      info: {
        path,
        narHash,
        narSize,
        references: [...new Set(references)].sort(),
        deriver,
        contents: 'present',
        hashChecked: true,
      },
      entries,
    });
  }
  if (!(await cursor.atEnd())) throw fail('there are bytes after the end marker', 'export-trailing-data');
  return out;
}

/** Reads an export stream from an input, decompressing gzip/zstd when the bytes say so. */
export async function readExportStream(
  reader: RandomAccessReader,
  options: ParseExportOptions & OpenCursorOptions = {},
): Promise<ExportedPath[]> {
  const input = options.input ?? reader.name;
  const { cursor, compression } = await openCursor(reader, (at) => exportEofError(input, at), options);
  try {
    const paths = await parseExport(cursor, { ...options, input });
    if (compression !== 'none') await options.spool?.seal?.();
    return paths;
  } finally {
    if ('cancel' in cursor && typeof cursor.cancel === 'function')
      await (cursor as { cancel(): Promise<void> }).cancel();
  }
}
