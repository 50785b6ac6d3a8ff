/**
 * The bench's workloads, generated deterministically from a seed: the same name, seed,
 * scale and {@link WORKLOAD_VERSION} always give the same tree, byte for byte. Pure (no
 * Node or DOM imports), so the bench page can rebuild the tree's metadata (modes,
 * symlinks) from the same seed while its file bytes come from disk.
 *
 * - `small`:   1,000 files, 20 MiB: a project-like folder, mostly small files.
 * - `closure`: 20,000 mostly small files under `/nix/store/<hash>-<name>/`, ~3,200 symlinks
 *              (library version chains, long absolute links into other store paths) and a
 *              few dozen large binaries, 500 MiB.
 * - `large`:   2 GiB, 1,000 files, most of the bytes in 40 large files.
 * - `system`:  a NixOS system: 400,000 entries and 8 GiB: 2,000 store paths of mostly small
 *              files in deep folders, library link chains, a system-path symlink farm into
 *              them, and 40 large binaries (`repeat` contents, so it is generated fast).
 *
 * Contents come in three kinds, so compression has something to do: `text` (words,
 * ~3x with zstd -3), `binary` (machine-code-like tokens, zero runs, strings; ~1.4x) and
 * `random` (incompressible, like compressed media).
 */

/** Bump when the generator changes: cached trees of another version are rebuilt. */
export const WORKLOAD_VERSION = 1;
export const DEFAULT_SEED = 20240611;

export type WorkloadName = 'small' | 'closure' | 'large' | 'system';
export const WORKLOAD_NAMES: readonly WorkloadName[] = ['small', 'closure', 'large', 'system'];

/**
 * `repeat`: one pseudo-random 64 KiB block per file, repeated with each block's index written
 * into its first bytes (large binaries made quickly; not zero, so every block is stored, and
 * zstd finds the repeats).
 */
export type ContentKind = 'text' | 'binary' | 'random' | 'repeat';

export type WorkloadEntry =
  | { type: 'directory'; path: string; mode: number }
  | { type: 'file'; path: string; mode: number; size: number; kind: ContentKind; seed: number }
  | { type: 'symlink'; path: string; target: string };

export interface Workload {
  name: WorkloadName;
  seed: number;
  /** 1 for the real workloads; smaller for a quick smoke run. */
  scale: number;
  version: number;
  /** Parents before children; paths relative to the tree's root, starting with `/`. */
  entries: WorkloadEntry[];
  files: number;
  directories: number;
  symlinks: number;
  /** Sum of file sizes. */
  bytes: number;
  /** Bytes per content kind. */
  kinds: Record<ContentKind, number>;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** A folder name unique to this workload's identity (for the on-disk cache). */
export function workloadId(name: WorkloadName, seed: number, scale: number): string {
  return `${name}-v${WORKLOAD_VERSION}-s${seed}${scale === 1 ? '' : `-x${scale}`}`;
}

/**
 * The workload's files in the order `mke2fs -d` copies them: depth first, each folder's
 * names in byte order (its scandir + alphasort), i.e. paths compared component by
 * component. (Code-unit order, which is byte order for the ASCII names generated here.)
 */
export function copyOrder(w: Workload): Extract<WorkloadEntry, { type: 'file' }>[] {
  const files = w.entries.filter((e): e is Extract<WorkloadEntry, { type: 'file' }> => e.type === 'file');
  const parts = new Map(files.map((f) => [f, f.path.split('/')]));
  return files.sort((a, b) => {
    const x = parts.get(a)!;
    const y = parts.get(b)!;
    for (let i = 0; i < x.length && i < y.length; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
    return x.length - y.length;
  });
}

// ---- PRNG ---------------------------------------------------------------------------

/** A 32-bit avalanche mix (murmur3's finalizer) of two words. */
export function mix32(a: number, b: number): number {
  let h = (Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ b) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** sfc32: small, fast, good enough for test data; seeded from one word. */
export class Prng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    this.#a = mix32(seed, 1);
    this.#b = mix32(seed, 2);
    this.#c = mix32(seed, 3);
    this.#d = 1;
    for (let i = 0; i < 12; i++) this.next();
  }

  /** A uniform unsigned 32-bit integer. */
  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next() / 4294967296;
  }

  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.float() * list.length)];
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = Math.max(this.float(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.float());
  }

  /** Log-normal with the given median. */
  logNormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }
}

