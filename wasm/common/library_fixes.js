/**
 * JS-side syscall fixes for emscripten 3.1.6, linked into every module with
 * --js-library. Each entry replaces the library function of the same name.
 *
 * - fd_pread / fd_pwrite / __syscall_ftruncate64 / __syscall_truncate64 /
 *   __syscall_fallocate: full 64-bit offsets (low + high * 2^32). 3.1.6 keeps
 *   only the low 32 bits, so I/O at 4 GiB and above wraps around silently.
 *   preadv/pwritev also advance the offset per iovec (3.1.6 reuses it).
 *   A JS RangeError (an in-memory file that cannot grow) becomes EFBIG.
 * - MEMFS: a file size above 4 GiB (which 3.1.6 MEMFS silently truncates to
 *   32 bits) or one the engine cannot allocate fails with EFBIG.
 * - __syscall_fallocate: FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE and
 *   FALLOC_FL_ZERO_RANGE (with or without KEEP_SIZE) are passed to the
 *   filesystem's stream_ops.fallocate(stream, mode, offset, length) when it
 *   has one (libext2fs discards and zeroes ranges this way: mke2fs then marks
 *   inode tables zeroed, as on a Linux file); other modes, or a filesystem
 *   without it, return EOPNOTSUPP instead of pretending to have done it.
 * - __syscall_ioctl: requests other than the terminal ones are passed to the
 *   filesystem's stream_ops.ioctl when it has one, else fail with ENOTTY
 *   (3.1.6 aborts the program on them: BLKSSZGET, BLKGETSIZE64, BLKROGET,
 *   FS_IOC_FIEMAP, FS_IOC_GETFLAGS, ...).
 * - __syscall_readlink / __syscall_readlinkat: return the link's raw target
 *   (node_ops.readlink), not a path resolved against its directory.
 * - system(): there is no shell (3.1.6 runs the command on the host under Node).
 * - alarm(): does nothing (3.1.6 sets a timer that raises SIGALRM later, possibly
 *   into an instance whose main has long returned).
 * - FS.lookupPath: the same walk without re-normalizing the path at every step. 3.1.6
 *   builds each intermediate path with PATH.join2 (split, filter, join of the whole path
 *   so far: quadratic in the depth) and normalizes paths that are already normal; every
 *   lstat/open/readlink of `mke2fs -d` (relative names under a deep cwd) paid that. Paths
 *   with `.`, `..`, `//` or a trailing slash still go through PATH.normalizeArray, and
 *   mount points and symlinks are handled as in 3.1.6. A path under the current
 *   directory starts from the directory's node (kept until the directory changes or any
 *   node is removed, renamed or mounted over) instead of from `/`, when permissions are
 *   not checked (the tools run as root). A plain name (`lstat("name")`, the commonest
 *   call) is looked up in that node at once, without splitting the path; `chdir` keeps the
 *   node it found as the current directory's (when it followed no symlink), and the
 *   folders it entered, so that `chdir("..")`, as `mke2fs -d` leaves each folder, needs no
 *   walk either.
 * - __syscall_fstat64: the stream's own node, as fstat(2) (3.1.6 looks its path up again:
 *   a walk from `/` for each of the 24,574 files `mke2fs -d` copied on the bench's closure
 *   workload, and the wrong file once that path names another).
 * - FS.nameTable (every node, hashed by parent and name) has 4,096 buckets in 3.1.6 and
 *   never grows: with the 400,000 nodes of a large tree each lookup walked a chain of
 *   ~100 nodes. It now grows 4-fold whenever it holds twice as many nodes as buckets,
 *   keeping the order of every chain (a lookup finds the first match).
 *
 * Functions overridden here are not wrapped by emscripten's syscall wrapper,
 * so each one catches FS.ErrnoError itself: WASI functions (fd_*) return a
 * positive errno, __syscall_* functions a negative one.
 */
