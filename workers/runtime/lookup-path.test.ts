/**
 * The glue's FS.lookupPath (wasm/common/library_fixes.js) against emscripten 3.1.6's own,
 * kept below as the reference: same node, same resolved path, same error, for relative and
 * absolute paths, `.`/`..`/`//`/trailing slashes, symlinks (relative, absolute, chains,
 * loops), mount points, and the `parent`/`follow`/`follow_mount` options; with and without
 * permission checks (without, paths below the current directory start from its node), and
 * after the tree changed under the current directory (rename, unlink, rmdir, mount).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { compileTool, instantiateNow, loadToolFactory } from './wasm-modules.ts';
import { useTestWasm } from '../test-support/wasm.ts';

interface Node {
  mode: number;
  mounted: { root: Node } | null;
}
interface Lookup {
  path: string;
  node: Node | null;
}
interface Opts {
  parent?: boolean;
  follow?: boolean;
  follow_mount?: boolean;
  recurse_count?: number;
}
interface Fs {
  cwd(): string;
  chdir(path: string): void;
  mkdir(path: string): void;
  mkdirTree(path: string): void;
  writeFile(path: string, data: string): void;
  symlink(target: string, path: string): void;
  mount(type: unknown, opts: object, dir: string): void;
  unmount(dir: string): void;
  rename(from: string, to: string): void;
  unlink(path: string): void;
  rmdir(path: string): void;
  ignorePermissions: boolean;
  filesystems: { MEMFS: unknown };
  root: Node;
  lookupPath(path: string, opts?: Opts): Lookup;
  lookupNode(parent: Node, name: string): Node;
  isMountpoint(node: Node): boolean;
  isLink(mode: number): boolean;
  readlink(path: string): string;
  ErrnoError: new (errno: number) => Error & { errno: number };
}
interface PathLib {
  normalizeArray(parts: string[], allowAboveRoot: boolean): string[];
  dirname(path: string): string;
  join2(a: string, b: string): string;
}

/** emscripten 3.1.6's PATH_FS.resolve (library_path.js), as the reference uses it. */
function resolve(FS: Fs, PATH: PathLib, ...args: string[]): string {
  let resolvedPath = '';
  let resolvedAbsolute = false;
  for (let i = args.length - 1; i >= -1 && !resolvedAbsolute; i--) {
    const path = i >= 0 ? args[i] : FS.cwd();
    if (!path) return '';
    resolvedPath = `${path}/${resolvedPath}`;
    resolvedAbsolute = path.charAt(0) === '/';
  }
  resolvedPath = PATH.normalizeArray(
    resolvedPath.split('/').filter((p) => !!p),
    !resolvedAbsolute,
  ).join('/');
  return (resolvedAbsolute ? '/' : '') + resolvedPath || '.';
}

/** emscripten 3.1.6's FS.lookupPath (library_fs.js), unchanged but for names. */
function referenceLookup(FS: Fs, PATH: PathLib, path: string, opts: Opts = {}): Lookup {
  path = resolve(FS, PATH, FS.cwd(), path);
  if (!path) return { path: '', node: null };
  const defaults = { follow_mount: true, recurse_count: 0 };
  for (const [key, value] of Object.entries(defaults)) {
    if (opts[key as keyof Opts] === undefined) (opts as Record<string, unknown>)[key] = value;
  }
  if (opts.recurse_count! > 8) throw new FS.ErrnoError(32);
  const parts = PATH.normalizeArray(
    path.split('/').filter((p) => !!p),
    false,
  );
  let current: Node = FS.root;
  let currentPath = '/';
  for (let i = 0; i < parts.length; i++) {
    const islast = i === parts.length - 1;
    if (islast && opts.parent) break;
    current = FS.lookupNode(current, parts[i]);
    currentPath = PATH.join2(currentPath, parts[i]);
    if (FS.isMountpoint(current)) {
      if (!islast || (islast && opts.follow_mount)) current = current.mounted!.root;
    }
    if (!islast || opts.follow) {
      let count = 0;
      while (FS.isLink(current.mode)) {
        const link = FS.readlink(currentPath);
        currentPath = resolve(FS, PATH, PATH.dirname(currentPath), link);
        const lookup = referenceLookup(FS, PATH, currentPath, { recurse_count: opts.recurse_count });
        current = lookup.node!;
        if (count++ > 40) throw new FS.ErrnoError(32);
      }
    }
  }
  return { path: currentPath, node: current };
}

