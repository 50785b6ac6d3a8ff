/** Small formatting helpers for sizes, modes and durations. */
import type { EntryType } from '../../core/image-tree.ts';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 → "1.5 KiB"; binary units, as disk tools count. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '–';
  let v = bytes;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${v} B`;
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${UNITS[u]}`;
}

/** 1234567 → "1,234,567" */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** Milliseconds as "0.4 s", "12.3 s", "2:05". */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

const TYPE_CHAR: Record<EntryType, string> = { directory: 'd', file: '-', symlink: 'l', hardlink: '-' };

/** ls-style mode string: "drwxr-xr-x", with s/S/t/T for setuid, setgid and sticky. */
export function modeString(type: EntryType, mode: number): string {
  const bit = (mask: number, c: string) => (mode & mask ? c : '-');
  const special = (exec: boolean, on: boolean, lower: string) =>
    on ? (exec ? lower : lower.toUpperCase()) : exec ? 'x' : '-';
  return (
    TYPE_CHAR[type] +
    bit(0o400, 'r') +
    bit(0o200, 'w') +
    special(!!(mode & 0o100), !!(mode & 0o4000), 's') +
    bit(0o040, 'r') +
    bit(0o020, 'w') +
    special(!!(mode & 0o010), !!(mode & 0o2000), 's') +
    bit(0o004, 'r') +
    bit(0o002, 'w') +
    special(!!(mode & 0o001), !!(mode & 0o1000), 't')
  );
}

/** 0o755 → "0755" */
export function octalMode(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** Parses "755", "0755", "4755"; undefined when it is not an octal mode. */
export function parseOctalMode(text: string): number | undefined {
  const t = text.trim();
  if (!/^[0-7]{3,4}$/.test(t)) return undefined;
  return parseInt(t, 8);
}

/** Executable bit toggle: adds x wherever r is set (at least for the owner), or removes every x. */
export function toggleExecutable(mode: number): number {
  if (mode & 0o111) return mode & ~0o111;
  let x = 0o100;
  if (mode & 0o040) x |= 0o010;
  if (mode & 0o004) x |= 0o001;
  return mode | x;
}

/** `/nix/store/<hash>-name` → { hash, name } */
export function splitStorePath(path: string): { hash: string; name: string } {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.length > 33 && base[32] === '-'
    ? { hash: base.slice(0, 32), name: base.slice(33) }
    : { hash: '', name: base };
}

/** A label turned into a safe file name stem. */
export function fileStem(label: string): string {
  const s = label.trim().replace(/[/\\:*?"<>|\u0000-\u001f]/g, '_');
  return s.length > 0 ? s : 'image';
}

export function outputFileName(label: string, compress: boolean): string {
  return `${fileStem(label)}.img${compress ? '.zst' : ''}`;
}

/** Seconds since 1970 as "2024-05-01 13:45" in UTC (the same on every machine, like the image). */
export function formatTime(seconds: number): string {
  if (!Number.isFinite(seconds)) return '–';
  const d = new Date(seconds * 1000);
  if (Number.isNaN(d.getTime())) return '–';
  return d.toISOString().slice(0, 16).replace('T', ' ');
}