mergeInto(LibraryManager.library, {
  // Helpers, and MEMFS limits. Replaces 3.1.6 library_memfs.js expandFileStorage /
  // resizeFileStorage, which compute sizes with `>>> 0` (32 bits) and let a failed
  // allocation's RangeError escape the syscall.
  $wasmFixes__deps: ['$FS', '$MEMFS', '$PATH', '$PATH_FS'],
  $wasmFixes__postset: 'wasmFixes.limitMemfs(); wasmFixes.growNameTable(); wasmFixes.fastLookupPath();',
  $wasmFixes: {
    // MEMFS keeps a file in one typed array and truncates sizes to 32 bits
    // (a 6 GiB ftruncate gives a 1.7 GiB file). Refuse what it cannot hold
    // with EFBIG instead, also when the engine cannot allocate the array.
    limitMemfs: function() {
      ['expandFileStorage', 'resizeFileStorage'].forEach(function(name) {
        var orig = MEMFS[name];
        MEMFS[name] = function(node, size) {
          if (size > 0xFFFFFFFF) throw new FS.ErrnoError({{{ cDefine('EFBIG') }}});
          try {
            return orig(node, size);
          } catch (e) {
            if (e instanceof RangeError) throw new FS.ErrnoError({{{ cDefine('EFBIG') }}});
            throw e;
          }
        };
      });
    },
    // FS.nameTable grows with the nodes (see the header). hashName takes the table's
    // length, so every node is placed again; a new bucket's nodes all come from one old
    // bucket (the length is multiplied), and they are put back in their order.
    growNameTable: function() {
      var count = 0;
      var add = FS.hashAddNode;
      var remove = FS.hashRemoveNode;
      FS.hashAddNode = function(node) {
        add(node);
        if (++count > FS.nameTable.length * 2) {
          var old = FS.nameTable;
          FS.nameTable = new Array(old.length * 4);
          var chain = [];
          for (var b = 0; b < old.length; b++) {
            chain.length = 0;
            for (var n = old[b]; n; n = n.name_next) chain.push(n);
            for (var i = chain.length - 1; i >= 0; i--) add(chain[i]);
          }
        }
      };
      FS.hashRemoveNode = function(node) {
        count--;
        remove(node);
      };
    },
    // Replaces FS.lookupPath (see the header). Same results, same errors, same mutation of
    // `opts` (3.1.6 fills in its defaults), same recursion for symlinks.
    fastLookupPath: function() {
      // A segment that normalizing would change: empty (`//`, trailing `/`), `.` or `..`.
      var unnormal = /\/\.{0,2}(?:\/|$)/;
      // The current directory's node, valid while `generation` is unchanged: every removal
      // (unlink, rmdir, rename: FS.hashRemoveNode), mount and unmount changes it.
      var generation = 0;
      var cwdGeneration = -1;
      var cwdPath = '';
      var cwdNode = null;
      var cwdDepth = 0;
      // Folders FS.chdir entered, each inside the one before: the current directory and
      // those of its ancestors that were entered, valid while `generation` is unchanged.
      var entered = [];
      var enteredGeneration = -1;
      // What the last lookup found, and how many symlinks lookups have followed, for FS.chdir.
      var lastPath = '';
      var lastNode = null;
      var linksFollowed = 0;
      var within = function(path, dir) {
        return path === dir || dir === '/' ||
          (path.length > dir.length && path.charCodeAt(dir.length) === 47 && path.startsWith(dir));
      };
      ['hashRemoveNode', 'mount', 'unmount'].forEach(function(name) {
        var orig = FS[name];
        FS[name] = function() {
          generation++;
          return orig.apply(FS, arguments);
        };
      });
      // The node of the current directory, or null when it cannot be found (the full walk
      // then gives the same error as 3.1.6).
      var cwdStart = function(cwd) {
        if (cwdGeneration === generation && cwdPath === cwd) return cwdNode;
        cwdGeneration = generation;
        cwdPath = cwd;
        cwdNode = null;
        if (unnormal.test(cwd)) return null;
        try {
          var lookup = FS.lookupPath(cwd, { follow: true });
          // chdir keeps the path it resolved: walking it again meets no symlink.
          if (lookup.path === cwd) cwdNode = lookup.node;
        } catch (e) {
          if (!(e instanceof FS.ErrnoError)) throw e;
        }
        cwdDepth = cwd.split('/').length - 1;
        return cwdNode;
      };
      // FS.chdir as in 3.1.6, keeping the node it found: walking the path it stores again
      // gives that node when the lookup followed no symlink (a followed link leaves the
      // link's own name in the path).
      var chdir = FS.chdir;
      FS.chdir = function(path) {
        lastNode = null;
        var links = linksFollowed;
        chdir(path);
        var cwd = FS.cwd();
        if (lastNode === null || links !== linksFollowed || lastPath !== cwd || unnormal.test(cwd)) return;
        cwdGeneration = generation;
        cwdPath = cwd;
        cwdNode = lastNode;
        cwdDepth = cwd.split('/').length - 1;
        if (enteredGeneration !== generation) {
          entered.length = 0;
          enteredGeneration = generation;
        }
        while (entered.length && !within(cwd, entered[entered.length - 1].path)) entered.pop();
        if (entered.length && entered[entered.length - 1].path === cwd) entered.pop();
        entered.push({ path: cwd, node: lastNode });
      };
      var found = function(path, node) {
        lastPath = path;
        lastNode = node;
        return { path: path, node: node };
      };
      // Follows `node`, at `path`, while it is a symlink, as 3.1.6's walk does.
      var followLinks = function(node, path, opts) {
        var count = 0;
        while (FS.isLink(node.mode)) {
          linksFollowed++;
          var link = FS.readlink(path);
          path = PATH_FS.resolve(PATH.dirname(path), link);
          node = FS.lookupPath(path, { recurse_count: opts.recurse_count }).node;
          if (count++ > 40) throw new FS.ErrnoError({{{ cDefine('ELOOP') }}});
        }
        return { path: path, node: node };
      };
      FS.lookupPath = function(path, opts) {
        if (opts === undefined) opts = {};
        // PATH_FS.resolve(FS.cwd(), path) gives '' for an empty path.
        if (!path) return { path: '', node: null };
        if (opts.follow_mount === undefined) opts.follow_mount = true;
        if (opts.recurse_count === undefined) opts.recurse_count = 0;
        if (opts.recurse_count > 8) throw new FS.ErrnoError({{{ cDefine('ELOOP') }}});
        var cwd = FS.cwd();
        var followed;
        if (FS.ignorePermissions && cwd !== '/') {
          if (path === '..') {
            // The parent of the current directory, entered before it.
            var n = entered.length;
            if (!opts.parent && opts.follow_mount && enteredGeneration === generation && n > 1 &&
                entered[n - 1].path === cwd && entered[n - 2].path === (cwd.slice(0, cwd.lastIndexOf('/')) || '/')) {
              return found(entered[n - 2].path, entered[n - 2].node);
            }
          } else if (path !== '.' && path.indexOf('/') < 0) {
            // A plain name in the current directory: one step from its node.
            var dir = cwdStart(cwd);
            if (dir) {
              if (opts.parent) return found(cwd, dir);
              var node = FS.lookupNode(dir, path);
              var nodePath = cwd + '/' + path;
              if (FS.isMountpoint(node) && opts.follow_mount) node = node.mounted.root;
              if (opts.follow && FS.isLink(node.mode)) {
                followed = followLinks(node, nodePath, opts);
                return found(followed.path, followed.node);
              }
              return found(nodePath, node);
            }
          }
        }
        var abs = path.charAt(0) === '/' ? path : cwd + '/' + path;
        var parts;
        var normal = !unnormal.test(abs);
        if (normal) {
          parts = abs.split('/');
          parts.shift();
        } else {
          parts = PATH.normalizeArray(abs.split('/').filter(function(p) { return !!p; }), false);
        }
        var current = FS.root;
        var currentPath = '/';
        var i = 0;
        // Below the current directory (every one of its components is then followed, as a
        // directory on the way): start from its node. Permission checks on the way would
        // need the walk.
        if (normal && FS.ignorePermissions && cwd !== '/' && abs !== cwd && within(abs, cwd)) {
          var start = cwdStart(cwd);
          if (start) {
            current = start;
            currentPath = cwd;
            i = cwdDepth;
          }
        }
        for (; i < parts.length; i++) {
          var islast = i === parts.length - 1;
          if (islast && opts.parent) break;
          current = FS.lookupNode(current, parts[i]);
          // PATH.join2 of a normal absolute path and a plain name.
          currentPath = currentPath === '/' ? '/' + parts[i] : currentPath + '/' + parts[i];
          if (FS.isMountpoint(current)) {
            if (!islast || opts.follow_mount) current = current.mounted.root;
          }
          if ((!islast || opts.follow) && FS.isLink(current.mode)) {
            followed = followLinks(current, currentPath, opts);
            current = followed.node;
            currentPath = followed.path;
          }
        }
        return found(currentPath, current);
      };
    },
    // Offset from the two 32-bit halves of a legalized i64 parameter.
    i64: function(low, high) {
      return high * 0x100000000 + (low >>> 0);
    },
    errno: function(e) {
      if (typeof FS != 'undefined' && e instanceof FS.ErrnoError) return e.errno;
      if (e instanceof RangeError) return {{{ cDefine('EFBIG') }}};
      throw e;
    },
    readv: function(stream, iov, iovcnt, offset) {
      var ret = 0;
      for (var i = 0; i < iovcnt; i++) {
        var ptr = {{{ makeGetValue('iov', C_STRUCTS.iovec.iov_base, 'i32') }}};
        var len = {{{ makeGetValue('iov', C_STRUCTS.iovec.iov_len, 'i32') }}};
        iov += {{{ C_STRUCTS.iovec.__size__ }}};
        var curr = FS.read(stream, HEAP8, ptr, len, offset);
        if (curr < 0) return -1;
        ret += curr;
        if (curr < len) break;
        if (typeof offset !== 'undefined') offset += curr;
      }
      return ret;
    },
    writev: function(stream, iov, iovcnt, offset) {
      var ret = 0;
      for (var i = 0; i < iovcnt; i++) {
        var ptr = {{{ makeGetValue('iov', C_STRUCTS.iovec.iov_base, 'i32') }}};
        var len = {{{ makeGetValue('iov', C_STRUCTS.iovec.iov_len, 'i32') }}};
        iov += {{{ C_STRUCTS.iovec.__size__ }}};
        var curr = FS.write(stream, HEAP8, ptr, len, offset);
        if (curr < 0) return -1;
        ret += curr;
        if (typeof offset !== 'undefined') offset += curr;
      }
      return ret;
    },
    readlink: function(path, buf, bufsize) {
      if (bufsize <= 0) return -{{{ cDefine('EINVAL') }}};
      var node = FS.lookupPath(path, { follow: false }).node;
      if (!node) return -{{{ cDefine('ENOENT') }}};
      if (!node.node_ops.readlink) return -{{{ cDefine('EINVAL') }}};
      var target = node.node_ops.readlink(node);
      var bytes = new Uint8Array(lengthBytesUTF8(target) + 1);
      stringToUTF8Array(target, bytes, 0, bytes.length);
      var len = Math.min(bufsize, bytes.length - 1);
      // readlink never writes a terminating NUL.
      HEAPU8.set(bytes.subarray(0, len), buf >>> 0);
      return len;
    },
  },

  // Replaces 3.1.6 library_wasi.js fd_pread: it passes only offset_low on (offsets from
  // 4 GiB wrap around), via doReadv, which reads every iovec at the same offset.
  fd_pread__deps: ['$SYSCALLS', '$FS', '$wasmFixes'],
  fd_pread: function(fd, iov, iovcnt, {{{ defineI64Param('offset') }}}, pnum) {
    try {
      {{{ receiveI64ParamAsI32s('offset') }}}
      var offset = wasmFixes.i64(offset_low, offset_high);
      var stream = SYSCALLS.getStreamFromFD(fd);
      var num = wasmFixes.readv(stream, iov, iovcnt, offset);
      {{{ makeSetValue('pnum', 0, 'num', 'i32') }}};
      return 0;
    } catch (e) {
      return wasmFixes.errno(e);
    }
  },

  // Replaces 3.1.6 library_wasi.js fd_pwrite: only offset_low, and doWritev writes every
  // iovec at the same offset.
  fd_pwrite__deps: ['$SYSCALLS', '$FS', '$wasmFixes'],
  fd_pwrite: function(fd, iov, iovcnt, {{{ defineI64Param('offset') }}}, pnum) {
    try {
      {{{ receiveI64ParamAsI32s('offset') }}}
      var offset = wasmFixes.i64(offset_low, offset_high);
      var stream = SYSCALLS.getStreamFromFD(fd);
      var num = wasmFixes.writev(stream, iov, iovcnt, offset);
      {{{ makeSetValue('pnum', 0, 'num', 'i32') }}};
      return 0;
    } catch (e) {
      return wasmFixes.errno(e);
    }
  },

  // Replaces 3.1.6 library_syscall.js __syscall_ftruncate64: SYSCALLS.get64 returns the low
  // 32 bits only.
  __syscall_ftruncate64__deps: ['$SYSCALLS', '$FS', '$wasmFixes'],
  __syscall_ftruncate64: function(fd, low, high) {
    try {
      FS.ftruncate(fd, wasmFixes.i64(low, high));
      return 0;
    } catch (e) {
      return -wasmFixes.errno(e);
    }
  },

  // Replaces 3.1.6 __syscall_truncate64: SYSCALLS.get64 returns the low 32 bits only.
  __syscall_truncate64__deps: ['$SYSCALLS', '$FS', '$wasmFixes'],
  __syscall_truncate64: function(path, low, high) {
    try {
      path = SYSCALLS.getStr(path);
      FS.truncate(path, wasmFixes.i64(low, high));
      return 0;
    } catch (e) {
      return -wasmFixes.errno(e);
    }
  },

  // Replaces 3.1.6 __syscall_fallocate: low 32 bits of offset and length only, and any mode
  // (punch hole, zero range, keep size) treated as a plain allocate (asserted only in debug builds).
  __syscall_fallocate__deps: ['$SYSCALLS', '$FS', '$wasmFixes'],
  __syscall_fallocate: function(fd, mode, off_low, off_high, len_low, len_high) {
    try {
      var stream = SYSCALLS.getStreamFromFD(fd);
      var offset = wasmFixes.i64(off_low, off_high);
      var length = wasmFixes.i64(len_low, len_high);
      if (mode === 0) {
        FS.allocate(stream, offset, length);
        return 0;
      }
      // 3: FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE; 0x10 / 0x11: FALLOC_FL_ZERO_RANGE (| KEEP_SIZE).
      if ((mode !== 3 && mode !== 0x10 && mode !== 0x11) || !stream.stream_ops.fallocate) {
        return -{{{ cDefine('EOPNOTSUPP') }}};
      }
      if (offset < 0 || length <= 0) return -{{{ cDefine('EINVAL') }}};
      if ((stream.flags & {{{ cDefine('O_ACCMODE') }}}) === {{{ cDefine('O_RDONLY') }}}) return -{{{ cDefine('EBADF') }}};
      if (FS.isDir(stream.node.mode)) return -{{{ cDefine('EISDIR') }}};
      stream.stream_ops.fallocate(stream, mode, offset, length);
      return 0;
    } catch (e) {
      return -wasmFixes.errno(e);
    }
  },

  // Replaces 3.1.6 __syscall_ioctl, which calls abort('bad ioctl syscall') for any request
  // but the terminal ones.
  __syscall_ioctl__deps: ['$SYSCALLS', '$FS', '$wasmFixes'],
  __syscall_ioctl: function(fd, op, varargs) {
    SYSCALLS.varargs = varargs;
    try {
      var stream = SYSCALLS.getStreamFromFD(fd);
      switch (op) {
        case {{{ cDefine('TCGETA') }}}:
        case {{{ cDefine('TCGETS') }}}:
        case {{{ cDefine('TCSETA') }}}:
        case {{{ cDefine('TCSETAW') }}}:
        case {{{ cDefine('TCSETAF') }}}:
        case {{{ cDefine('TCSETS') }}}:
        case {{{ cDefine('TCSETSW') }}}:
        case {{{ cDefine('TCSETSF') }}}:
        case {{{ cDefine('TIOCGWINSZ') }}}:
        case {{{ cDefine('TIOCSWINSZ') }}}: {
          if (!stream.tty) return -{{{ cDefine('ENOTTY') }}};
          return 0;
        }
        case {{{ cDefine('TIOCGPGRP') }}}: {
          if (!stream.tty) return -{{{ cDefine('ENOTTY') }}};
          var argp = SYSCALLS.get();
          {{{ makeSetValue('argp', 0, 0, 'i32') }}};
          return 0;
        }
        case {{{ cDefine('TIOCSPGRP') }}}: {
          if (!stream.tty) return -{{{ cDefine('ENOTTY') }}};
          return -{{{ cDefine('EINVAL') }}};
        }
        default: {
          // FIONREAD, block-device and filesystem requests: a filesystem
          // mounted from JS may answer them; anything else is "not a tty".
          if (stream.stream_ops && stream.stream_ops.ioctl) {
            return FS.ioctl(stream, op, SYSCALLS.get());
          }
          return -{{{ cDefine('ENOTTY') }}};
        }
      }
    } catch (e) {
      return -wasmFixes.errno(e);
    } finally {
      SYSCALLS.varargs = undefined;
    }
  },

  // Replaces 3.1.6 __syscall_fstat64, which stats the stream's path again (see the header).
  __syscall_fstat64__deps: ['$SYSCALLS', '$FS', '$wasmFixes'],
  __syscall_fstat64: function(fd, buf) {
    try {
      var stream = SYSCALLS.getStreamFromFD(fd);
      var node = stream.node;
      return SYSCALLS.doStat(function() {
        if (!node.node_ops.getattr) throw new FS.ErrnoError({{{ cDefine('EPERM') }}});
        return node.node_ops.getattr(node);
      }, stream.path, buf);
    } catch (e) {
      return -wasmFixes.errno(e);
    }
  },

  // Replace 3.1.6 __syscall_readlink(at), whose FS.readlink resolves the target against the
  // link's folder (PATH_FS.resolve) instead of returning it as stored.
  __syscall_readlink__deps: ['$SYSCALLS', '$FS', '$wasmFixes'],
  __syscall_readlink: function(path, buf, bufsize) {
    try {
      return wasmFixes.readlink(SYSCALLS.getStr(path), buf, bufsize);
    } catch (e) {
      return -wasmFixes.errno(e);
    }
  },

  __syscall_readlinkat__deps: ['$SYSCALLS', '$FS', '$wasmFixes'],
  __syscall_readlinkat: function(dirfd, path, buf, bufsize) {
    try {
      path = SYSCALLS.calculateAt(dirfd, SYSCALLS.getStr(path));
      return wasmFixes.readlink(path, buf, bufsize);
    } catch (e) {
      return -wasmFixes.errno(e);
    }
  },

  // Replaces 3.1.6 library.js system(), which under Node runs the command on the host
  // (child_process.spawnSync with a shell).
  system__deps: ['$setErrNo'],
  system: function(command) {
    if (!command) return 0; // system(NULL): no shell is available
    setErrNo({{{ cDefine('ENOSYS') }}});
    return -1;
  },

  // Replaces 3.1.6 alarm(), which sets a setTimeout that raises SIGALRM later, possibly in an
  // instance whose main has returned.
  alarm: function(seconds) {
    return 0;
  },
});
