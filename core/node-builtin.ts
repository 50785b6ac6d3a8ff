/**
 * A Node built-in module (`node:fs`, `node:crypto`, ...) where the host is Node, looked up
 * with `process.getBuiltinModule` (Node 20.16 and later); `undefined` in browsers and
 * workers of a page. Code shared with the page reaches Node's modules this way instead of
 * importing them, so the page's bundles need no stand-ins for them.
 */
export function nodeBuiltin<T>(id: string): T | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return proc?.getBuiltinModule?.(id) as T | undefined;
}
