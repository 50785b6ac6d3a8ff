/**
 * Fetched paths as one `nix-store --export` stream, composed as a Blob of small framing
 * parts and the spooled NAR files themselves (nothing is copied: a Blob of Blobs keeps
 * referring to the files). The page hands it to the engine like any export, which reads
 * it in place and hashes every NAR again on the way.
 */
import type { StorePathInfo } from '../image-tree.ts';
import { EXPORT_MAGIC } from '../nix-export.ts';

const enc = new TextEncoder();

function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  const lo = n >>> 0;
  const hi = Math.floor(n / 0x100000000);
  new DataView(b.buffer).setUint32(0, lo, true);
  new DataView(b.buffer).setUint32(4, hi, true);
  return b;
}

function str(s: string): Uint8Array {
  const raw = enc.encode(s);
  const out = new Uint8Array(8 + raw.length + ((8 - (raw.length % 8)) % 8));
  out.set(u64(raw.length), 0);
  out.set(raw, 8);
  return out;
}

/** The bytes after a NAR in an export: magic, path, references, deriver, no signature. */
export function exportTrailer(info: Pick<StorePathInfo, 'path' | 'references' | 'deriver'>): Uint8Array {
  const parts = [u64(EXPORT_MAGIC), str(info.path), u64(info.references.length)];
  for (const r of info.references) parts.push(str(r));
  parts.push(str(info.deriver), u64(0));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** An export stream of `paths` (sorted by store path), each NAR a Blob. */
export function exportBlob(paths: ReadonlyArray<{ nar: Blob; info: StorePathInfo }>, name: string): File {
  const parts: BlobPart[] = [];
  const sorted = [...paths].sort((a, b) => (a.info.path < b.info.path ? -1 : a.info.path > b.info.path ? 1 : 0));
  for (const p of sorted) {
    parts.push(u64(1) as Uint8Array<ArrayBuffer>, p.nar, exportTrailer(p.info) as Uint8Array<ArrayBuffer>);
  }
  parts.push(u64(0) as Uint8Array<ArrayBuffer>);
  return new File(parts, name, { type: 'application/x-nix-export' });
}