// ---- names --------------------------------------------------------------------------

const WORDS = (
  'the of and to in is for on with as by at from that this be are or an it not which was ' +
  'file data value error return buffer size length pointer struct static const void int char ' +
  'unsigned long function module system kernel device block inode group journal extent ' +
  'mount path store build package library version config option default table index entry ' +
  'read write open close seek sync flush alloc free copy move list hash tree node root link ' +
  'user owner mode time epoch image disk sector offset count total check repair resize shrink ' +
  'compress stream frame level window match literal sequence header footer checksum crc ' +
  'network socket address port host server client request response message queue thread ' +
  'process signal handler timer clock event state machine driver firmware memory page cache ' +
  'string number array object class method field property interface type generic template ' +
  'source target output input stdin stdout stderr exit status code result success failure'
).split(' ');
const WORD_BYTES = WORDS.map((w) => new TextEncoder().encode(w));

const PACKAGES = (
  'glibc bash coreutils gcc-lib zlib openssl systemd util-linux perl python3 ncurses readline ' +
  'libffi sqlite curl xz bzip2 expat libxml2 icu gnutls nettle gmp mpfr libidn2 pcre2 acl attr ' +
  'libcap dbus kmod e2fsprogs lvm2 cryptsetup nix boost llvm-lib mesa libdrm wayland harfbuzz ' +
  'freetype fontconfig cairo pango glib gtk3 qtbase ffmpeg libvpx opus flac libpng libjpeg ' +
  'libtiff lcms2 krb5 keyutils iproute2 iptables nftables openssh shadow pam sudo tzdata ' +
  'cacert linux-firmware linux-modules grub efibootmgr busybox'
).split(' ');
const NIX_BASE32 = '0123456789abcdfghijklmnpqrsvwxyz';

function storeHash(rng: Prng): string {
  let s = '';
  for (let i = 0; i < 32; i++) s += NIX_BASE32[rng.next() & 31];
  return s;
}

function ident(rng: Prng, parts = 2): string {
  const out: string[] = [];
  for (let i = 0; i < parts; i++) out.push(rng.pick(WORDS));
  return out.join('_');
}

// ---- contents -----------------------------------------------------------------------

/** File contents are generated in independent blocks of this size, so any aligned piece can be made alone. */
export const CONTENT_BLOCK = 64 * KiB;

/**
 * Fills `out` with the file's bytes at `offset`..`offset + out.length`. `offset` must be a
 * multiple of {@link CONTENT_BLOCK}; the same bytes come out whatever the piece size.
 */
export function fillContent(
  file: { kind: ContentKind; seed: number; size: number },
  offset: number,
  out: Uint8Array,
): void {
  if (offset % CONTENT_BLOCK !== 0) throw new RangeError('offset must be a multiple of CONTENT_BLOCK');
  for (let pos = 0; pos < out.length; pos += CONTENT_BLOCK) {
    const block = (offset + pos) / CONTENT_BLOCK;
    const piece = out.subarray(pos, Math.min(out.length, pos + CONTENT_BLOCK));
    const rng = new Prng(mix32(file.seed, block));
    if (file.kind === 'repeat') {
      piece.set(repeatBlock(file.seed).subarray(0, piece.length));
      for (let k = 0; k < 4 && k < piece.length; k++) piece[k] = (block >>> (k * 8)) & 0xff;
    } else if (file.kind === 'random') fillRandom(rng, piece);
    else if (file.kind === 'text') fillText(rng, piece);
    else fillBinary(rng, tokenTable(file.seed), piece);
  }
}

const repeatBlocks = new Map<number, Uint8Array>();

/** The pseudo-random block a `repeat` file is made of. */
function repeatBlock(seed: number): Uint8Array {
  let b = repeatBlocks.get(seed);
  if (!b) {
    b = new Uint8Array(CONTENT_BLOCK);
    fillRandom(new Prng(mix32(seed, 0x5eed)), b);
    if (repeatBlocks.size > 64) repeatBlocks.clear();
    repeatBlocks.set(seed, b);
  }
  return b;
}

function fillRandom(rng: Prng, out: Uint8Array): void {
  const words = out.length >>> 2;
  const w = new Uint32Array(words);
  for (let i = 0; i < words; i++) w[i] = rng.next();
  out.set(new Uint8Array(w.buffer));
  for (let i = words * 4; i < out.length; i++) out[i] = rng.next() & 0xff;
}

