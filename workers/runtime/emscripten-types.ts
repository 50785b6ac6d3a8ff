/**
 * The slice of emscripten 3.1.6's runtime (library_fs.js, library_syscall.js) that the
 * runtime layer touches, typed. Constants are the values the wasm side uses: emscripten's
 * libc takes its errno numbers from WASI, not from Linux.
 */

/** errno values as emscripten's libc sees them (WASI numbering). */
export const ERRNO = {
  EACCES: 2,
  EBADF: 8,
  EEXIST: 20,
  EFBIG: 22,
  EINVAL: 28,
  EIO: 29,
  EISDIR: 31,
  ENOENT: 44,
  ENOSYS: 52,
  ENOTDIR: 54,
  ENOTEMPTY: 55,
  ENOTTY: 59,
  ENXIO: 60,
  EPERM: 63,
  EROFS: 69,
  ESPIPE: 70,
  EOPNOTSUPP: 138,
} as const;

export const SEEK_SET = 0;
export const SEEK_CUR = 1;
export const SEEK_END = 2;

/** What `node_ops.getattr` returns; `library_syscall.js` `doStat` copies it into `struct stat`. */
export interface EmStat {
  dev: number;
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  /** Written as 64 bits. */
  size: number;
  /** Seconds are taken as `(date.getTime() / 1000) | 0`. */
  atime: Date;
  mtime: Date;
  ctime: Date;
  blksize: number;
  /** 512-byte blocks; written as 32 bits. */
  blocks: number;
}

/** Attribute changes passed to `node_ops.setattr` (chmod, utime, truncate). */
export interface EmSetAttr {
  mode?: number;
  timestamp?: number;
  size?: number;
}

export interface EmNodeOps {
  getattr?(node: EmNode): EmStat;
  setattr?(node: EmNode, attr: EmSetAttr): void;
  lookup?(parent: EmNode, name: string): EmNode;
  mknod?(parent: EmNode, name: string, mode: number, dev: number): EmNode;
  rename?(oldNode: EmNode, newDir: EmNode, newName: string): void;
  unlink?(parent: EmNode, name: string): void;
  rmdir?(parent: EmNode, name: string): void;
  readdir?(node: EmNode): string[];
  symlink?(parent: EmNode, newName: string, oldPath: string): EmNode;
  readlink?(node: EmNode): string;
}

export interface EmStreamOps {
  open?(stream: EmStream): void;
  close?(stream: EmStream): void;
  /** `buffer` is the wasm heap as an Int8Array (HEAP8); `position` is a JS number. */
  read?(stream: EmStream, buffer: Int8Array | Uint8Array, offset: number, length: number, position: number): number;
  write?(
    stream: EmStream,
    buffer: Int8Array | Uint8Array,
    offset: number,
    length: number,
    position: number,
    canOwn?: boolean,
  ): number;
  llseek?(stream: EmStream, offset: number, whence: number): number;
  /**
   * fallocate(2) with a non-zero mode (punch hole, zero range), called by the build's JS
   * library (`wasm/common/library_fixes.js`); absent means EOPNOTSUPP.
   */
  fallocate?(stream: EmStream, mode: number, offset: number, length: number): void;
}

export interface EmMount {
  type: EmFilesystemType;
  opts: unknown;
  mountpoint: string;
  root: EmNode;
}

export interface EmNode {
  id: number;
  name: string;
  mode: number;
  parent: EmNode;
  mount: EmMount;
  node_ops: EmNodeOps;
  stream_ops: EmStreamOps;
  [key: string]: unknown;
}

export interface EmStream {
  node: EmNode;
  path: string;
  flags: number;
  position: number;
  fd: number | null;
  [key: string]: unknown;
}

/** A filesystem type for `FS.mount(type, opts, mountpoint)`. */
export interface EmFilesystemType {
  mount(mount: EmMount): EmNode;
}

export interface EmErrnoErrorConstructor {
  new (errno: number): Error & { errno: number };
}

/** The emscripten `FS` object of one module instance. */
export interface EmFS {
  ErrnoError: EmErrnoErrorConstructor;
  ignorePermissions: boolean;
  streams: (EmStream | null | undefined)[];
  root: EmNode;
  createNode(parent: EmNode | null, name: string, mode: number, rdev: number): EmNode;
  mount(type: EmFilesystemType, opts: unknown, mountpoint: string): EmNode;
  unmount(mountpoint: string): void;
  mkdir(path: string, mode?: number): EmNode;
  mkdirTree(path: string, mode?: number): void;
  writeFile(path: string, data: string | Uint8Array, opts?: { mode?: number }): void;
  readFile(path: string, opts?: { encoding?: 'binary' }): Uint8Array;
  readFile(path: string, opts: { encoding: 'utf8' }): string;
  stat(path: string): EmStat;
  lstat(path: string): EmStat;
  readlink(path: string): string;
  readdir(path: string): string[];
  unlink(path: string): void;
  symlink(target: string, path: string): EmNode;
  chdir(path: string): void;
  cwd(): string;
  close(stream: EmStream): void;
  open(path: string, flags: string | number, mode?: number): EmStream;
  lookupPath(path: string, opts?: { follow?: boolean; parent?: boolean }): { path: string; node: EmNode };
  getPath(node: EmNode): string;
  isDir(mode: number): boolean;
  isFile(mode: number): boolean;
  isLink(mode: number): boolean;
  analyzePath?(path: string): { exists: boolean };
}

/** An instantiated emscripten module (MODULARIZE factory result) of one tool. */
export interface EmModule {
  FS: EmFS;
  /** The environment `getEnvStrings` reads once, on the first `environ_get`. */
  ENV?: Record<string, string | undefined>;
  callMain?(args: string[]): number;
  HEAPU8: Uint8Array;
  HEAP32: Int32Array;
  [key: string]: unknown;
}

/**
 * The settings object a MODULARIZE factory accepts (those we use). wasm/common/pre.js sets
 * defaults for `thisProgram` (the tool's name), `stdin` (at EOF) and `quit` (throws, so
 * `exit()` ends `callMain`, never the host), and reads `env`.
 */
export interface EmModuleConfig {
  /** Variables merged into the program's environment before it starts (wasm/common/pre.js). */
  env?: Record<string, string>;
  noInitialRun?: boolean;
  noFSInit?: boolean;
  thisProgram?: string;
  arguments?: string[];
  print?: (text: string) => void;
  printErr?: (text: string) => void;
  stdin?: () => number | null | undefined;
  /** Makes stdout a character device (not a terminal) that receives each byte; `null` flushes. */
  stdout?: (byte: number | null) => void;
  /** Makes stderr a character device (not a terminal) that receives each byte; `null` flushes. */
  stderr?: (byte: number | null) => void;
  quit?: (status: number, toThrow: unknown) => never;
  onExit?: (status: number) => void;
  onAbort?: (what: unknown) => void;
  preRun?: ((module: EmModule) => void)[];
  instantiateWasm?: (
    imports: WebAssembly.Imports,
    receive: (instance: WebAssembly.Instance, module?: WebAssembly.Module) => void,
  ) => object | false;
  locateFile?: (path: string, prefix: string) => string;
  wasmBinary?: ArrayBuffer | Uint8Array;
  ENV?: Record<string, string>;
  [key: string]: unknown;
}

/** A MODULARIZE'd emscripten factory (the `.mjs` default export). */
export type EmFactory = (config?: EmModuleConfig) => Promise<EmModule>;

/** Throws emscripten's ErrnoError (a syscall returns `-errno`; the program sees `errno`). */
export function errno(FS: EmFS, code: number): never {
  throw new FS.ErrnoError(code);
}
