/**
 * Turns build inputs into the image tree and the closure: trees placed at `at`, archives
 * extracted at `at`, closure inputs recognised by content and placed under /nix/store with
 * Nix's modes, NAR hashes filled in or checked, `/nix-path-registration` generated.
 * Deterministic: inputs are processed in a canonical order, so input order does not matter.
 */
import type { BuildInput, InputFile, ResolvedInputs } from './engine-contract.ts';
import type { InputProblem, StorePathInfo, TreeEntry } from './image-tree.ts';
import { type OpenCursorOptions, sniffCompression } from './io/open-cursor.ts';
import {
  BlobReader,
  type HostAccess,
  type RandomAccessReader,
  readerForSource as openSource,
  readerToStream,
} from './io/random-access-reader.ts';
import { type Manifest, parseManifest, sniffClosureBytes } from './manifests.ts';
import { RandomAccessCursor } from './io/cursor.ts';
import {
  hashNarTree,
  type NarEntry,
  narEofError,
  narTreeFromEntries,
  parseNar,
  parseNarFile,
  sourceChunks,
} from './nar.ts';
import { InputError, NarError, toProblem } from './errors.ts';
import { readExportStream } from './nix-export.ts';
import { registrationBytes } from './registration.ts';
import { STORE_DIR, storeBaseProblem, storePathProblem } from './store-path.ts';
import { readTarArchive, type TarMember } from './tar.ts';
import {
  compareImagePaths,
  isNormalImagePath,
  joinImagePath,
  normalizeRelativePath,
  pathEscapesProblem,
} from './image-path.ts';
import { isSettledTree, TreeModel } from './tree-model.ts';

export interface ResolveOptions extends OpenCursorOptions {
  /** Node: host file access and folder walks (`nodeHost` from `io/host-tree.ts`). Browsers have none. */
  host?: HostAccess;
  /** mtime of generated entries (store paths, `/nix-path-registration`). Default 1, as in the Nix store. */
  storeMtime?: number;
}

/** Where `/nix-path-registration` goes. */
export const REGISTRATION_PATH = '/nix-path-registration';

interface Contents {
  storePath: string;
  origin: string;
  /** Image entries of the store path (absolute paths under /nix/store). */
  entries: TreeEntry[];
  narHash?: string;
  narSize?: number;
  /** Info carried by the contents themselves (export streams). */
  info?: StorePathInfo;
}

const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function inputName(i: BuildInput): string {
  switch (i.kind) {
    case 'tree':
      return i.entries[0]?.origin ?? i.at;
    case 'archive':
    case 'closure':
      return i.file.name;
    case 'fetched':
      return i.info.fetchedFrom ? `${i.info.path} from ${i.info.fetchedFrom.cache}` : i.file.name;
    case 'store-dir':
      return i.hostPath;
  }
}

/**
 * The canonical order of inputs: kind, place, name, then what tells apart inputs that share
 * a name (two folders both called `root`): the host path, or a digest of a tree's entries.
 * Without the last part such inputs kept the order given, and the first one's directory
 * metadata won where they overlap.
 */
function inputKey(i: BuildInput): string {
  return `${inputKeyPrefix(i)}\0${inputIdentity(i)}`;
}

function inputKeyPrefix(i: BuildInput): string {
  const at = i.kind === 'tree' || i.kind === 'archive' ? i.at : '';
  return `${i.kind}\0${at}\0${inputName(i)}`;
}

/**
 * The inputs in {@link inputKey} order. What tells apart inputs that share kind, place and
 * name is looked at only where two do share them: a tree's digest is a pass over all its
 * entries (40 ms for a 28,000-entry folder). The order is the same: neither part holds a NUL,
 * so a prefix that is another's proper prefix sorts first with or without its identity.
 */
function inCanonicalOrder(inputs: readonly BuildInput[]): BuildInput[] {
  const keyed = inputs.map((input) => ({ input, key: inputKeyPrefix(input) }));
  const seen = new Map<string, number>();
  for (const k of keyed) seen.set(k.key, (seen.get(k.key) ?? 0) + 1);
  for (const k of keyed) if (seen.get(k.key)! > 1) k.key = inputKey(k.input);
  return keyed.sort((a, b) => byteOrder(a.key, b.key)).map((x) => x.input);
}

