#!/usr/bin/env bash
# Builds the WebAssembly tools from Debian's source archive:
#   e2fsprogs 1.47.4 -> wasm/e2fsprogs/dist/   zstd 1.5.7 -> wasm/zstd/dist/
# and lists every output with its sha256 in wasm/SHA256SUMS.
#
#   bash wasm/build.sh            build and replace the committed outputs
#   bash wasm/build.sh --verify   build in a temporary folder; fail, naming each file,
#                                 if any output differs from the committed one
#   bash wasm/build.sh --fetch    only fetch and check the sources (for wasm/native/build.sh)
#
# Installs what it needs when missing (emscripten, make, xz-utils; as root) and adds a
# deb-src entry for sid when apt has none. Scratch files go to wasm/.build/.
set -euo pipefail

root=$(cd "$(dirname "$0")" && pwd)
mode=build
case "${1:-}" in
  "") ;;
  --verify) mode=verify ;;
  --fetch) mode=fetch ;;
  *) echo "usage: $0 [--verify|--fetch]" >&2; exit 2 ;;
esac

E2FSPROGS_DEB=1.47.4-1
E2FSPROGS_TARBALL=e2fsprogs_1.47.4.orig.tar.gz
E2FSPROGS_SHA256=2cec05f39c20ee621f14926195664e66e6017190ac8e4bbdb16d86082e43c5da
ZSTD_DEB=1.5.7+dfsg-4
ZSTD_TARBALL=libzstd_1.5.7+dfsg.orig.tar.xz
ZSTD_SHA256=0c092ef267edce57ba7f3f2645c861f72eaf5e76273c6c3632869423464b90a5

export WASM_SCRATCH="$root/.build"
mkdir -p "$WASM_SCRATCH/src"
export DEBIAN_FRONTEND=noninteractive
start=$(date +%s)

as_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "build.sh: $* needs root (missing: ${missing:-deb-src entry})" >&2
    exit 1
  fi
  "$@"
}

# --- toolchain --------------------------------------------------------------
missing=""
[ "$mode" = fetch ] || command -v emcc >/dev/null 2>&1 || missing="$missing emscripten"
command -v make >/dev/null 2>&1 || missing="$missing make"
[ "$mode" = fetch ] || command -v patch >/dev/null 2>&1 || missing="$missing patch"
command -v xz >/dev/null 2>&1 || missing="$missing xz-utils"
if [ -n "$missing" ]; then
  echo "== installing:$missing" >&2
  as_root apt-get update -q
  # shellcheck disable=SC2086
  as_root apt-get install -y -q --no-install-recommends $missing
fi

# --- sources ----------------------------------------------------------------
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

have_src_entry() {
  apt-cache showsrc e2fsprogs 2>/dev/null | grep -qx "Version: $E2FSPROGS_DEB" &&
    apt-cache showsrc libzstd 2>/dev/null | grep -qx "Version: $ZSTD_DEB"
}

fetch_sources() {
  if ! have_src_entry; then
    list=/etc/apt/sources.list.d/disk-image-studio-src.sources
    if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ ||
       ! grep -rqsE '^Suites:.*\bsid\b' /etc/apt/sources.list.d/; then
      echo "== adding a deb-src entry for sid ($list)" >&2
      as_root sh -c "cat > $list" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    as_root apt-get update -q
  fi
  (cd "$WASM_SCRATCH/src" &&
    apt-get source --download-only "e2fsprogs=$E2FSPROGS_DEB" &&
    apt-get source --download-only "libzstd=$ZSTD_DEB")
}

if ! sha_ok "$WASM_SCRATCH/src/$E2FSPROGS_TARBALL" "$E2FSPROGS_SHA256" ||
   ! sha_ok "$WASM_SCRATCH/src/$ZSTD_TARBALL" "$ZSTD_SHA256"; then
  echo "== fetching sources from Debian's archive" >&2
  fetch_sources
fi
for pair in "$E2FSPROGS_TARBALL:$E2FSPROGS_SHA256" "$ZSTD_TARBALL:$ZSTD_SHA256"; do
  file=${pair%%:*} want=${pair#*:}
  got=$(sha256sum "$WASM_SCRATCH/src/$file" | cut -d' ' -f1)
  if [ "$got" != "$want" ]; then
    echo "build.sh: $file has sha256 $got, expected $want; stopping" >&2
    exit 1
  fi
done

[ "$mode" = fetch ] && exit 0

# --- build ------------------------------------------------------------------
# shellcheck source=common/env.sh
. "$root/common/env.sh"

if [ "$mode" = verify ]; then
  out=$(mktemp -d "${TMPDIR:-/tmp}/wasm-verify.XXXXXX")
  trap 'rm -rf "$out"' EXIT
  work="$out/work"
else
  out="$root"
  work="$WASM_SCRATCH/work"
  rm -rf "$root/e2fsprogs/dist" "$root/zstd/dist"
fi
rm -rf "$work"
mkdir -p "$work"

bash "$root/e2fsprogs/build.sh" "$WASM_SCRATCH/src/$E2FSPROGS_TARBALL" "$work" "$out/e2fsprogs/dist"
bash "$root/zstd/build.sh" "$WASM_SCRATCH/src/$ZSTD_TARBALL" "$work" "$out/zstd/dist"

(cd "$out" && sha256sum e2fsprogs/dist/* zstd/dist/*) > "$out/SHA256SUMS.new"
mv "$out/SHA256SUMS.new" "$out/SHA256SUMS"
echo "== built in $(( $(date +%s) - start )) s" >&2

if [ "$mode" = build ]; then
  rm -rf "$work"
  cat "$root/SHA256SUMS"
  exit 0
fi

# --- verify -----------------------------------------------------------------
status=0
for f in $( (cd "$out" && ls e2fsprogs/dist/* zstd/dist/*; cd "$root" && ls e2fsprogs/dist/* zstd/dist/* 2>/dev/null) | sort -u) SHA256SUMS; do
  if [ ! -f "$root/$f" ]; then
    echo "DIFFERS: wasm/$f is not committed" >&2; status=1
  elif [ ! -f "$out/$f" ]; then
    echo "DIFFERS: wasm/$f is committed but no longer built" >&2; status=1
  elif ! cmp -s "$root/$f" "$out/$f"; then
    echo "DIFFERS: wasm/$f (committed $(sha256sum < "$root/$f" | cut -c1-16), rebuilt $(sha256sum < "$out/$f" | cut -c1-16))" >&2
    status=1
  fi
done
if [ "$status" -ne 0 ]; then
  echo "build.sh --verify: the rebuild differs from the committed outputs" >&2
  exit 1
fi
echo "build.sh --verify: all outputs rebuilt byte-identical" >&2
