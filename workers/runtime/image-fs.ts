/**
 * IMAGEFS: an emscripten filesystem exposing {@link ImageStore}s as regular files.
 *
 * Mounted on a directory (`FS.mount(createImageFs(FS), { files: { 'disk.img': store } }, '/image')`),
 * it shows exactly the given files. Reads and writes go straight to the store, at full
 * 64-bit offsets (a JS number, exact to 2^53), so the image is never copied into the wasm
 * heap as a whole and the same store can be mounted into the next tool instance. A
 * truncation (`ftruncate`, `O_TRUNC`) resizes the store itself, so every holder of the
 * store sees it.
 *
 * Offsets: in emscripten 3.1.6 `fd_pread`/`fd_pwrite`/`ftruncate64` pass only the low 32
 * bits of the offset unless the build's JS library fixes that; `fd_seek` (lseek) is exact.
 * This layer receives whatever the syscall layer computed; `run-tool.ts` verifies the fix
 * is present in the loaded glue.
 */
import { S_IFDIR, S_IFREG } from '../../core/file-mode.ts';
import type { ImageStore } from './image-store.ts';
import {
  ERRNO,
  SEEK_CUR,
  SEEK_END,
  SEEK_SET,
  type EmFS,
  type EmFilesystemType,
  type EmMount,
  type EmNode,
  type EmStat,
  type EmStream,
} from './emscripten-types.ts';

/** Mount options of IMAGEFS. */
export interface ImageFsMountOptions {
  /** File name (no slash) -> store. */
  files: Record<string, ImageStore>;
  /** Called before every read and write; throw (anything but an ErrnoError) to abort the program. */
  check?: () => void;
  /** Timestamp reported for the files, seconds. Default 0. */
  mtime?: number;
  /** Counts calls and bytes, for tests and diagnostics. */
  stats?: ImageFsStats;
  /**
   * Largest size, bytes, a file may be written to, by file name. A write reaching past it
   * keeps the bytes below the limit and then calls `onLimit` (which should throw to stop
   * the program); without `onLimit` the write fails with EFBIG. Default: no limits.
   */
  limits?: Record<string, number>;
  /** Called when a write reaches past the file's entry in `limits`. */
  onLimit?: (name: string) => void;
}

/** I/O counters of an IMAGEFS mount. */
export interface ImageFsStats {
  reads: number;
  writes: number;
  bytesRead: number;
  bytesWritten: number;
  /** Highest end offset (position + length) seen by a read or write. */
  maxOffset: number;
  truncates: number;
  /** Bytes made holes by fallocate's punch-hole and zero-range modes. */
  zeroed: number;
}

/** Fresh zeroed counters. */
export function newImageFsStats(): ImageFsStats {
  return { reads: 0, writes: 0, bytesRead: 0, bytesWritten: 0, maxOffset: 0, truncates: 0, zeroed: 0 };
}

/** fallocate(2) mode bits (linux/falloc.h). */
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const FALLOC_FL_ZERO_RANGE = 0x10;

/** Device number reported by IMAGEFS (arbitrary, distinct from the tree's). */
export const IMAGEFS_DEV = 0x696d; // 'im'

interface ImageNode extends EmNode {
  imageStore?: ImageStore;
}

