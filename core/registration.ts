/**
 * `/nix-path-registration`: what `nix-store --load-db` reads on first boot. Written exactly as
 * nixpkgs' closureInfo writes `registration`: per path (sorted) the path, `sha256:<base32>`
 * NAR hash, NAR size, an empty deriver line, the reference count and the sorted references.
 */
import type { StorePathInfo } from './image-tree.ts';

export interface RegistrationOptions {
  /** Write each path's deriver instead of an empty line (closureInfo leaves it empty). Default false. */
  includeDeriver?: boolean;
}

const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Formats infos as closureInfo's `registration`. Paths and references are sorted, so the
 * output depends only on the set of infos. Empty closure: empty string.
 */
export function formatRegistration(infos: readonly StorePathInfo[], options: RegistrationOptions = {}): string {
  const sorted = [...infos].sort((a, b) => byteOrder(a.path, b.path));
  let out = '';
  for (const i of sorted) {
    if (!i.narHash) throw new Error(`${i.path} has no NAR hash; hash its contents before writing the registration`);
    const refs = [...new Set(i.references)].sort(byteOrder);
    out += `${i.path}\n${i.narHash}\n${i.narSize}\n${options.includeDeriver ? i.deriver : ''}\n${refs.length}\n`;
    for (const r of refs) out += r + '\n';
  }
  return out;
}

/** The registration as UTF-8 bytes. */
export function registrationBytes(infos: readonly StorePathInfo[], options?: RegistrationOptions): Uint8Array {
  return new TextEncoder().encode(formatRegistration(infos, options));
}
