#!/usr/bin/env bash
# Builds native e2fsprogs 1.47.4 (mke2fs, e2fsck, resize2fs, debugfs, dumpe2fs, tune2fs)
# with the system C compiler, from the same pinned Debian source wasm/build.sh uses, with
# the same configure options as the WebAssembly build. Tests compare our wasm tools with
# these: images byte for byte (workers/pipeline/native-parity.test.ts) and upstream's own
# test suite (workers/runtime/upstream/).
#
#   bash wasm/native/build.sh      prints the folder holding the programs
#
# The result is cached in wasm/.build/native-1.47.4/ and rebuilt only when this script or
# the source changes (about 30 s on 2 cores; a rerun is instant). Installs gcc and make
# when missing (as root).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
version=1.47.4
tarball="$root/.build/src/e2fsprogs_${version}.orig.tar.gz"
out="$root/.build/native-$version"
stamp="$out/.stamp"
tools="misc/mke2fs e2fsck/e2fsck resize/resize2fs debugfs/debugfs misc/dumpe2fs misc/tune2fs"

bash "$root/build.sh" --fetch >&2
want="$(sha256sum "$tarball" "$0" | sha256sum | cut -c1-64)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "$out/bin"
  exit 0
fi

missing=""
command -v gcc >/dev/null 2>&1 || missing="$missing gcc libc6-dev"
command -v make >/dev/null 2>&1 || missing="$missing make"
if [ -n "$missing" ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "wasm/native/build.sh: needs$missing (run as root to install)" >&2; exit 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >&2
fi

rm -rf "$out"
mkdir -p "$out/bin"
tar -xzf "$tarball" -C "$out"
src="$out/e2fsprogs-$version"
cd "$src"
echo "== native e2fsprogs $version: configure" >&2
# The WebAssembly build's options (wasm/e2fsprogs/build.sh), for the host.
./configure \
  --prefix=/usr --sysconfdir=/etc \
  --disable-nls --disable-uuidd --disable-fsck --disable-defrag --disable-imager \
  --disable-tdb --disable-fuse2fs --disable-mmp --disable-backtrace --disable-tls \
  --disable-e2initrd-helper --disable-elf-shlibs --disable-bsd-shlibs --disable-rpath \
  --disable-testio-debug --without-pthread --without-libarchive \
  --enable-libuuid --enable-libblkid \
  > "$out/configure.log" 2>&1 || { tail -40 "$out/configure.log" >&2; exit 1; }
echo "== native e2fsprogs $version: make" >&2
make -j2 libs > "$out/make.log" 2>&1 || { tail -40 "$out/make.log" >&2; exit 1; }
for t in $tools; do
  make -j2 -C "$(dirname "$t")" "$(basename "$t")" >> "$out/make.log" 2>&1 || { tail -40 "$out/make.log" >&2; exit 1; }
  cp "$t" "$out/bin/"
done
echo "$want" > "$stamp"
echo "$out/bin"