function outcome(run: () => Lookup): { path?: string; node?: Node | null; errno?: number } {
  try {
    const r = run();
    return { path: r.path, node: r.node };
  } catch (e) {
    const errno = (e as { errno?: number }).errno;
    if (errno === undefined) throw e;
    return { errno };
  }
}

describe('FS.lookupPath in the glue', () => {
  let FS: Fs;
  let PATH: PathLib;

  beforeAll(async () => {
    useTestWasm();
    const wasm = await compileTool('mke2fs');
    const factory = await loadToolFactory('mke2fs');
    const mod = (await factory({
      noInitialRun: true,
      print() {},
      printErr() {},
      instantiateWasm: (
        imports: WebAssembly.Imports,
        receive: (i: WebAssembly.Instance, m: WebAssembly.Module) => void,
      ) =>
        instantiateNow(wasm, imports, receive, (e) => {
          throw e;
        }),
    } as never)) as unknown as { FS: Fs; PATH: PathLib };
    FS = mod.FS;
    PATH = mod.PATH;
    FS.mkdirTree('/a/b/c');
    FS.writeFile('/a/b/c/file', 'x');
    FS.writeFile('/a/b/.hidden', 'x');
    FS.writeFile('/a/b/...', 'x');
    FS.symlink('b', '/a/rel');
    FS.symlink('/a/b/c', '/a/abs');
    FS.symlink('../a/rel/c', '/a/b/up');
    FS.symlink('rel', '/a/chain');
    FS.symlink('loop', '/a/loop');
    FS.symlink('file', '/a/b/c/self');
    FS.symlink('nowhere', '/a/dangling');
    FS.mkdir('/m');
    FS.mount(FS.filesystems.MEMFS, {}, '/m');
    FS.mkdirTree('/m/d');
    FS.writeFile('/m/d/f', 'x');
    FS.symlink('/m/d', '/a/b/tom');
  });

  /**
   * Looks `path` up with the glue and with emscripten 3.1.6's walk (each with fresh options
   * from `opts`): the same node and path, or the same errno.
   */
  function expectSameLookup(path: string, opts: () => Opts | undefined, label: string): void {
    const want = outcome(() => referenceLookup(FS, PATH, path, opts()));
    const got = outcome(() => FS.lookupPath(path, opts()));
    expect(got, label).toEqual(want);
    if (got.node !== undefined) expect(got.node).toBe(want.node);
  }

  /** Compares every path and option under each cwd; returns the number of comparisons. */
  function compareAll(cwds: string[]): number {
    const names = ['', '.', '..', 'b', 'b/', 'b//c', './b/./c/', 'b/c/../c/file', 'rel', 'rel/', 'rel/c/file'];
    names.push('abs', 'abs/file', 'b/up', 'b/up/file', 'chain/c', 'loop', 'loop/x', 'dangling', 'dangling/x');
    names.push('b/c/self', 'b/.hidden', 'b/...', 'b/tom', 'b/tom/f', 'missing', 'missing/x', 'b/c/file/x');
    const paths = [
      ...names,
      ...names.map((n) => `/a/${n}`),
      '/',
      '//',
      '/m',
      '/m/',
      '/m/d/f',
      '/../a/b',
      '/a/b/../../m/d',
    ];
    const options: (() => Opts | undefined)[] = [
      () => undefined,
      () => ({}),
      () => ({ follow: true }),
      () => ({ parent: true }),
      () => ({ follow_mount: false }),
      () => ({ parent: true, follow: true }),
    ];
    let compared = 0;
    for (const cwd of cwds) {
      FS.chdir(cwd);
      for (const path of paths) {
        for (const opts of options) {
          expectSameLookup(path, opts, `cwd ${cwd}, ${JSON.stringify(path)}, ${JSON.stringify(opts())}`);
          compared++;
        }
      }
    }
    FS.chdir('/');
    return compared;
  }

  it('finds the same node and path, or fails the same way, as emscripten 3.1.6', () => {
    const cwds = ['/', '/a', '/a/b/c', '/m', '/m/d', '/a/rel', '/a/abs'];
    FS.ignorePermissions = false;
    expect(compareAll(cwds)).toBeGreaterThan(1000);
    FS.ignorePermissions = true;
    expect(compareAll(cwds)).toBeGreaterThan(1000);
  });

  it('still does after the tree changed under the current directory', () => {
    FS.ignorePermissions = true;
    // Each change is made with the current directory's node known (looked up before); the
    // current directory itself cannot be renamed (EBUSY), its parents can.
    const changes: [string, () => void][] = [
      ['/a/b', () => FS.rename('/a/b/c', '/a/b/c2')],
      ['/a/b', () => FS.mkdirTree('/a/b/c/again')],
      ['/a/b/c2', () => FS.unlink('/a/b/c2/file')],
      ['/a/b', () => FS.rename('/a/b/c2', '/a/b/c/moved')],
      ['/a/b/c', () => FS.rename('/a/b', '/a/b-moved')],
      ['/a', () => FS.rename('/a/b-moved', '/a/b')],
      ['/a/b', () => FS.mount(FS.filesystems.MEMFS, {}, '/a/b/c')],
      ['/a/b/c', () => FS.mkdirTree('/a/b/c/inside')],
      ['/a/b/c', () => FS.unmount('/a/b/c')],
      ['/a/b/c', () => FS.rmdir('/a/b/c/again')],
      ['/m/d', () => FS.unmount('/m')],
    ];
    let compared = 0;
    for (const [k, [cwd, change]] of changes.entries()) {
      FS.chdir(cwd);
      // Known before the change (the walk's start is kept), then the tree changes under it.
      outcome(() => FS.lookupPath('x/y'));
      change();
      const paths = ['c', 'c/file', 'c2/file', 'c/again', 'c/inside', 'c/moved', 'd/f', 'f', 'file', 'again'];
      for (const path of [...paths, 'inside', 'moved/file', 'missing', '../c/again', 'x/../file']) {
        for (const opts of [{}, { follow: true }, { parent: true }]) {
          expectSameLookup(path, () => ({ ...opts }), `change ${k}, cwd ${FS.cwd()}, ${path}, ${JSON.stringify(opts)}`);
          compared++;
        }
      }
    }
    expect(compared).toBe(changes.length * 45);
    FS.chdir('/');
  });

  it('keeps up with a walk by plain names and `..`, as `mke2fs -d` walks', () => {
    FS.ignorePermissions = true;
    FS.mkdirTree('/w/x/y/z');
    FS.mkdirTree('/w/x/y2');
    FS.writeFile('/w/x/y/f', 'x');
    FS.symlink('x', '/w/ln');
    FS.symlink('y', '/w/x/yl');
    FS.mkdir('/w/m');
    FS.mount(FS.filesystems.MEMFS, {}, '/w/m');
    FS.mkdirTree('/w/m/k');
    const names = ['..', '.', 'x', 'y', 'z', 'f', 'k', 'm', 'ln', 'yl', 'missing', 'y/z', 'f/x'];
    const options: (() => Opts | undefined)[] = [
      () => undefined,
      () => ({ follow: true }),
      () => ({ parent: true }),
      () => ({ follow_mount: false }),
      () => ({ recurse_count: 9 }),
    ];
    // `rename` changes the tree under the walk (the current directory's parent moves away and back).
    const steps = ['/w', 'x', 'y', 'z', '..', '..', 'y2', '..', 'y', 'rename', '..', 'back', '..', '..', 'm', 'k'];
    steps.push('..', '..', 'ln', 'y', '..', 'yl', '..', '..', 'x', 'y', 'z', '..', '..', '..', '..');
    let compared = 0;
    for (const step of steps) {
      if (step === 'rename') FS.rename('/w/x', '/w/x-moved');
      else if (step === 'back') FS.rename('/w/x-moved', '/w/x');
      else {
        const want = outcome(() => referenceLookup(FS, PATH, step, { follow: true }));
        const got = outcome(() => {
          FS.chdir(step);
          return { path: FS.cwd(), node: null };
        });
        expect(got.errno, `chdir ${step} from ${FS.cwd()}`).toBe(want.errno);
        if (want.errno === undefined) expect(FS.cwd()).toBe(want.path);
      }
      for (const name of names)
        for (const opts of options) {
          expectSameLookup(name, opts, `${step}: cwd ${FS.cwd()}, ${name}, ${JSON.stringify(opts())}`);
          compared++;
        }
    }
    expect(compared).toBe(steps.length * names.length * options.length);

    // Entered by name, left by `..`: neither walks from the root, each looks up one node at most.
    FS.chdir('/w/x');
    let lookups = 0;
    const lookupNode = FS.lookupNode;
    FS.lookupNode = (parent, name) => {
      lookups++;
      return lookupNode(parent, name);
    };
    try {
      FS.chdir('y');
      FS.chdir('z');
      expect(lookups).toBe(2);
      FS.chdir('..');
      FS.chdir('..');
      expect(lookups).toBe(2);
      expect(FS.cwd()).toBe('/w/x');
      FS.lookupPath('y2');
      expect(lookups).toBe(3);
    } finally {
      FS.lookupNode = lookupNode;
    }
    FS.unmount('/w/m');
    FS.chdir('/');
  });

  it('finds each of 20,000 nodes (the node table grows, chains keep their order)', () => {
    FS.ignorePermissions = true;
    const table = () => (FS as unknown as { nameTable: unknown[] }).nameTable;
    expect(table().length).toBe(4096);
    FS.mkdirTree('/big');
    // A rename over an existing file leaves the replaced node in the table behind the
    // renamed one: a lookup must still find the renamed one after the table grows.
    FS.writeFile('/big/over', 'old');
    FS.writeFile('/big/new', 'new');
    const renamed = FS.lookupPath('/big/new').node;
    FS.lookupPath('/big/over');
    FS.rename('/big/new', '/big/over');
    expect(FS.lookupPath('/big/over').node).toBe(renamed);
    for (let d = 0; d < 20; d++) {
      FS.mkdir(`/big/d${d}`);
      for (let f = 0; f < 1000; f++) FS.writeFile(`/big/d${d}/f${f}`, '');
    }
    // Grown once (twice would put a reversed chain back in order).
    expect(table().length).toBe(4096 * 4);
    expect(FS.lookupPath('/big/over').node).toBe(renamed);
    FS.chdir('/big/d7');
    for (let d = 0; d < 20; d += 3) {
      for (let f = 0; f < 1000; f += 97) {
        const path = `/big/d${d}/f${f}`;
        const want = referenceLookup(FS, PATH, path, {});
        expect(FS.lookupPath(path)).toEqual(want);
        expect((want.node as unknown as { name: string }).name).toBe(`f${f}`);
        expect(FS.lookupPath(`f${f}`).path).toBe(`/big/d7/f${f}`);
      }
    }
    expect(() => FS.lookupPath('/big/d3/f1000')).toThrow();
    FS.chdir('/');
  });

  it('is the glue’s own walk, not 3.1.6’s', () => {
    expect(FS.lookupPath.toString()).toContain('unnormal');
  });
});
