import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ISOLATION_HEADERS } from '../core/isolation-headers.ts';
import { isolationStep } from './isolation.ts';

describe('isolationStep', () => {
  it('renders at once when the host already isolates the page', () => {
    expect(isolationStep({ isolated: true, serviceWorkers: true, reloaded: false })).toBe('ready');
  });

  it('registers the service worker when the page is not isolated and can be', () => {
    expect(isolationStep({ isolated: false, serviceWorkers: true, reloaded: false })).toBe('register');
  });

  it('reloads a tab at most once, even if the reload did not isolate it', () => {
    expect(isolationStep({ isolated: false, serviceWorkers: true, reloaded: true })).toBe('ready');
  });

  it('renders without isolation where service workers do not exist (plain http)', () => {
    expect(isolationStep({ isolated: false, serviceWorkers: false, reloaded: false })).toBe('ready');
  });
});

describe('public/isolation-sw.js', () => {
  // A service worker is a plain script that cannot import the module, so it repeats the
  // values; this keeps the two the same.
  it('adds exactly the headers of core/isolation-headers.ts, plus CORP for its own responses', () => {
    const script = readFileSync(fileURLToPath(new URL('../public/isolation-sw.js', import.meta.url)), 'utf8');
    const set = Object.fromEntries(
      [...script.matchAll(/headers\.set\('([^']+)', '([^']+)'\)/g)].map((m) => [m[1], m[2]] as const),
    );
    expect(set).toEqual({ ...ISOLATION_HEADERS, 'Cross-Origin-Resource-Policy': 'same-origin' });
  });
});
