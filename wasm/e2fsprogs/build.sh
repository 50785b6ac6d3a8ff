#!/usr/bin/env bash
# Builds e2fsprogs' mke2fs, e2fsck, resize2fs, dumpe2fs, debugfs and tune2fs with
# emscripten. Called by wasm/build.sh, which fetches and verifies the source and sets up
# the toolchain (wasm/common/env.sh).
#   usage: build.sh ORIG_TARBALL WORK_DIR DIST_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
common=$(cd "$here/../common" && pwd)
tarball=$1 work=$2 dist=$3
version=1.47.4
tools="mke2fs e2fsck resize2fs dumpe2fs debugfs tune2fs"
jobs=$(nproc 2>/dev/null || echo 2)

src="$work/e2fsprogs-$version"
rm -rf "$src"
mkdir -p "$work" "$dist"
tar -xzf "$tarball" -C "$work"
cd "$src"
# Our changes to upstream, each explained in its header (see README.md, "Patches").
for p in "$here"/patches/*.patch; do
  [ -e "$p" ] || continue
  patch -p1 --quiet --no-backup-if-mismatch < "$p"
done

# No build path, date or host may end up in the output.
prefix_map="-ffile-prefix-map=$src=. -ffile-prefix-map=$here=wasm/e2fsprogs -ffile-prefix-map=$common=wasm/common"
# FALLOC_FL_ZERO_RANGE: Linux's value (emscripten has no linux/falloc.h), so libext2fs
# zeroes ranges with the same fallocate calls as a native build (shim.c provides fallocate).
export CFLAGS="-O2 $prefix_map -DFALLOC_FL_ZERO_RANGE=0x10"
# Host-side helpers (crc table generator, subst): clang comes with emscripten.
export BUILD_CC=${BUILD_CC:-clang-14}

echo "== e2fsprogs: configure" >&2
# fallocate() comes from shim.c, which configure's link test does not see.
ac_cv_func_fallocate=yes ac_cv_func_fallocate64=yes \
emconfigure ./configure \
  --host=wasm32-unknown-emscripten \
  --prefix=/usr --sysconfdir=/etc \
  --disable-nls --disable-uuidd --disable-fsck --disable-defrag --disable-imager \
  --disable-tdb --disable-fuse2fs --disable-mmp --disable-backtrace --disable-tls \
  --disable-e2initrd-helper --disable-elf-shlibs --disable-bsd-shlibs --disable-rpath \
  --disable-testio-debug --without-pthread --without-libarchive \
  --enable-libuuid --enable-libblkid \
  > "$work/e2fsprogs-configure.log" 2>&1 || { tail -40 "$work/e2fsprogs-configure.log" >&2; exit 1; }

echo "== e2fsprogs: libraries" >&2
emmake make -j"$jobs" libs > "$work/e2fsprogs-libs.log" 2>&1 || { tail -40 "$work/e2fsprogs-libs.log" >&2; exit 1; }

emcc -O2 $prefix_map -c "$here/shim.c" -o "$work/e2fsprogs-shim.o"
emcc -O2 -mbulk-memory $prefix_map -c "$common/memcpy-big.c" -o "$work/e2fsprogs-memcpy-big.o"

link_flags=(
  -O2
  -sMODULARIZE=1 -sEXPORT_ES6=1 -sENVIRONMENT=web,worker,node
  -sINVOKE_RUN=0 -sEXIT_RUNTIME=1
  -sALLOW_MEMORY_GROWTH=1 -sMAXIMUM_MEMORY=4GB
  -sFORCE_FILESYSTEM=1
  -sNODEJS_CATCH_EXIT=0 -sNODEJS_CATCH_REJECTION=0
  -sEXPORTED_RUNTIME_METHODS=FS,callMain,ENV,PATH
  --js-library "$common/library_fixes.js"
  "$work/e2fsprogs-shim.o" "$work/e2fsprogs-memcpy-big.o"
)

declare -A dir=([mke2fs]=misc [tune2fs]=misc [dumpe2fs]=misc [e2fsck]=e2fsck [resize2fs]=resize [debugfs]=debugfs)
declare -A export_name=([mke2fs]=createMke2fs [tune2fs]=createTune2fs [dumpe2fs]=createDumpe2fs
                        [e2fsck]=createE2fsck [resize2fs]=createResize2fs [debugfs]=createDebugfs)
for tool in $tools; do
  echo "== e2fsprogs: $tool" >&2
  printf "var WASM_TOOL_NAME = '%s';\n" "$tool" > "$work/$tool-name.js"
  rm -f "${dir[$tool]}/$tool" "${dir[$tool]}/$tool.wasm"
  emmake make -C "${dir[$tool]}" -j"$jobs" "$tool" \
    LDFLAGS="${link_flags[*]} -sEXPORT_NAME=${export_name[$tool]} --pre-js $work/$tool-name.js --pre-js $here/pre.js --pre-js $common/pre.js" \
    > "$work/e2fsprogs-$tool.log" 2>&1 || { tail -40 "$work/e2fsprogs-$tool.log" >&2; exit 1; }
  cp "${dir[$tool]}/$tool" "$dist/$tool.mjs"
  cp "${dir[$tool]}/$tool.wasm" "$dist/$tool.wasm"
  cp "$common/tool.d.mts" "$dist/$tool.d.mts"
done

# The distribution's defaults for mke2fs (point MKE2FS_CONFIG at it).
cp misc/mke2fs.conf.in "$dist/mke2fs.conf"
chmod 644 "$dist"/*