function inputIdentity(i: BuildInput): string {
  switch (i.kind) {
    case 'tree':
      return treeDigest(i.entries);
    case 'archive':
    case 'closure':
      return 'hostPath' in i.file ? i.file.hostPath : `${i.file.blob.size}`;
    case 'fetched':
      return i.info.narHash;
    case 'store-dir':
      return i.hostPath;
  }
}

/** A 2x32-bit FNV-1a digest of a tree's entries (paths, metadata, where contents come from). */
function treeDigest(entries: readonly TreeEntry[]): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ entries.length;
  const mix = (s: string) => {
    for (let k = 0; k < s.length; k++) {
      const c = s.charCodeAt(k);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    }
  };
  for (const e of entries) {
    const src = e.source ? (e.source.kind === 'host-file' ? `${e.source.path}:${e.source.offset}` : e.source.kind) : '';
    mix(`${e.path}\0${e.type}\0${e.mode}\0${e.uid}\0${e.gid}\0${e.size}\0${e.target ?? ''}\0${src}\n`);
  }
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}

async function readerFor(file: InputFile, host?: HostAccess): Promise<RandomAccessReader> {
  if ('blob' in file) return new BlobReader(file.blob, file.name);
  if (!host) throw new Error(`${file.name}: host files cannot be read here`);
  return host.openFile(file.hostPath, file.name);
}

