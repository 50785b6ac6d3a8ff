/**
 * Large archives for the browser tests and `bench:page`, generated from a seed straight into
 * a file: `entries` members shaped like a Nix store (folders of store paths with `bin`,
 * `lib` and `share` folders, small files, a symlink per folder), written in 1 MiB pieces.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { tarHeader, tarPadding, tarTrailer } from '../../core/tar-writer.ts';

/** What a generated archive holds, for the tests to compare with the page. */
export interface GeneratedTar {
  files: number;
  directories: number;
  symlinks: number;
  /** Bytes of file contents. */
  bytes: number;
  /** The top folder every member is under. */
  top: string;
}

/** Files per leaf folder: a store path's `lib` of this many files. */
const PER_FOLDER = 200;

/**
 * Writes an uncompressed tar of about `entries` members to `path` (every tenth file holds a
 * line naming itself, the rest are empty). Deterministic for a given `seed`.
 */
export function writeGeneratedTar(path: string, entries: number, seed = 1): GeneratedTar {
  const out: GeneratedTar = { files: 0, directories: 0, symlinks: 0, bytes: 0, top: `gen${seed}` };
  const fd = openSync(path, 'w');
  const parts: Uint8Array[] = [];
  let pending = 0;
  const flush = () => {
    for (const b of parts) writeSync(fd, b);
    parts.length = 0;
    pending = 0;
  };
  const put = (b: Uint8Array) => {
    parts.push(b);
    pending += b.length;
    if (pending >= 1 << 20) flush();
  };
  const enc = new TextEncoder();
  const meta = { uid: 0, gid: 0, mtime: 1, size: 0 };
  const dir = (p: string) => {
    put(tarHeader({ ...meta, mode: 0o755, path: p, type: 'directory' }));
    out.directories++;
  };
  let x = seed >>> 0 || 1;
  const hash = () => {
    let s = '';
    for (let k = 0; k < 32; k++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      s += '0123456789abcdfghijklmnpqrsvwxyz'[(x >>> 0) % 32];
    }
    return s;
  };
  try {
    dir(out.top);
    // Each store path: itself, lib, bin, share, PER_FOLDER files in lib, a file in bin, a link in share.
    const perPath = 4 + PER_FOLDER + 2;
    const paths = Math.max(1, Math.round((entries - 1) / perPath));
    for (let p = 0; p < paths; p++) {
      const sp = `${out.top}/${hash()}-pkg${p}`;
      dir(sp);
      dir(`${sp}/lib`);
      dir(`${sp}/bin`);
      dir(`${sp}/share`);
      for (let i = 0; i < PER_FOLDER + 1; i++) {
        const name = i === PER_FOLDER ? `${sp}/bin/pkg${p}` : `${sp}/lib/lib${i}.so`;
        const body = i % 10 === 0 ? enc.encode(`${name}\n`) : new Uint8Array(0);
        put(
          tarHeader({ ...meta, mode: i === PER_FOLDER ? 0o755 : 0o644, path: name, type: 'file', size: body.length }),
        );
        if (body.length > 0) {
          put(body);
          put(tarPadding(body.length));
        }
        out.files++;
        out.bytes += body.length;
      }
      put(tarHeader({ ...meta, mode: 0o777, path: `${sp}/share/lib`, type: 'symlink', linkTarget: '../lib' }));
      out.symlinks++;
    }
    put(tarTrailer());
    flush();
  } finally {
    closeSync(fd);
  }
  return out;
}