/** Writes words from the vocabulary at `pos` up to `end`; returns the new position. */
function writeWords(rng: Prng, out: Uint8Array, pos: number, end: number): number {
  let sinceBreak = 0;
  while (pos < end) {
    const r = rng.next();
    const word = WORD_BYTES[(r & 0xffff) % WORD_BYTES.length];
    for (let i = 0; i < word.length && pos < end; i++) out[pos++] = word[i];
    if (pos >= end) break;
    sinceBreak++;
    const sep = (r >>> 16) & 0xff;
    if (sinceBreak > 8 && sep < 40) {
      out[pos++] = 0x0a; // newline
      sinceBreak = 0;
    } else if (sep < 52) {
      out[pos++] = sep & 1 ? 0x2c : 0x2e; // , or .
      if (pos < end) out[pos++] = 0x20;
    } else if (sep < 56) {
      // a number, as logs and sources have
      const digits = String(rng.next() % 100000);
      for (let i = 0; i < digits.length && pos < end; i++) out[pos++] = digits.charCodeAt(i);
      if (pos < end) out[pos++] = 0x20;
    } else out[pos++] = 0x20;
  }
  return pos;
}

function fillText(rng: Prng, out: Uint8Array): void {
  writeWords(rng, out, 0, out.length);
}

const tokenTables = new Map<number, Uint32Array>();

/** 1,024 four-byte "instructions" per file: the alphabet of its code-like runs. */
function tokenTable(seed: number): Uint32Array {
  let t = tokenTables.get(seed);
  if (!t) {
    const rng = new Prng(mix32(seed, 0x70c3));
    t = new Uint32Array(1024);
    for (let i = 0; i < t.length; i++) t[i] = rng.next();
    if (tokenTables.size > 256) tokenTables.clear();
    tokenTables.set(seed, t);
  }
  return t;
}

/** Code-like token runs, random runs, zero padding and strings: roughly 1.4:1 under zstd -3. */
function fillBinary(rng: Prng, table: Uint32Array, out: Uint8Array): void {
  let pos = 0;
  const end = out.length;
  while (pos < end) {
    const r = rng.next();
    const sel = r & 7;
    if (sel < 4) {
      const n = 8 + ((r >>> 3) & 63);
      for (let i = 0; i < n && pos < end; i++) {
        const tok = table[rng.next() & 1023];
        for (let k = 0; k < 4 && pos < end; k++) out[pos++] = (tok >>> (k * 8)) & 0xff;
      }
    } else if (sel < 6) {
      const n = Math.min(end - pos, 16 + ((r >>> 3) & 127));
      for (let i = 0; i < n; i += 4) {
        const v = rng.next();
        for (let k = 0; k < 4 && i + k < n; k++) out[pos + i + k] = (v >>> (k * 8)) & 0xff;
      }
      pos += n;
    } else if (sel === 6) {
      const n = Math.min(end - pos, 16 + ((r >>> 3) & 511));
      out.fill(0, pos, pos + n);
      pos += n;
    } else {
      const n = Math.min(end - pos, 20 + ((r >>> 3) & 127));
      pos = writeWords(rng, out, pos, pos + n);
      if (pos < end) out[pos++] = 0;
    }
  }
}

// ---- trees --------------------------------------------------------------------------

class TreeBuilder {
  readonly entries: WorkloadEntry[] = [];
  readonly #dirs = new Set<string>(['/']);
  readonly #paths = new Set<string>();
  #fileSeed: number;

  constructor(seed: number) {
    this.#fileSeed = mix32(seed, 0xf11e);
  }

  dir(path: string): void {
    // Missing ancestors nearest first, then added outermost first (a loop, not recursion by depth).
    const missing: string[] = [];
    for (let p = path; !this.#dirs.has(p); ) {
      missing.push(p);
      const cut = p.lastIndexOf('/');
      p = cut <= 0 ? '/' : p.slice(0, cut);
    }
    for (let i = missing.length - 1; i >= 0; i--) {
      this.#dirs.add(missing[i]);
      this.entries.push({ type: 'directory', path: missing[i], mode: 0o755 });
    }
  }

