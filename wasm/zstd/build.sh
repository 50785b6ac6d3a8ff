#!/usr/bin/env bash
# Builds zstd's lib/ (compression, decompression, common; single-threaded) with the
# streaming wrapper zstd_stream.c into an ES module. Called by wasm/build.sh, which
# fetches and verifies the source and sets up the toolchain (wasm/common/env.sh).
#   usage: build.sh ORIG_TARBALL WORK_DIR DIST_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
common=$(cd "$here/../common" && pwd)
tarball=$1 work=$2 dist=$3
version=1.5.7

src="$work/zstd-$version"
rm -rf "$src"
mkdir -p "$work" "$dist"
tar -xJf "$tarball" -C "$work"
cd "$src/lib"

prefix_map="-ffile-prefix-map=$src=. -ffile-prefix-map=$here=wasm/zstd -ffile-prefix-map=$common=wasm/common"
cflags=(-O2 $prefix_map -I. -Icommon
        -DZSTD_DISABLE_ASM=1 -DZSTD_LEGACY_SUPPORT=0 -DZSTD_TRACE=0 -DDEBUGLEVEL=0)

echo "== zstd: compile" >&2
objs=()
for c in common/*.c compress/*.c decompress/*.c "$here/zstd_stream.c"; do
  o="$work/zstd-obj/$(basename "${c%.c}").o"
  mkdir -p "$work/zstd-obj"
  emcc "${cflags[@]}" -c "$c" -o "$o"
  objs+=("$o")
done

echo "== zstd: link" >&2
printf "var WASM_TOOL_NAME = '%s';\n" zstd > "$work/zstd-name.js"
emcc -O2 "${objs[@]}" -o "$work/zstd.mjs" \
  -sMODULARIZE=1 -sEXPORT_ES6=1 -sEXPORT_NAME=createZstd -sENVIRONMENT=web,worker,node \
  -sINVOKE_RUN=0 -sEXIT_RUNTIME=1 \
  -sALLOW_MEMORY_GROWTH=1 -sMAXIMUM_MEMORY=4GB \
  -sFORCE_FILESYSTEM=1 \
  -sNODEJS_CATCH_EXIT=0 -sNODEJS_CATCH_REJECTION=0 \
  -sEXPORTED_FUNCTIONS=_malloc,_free \
  -sEXPORTED_RUNTIME_METHODS=FS,ccall,cwrap,UTF8ToString,getValue,setValue \
  --js-library "$common/library_fixes.js" \
  --pre-js "$work/zstd-name.js" --pre-js "$common/pre.js"
cp "$work/zstd.mjs" "$work/zstd.wasm" "$dist/"
cp "$common/tool.d.mts" "$dist/zstd.d.mts"
chmod 644 "$dist"/zstd.*
