/*
 * emscripten 3.1.6's libc memcpy hands copies of 512 bytes and more to
 * emscripten_memcpy_big, a JavaScript import (HEAPU8.copyWithin). libext2fs copies
 * every block through its cache with memcpy, so each block crossed into JS and back.
 * Defined here, the linker resolves libc's call to this function instead of the
 * import; compiled with -mbulk-memory, the copy is one memory.copy instruction.
 */
#include <stddef.h>

void *emscripten_memcpy_big(void *restrict dest, const void *restrict src, size_t n)
{
	__builtin_memcpy(dest, src, n);
	return dest;
}
