/**
 * Fetched NARs handed over as one export stream: a Blob composed of framing bytes and the
 * NAR Blobs themselves reads back with the studio's export reader, path for path.
 */
import { describe, expect, it } from 'vitest';
import { BlobReader } from '../io/random-access-reader.ts';
import type { StorePathInfo } from '../image-tree.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { formatNarHash } from '../nix-base32.ts';
import { readExportStream } from '../nix-export.ts';
import { exportBlob } from './export-blob.ts';

const enc = new TextEncoder();
function str(s: string | Uint8Array): Uint8Array {
  const b = typeof s === 'string' ? enc.encode(s) : s;
  const out = new Uint8Array(8 + b.length + ((8 - (b.length % 8)) % 8));
  new DataView(out.buffer).setUint32(0, b.length, true);
  out.set(b, 8);
  return out;
}
/** A NAR of one regular file. */
function fileNar(content: string): Uint8Array {
  const parts = ['nix-archive-1', '(', 'type', 'regular', 'contents', content, ')'].map((p) => str(p));
  return new Uint8Array(parts.flatMap((p) => [...p]));
}

const A = '/nix/store/38vg5fb32sqnfxg6iwzi89hy1aiswsjr-chain';
const B = '/nix/store/hrh8aq9961xj7sf1cw2i5b5x403mb11z-run-demo';

describe('exportBlob', () => {
  it('reads back as an export stream with every path, its references and deriver', async () => {
    const nars = [
      { path: B, nar: fileNar('run demo\n'), references: [], deriver: '' },
      { path: A, nar: fileNar('see run-demo\n'), references: [B], deriver: `${B}.drv` },
    ];
    const infos = await Promise.all(
      nars.map(async (n) => {
        const info: StorePathInfo = {
          path: n.path,
          narHash: '',
          narSize: n.nar.length,
          references: n.references,
          deriver: n.deriver,
          contents: 'present',
          hashChecked: true,
        };
        return { nar: new Blob([n.nar as Uint8Array<ArrayBuffer>]), info };
      }),
    );
    const file = exportBlob(infos, 'fetched.export');
    const paths = await readExportStream(new BlobReader(file, file.name));
    expect(paths.map((p) => p.info.path)).toEqual([A, B]); // sorted
    expect(paths[0].info.references).toEqual([B]);
    expect(paths[0].info.deriver).toBe(`${B}.drv`);
    for (const p of paths) {
      const want = nars.find((n) => n.path === p.info.path)!;
      expect(p.info.narSize).toBe(want.nar.length);
      expect(p.info.narHash).toBe(formatNarHash(sha256(want.nar)));
    }
  });
});
