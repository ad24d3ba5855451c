#!/usr/bin/env bash
# Builds the examples written in other languages into examples/target/foreign/:
#   hello_py.wasm  examples/hello-py/app.py with componentize-py (from PyPI)
#   hello_js.wasm  examples/hello-js/app.js with componentize-js (from npm),
#                  the engine behind `jco componentize`
#   planted_py.wasm, planted_js.wasm  the secret scan's test fixtures
#   lunch_bot.wasm examples/lunch-bot on Warden's Python SDK (sdk/python)
# The hello and planted ones target wasi:http/proxy, using the WASI WIT that
# wasmtime-wasi-http (Warden's own dependency) ships; lunch-bot targets
# warden:host/app, the WIT Warden ships (host-apis/wit). Needs python3 (with venv) and node/npm.
# Safe to run again: the toolchains are installed once, components rebuilt
# only when their source changed.
set -euo pipefail
cd "$(dirname "$0")/.."

COMPONENTIZE_PY=0.25.1
COMPONENTIZE_JS=0.23.0
JCO=1.35.0
OUT="$PWD/examples/target/foreign"
mkdir -p "$OUT"

# The wasi:http 0.2.12 WIT from the wasmtime-wasi-http crate Warden links.
crate_dir=$(cargo metadata --format-version 1 --manifest-path runtime/Cargo.toml |
  python3 -c 'import json, sys, os
d = json.load(sys.stdin)
print(os.path.dirname(next(p["manifest_path"] for p in d["packages"] if p["name"] == "wasmtime-wasi-http")))')
WIT="$crate_dir/wit"

newer() { [ ! -e "$2" ] || [ "$1" -nt "$2" ]; }

if newer examples/hello-py/app.py "$OUT/hello_py.wasm"; then
  if [ ! -x "$OUT/venv/bin/componentize-py" ]; then
    python3 -m venv "$OUT/venv"
    "$OUT/venv/bin/pip" install --quiet "componentize-py==$COMPONENTIZE_PY"
  fi
  (cd examples/hello-py &&
    "$OUT/venv/bin/componentize-py" -d "$WIT" -w wasi:http/proxy@0.2.12 \
      componentize app -o "$OUT/hello_py.wasm")
fi

# Python on Warden's SDK (sdk/python) targets warden:host/app, the WIT
# Warden ships.
py_sdk_newer() {
  newer examples/lunch-bot/app.py "$OUT/lunch_bot.wasm" ||
    [ -n "$(find sdk/python host-apis/wit examples/lunch-bot \( -name '*.py' -o -name '*.wit' \) \
      -newer "$OUT/lunch_bot.wasm" 2>/dev/null)" ]
}
if py_sdk_newer; then
  if [ ! -x "$OUT/venv/bin/componentize-py" ]; then
    python3 -m venv "$OUT/venv"
    "$OUT/venv/bin/pip" install --quiet "componentize-py==$COMPONENTIZE_PY"
  fi
  (cd examples/lunch-bot &&
    "$OUT/venv/bin/componentize-py" -d "$OLDPWD/host-apis/wit" -w warden:host/app@0.2.0 \
      componentize app -p . -p "$OLDPWD/sdk/python" -o "$OUT/lunch_bot.wasm")
fi

if newer examples/hello-js/app.js "$OUT/hello_js.wasm"; then
  if [ ! -x "$OUT/node/node_modules/.bin/componentize-js" ]; then
    mkdir -p "$OUT/node"
    (cd "$OUT/node" && npm init -y >/dev/null &&
      npm install --silent --no-audit --no-fund \
        "@bytecodealliance/componentize-js@$COMPONENTIZE_JS" "@bytecodealliance/jco@$JCO")
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
  (cd "$OUT" && cp "$OLDPWD/examples/hello-js/app.js" app.js &&
    node/node_modules/.bin/componentize-js app.js --wit wit-0.2.10 \
      -n wasmtime:wasi-http/bindings -o hello_js.wasm)
fi
# Test fixtures for the publish secret scan: the same apps with fake
# credentials planted (runtime/tests/fixtures/planted-secrets/app.py, app.js).
PLANTED=runtime/tests/fixtures/planted-secrets
if newer "$PLANTED/app.py" "$OUT/planted_py.wasm"; then
  (cd "$PLANTED" &&
    "$OUT/venv/bin/componentize-py" -d "$WIT" -w wasi:http/proxy@0.2.12 \
      componentize app -o "$OUT/planted_py.wasm")
fi
if newer "$PLANTED/app.js" "$OUT/planted_js.wasm"; then
  (cd "$OUT" && cp "$OLDPWD/$PLANTED/app.js" planted.js &&
    node/node_modules/.bin/componentize-js planted.js --wit wit-0.2.10 \
      -n wasmtime:wasi-http/bindings -o planted_js.wasm)
fi
ls -la "$OUT"/hello_py.wasm "$OUT"/hello_js.wasm "$OUT"/planted_py.wasm "$OUT"/planted_js.wasm "$OUT"/lunch_bot.wasm
