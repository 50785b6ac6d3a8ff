/*
 * Functions the e2fsprogs programs link against that emscripten's libc does
 * not provide, or provides by aborting the program. There are no processes and
 * no shared libraries here, so each one fails cleanly instead.
 */
#include <errno.h>
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
