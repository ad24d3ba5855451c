#!/usr/bin/env bash
# Builds the examples written in other languages into examples/target/foreign/:
#   hello_py.wasm  examples/hello-py/app.py with componentize-py (from PyPI)
#   hello_js.wasm  examples/hello-js/app.js with componentize-js (from npm),
#                  the engine behind `jco componentize`
#   planted_py.wasm, planted_js.wasm  the secret scan's test fixtures
# They target wasi:http/proxy, using the WASI WIT that wasmtime-wasi-http
# (Warden's own dependency) ships. Apps on Warden's SDKs (examples/lunch-bot,
# examples/expense-dashboard) are built by `warden build` instead.
# Needs python3 (with venv) and node/npm. Safe to run again: the toolchains
# are installed once, into the same cache `warden build` uses (.warden-build/,
# under the same locks), and components rebuilt only when their source
# changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# The versions `warden build` pins (runtime/src/cli/build/toolchain.rs).
COMPONENTIZE_PY=0.25.1
COMPONENTIZE_JS=0.23.0
OUT="$PWD/examples/target/foreign"
TOOLCHAINS="${WARDEN_CACHE_DIR:-$PWD/.warden-build}/toolchains"
PY="$TOOLCHAINS/componentize-py-$COMPONENTIZE_PY"
JS="$TOOLCHAINS/componentize-js-$COMPONENTIZE_JS"
mkdir -p "$OUT" "$TOOLCHAINS"

# Each toolchain is installed once, under the lock `warden build` takes; an
# install that did not finish (no .installed) is started over.
install_py() {
  (
    flock 9
    if [ ! -f "$PY/.installed" ]; then
      rm -rf "$PY"
      python3 -m venv "$PY"
      "$PY/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY"
      touch "$PY/.installed"
    fi
  ) 9>"$PY.lock"
}
install_js() {
  (
    flock 9
    if [ ! -f "$JS/.installed" ]; then
      rm -rf "$JS" && mkdir -p "$JS"
      echo '{"private": true}' >"$JS/package.json"
      (cd "$JS" && npm install --loglevel=error --no-audit --no-fund \
        "@bytecodealliance/componentize-js@$COMPONENTIZE_JS")
      touch "$JS/.installed"
    fi
  ) 9>"$JS.lock"
}
install_py
install_js

# The wasi:http 0.2.12 WIT from the wasmtime-wasi-http crate Warden links.
crate_dir=$(cargo metadata --format-version 1 --manifest-path runtime/Cargo.toml |
  python3 -c 'import json, sys, os
d = json.load(sys.stdin)
print(os.path.dirname(next(p["manifest_path"] for p in d["packages"] if p["name"] == "wasmtime-wasi-http")))')
WIT="$crate_dir/wit"

newer() { [ ! -e "$2" ] || [ "$1" -nt "$2" ]; }

if newer examples/hello-py/app.py "$OUT/hello_py.wasm"; then
  (cd examples/hello-py &&
    "$PY/bin/componentize-py" -d "$WIT" -w wasi:http/proxy@0.2.12 \
      componentize app -o "$OUT/hello_py.wasm")
fi

# componentize-js $COMPONENTIZE_JS's StarlingMonkey exports
# wasi:http/incoming-handler@0.2.10, so the WIT is relabelled 0.2.10;
# 0.2.11 and 0.2.12 only stabilised `exit-with-code`, unstable in 0.2.10.
rm -rf "$OUT/wit-0.2.10" && cp -r "$WIT" "$OUT/wit-0.2.10"
sed -i 's/@0\.2\.12/@0.2.10/g' "$OUT/wit-0.2.10/world.wit" "$OUT"/wit-0.2.10/deps/*.wit
python3 - "$OUT/wit-0.2.10/deps/cli.wit" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("@since(version = 0.2.12)\n  exit-with-code", "@unstable(feature = cli-exit-with-code)\n  exit-with-code")
open(p, "w").write(s)
PY
if newer examples/hello-js/app.js "$OUT/hello_js.wasm"; then
  (cd "$OUT" && cp "$OLDPWD/examples/hello-js/app.js" app.js &&
    "$JS/node_modules/.bin/componentize-js" app.js --wit wit-0.2.10 \
      -n wasmtime:wasi-http/bindings -o hello_js.wasm)
fi
# Test fixtures for the publish secret scan: the same apps with fake
# credentials planted (runtime/tests/fixtures/planted-secrets/app.py, app.js).
PLANTED=runtime/tests/fixtures/planted-secrets
if newer "$PLANTED/app.py" "$OUT/planted_py.wasm"; then
  (cd "$PLANTED" &&
    "$PY/bin/componentize-py" -d "$WIT" -w wasi:http/proxy@0.2.12 \
      componentize app -o "$OUT/planted_py.wasm")
fi
if newer "$PLANTED/app.js" "$OUT/planted_js.wasm"; then
  (cd "$OUT" && cp "$OLDPWD/$PLANTED/app.js" planted.js &&
    "$JS/node_modules/.bin/componentize-js" planted.js --wit wit-0.2.10 \
      -n wasmtime:wasi-http/bindings -o planted_js.wasm)
fi
ls -la "$OUT"/hello_py.wasm "$OUT"/hello_js.wasm "$OUT"/planted_py.wasm "$OUT"/planted_js.wasm
