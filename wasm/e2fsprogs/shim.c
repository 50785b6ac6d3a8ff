/*
 * Functions the e2fsprogs programs link against that emscripten's libc does
 * not provide, or provides by aborting the program. There are no processes and
 * no shared libraries here, so each one fails cleanly instead.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>

/* e2fsck's log-file code calls daemon() after fork(), which always fails here. */
int daemon(int nochdir, int noclose)
{
	(void) nochdir;
	(void) noclose;
	errno = ENOSYS;
	return -1;
}

/*
 * libss (debugfs) tries to dlopen() a readline library unless SS_READLINE_PATH
 * is "none"; emscripten's dlopen() aborts without dynamic linking. Report "not
 * found" so that debugfs reads commands without readline. (dlerror() comes
 * from libc.)
 */
void *dlopen(const char *file, int flags)
{
	(void) file;
	(void) flags;
	return NULL;
}

void *dlsym(void *handle, const char *name)
{
	(void) handle;
	(void) name;
	return NULL;
}

int dlclose(void *handle)
{
	(void) handle;
	return 0;
}

/*
 * Linux fallocate(): emscripten's libc has only posix_fallocate() (mode 0). libext2fs
 * discards and zeroes ranges of a regular file with FALLOC_FL_PUNCH_HOLE and
 * FALLOC_FL_ZERO_RANGE; the syscall reaches the filesystem mounted from JS (see
 * wasm/common/library_fixes.js), which makes the range a hole, as Linux does. Without it
 * mke2fs writes zeros instead and does not mark inode tables zeroed, unlike native mke2fs.
 */
long __syscall_fallocate(long fd, long mode, long off_low, long off_high, long len_low, long len_high);

int fallocate(int fd, int mode, off_t base, off_t len)
{
	long ret = __syscall_fallocate(fd, mode,
				       (long) (unsigned long) (base & 0xffffffffULL),
				       (long) (unsigned long) ((unsigned long long) base >> 32),
				       (long) (unsigned long) (len & 0xffffffffULL),
				       (long) (unsigned long) ((unsigned long long) len >> 32));
	if (ret < 0) {
		errno = -ret;
		return -1;
	}
	return 0;
}

/* fallocate64 is a macro for fallocate in emscripten's fcntl.h. */