/** First bytes of an input after decompression, for sniffing. */
async function sniffHead(reader: RandomAccessReader, options: ResolveOptions): Promise<Uint8Array> {
  const head = await reader.read(0, 4096);
  const c = sniffCompression(head);
  if (c === 'none') return head;
  const decompress =
    c === 'gzip'
      ? (options.decompressors?.gzip ??
        ((s: ReadableStream<Uint8Array>) =>
          s.pipeThrough(new DecompressionStream('gzip') as unknown as ReadableWritablePair<Uint8Array, Uint8Array>)))
      : c === 'zstd'
        ? options.decompressors?.zstd
        : undefined;
  if (!decompress) return head; // the parser reports the unsupported compression
  const r = decompress(readerToStream(reader, 64 * 1024)).getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  try {
    while (n < 4096) {
      const { done, value } = await r.read();
      if (done) break;
      parts.push(value);
      n += value.length;
    }
  } catch {
    /* corrupt: the parser will say so */
  } finally {
    await r.cancel().catch(() => {});
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out.subarray(0, 4096);
}

/** Nix store metadata: files 0444/0555, directories 0555, owner root, fixed time. */
function storeEntry(
  path: string,
  e: { type: TreeEntry['type']; executable?: boolean; size: number; source?: TreeEntry['source']; target?: string },
  origin: string,
  mtime: number,
): TreeEntry {
  const mode = e.type === 'directory' ? 0o555 : e.type === 'symlink' ? 0o777 : e.executable ? 0o555 : 0o444;
  const out: TreeEntry = { path, type: e.type, mode, uid: 0, gid: 0, mtime, size: e.size, origin };
  if (e.source) out.source = e.source;
  if (e.target !== undefined) out.target = e.target;
  return out;
}

function narToEntries(storePath: string, entries: NarEntry[], origin: string, mtime: number): TreeEntry[] {
  return entries.map((n) => storeEntry(n.path ? `${storePath}/${n.path}` : storePath, n, origin, mtime));
}

/** Tar members as entries at `at`; escaping names become problems. */
function membersToEntries(members: TarMember[], at: string, origin: string, problems: InputProblem[]): TreeEntry[] {
  const out: TreeEntry[] = [];
  for (const m of members) {
    const rel = normalizeRelativePath(m.path);
    if ('reason' in rel) {
      problems.push(pathEscapesProblem(origin, m.path, rel.reason));
      continue;
    }
    const e: TreeEntry = {
      path: joinImagePath(at, rel.path),
      type: m.type,
      mode: m.mode,
      uid: m.uid,
      gid: m.gid,
      mtime: m.mtime,
      size: m.size,
      origin,
    };
    if (m.source) e.source = m.source;
    if (m.type === 'symlink') e.target = m.linkTarget;
    if (m.type === 'hardlink') {
      const t = normalizeRelativePath(m.linkTarget ?? '');
      if ('reason' in t || !t.path) {
        problems.push(
          pathEscapesProblem(origin, m.linkTarget ?? '', `the hard link ${m.path} points outside the archive`),
        );
        continue;
      }
      e.target = joinImagePath(at, t.path);
    }
    out.push(e);
  }
  return out;
}

function modeOwner(e: TreeEntry): string {
  return `${(e.mode & 0o7777).toString(8).padStart(4, '0')} ${e.uid}:${e.gid}`;
}

function problem(
  severity: 'error' | 'warning',
  code: string,
  input: string,
  message: string,
  hint: string,
  path?: string,
): InputProblem {
  const p: InputProblem = { severity, code, input, message, hint };
  if (path !== undefined) p.path = path;
  return p;
}

/**
 * Resolves inputs into entries, closure and problems. Never throws for bad inputs: every
 * failure becomes an `InputProblem` naming the input (and path) at fault.
 */
export async function resolveInputs(
  inputs: readonly BuildInput[],
  options: ResolveOptions = {},
): Promise<ResolvedInputs> {
  const mtime = options.storeMtime ?? 1;
  const problems: InputProblem[] = [];
  const plain: TreeEntry[][] = [];
  /** Origins of the `plain` lists, for store paths found in them. */
  const plainOrigins: string[] = [];
  const manifests: { manifest: Manifest; origin: string }[] = [];
  const contents: Contents[] = [];
  const sorted = inCanonicalOrder(inputs);

  const addStoreTree = (origin: string, rel: TreeEntry[], base: string) => {
    // `rel` is rooted at `/` = the store path itself.
    const storePath = `${STORE_DIR}/${base}`;
    const entries = rel.map((e) => {
      const path = e.path === '/' ? storePath : storePath + e.path;
      const x = storeEntry(
        path,
        { type: e.type, executable: (e.mode & 0o100) !== 0, size: e.size, source: e.source, target: e.target },
        origin,
        mtime,
      );
      if (e.type === 'hardlink' && e.target) x.target = e.target === '/' ? storePath : storePath + e.target;
      return x;
    });
    contents.push({ storePath, origin, entries });
  };

  for (const input of sorted) {
    const origin = inputName(input);
    try {
      if (input.kind === 'tree') {
        if (input.problems) for (const p of input.problems) problems.push(p);
        const out: TreeEntry[] = [];
        for (const e of input.entries) {
          // Already in normal form at the root (a walked folder): kept as it is.
          if (input.at === '/' && e.type !== 'hardlink' && isNormalImagePath(e.path)) {
            out.push(e);
            continue;
          }
          const rel = normalizeRelativePath(e.path.replace(/^\/+/, ''));
          if ('reason' in rel || e.path.split('/').includes('..')) {
            problems.push(
              pathEscapesProblem(e.origin || origin, e.path, 'reason' in rel ? rel.reason : 'it climbs out with ".."'),
            );
            continue;
          }
          const path = joinImagePath(input.at, rel.path);
          const target =
            e.type === 'hardlink' && e.target ? joinImagePath(input.at, e.target.replace(/^\/+/, '')) : e.target;
          // An entry already where it goes is kept as it is, not copied: a walked folder of
          // 400,000 entries is otherwise held twice for the whole build.
          if (path === e.path && target === e.target) out.push(e);
          else {
            const x = { ...e, path };
            if (e.type === 'hardlink' && e.target) x.target = target;
            out.push(x);
          }
        }
        plain.push(out);
        plainOrigins.push(origin);
      } else if (input.kind === 'archive') {
        const tar = await readTarArchive(await readerFor(input.file, options.host), { ...options, input: origin });
        for (const w of tar.warnings) problems.push(w);
        plain.push(membersToEntries(tar.members, input.at, origin, problems));
        plainOrigins.push(origin);
      } else if (input.kind === 'store-dir') {
        if (!options.host) throw new Error('store folders can only be read by the Node engine');
        for (const name of await options.host.list(input.hostPath)) {
          if (name.startsWith('.') || name.endsWith('.lock')) continue; // .links, locks: store bookkeeping
          const why = storeBaseProblem(name);
          if (why) {
            problems.push(
              problem(
                'error',
                'closure-bad-store-path',
                origin,
                `"${name}" in the store folder is not a store path: ${why}.`,
                'Give a folder holding only <hash>-<name> store paths (like /nix/store).',
                `${STORE_DIR}/${name}`,
              ),
            );
            continue;
          }
          addStoreTree(origin, await options.host.walk(`${input.hostPath}/${name}`, origin, problems), name);
        }
      } else if (input.kind === 'fetched') {
        await resolveFetched(input.file, input.info, origin);
      } else {
        await resolveClosureFile(input.file, origin);
      }
    } catch (err) {
      problems.push(toProblem(err, origin));
    }
    // What a failed parse spooled is readable too (its sources are dropped with the input).
    await options.spool?.seal?.();
  }

  /**
   * A NAR fetched from a binary cache. Its NarHash and NarSize were checked as it was written
   * to a private spool; here it is parsed in place (file contents stay slices of it).
   */
  async function resolveFetched(file: InputFile, info: StorePathInfo, origin: string): Promise<void> {
    const why = storePathProblem(info.path);
    if (why) throw new Error(`fetched path ${info.path} is not a store path: ${why}`);
    const reader = await readerFor(file, options.host);
    if (reader.size !== info.narSize)
      throw new NarError({
        code: 'fetch-spool-changed',
        input: origin,
        path: info.path,
        message: `The fetched NAR of ${info.path} has ${reader.size} bytes on disk, not the ${info.narSize} that were checked.`,
        hint: 'Its temporary copy was changed or removed; fetch it again.',
      });
    const cursor = new RandomAccessCursor(reader, (at) => narEofError(origin, at));
    const entries = await parseNar(cursor, { input: origin, pathPrefix: info.path });
    if (!(await cursor.atEnd()))
      throw new NarError({
        code: 'nar-trailing-data',
        input: origin,
        path: info.path,
        message: `The fetched NAR of ${info.path} has bytes after its end.`,
        hint: 'Fetch it again.',
      });
    contents.push({
      storePath: info.path,
      origin,
      entries: narToEntries(info.path, entries, origin, mtime),
      narHash: info.narHash,
      narSize: info.narSize,
      info: { ...info, references: [...info.references] },
    });
  }

  async function resolveClosureFile(file: InputFile, origin: string): Promise<void> {
    const reader = await readerFor(file, options.host);
    const kind = sniffClosureBytes(await sniffHead(reader, options));
    if (kind === 'registration' || kind === 'store-paths' || kind === 'path-info-json') {
      const text = new TextDecoder().decode(await reader.read(0, reader.size));
      manifests.push({ manifest: parseManifest(text, origin, kind), origin });
    } else if (kind === 'export') {
      for (const p of await readExportStream(reader, { ...options, input: origin })) {
        contents.push({
          storePath: p.info.path,
          origin,
          entries: narToEntries(p.info.path, p.entries, origin, mtime),
          narHash: p.info.narHash,
          narSize: p.info.narSize,
          info: p.info,
        });
      }
    } else if (kind === 'nar') {
      const base = file.name.replace(/^.*\//, '').replace(/\.nar$/, '');
      const why = file.name.endsWith('.nar') ? storeBaseProblem(base) : 'it does not end in .nar';
      if (why) {
        problems.push(
          problem(
            'error',
            'closure-bad-store-path',
            origin,
            `A NAR must be named <hash>-<name>.nar to say which store path it is, but ${file.name}: ${why}.`,
            "Rename the file to the store path's base name plus .nar, e.g. abc...xyz-hello-2.12.nar.",
          ),
        );
        return;
      }
      const nar = await parseNarFile(reader, { input: origin, pathPrefix: `${STORE_DIR}/${base}` });
      contents.push({
        storePath: `${STORE_DIR}/${base}`,
        origin,
        entries: narToEntries(`${STORE_DIR}/${base}`, nar.entries, origin, mtime),
        narHash: nar.narHash,
        narSize: nar.narSize,
      });
    } else if (kind === 'tar') {
      const tar = await readTarArchive(reader, { ...options, input: origin });
      for (const w of tar.warnings) problems.push(w);
      const byBase = new Map<string, TreeEntry[]>();
      for (const m of tar.members) {
        const rel = normalizeRelativePath(m.path.replace(/^\/+/, ''));
        if ('reason' in rel) {
          problems.push(pathEscapesProblem(origin, m.path, rel.reason));
          continue;
        }
        const parts = rel.path.split('/');
        if (rel.path === '' || rel.path === 'nix' || rel.path === 'nix/store') continue;
        if (
          parts.length === 1 &&
          (parts[0] === 'nix-path-registration' || parts[0] === 'registration') &&
          m.type === 'file' &&
          m.source
        ) {
          const r = await readerForSource(m.source);
          manifests.push({
            manifest: parseManifest(
              new TextDecoder().decode(await r.read(0, r.size)),
              `${origin}:${parts[0]}`,
              'registration',
            ),
            origin,
          });
          continue;
        }
        if (parts[0] !== 'nix' || parts[1] !== 'store') {
          problems.push(
            problem(
              'warning',
              'closure-tar-extra',
              origin,
              `${m.path} is outside nix/store and was skipped.`,
              'Give files outside the store as a separate archive or folder input.',
              m.path,
            ),
          );
          continue;
        }
        const base = parts[2];
        const why = storeBaseProblem(base);
        if (why) {
          problems.push(
            problem(
              'error',
              'closure-bad-store-path',
              origin,
              `nix/store/${base} in the archive is not a store path: ${why}.`,
              'Give a tar of real store paths (tar -cf closure.tar $(nix-store -qR <path>)).',
              `${STORE_DIR}/${base}`,
            ),
          );
          continue;
        }
        const sub = '/' + parts.slice(3).join('/');
        let list = byBase.get(base);
        if (!list) byBase.set(base, (list = []));
        const e: TreeEntry = {
          path: sub === '/' ? '/' : sub,
          type: m.type,
          mode: m.mode,
          uid: 0,
          gid: 0,
          mtime,
          size: m.size,
          origin,
        };
        if (m.source) e.source = m.source;
        if (m.type === 'symlink') e.target = m.linkTarget;
        if (m.type === 'hardlink') {
          const t = normalizeRelativePath((m.linkTarget ?? '').replace(/^\/+/, ''));
          const tp = 'path' in t ? t.path.split('/') : [];
          if (tp[0] !== 'nix' || tp[1] !== 'store' || tp[2] !== base) {
            // A hard link across store paths: keep it a hard link at image level.
            e.target = 'path' in t ? '/' + t.path : undefined;
          } else e.target = '/' + tp.slice(3).join('/');
        }
        list.push(e);
      }
      for (const [base, list] of [...byBase.entries()].sort((a, b) => byteOrder(a[0], b[0]))) {
        if (!list.some((e) => e.path === '/'))
          list.push({ path: '/', type: 'directory', mode: 0o555, uid: 0, gid: 0, mtime, size: 0, origin });
        addStoreTree(origin, list, base);
      }
    } else {
      problems.push(
        problem(
          'error',
          'closure-unrecognised',
          origin,
          `${origin} is not a closure manifest, export stream, NAR or tar of nix/store.`,
          "Give closureInfo's registration or store-paths, `nix path-info --json -r` output, a `nix-store --export` stream, a <hash>-<name>.nar, or a tar of nix/store.",
        ),
      );
    }
  }

  async function readerForSource(src: NonNullable<TreeEntry['source']>): Promise<RandomAccessReader> {
    return openSource(src, 'registration', options.host?.openFile);
  }

  // ---- sealed store paths ---------------------------------------------------------------
  // A store path whose contents came from a closure input is certified by its NAR hash (and
  // the registration): no other input may add, replace or change anything inside it, nor
  // replace the directories holding it or the registration, unless byte-identical.
  // Runs before store paths in other inputs become closure contents (below): a store path a
  // closure input holds is not for another input to give again, unless identically.
  const sealedBy = new Map<string, Contents>();
  for (const c of contents) if (!sealedBy.has(c.storePath)) sealedBy.set(c.storePath, c);
  const closureEntry = new Map<string, TreeEntry>();
  for (const c of sealedBy.values())
    for (const e of c.entries) if (!closureEntry.has(e.path)) closureEntry.set(e.path, e);
  if (sealedBy.size > 0) {
    for (let i = 0; i < plain.length; i++) {
      const kept: TreeEntry[] = [];
      for (const e of plain[i]) {
        const seal = sealOf(e);
        if (!seal) {
          kept.push(e);
          continue;
        }
        const same = closureEntry.get(e.path);
        if (same && (await identicalEntries(e, same))) continue; // the closure's own entry stays
        problems.push(sealedProblem(e, seal, same));
      }
      plain[i] = kept;
    }
  }

  /** The closure contents an entry of another input would change, if any. */
  function sealOf(e: TreeEntry): Contents | undefined {
    if (e.path === REGISTRATION_PATH) return sealedBy.values().next().value;
    if (e.path === '/nix' || e.path === STORE_DIR) {
      // Directories merge; anything else in their place would replace the whole store.
      return e.type === 'directory' ? undefined : sealedBy.values().next().value;
    }
    if (!e.path.startsWith(`${STORE_DIR}/`)) return undefined;
    const end = e.path.indexOf('/', STORE_DIR.length + 1);
    return sealedBy.get(end < 0 ? e.path : e.path.slice(0, end));
  }

  async function identicalEntries(a: TreeEntry, b: TreeEntry): Promise<boolean> {
    if (a.type !== b.type || (a.mode & 0o7777) !== (b.mode & 0o7777) || a.uid !== b.uid || a.gid !== b.gid)
      return false;
    if (a.type === 'symlink' || a.type === 'hardlink') return a.target === b.target;
    if (a.type !== 'file') return true;
    if (a.size !== b.size) return false;
    if (a.size === 0) return true;
    if (!a.source || !b.source) return false;
    try {
      const ra = await readerForSource(a.source);
      const rb = await readerForSource(b.source);
      for (let at = 0; at < a.size; at += 1 << 20) {
        const n = Math.min(1 << 20, a.size - at);
        const [x, y] = await Promise.all([ra.read(at, n), rb.read(at, n)]);
        if (x.length !== n || y.length !== n) return false;
        for (let k = 0; k < n; k++) if (x[k] !== y[k]) return false;
      }
      return true;
    } catch {
      return false; // unreadable: not shown to be identical
    }
  }

  function sealedProblem(e: TreeEntry, seal: Contents, same: TreeEntry | undefined): InputProblem {
    const what =
      e.path === REGISTRATION_PATH
        ? `would replace ${REGISTRATION_PATH}, which is generated from the closure`
        : e.path === '/nix' || e.path === STORE_DIR
          ? `would replace ${e.path} (holding ${seal.storePath}) with a ${e.type}`
          : !same
            ? `would add ${e.path} inside ${seal.storePath}`
            : same.type !== e.type
              ? `would replace the ${same.type} ${e.path} of ${seal.storePath} with a ${e.type}`
              : (same.mode & 0o7777) !== (e.mode & 0o7777) || same.uid !== e.uid || same.gid !== e.gid
                ? `would change the mode or owner of ${e.path} in ${seal.storePath} (${modeOwner(same)} to ${modeOwner(e)})`
                : `would change the contents of ${e.path} in ${seal.storePath}`;
    const p = problem(
      'error',
      'store-path-sealed',
      e.origin,
      `${e.origin} ${what}, a store path whose contents ${seal.origin} gives and the registration certifies by its NAR hash.`,
      `Leave ${seal.storePath} to ${seal.origin}: remove ${e.path} from ${e.origin}, or place it outside /nix/store. To change a store path, build a new one with Nix.`,
      e.path,
    );
    p.sealed = { storePath: seal.storePath, closureInput: seal.origin };
    return p;
  }

  // Any input that puts <hash>-<name> paths under /nix/store holds contents for the closure
  // when a manifest is given: they are hash-checked like an export's, whatever way they came.
  if (manifests.length > 0) {
    for (let i = 0; i < plain.length; i++) {
      const byBase = new Map<string, TreeEntry[]>();
      const rest: TreeEntry[] = [];
      for (const e of plain[i]) {
        const m = /^\/nix\/store\/([^/]+)(\/.*)?$/.exec(e.path);
        if (!m || storeBaseProblem(m[1])) {
          rest.push(e);
          continue;
        }
        let list = byBase.get(m[1]);
        if (!list) byBase.set(m[1], (list = []));
        const rel: TreeEntry = { ...e, path: m[2] ?? '/' };
        if (e.type === 'hardlink' && e.target) {
          const t = /^\/nix\/store\/([^/]+)(\/.*)?$/.exec(e.target);
          if (t && t[1] === m[1]) rel.target = t[2] ?? '/';
        }
        list.push(rel);
      }
      if (byBase.size === 0) continue;
      plain[i] = rest;
      for (const [base, list] of [...byBase.entries()].sort((a, b) => byteOrder(a[0], b[0]))) {
        if (!list.some((e) => e.path === '/'))
          list.push({
            path: '/',
            type: 'directory',
            mode: 0o555,
            uid: 0,
            gid: 0,
            mtime,
            size: 0,
            origin: plainOrigins[i],
          });
        addStoreTree(plainOrigins[i], list, base);
      }
    }
  }

  // ---- closure: merge manifests ---------------------------------------------------------
  const listed = new Map<string, { info: StorePathInfo; origin: string; hasRefs: boolean }>();
  for (const { manifest, origin } of manifests) {
    for (const info of manifest.infos) {
      const prev = listed.get(info.path);
      if (!prev || (!prev.info.narHash && info.narHash) || (!prev.hasRefs && manifest.hasReferences)) {
        if (prev?.info.narHash && info.narHash && prev.info.narHash !== info.narHash) {
          problems.push(
            problem(
              'error',
              'closure-manifest-conflict',
              origin,
              `${info.path} has NAR hash ${info.narHash} here but ${prev.info.narHash} in ${prev.origin}.`,
              'Give manifests of one and the same closure.',
              info.path,
            ),
          );
          continue;
        }
        listed.set(info.path, {
          info: {
            ...info,
            narHash: info.narHash || prev?.info.narHash || '',
            narSize: info.narSize || prev?.info.narSize || 0,
          },
          origin,
          hasRefs: manifest.hasReferences || (prev?.hasRefs ?? false),
        });
      } else if (prev.info.narHash && info.narHash && prev.info.narHash !== info.narHash) {
        problems.push(
          problem(
            'error',
            'closure-manifest-conflict',
            origin,
            `${info.path} has NAR hash ${info.narHash} here but ${prev.info.narHash} in ${prev.origin}.`,
            'Give manifests of one and the same closure.',
            info.path,
          ),
        );
      }
    }
  }

  // ---- closure: contents, deduplicated, hashed --------------------------------------------
  const have = new Map<string, Contents>();
  for (const c of contents) {
    const why = storePathProblem(c.storePath);
    if (why) {
      problems.push(
        problem(
          'error',
          'closure-bad-store-path',
          c.origin,
          `${c.storePath} is not a valid store path: ${why}.`,
          'Check the closure was produced by Nix.',
          c.storePath,
        ),
      );
      continue;
    }
    if (c.narHash === undefined) {
      try {
        const h = await hashNarTree(
          narTreeFromEntries(c.entries, c.storePath),
          sourceChunks(options.host ? (s) => readerFor0(s) : undefined),
        );
        c.narHash = h.narHash;
        c.narSize = h.narSize;
      } catch (err) {
        problems.push(
          err instanceof InputError
            ? err.toProblem()
            : problem(
                'error',
                'closure-unreadable',
                c.origin,
                `The contents of ${c.storePath} could not be read: ${err instanceof Error ? err.message : String(err)}.`,
                'Check the input is complete and readable.',
                c.storePath,
              ),
        );
        continue;
      }
    }
    const prev = have.get(c.storePath);
    if (prev) {
      if (prev.narHash !== c.narHash) {
        problems.push(
          problem(
            'error',
            'path-conflict',
            c.origin,
            `${c.storePath} is claimed twice with different contents: by ${prev.origin} and by ${c.origin}.`,
            'Give each store path once; one of the two inputs is from another build.',
            c.storePath,
          ),
        );
      }
      if (!prev.info && c.info) prev.info = c.info;
      continue;
    }
    have.set(c.storePath, c);
  }

  async function readerFor0(s: NonNullable<TreeEntry['source']>): Promise<RandomAccessReader> {
    if (s.kind !== 'host-file' || !options.host) throw new Error('no host access');
    return options.host.openFile(s.path, s.path, s.offset, s.size);
  }

  // ---- closure: reconcile -------------------------------------------------------------------
  const closure = new Map<string, StorePathInfo>();
  let unknownRefs = 0;
  for (const [path, l] of listed) {
    const c = have.get(path);
    const info: StorePathInfo = { ...l.info, references: [...l.info.references] };
    if (!l.hasRefs && c?.info) info.references = [...c.info.references];
    else if (!l.hasRefs) unknownRefs++;
    if (!info.deriver && c?.info?.deriver) info.deriver = c.info.deriver;
    if (c?.info?.fetchedFrom) info.fetchedFrom = { ...c.info.fetchedFrom };
    if (!c) {
      info.contents = 'missing';
      info.hashChecked = false;
      problems.push(
        problem(
          'error',
          'closure-missing-contents',
          l.origin,
          `${path} is listed in ${l.origin} but no input holds its contents.`,
          "Add the closure's contents: `nix-store --export $(nix-store -qR ./result) > closure.export` makes one file of them, or give a tar of the store paths (tar -cf closure.tar $(nix-store -qR ./result)).",
          path,
        ),
      );
    } else {
      info.contents = 'present';
      if (info.narHash) {
        if (info.narHash !== c.narHash || (info.narSize && info.narSize !== c.narSize)) {
          problems.push(
            problem(
              'error',
              'closure-hash-mismatch',
              c.origin,
              `The contents of ${path} from ${c.origin} have NAR hash ${c.narHash} (${c.narSize} bytes) but ${l.origin} says ${info.narHash} (${info.narSize} bytes).`,
              'The contents were modified or come from another build; export them again from the store the manifest came from.',
              path,
            ),
          );
          info.hashChecked = false;
        } else info.hashChecked = true;
      } else {
        info.narHash = c.narHash!;
        info.hashChecked = false;
      }
      info.narSize = c.narSize!;
    }
    closure.set(path, info);
  }
  for (const [path, c] of have) {
    if (listed.has(path)) continue;
    if (c.info) {
      closure.set(path, { ...c.info });
      continue;
    }
    problems.push(
      problem(
        'warning',
        'closure-contents-unlisted',
        c.origin,
        `${path} from ${c.origin} is in no manifest, so its references are unknown; it is registered without references.`,
        "Add the closure's registration or `nix path-info --json -r` output so references are registered and garbage collection keeps what it needs.",
        path,
      ),
    );
    closure.set(path, {
      path,
      narHash: c.narHash!,
      narSize: c.narSize!,
      references: [],
      deriver: '',
      contents: 'present',
      hashChecked: false,
    });
  }
  if (unknownRefs) {
    problems.push(
      problem(
        'warning',
        'closure-references-unknown',
        manifests.find((m) => !m.manifest.hasReferences)?.origin ?? 'closure',
        `${unknownRefs} store paths are listed without references (a store-paths list); they are registered without references.`,
        "Give closureInfo's registration or `nix path-info --json -r` output instead of store-paths.",
      ),
    );
  }
  for (const info of closure.values()) {
    for (const r of info.references) {
      if (!closure.has(r)) {
        const from = listed.get(info.path)?.origin ?? have.get(info.path)?.origin ?? 'closure';
        problems.push(
          problem(
            'error',
            'closure-reference-missing',
            from,
            `${info.path} references ${r}, which is not in the closure.`,
            'Give the whole closure (nix-store -qR / closureInfo), not a subset of it.',
            info.path,
          ),
        );
      }
    }
  }
  const closureList = [...closure.values()].sort((a, b) => byteOrder(a.path, b.path));

  // ---- the tree ----------------------------------------------------------------------------
  const all: TreeEntry[] = [];
  // Loops, not push(...list): a spread of 150,000 arguments overflows the call stack.
  for (const list of plain) for (const e of list) all.push(e);
  for (const path of Array.from(have.keys()).sort(byteOrder)) {
    const sortedEntries = have
      .get(path)!
      .entries.slice()
      .sort((a, b) => compareImagePaths(a.path, b.path));
    for (const e of sortedEntries) all.push(e);
  }
  if (closureList.length > 0) {
    const complete = closureList.every((i) => i.narHash);
    if (complete) {
      const bytes = registrationBytes(closureList);
      all.push({
        path: REGISTRATION_PATH,
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime,
        size: bytes.length,
        source: { kind: 'bytes', bytes },
        origin: 'generated registration',
      });
    }
  }
  // A single walked folder is already settled: the model would give back the same list.
  if (isSettledTree(all)) return { entries: all, closure: closureList, problems: sortProblems(problems) };
  const { tree, conflicts } = TreeModel.fromEntries(all);
  const seen = new Set<string>();
  for (const c of conflicts) {
    const key = `${c.path}\0${c.incoming.origin}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(c.problem);
  }
  return { entries: tree.toEntries(), closure: closureList, problems: sortProblems(problems) };
}

/** Problems in a canonical order too, so output does not depend on input order. */
function sortProblems(problems: InputProblem[]): InputProblem[] {
  return problems.sort((a, b) =>
    byteOrder(
      `${a.severity}\0${a.code}\0${a.path ?? ''}\0${a.input}`,
      `${b.severity}\0${b.code}\0${b.path ?? ''}\0${b.input}`,
    ),
  );
}
