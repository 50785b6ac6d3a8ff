import { describe, expect, it } from 'vitest';
import { DEFAULT_CACHE_KEY, DEFAULT_CACHE_URL } from '../../core/binary-cache/caches.ts';
import { CACHES_KEY, loadCaches, originsNeedingReload, parseStorePathsText } from './cache-fetch.ts';

const storage = (value: string | null) => ({ getItem: (k: string) => (k === CACHES_KEY ? value : null) });

describe('cache-fetch state', () => {
  it('defaults to cache.nixos.org and its key, also when the saved list is damaged', () => {
    const def = [{ url: DEFAULT_CACHE_URL, publicKeys: [DEFAULT_CACHE_KEY] }];
    expect(loadCaches(storage(null))).toEqual(def);
    expect(loadCaches(storage('{not json'))).toEqual(def);
    expect(loadCaches(storage('{"url":1}'))).toEqual(def);
  });

  it('reads a saved list, dropping malformed entries', () => {
    const saved = JSON.stringify([
      { url: 'https://a.example', publicKeys: ['a-1:xyz', 3] },
      { url: 5, publicKeys: [] },
      { url: 'http://127.0.0.1:5271/xz', publicKeys: [] },
    ]);
    expect(loadCaches(storage(saved))).toEqual([
      { url: 'https://a.example', publicKeys: ['a-1:xyz'] },
      { url: 'http://127.0.0.1:5271/xz', publicKeys: [] },
    ]);
  });

  it('names the cache origins the page as loaded may not reach', () => {
    const caches = [
      { url: 'https://cache.nixos.org', publicKeys: [] },
      { url: 'https://a.example/sub/', publicKeys: [] },
      { url: 'https://a.example/other', publicKeys: [] },
      { url: 'not a url', publicKeys: [] },
    ];
    expect(originsNeedingReload(caches, ['https://cache.nixos.org'])).toEqual(['https://a.example']);
    expect(originsNeedingReload(caches, ['https://cache.nixos.org', 'https://a.example'])).toEqual([]);
  });

  it('takes store paths from pasted text, once each', () => {
    expect(parseStorePathsText(' /nix/store/a-x\n/nix/store/b-y  /nix/store/a-x\n\n')).toEqual([
      '/nix/store/a-x',
      '/nix/store/b-y',
    ]);
  });
});
