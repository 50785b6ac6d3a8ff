# Sourced by the build scripts: a private emscripten configuration whose cache is a
# writable copy of Debian's prebuilt one, so that nothing is ever written under /usr.
# Expects WASM_SCRATCH (scratch folder, e.g. wasm/.build) to be set.
: "${WASM_SCRATCH:?WASM_SCRATCH must be set}"

EM_ROOT=/usr/share/emscripten
if ! command -v emcc >/dev/null 2>&1 || [ ! -f "$EM_ROOT/.emscripten" ]; then
  echo "emscripten is not installed (apt-get install -y emscripten)" >&2
  return 1 2>/dev/null || exit 1
fi

export EM_CONFIG="$WASM_SCRATCH/emscripten/config.py"
export EM_CACHE="$WASM_SCRATCH/emscripten/cache"
if [ ! -f "$EM_CACHE/.copied-from-debian" ]; then
  echo "== copying Debian's prebuilt emscripten cache to $EM_CACHE" >&2
  rm -rf "$EM_CACHE"
  mkdir -p "$(dirname "$EM_CACHE")"
  cp -a "$EM_ROOT/cache" "$EM_CACHE"
  touch "$EM_CACHE/.copied-from-debian"
fi
# Debian's config with the cache unfrozen and pointed at our copy.
sed -e 's/^FROZEN_CACHE *=.*/FROZEN_CACHE = False/' "$EM_ROOT/.emscripten" > "$EM_CONFIG.tmp"
printf "\nCACHE = '%s'\n" "$EM_CACHE" >> "$EM_CONFIG.tmp"
mv "$EM_CONFIG.tmp" "$EM_CONFIG"

# Debian ships acorn (used by emcc's JS optimizer) as a system Node module.
export NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}
# Reproducible output: no timestamps, no locale-dependent ordering.
export SOURCE_DATE_EPOCH=0 LC_ALL=C TZ=UTC
export EMCC_SKIP_SANITY_CHECK=1
