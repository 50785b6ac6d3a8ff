/*
 * A small streaming API over zstd's ZSTD_compressStream2 / ZSTD_decompressStream,
 * shaped for JavaScript: plain pointers and sizes in, and the positions reached in
 * the input and output buffers read back with zs_in_pos() / zs_out_pos().
 *
 * Compress:   s = zs_compressor_new(level, pledged_size)   (pledged_size < 0: unknown)
 *             loop: r = zs_compress(s, src, src_size, dst, dst_cap, ZS_CONTINUE)
 *                   consumed = zs_in_pos(s); produced = zs_out_pos(s)
 *             end:  repeat zs_compress(s, 0, 0, dst, dst_cap, ZS_END) until it returns 0
 *             zs_compressor_free(s)
 * Decompress: s = zs_decompressor_new(window_log_max)       (0: zstd's default)
 *             loop: r = zs_decompress(s, src, src_size, dst, dst_cap)
 *                   r == 0: a frame is complete and fully flushed
 *             zs_decompressor_free(s)
 * Errors:     zs_is_error(r) != 0, text from zs_error_name(r).
 */
#include <stddef.h>
#include <stdlib.h>
#include <emscripten.h>
#include "zstd.h"

#define ZS_CONTINUE 0 /* ZSTD_e_continue */
#define ZS_FLUSH 1    /* ZSTD_e_flush */
#define ZS_END 2      /* ZSTD_e_end */

typedef struct {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	size_t in_pos;
	size_t out_pos;
} zs_stream;

/* Checks a zstd return value; on error frees the stream and returns NULL. */
static zs_stream *zs_check(zs_stream *s, size_t ret)
{
	if (!ZSTD_isError(ret))
		return s;
	ZSTD_freeCCtx(s->cctx);
	ZSTD_freeDCtx(s->dctx);
	free(s);
	return NULL;
}

/*
 * A compressor at `level` with a content checksum. With pledged_size >= 0 the frame
 * header records the content size (as the zstd command line does for a file) and
 * zstd fails if the input turns out to have a different size.
 */
EMSCRIPTEN_KEEPALIVE
zs_stream *zs_compressor_new(int level, double pledged_size)
{
	zs_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->cctx = ZSTD_createCCtx();
	if (!s->cctx)
		return zs_check(s, (size_t) -1);
	if (!zs_check(s, ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_compressionLevel, level)))
		return NULL;
	if (!zs_check(s, ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_checksumFlag, 1)))
		return NULL;
	if (!zs_check(s, ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_contentSizeFlag, 1)))
		return NULL;
	return zs_check(s, ZSTD_CCtx_setPledgedSrcSize(s->cctx,
		pledged_size < 0 ? ZSTD_CONTENTSIZE_UNKNOWN
				 : (unsigned long long) pledged_size));
}

/* One ZSTD_compressStream2 call; returns its result (0 once an end/flush is complete). */
EMSCRIPTEN_KEEPALIVE
size_t zs_compress(zs_stream *s, const void *src, size_t src_size,
		   void *dst, size_t dst_cap, int end_op)
{
	ZSTD_inBuffer in = { src, src_size, 0 };
	ZSTD_outBuffer out = { dst, dst_cap, 0 };
	size_t ret = ZSTD_compressStream2(s->cctx, &out, &in, (ZSTD_EndDirective) end_op);
	s->in_pos = in.pos;
	s->out_pos = out.pos;
	return ret;
}

EMSCRIPTEN_KEEPALIVE
void zs_compressor_free(zs_stream *s)
{
	if (!s)
		return;
	ZSTD_freeCCtx(s->cctx);
	free(s);
}

/* A decompressor; window_log_max > 0 raises the largest window accepted (--long). */
EMSCRIPTEN_KEEPALIVE
zs_stream *zs_decompressor_new(int window_log_max)
{
	zs_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->dctx = ZSTD_createDCtx();
	if (!s->dctx)
		return zs_check(s, (size_t) -1);
	if (window_log_max > 0)
		return zs_check(s, ZSTD_DCtx_setParameter(s->dctx, ZSTD_d_windowLogMax,
							  window_log_max));
	return s;
}

/*
 * One ZSTD_decompressStream call: 0 when a frame is completely decoded and flushed,
 * else a hint of how many more input bytes the frame needs (or an error code).
 */
EMSCRIPTEN_KEEPALIVE
size_t zs_decompress(zs_stream *s, const void *src, size_t src_size,
		     void *dst, size_t dst_cap)
{
	ZSTD_inBuffer in = { src, src_size, 0 };
	ZSTD_outBuffer out = { dst, dst_cap, 0 };
	size_t ret = ZSTD_decompressStream(s->dctx, &out, &in);
	s->in_pos = in.pos;
	s->out_pos = out.pos;
	return ret;
}

EMSCRIPTEN_KEEPALIVE
void zs_decompressor_free(zs_stream *s)
{
	if (!s)
		return;
	ZSTD_freeDCtx(s->dctx);
	free(s);
}

/* Bytes of input consumed / output produced by the last zs_compress or zs_decompress. */
EMSCRIPTEN_KEEPALIVE
size_t zs_in_pos(const zs_stream *s) { return s->in_pos; }

EMSCRIPTEN_KEEPALIVE
size_t zs_out_pos(const zs_stream *s) { return s->out_pos; }

EMSCRIPTEN_KEEPALIVE
int zs_is_error(size_t code) { return ZSTD_isError(code); }

EMSCRIPTEN_KEEPALIVE
const char *zs_error_name(size_t code) { return ZSTD_getErrorName(code); }

/* Buffer sizes zstd recommends for streaming. */
EMSCRIPTEN_KEEPALIVE
size_t zs_compress_in_size(void) { return ZSTD_CStreamInSize(); }

EMSCRIPTEN_KEEPALIVE
size_t zs_compress_out_size(void) { return ZSTD_CStreamOutSize(); }

EMSCRIPTEN_KEEPALIVE
size_t zs_decompress_in_size(void) { return ZSTD_DStreamInSize(); }

EMSCRIPTEN_KEEPALIVE
size_t zs_decompress_out_size(void) { return ZSTD_DStreamOutSize(); }

EMSCRIPTEN_KEEPALIVE
const char *zs_version(void) { return ZSTD_versionString(); }

EMSCRIPTEN_KEEPALIVE
int zs_max_level(void) { return ZSTD_maxCLevel(); }
