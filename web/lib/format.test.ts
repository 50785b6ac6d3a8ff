import { describe, expect, it } from 'vitest';
import {
  fileStem,
  formatBytes,
  formatDuration,
  modeString,
  outputFileName,
  parseOctalMode,
  toggleExecutable,
} from './format.ts';

describe('format', () => {
  it('formats sizes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(50 * 1024 * 1024)).toBe('50.0 MiB');
  });
  it('writes modes like ls', () => {
    expect(modeString('directory', 0o755)).toBe('drwxr-xr-x');
    expect(modeString('file', 0o644)).toBe('-rw-r--r--');
    expect(modeString('file', 0o4755)).toBe('-rwsr-xr-x');
    expect(modeString('directory', 0o1777)).toBe('drwxrwxrwt');
    expect(modeString('file', 0o2644)).toBe('-rw-r-Sr--');
    expect(modeString('symlink', 0o777)).toBe('lrwxrwxrwx');
  });
  it('toggles the executable bits where reading is allowed', () => {
    expect(toggleExecutable(0o644)).toBe(0o755);
    expect(toggleExecutable(0o600)).toBe(0o700);
    expect(toggleExecutable(0o755)).toBe(0o644);
  });
  it('parses octal modes', () => {
    expect(parseOctalMode('755')).toBe(0o755);
    expect(parseOctalMode('4755')).toBe(0o4755);
    expect(parseOctalMode('9')).toBeUndefined();
    expect(parseOctalMode('77777')).toBeUndefined();
  });
  it('names outputs after the label', () => {
    expect(outputFileName('nixos', false)).toBe('nixos.img');
    expect(outputFileName('nixos', true)).toBe('nixos.img.zst');
    expect(fileStem('a/b:c')).toBe('a_b_c');
    expect(fileStem('  ')).toBe('image');
  });
  it('formats durations', () => {
    expect(formatDuration(420)).toBe('0.4 s');
    expect(formatDuration(125_000)).toBe('2:05');
  });
});
