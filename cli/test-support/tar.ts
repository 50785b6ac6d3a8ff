/**
 * A hand-made tar writer for tests: ustar headers with whatever names we ask for (GNU tar
 * strips `..` and leading `/`, so hostile archives have to be made by hand), optional pax
 * extended headers, and the checksum done right so readers get as far as the names.
 */
export interface TarSpec {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'hardlink';
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  data?: string | Uint8Array;
  linkname?: string;
  /** pax extended header records for this member (e.g. `{ path: '../x' }`). */
  pax?: Record<string, string>;
}

const enc = new TextEncoder();
const TYPEFLAG = { file: '0', hardlink: '1', symlink: '2', directory: '5' } as const;

function put(h: Uint8Array, at: number, len: number, s: string): void {
  const b = enc.encode(s);
  if (b.length > len) throw new Error(`tar field too long: ${s}`);
  h.set(b, at);
}
const octal = (n: number, len: number) => n.toString(8).padStart(len - 1, '0') + '\0';

function header(name: string, flag: string, size: number, spec: Partial<TarSpec>): Uint8Array {
  const h = new Uint8Array(512);
  put(h, 0, 100, name);
  put(h, 100, 8, octal(spec.mode ?? 0o644, 8));
  put(h, 108, 8, octal(spec.uid ?? 0, 8));
  put(h, 116, 8, octal(spec.gid ?? 0, 8));
  put(h, 124, 12, octal(size, 12));
  put(h, 136, 12, octal(spec.mtime ?? 1_700_000_000, 12));
  put(h, 156, 1, flag);
  if (spec.linkname) put(h, 157, 100, spec.linkname);
  put(h, 257, 6, 'ustar\0');
  put(h, 263, 2, '00');
  put(h, 265, 32, 'root');
  put(h, 297, 32, 'root');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  put(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

function padded(data: Uint8Array): Uint8Array[] {
  const pad = (512 - (data.length % 512)) % 512;
  return [data, new Uint8Array(pad)];
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = enc.encode(body).length;
  for (;;) {
    const rec = `${len}${body}`;
    const l = enc.encode(rec).length;
    if (l === len) return rec;
    len = l;
  }
}

/** The bytes of a tar archive of `members`, ending with the two zero blocks. */
export function tarBytes(members: TarSpec[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const m of members) {
    if (m.pax) {
      const body = enc.encode(
        Object.entries(m.pax)
          .map(([k, v]) => paxRecord(k, v))
          .join(''),
      );
      parts.push(header('PaxHeaders/x', 'x', body.length, {}), ...padded(body));
    }
    const data =
      m.type === 'file'
        ? typeof m.data === 'string'
          ? enc.encode(m.data)
          : (m.data ?? new Uint8Array(0))
        : new Uint8Array(0);
    parts.push(
      header(m.name, TYPEFLAG[m.type], data.length, {
        mode: m.mode ?? (m.type === 'directory' ? 0o755 : m.type === 'symlink' ? 0o777 : 0o644),
        ...m,
      }),
      ...padded(data),
    );
  }
  parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
