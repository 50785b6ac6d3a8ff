import { describe, expect, it } from 'vitest';
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