/** Creates the IMAGEFS filesystem type for one module instance's `FS`. */
export function createImageFs(FS: EmFS): EmFilesystemType {
  const fail = (code: number): never => {
    throw new FS.ErrnoError(code);
  };
  const optsOf = (node: EmNode): ImageFsMountOptions => node.mount.opts as ImageFsMountOptions;

  const heapView = (buffer: Int8Array | Uint8Array, offset: number, length: number): Uint8Array =>
    new Uint8Array(buffer.buffer, buffer.byteOffset + offset, length);

  const dirStat = (node: EmNode): EmStat => {
    const t = new Date((optsOf(node).mtime ?? 0) * 1000);
    return {
      dev: IMAGEFS_DEV,
      ino: node.id,
      mode: S_IFDIR | 0o755,
      nlink: 2,
      uid: 0,
      gid: 0,
      rdev: 0,
      size: 4096,
      atime: t,
      mtime: t,
      ctime: t,
      blksize: 4096,
      blocks: 8,
    };
  };

  const fileStat = (node: ImageNode): EmStat => {
    const store = node.imageStore!;
    const t = new Date((optsOf(node).mtime ?? 0) * 1000);
    return {
      dev: IMAGEFS_DEV,
      ino: node.id,
      mode: S_IFREG | 0o644,
      nlink: 1,
      uid: 0,
      gid: 0,
      rdev: 0,
      size: store.size,
      atime: t,
      mtime: t,
      ctime: t,
      blksize: 4096,
      blocks: Math.min(0x7fffffff, Math.ceil(store.allocatedBytes / 512)),
    };
  };

  const fileOps = {
    node_ops: {
      getattr: (node: EmNode) => fileStat(node as ImageNode),
      setattr: (node: EmNode, attr: { size?: number }) => {
        if (attr.size !== undefined) {
          const opts = optsOf(node);
          opts.check?.();
          (node as ImageNode).imageStore!.truncate(attr.size);
          if (opts.stats) opts.stats.truncates++;
        }
        // mode and times of the image file are not kept.
      },
    },
    stream_ops: {
      read: (
        stream: EmStream,
        buffer: Int8Array | Uint8Array,
        offset: number,
        length: number,
        position: number,
      ): number => {
        const opts = optsOf(stream.node);
        opts.check?.();
        const store = (stream.node as ImageNode).imageStore!;
        if (position >= store.size || length === 0) return 0;
        const n = store.readInto(position, heapView(buffer, offset, Math.min(length, store.size - position)));
        if (opts.stats) {
          opts.stats.reads++;
          opts.stats.bytesRead += n;
          opts.stats.maxOffset = Math.max(opts.stats.maxOffset, position + n);
        }
        return n;
      },
      write: (
        stream: EmStream,
        buffer: Int8Array | Uint8Array,
        offset: number,
        length: number,
        position: number,
      ): number => {
        const opts = optsOf(stream.node);
        opts.check?.();
        if (!Number.isSafeInteger(position + length)) fail(ERRNO.EFBIG);
        const store = (stream.node as ImageNode).imageStore!;
        const limit = opts.limits?.[stream.node.name];
        if (limit !== undefined && position + length > limit) {
          // Keep what fits, then stop the program (e.g. a preview needs only the head of a file).
          if (position < limit) store.write(position, heapView(buffer, offset, limit - position));
          opts.onLimit?.(stream.node.name);
          fail(ERRNO.EFBIG);
        }
        store.write(position, heapView(buffer, offset, length));
        if (opts.stats) {
          opts.stats.writes++;
          opts.stats.bytesWritten += length;
          opts.stats.maxOffset = Math.max(opts.stats.maxOffset, position + length);
        }
        return length;
      },
      llseek: (stream: EmStream, offset: number, whence: number): number => {
        let position = offset;
        if (whence === SEEK_CUR) position += stream.position;
        else if (whence === SEEK_END) position += (stream.node as ImageNode).imageStore!.size;
        else if (whence !== SEEK_SET) fail(ERRNO.EINVAL);
        if (position < 0) fail(ERRNO.EINVAL);
        return position;
      },
      /**
       * fallocate(2) with FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE (3) or FALLOC_FL_ZERO_RANGE
       * (0x10, with KEEP_SIZE 0x11), passed here by the build's JS library: the range becomes
       * a hole of the store. libext2fs discards and zeroes this way, and mke2fs then marks
       * the inode tables zeroed, as it does on a Linux file.
       */
      fallocate: (stream: EmStream, mode: number, offset: number, length: number): void => {
        const opts = optsOf(stream.node);
        opts.check?.();
        if (!Number.isSafeInteger(offset + length)) fail(ERRNO.EFBIG);
        const store = (stream.node as ImageNode).imageStore!;
        const keepSize = (mode & FALLOC_FL_KEEP_SIZE) !== 0;
        if (
          mode === (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) ||
          (mode & ~FALLOC_FL_KEEP_SIZE) === FALLOC_FL_ZERO_RANGE
        ) {
          const limit = opts.limits?.[stream.node.name];
          if (!keepSize && limit !== undefined && offset + length > limit) fail(ERRNO.EFBIG);
          if (keepSize) store.punchHole(offset, length);
          else {
            store.zeroRange(offset, length);
            // Without KEEP_SIZE, zeroing past the end grows the file (with a hole).
            if (offset + length > store.size) store.truncate(offset + length);
          }
          if (opts.stats) opts.stats.zeroed += length;
          return;
        }
        fail(ERRNO.EOPNOTSUPP);
      },
      // No allocate (posix_fallocate mode 0 -> EOPNOTSUPP), no mmap, no ioctl (-> ENOTTY).
    },
  };

  // getdents keeps its place in the directory through llseek(fd, 0, SEEK_CUR).
  const dirStreamOps = {
    llseek: (stream: EmStream, offset: number, whence: number): number => {
      const position =
        whence === SEEK_CUR ? stream.position + offset : whence === SEEK_SET ? offset : fail(ERRNO.EINVAL);
      if (position < 0) fail(ERRNO.EINVAL);
      return position;
    },
  };

  const dirNodeOps = {
    getattr: (node: EmNode) => dirStat(node),
    setattr: () => {},
    lookup: (parent: EmNode, name: string): EmNode => {
      const store = Object.hasOwn(optsOf(parent).files, name) ? optsOf(parent).files[name] : undefined;
      if (!store) return fail(ERRNO.ENOENT);
      const node = FS.createNode(parent, name, S_IFREG | 0o644, 0) as ImageNode;
      node.node_ops = fileOps.node_ops;
      node.stream_ops = fileOps.stream_ops;
      node.imageStore = store;
      return node;
    },
    readdir: (node: EmNode) => ['.', '..', ...Object.keys(optsOf(node).files)],
    mknod: () => fail(ERRNO.EPERM),
    rename: () => fail(ERRNO.EPERM),
    unlink: () => fail(ERRNO.EPERM),
    rmdir: () => fail(ERRNO.EPERM),
    symlink: () => fail(ERRNO.EPERM),
    readlink: () => fail(ERRNO.EINVAL),
  };

  return {
    mount(mount: EmMount): EmNode {
      const opts = mount.opts as ImageFsMountOptions;
      for (const name of Object.keys(opts.files)) {
        if (!name || name.includes('/') || name === '.' || name === '..')
          throw new Error(`bad image file name ${JSON.stringify(name)}`);
      }
      const root = FS.createNode(null, '/', S_IFDIR | 0o755, 0);
      root.node_ops = dirNodeOps;
      root.stream_ops = dirStreamOps;
      return root;
    },
  };
}

/**
 * Mounts IMAGEFS with the given files on directory `dir` (created if missing; it must not
 * be `/`). The directory then shows only those files.
 */
export function mountImageFs(FS: EmFS, dir: string, options: ImageFsMountOptions): void {
  if (dir === '/' || !dir.startsWith('/'))
    throw new Error(`IMAGEFS needs an absolute directory other than /, got ${JSON.stringify(dir)}`);
  FS.mkdirTree(dir);
  FS.mount(createImageFs(FS), options, dir);
}
