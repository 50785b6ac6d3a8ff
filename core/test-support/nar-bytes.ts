/** Test helpers: hand-built NAR / export byte streams and native nix-bin calls. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const enc = new TextEncoder();

export type Tok = string | Uint8Array | { u64: number } | { raw: Uint8Array };

/** Concatenates Nix wire strings (`string` / `Uint8Array` are length-prefixed and padded). */
export function wire(...toks: Tok[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const t of toks) {
    if (typeof t === 'object' && 'u64' in t) parts.push(u64(t.u64));
    else if (typeof t === 'object' && 'raw' in t) parts.push(t.raw);
    else {
      const b = typeof t === 'string' ? enc.encode(t) : t;
      parts.push(u64(b.length), b, new Uint8Array((8 - (b.length % 8)) % 8));
    }
  }
  return concat(parts);
}

export function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A NAR of a single regular file. */
export function fileNar(contents: string, executable = false): Uint8Array {
  return wire(
    'nix-archive-1',
    '(',
    'type',
    'regular',
    ...(executable ? ['executable', ''] : []),
    'contents',
    contents,
    ')',
  );
}

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = 'dis-core-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs a native tool and returns stdout bytes. */
export function run(cmd: string, args: string[], input?: Uint8Array): Uint8Array {
  return new Uint8Array(execFileSync(cmd, args, { input, maxBuffer: 1 << 28, stdio: ['pipe', 'pipe', 'pipe'] }));
}

export function runText(cmd: string, args: string[], input?: Uint8Array): string {
  return new TextDecoder().decode(run(cmd, args, input));
}

/** Seeded PRNG (mulberry32) for fuzzing with fixed seeds. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