  /** Adds a file unless the path is taken; returns the path used (a suffix is added on a clash). */
  file(path: string, size: number, kind: ContentKind, mode = 0o644): string {
    path = this.#free(path);
    this.dir(parentOf(path));
    this.#paths.add(path);
    this.#fileSeed = mix32(this.#fileSeed, this.entries.length);
    this.entries.push({ type: 'file', path, mode, size: Math.max(0, Math.round(size)), kind, seed: this.#fileSeed });
    return path;
  }

  symlink(path: string, target: string): string {
    path = this.#free(path);
    this.dir(parentOf(path));
    this.#paths.add(path);
    this.entries.push({ type: 'symlink', path, target });
    return path;
  }

  #free(path: string): string {
    if (!this.#paths.has(path) && !this.#dirs.has(path)) return path;
    for (let i = 1; ; i++) {
      const p = `${path}.${i}`;
      if (!this.#paths.has(p) && !this.#dirs.has(p)) return p;
    }
  }
}

function parentOf(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}

/** Scales `sizes` (in place) so they sum to exactly `total`. */
function fitSizes(sizes: number[], total: number): void {
  const sum = sizes.reduce((a, b) => a + b, 0);
  if (sum === 0) return;
  let acc = 0;
  for (let i = 0; i < sizes.length; i++) {
    sizes[i] = Math.floor((sizes[i] * total) / sum);
    acc += sizes[i];
  }
  let i = 0;
  while (acc < total) {
    sizes[i % sizes.length]++;
    acc++;
    i++;
  }
}

function smallSize(rng: Prng, median: number, max: number): number {
  return Math.min(max, Math.floor(rng.logNormal(median, 1.3)));
}

function kindFor(rng: Prng, weights: Record<Exclude<ContentKind, 'repeat'>, number>): Exclude<ContentKind, 'repeat'> {
  const x = rng.float() * (weights.text + weights.binary + weights.random);
  if (x < weights.text) return 'text';
  if (x < weights.text + weights.binary) return 'binary';
  return 'random';
}

function smallTree(rng: Prng, t: TreeBuilder, scale: number): void {
  const files = Math.max(10, Math.round(1000 * scale));
  const total = Math.round(20 * MiB * scale);
  const big = Math.max(1, Math.round(files / 50));
  const dirs: string[] = ['/'];
  for (let i = 0; i < Math.max(3, Math.round(60 * scale)); i++) {
    const parent = rng.pick(dirs);
    dirs.push(`${parent === '/' ? '' : parent}/${rng.pick(WORDS)}${i}`);
  }
  const sizes: number[] = [];
  for (let i = 0; i < files - big; i++) sizes.push(smallSize(rng, 3 * KiB, 256 * KiB));
  const smallBytes = Math.min(
    sizes.reduce((a, b) => a + b, 0),
    total * 0.4,
  );
  fitSizes(sizes, Math.round(smallBytes));
  const bigSizes: number[] = [];
  for (let i = 0; i < big; i++) bigSizes.push(0.5 + rng.float());
  fitSizes(bigSizes, total - Math.round(smallBytes));
  const exts: Record<Exclude<ContentKind, 'repeat'>, string[]> = {
    text: ['txt', 'md', 'html', 'js', 'css', 'json'],
    binary: ['bin', 'o', 'wasm', 'db'],
    random: ['png', 'jpg', 'gz', 'zip'],
  };
  const all = [...sizes, ...bigSizes];
  for (let i = 0; i < all.length; i++) {
    const kind =
      i < sizes.length
        ? kindFor(rng, { text: 5, binary: 3, random: 2 })
        : kindFor(rng, { text: 1, binary: 1, random: 1 });
    const d = rng.pick(dirs);
    t.file(`${d === '/' ? '' : d}/${ident(rng)}.${rng.pick(exts[kind])}`, all[i], kind);
  }
  for (let i = 0; i < Math.round(files / 20); i++) {
    const d = rng.pick(dirs);
    t.symlink(`${d === '/' ? '' : d}/link_${ident(rng, 1)}`, `${rng.pick(WORDS)}_${rng.pick(WORDS)}.txt`);
  }
}

interface StorePath {
  base: string;
  name: string;
  bins: string[];
}

interface ClosureShape {
  fileCount: number;
  total: number;
  pathCount: number;
  largeCount: number;
  /** Share of the bytes in the small files. */
  smallShare: number;
  /** Contents of the large files. */
  largeKind?: ContentKind;
}

function closureTree(rng: Prng, t: TreeBuilder, scale: number, shape?: ClosureShape): StorePath[] {
  const fileCount = shape?.fileCount ?? Math.max(40, Math.round(20000 * scale));
  const total = shape?.total ?? Math.round(500 * MiB * scale);
  const pathCount = shape?.pathCount ?? Math.max(4, Math.round(250 * scale));
  const largeCount = shape?.largeCount ?? Math.max(2, Math.round(24 * scale));
  const smallShare = shape?.smallShare ?? 0.35;

  const paths: StorePath[] = [];
  for (let i = 0; i < pathCount; i++) {
    const pkg = PACKAGES[i % PACKAGES.length] + (i >= PACKAGES.length ? `-${Math.floor(i / PACKAGES.length)}` : '');
    const name = `${pkg}-${rng.int(0, 9)}.${rng.int(0, 40)}.${rng.int(0, 9)}`;
    paths.push({ base: `/nix/store/${storeHash(rng)}-${name}`, name: pkg, bins: [] });
  }
  // Files per store path: a few big packages, a long tail.
  const weights = paths.map((_, i) => 1 / (1 + i * 0.15) + rng.float() * 0.2);
  const counts = weights.map(() => 1);
  const wsum = weights.reduce((a, b) => a + b, 0);
  let assigned = counts.length;
  for (let i = 0; i < paths.length; i++) {
    const extra = Math.floor(((fileCount - paths.length) * weights[i]) / wsum);
    counts[i] += extra;
    assigned += extra;
  }
  for (let i = 0; assigned < fileCount; i++, assigned++) counts[i % counts.length]++;

  type Slot = { dir: string; ext: string; kind: ContentKind; exec?: boolean; lib?: boolean };
  const layout = (p: StorePath): { slot: Slot; weight: number }[] => [
    { slot: { dir: `${p.base}/bin`, ext: '', kind: 'binary', exec: true }, weight: 6 },
    { slot: { dir: `${p.base}/lib`, ext: 'so', kind: 'binary', lib: true }, weight: 8 },
    { slot: { dir: `${p.base}/lib/pkgconfig`, ext: 'pc', kind: 'text' }, weight: 1 },
    { slot: { dir: `${p.base}/include/${p.name}`, ext: 'h', kind: 'text' }, weight: 14 },
    { slot: { dir: `${p.base}/share/doc/${p.name}`, ext: 'html', kind: 'text' }, weight: 6 },
    { slot: { dir: `${p.base}/share/man/man1`, ext: '1.gz', kind: 'random' }, weight: 5 },
    {
      slot: {
        dir: `${p.base}/share/locale/${rng.pick(['de', 'fr', 'ja', 'pt_BR', 'zh_CN'])}/LC_MESSAGES`,
        ext: 'mo',
        kind: 'binary',
      },
      weight: 4,
    },
    {
      slot: { dir: `${p.base}/lib/python3.12/site-packages/${p.name.replace(/-/g, '_')}`, ext: 'py', kind: 'text' },
      weight: 10,
    },
    { slot: { dir: `${p.base}/share/${p.name}/data`, ext: 'dat', kind: 'random' }, weight: 2 },
  ];

  const small: { path: string; kind: ContentKind; exec: boolean; lib: boolean; p: StorePath }[] = [];
  for (let i = 0; i < paths.length; i++) {
    const slots = layout(paths[i]);
    const sw = slots.reduce((a, s) => a + s.weight, 0);
    for (let k = 0; k < counts[i]; k++) {
      let x = rng.float() * sw;
      let slot = slots[0].slot;
      for (const s of slots) {
        if ((x -= s.weight) < 0) {
          slot = s.slot;
          break;
        }
      }
      const stem = slot.lib ? `lib${ident(rng, 1)}` : ident(rng, slot.exec ? 1 : 2);
      const file = slot.ext
        ? `${stem}.${slot.ext}${slot.lib ? `.${rng.int(1, 9)}.${rng.int(0, 20)}.${rng.int(0, 9)}` : ''}`
        : stem;
      small.push({
        path: `${slot.dir}/${file}`,
        kind: slot.kind,
        exec: Boolean(slot.exec),
        lib: Boolean(slot.lib),
        p: paths[i],
      });
    }
  }
  // The largest files are big binaries (libLLVM, firmware bundles, ...): replace some small ones.
  const large = new Set<number>();
  while (large.size < Math.min(largeCount, small.length)) {
    const i = rng.int(0, small.length - 1);
    if (small[i].kind !== 'text') large.add(i);
  }
  const sizes = small.map((s, i) =>
    large.has(i) ? 0 : smallSize(rng, s.kind === 'text' ? 2 * KiB : 6 * KiB, 1 * MiB),
  );
  const smallBytes = Math.min(
    sizes.reduce((a, b) => a + b, 0),
    Math.round(total * smallShare),
  );
  const smallIdx = sizes.map((_, i) => i).filter((i) => !large.has(i));
  const smallSizes = smallIdx.map((i) => sizes[i]);
  fitSizes(smallSizes, smallBytes);
  for (let k = 0; k < smallIdx.length; k++) sizes[smallIdx[k]] = smallSizes[k];
  const largeIdx = [...large].sort((a, b) => a - b);
  const largeSizes = largeIdx.map(() => 0.3 + rng.float() * 1.7);
  fitSizes(largeSizes, total - smallBytes);
  for (let k = 0; k < largeIdx.length; k++) sizes[largeIdx[k]] = largeSizes[k];

  for (let i = 0; i < small.length; i++) {
    const s = small[i];
    const kind: ContentKind = large.has(i) ? (shape?.largeKind ?? (rng.float() < 0.7 ? 'binary' : 'random')) : s.kind;
    const path = t.file(s.path, sizes[i], kind, s.exec ? 0o755 : 0o644);
    if (s.exec) s.p.bins.push(path);
    if (s.lib && rng.float() < 0.35) {
      // libfoo.so.1.2.3 <- libfoo.so.1 <- libfoo.so, as shared libraries ship.
      const file = path.slice(path.lastIndexOf('/') + 1);
      const m = /^(.*\.so)\.(\d+)\./.exec(file);
      if (m) {
        const dir = parentOf(path);
        const major = t.symlink(`${dir}/${m[1]}.${m[2]}`, file);
        t.symlink(`${dir}/${m[1]}`, major.slice(major.lastIndexOf('/') + 1));
      }
    }
  }
  // Wrappers and propagated binaries: absolute links into other store paths (slow symlinks).
  const crossLinks = Math.round(fileCount * 0.04);
  for (let i = 0; i < crossLinks; i++) {
    const from = rng.pick(paths);
    const to = rng.pick(paths);
    if (to.bins.length === 0) continue;
    const target = rng.pick(to.bins);
    t.symlink(`${from.base}/bin/${target.slice(target.lastIndexOf('/') + 1)}`, target);
  }
  // The usual relative links inside a package.
  for (const p of paths) {
    if (rng.float() < 0.5) t.symlink(`${p.base}/share/doc/${p.name}/README`, `../../${p.name}/data`);
    if (rng.float() < 0.3) t.symlink(`${p.base}/lib64`, 'lib');
  }
  return paths;
}

/**
 * A NixOS system: a closure of 2,000 store paths (mostly small files, deep folders, library
 * link chains, 40 large binaries), the system-path's symlink farm (bin, lib, share) into
 * them, and /etc's links into the store, as `nixos-rebuild` leaves them.
 */
function systemTree(rng: Prng, t: TreeBuilder, scale: number): void {
  const paths = closureTree(rng, t, scale, {
    fileCount: Math.max(60, Math.round(300_000 * scale)),
    total: Math.round(8192 * MiB * scale),
    pathCount: Math.max(6, Math.round(2000 * scale)),
    largeCount: Math.max(2, Math.round(40 * scale)),
    smallShare: 0.3,
    largeKind: 'repeat',
  });
  const farm = `/nix/store/${storeHash(rng)}-system-path`;
  const taken = new Set<string>();
  for (const p of paths) {
    for (const bin of p.bins) {
      const name = bin.slice(bin.lastIndexOf('/') + 1);
      if (taken.has(name)) continue;
      taken.add(name);
      t.symlink(`${farm}/bin/${name}`, bin);
    }
  }
  const farmLinks = Math.round(18_000 * scale);
  for (let i = 0; i < farmLinks; i++) {
    const p = rng.pick(paths);
    const area = rng.pick([
      'share/man/man1',
      'share/doc',
      'share/locale',
      'lib',
      'share/applications',
      'share/icons/hicolor/48x48/apps',
    ]);
    t.symlink(`${farm}/${area}/${ident(rng, 2)}-${i}`, `${p.base}/${area}/${ident(rng, 2)}`);
  }
  const system = `/nix/store/${storeHash(rng)}-nixos-system-studio-24.11`;
  t.symlink(`${system}/sw`, farm);
  const etc = `/nix/store/${storeHash(rng)}-etc/etc`;
  for (let i = 0; i < Math.max(10, Math.round(1200 * scale)); i++) {
    const p = rng.pick(paths);
    t.symlink(
      `${etc}/${rng.pick(['systemd/system', 'ssl/certs', 'pam.d', 'fonts/conf.d', 'xdg'])}/${ident(rng, 2)}-${i}`,
      `${p.base}/share/${ident(rng, 1)}`,
    );
  }
  t.symlink(`${system}/etc`, etc);
}

function largeTree(rng: Prng, t: TreeBuilder, scale: number): void {
  const total = Math.round(2048 * MiB * scale);
  const bigCount = Math.max(2, Math.round(40 * scale));
  const smallCount = Math.max(10, Math.round(960 * scale));
  const dirs = [
    '/data/media',
    '/data/vm',
    '/data/db',
    '/data/logs',
    '/data/build',
    '/home/user/projects',
    '/var/cache',
  ];
  const smallSizes: number[] = [];
  for (let i = 0; i < smallCount; i++) smallSizes.push(smallSize(rng, 8 * KiB, 4 * MiB));
  const smallBytes = Math.min(
    smallSizes.reduce((a, b) => a + b, 0),
    Math.round(total * 0.05),
  );
  fitSizes(smallSizes, smallBytes);
  const bigSizes: number[] = [];
  for (let i = 0; i < bigCount; i++) bigSizes.push(0.4 + rng.float() * 1.6);
  fitSizes(bigSizes, total - smallBytes);
  for (let i = 0; i < bigCount; i++) {
    const kind = kindFor(rng, { text: 25, binary: 35, random: 40 });
    const ext = kind === 'text' ? 'log' : kind === 'binary' ? 'qcow2' : 'mkv';
    t.file(`${rng.pick(dirs)}/${ident(rng)}.${ext}`, bigSizes[i], kind);
  }
  for (let i = 0; i < smallCount; i++) {
    const kind = kindFor(rng, { text: 5, binary: 3, random: 2 });
    t.file(
      `${rng.pick(dirs)}/${rng.pick(WORDS)}/${ident(rng)}.${kind === 'text' ? 'txt' : kind === 'binary' ? 'bin' : 'jpg'}`,
      smallSizes[i],
      kind,
    );
  }
  for (let i = 0; i < Math.round(smallCount / 20); i++) t.symlink(`/data/links/${ident(rng)}`, `../${rng.pick(WORDS)}`);
}

/** The workload's tree (metadata and content recipes; no bytes). */
export function makeWorkload(name: WorkloadName, seed = DEFAULT_SEED, scale = 1): Workload {
  const rng = new Prng(mix32(seed, name === 'small' ? 1 : name === 'closure' ? 2 : name === 'large' ? 3 : 4));
  const t = new TreeBuilder(mix32(seed, 0xbe4c4));
  if (name === 'small') smallTree(rng, t, scale);
  else if (name === 'closure') closureTree(rng, t, scale);
  else if (name === 'large') largeTree(rng, t, scale);
  else if (name === 'system') systemTree(rng, t, scale);
  else throw new Error(`unknown workload ${String(name)}`);
  const kinds: Record<ContentKind, number> = { text: 0, binary: 0, random: 0, repeat: 0 };
  let files = 0;
  let directories = 0;
  let symlinks = 0;
  let bytes = 0;
  for (const e of t.entries) {
    if (e.type === 'file') {
      files++;
      bytes += e.size;
      kinds[e.kind] += e.size;
    } else if (e.type === 'directory') directories++;
    else symlinks++;
  }
  return {
    name,
    seed,
    scale,
    version: WORKLOAD_VERSION,
    entries: t.entries,
    files,
    directories,
    symlinks,
    bytes,
    kinds,
  };
}
