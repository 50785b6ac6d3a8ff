/** Large tar archives for tests, made quickly: one header per member, no contents. */
import { tarHeader } from '../tar-writer.ts';

/**
 * A ustar stream (without its trailer) of `count` empty files named `name(i)`, made by
 * patching one template header: name and checksum per member.
 */
export function emptyFilesTar(count: number, name: (i: number) => string): Uint8Array {
  const template = tarHeader({ path: 'x', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1, size: 0 });
  const out = new Uint8Array(count * 512);
  const enc = new TextEncoder();
  for (let i = 0; i < count; i++) {
    const h = out.subarray(i * 512, (i + 1) * 512);
    h.set(template);
    h.fill(0, 0, 100);
    enc.encodeInto(name(i), h.subarray(0, 100));
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (let k = 0; k < 512; k++) sum += h[k];
    enc.encodeInto(`${sum.toString(8).padStart(6, '0')}\0 `, h.subarray(148, 156));
  }
  return out;
}
