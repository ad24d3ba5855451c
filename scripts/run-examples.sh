#!/usr/bin/env bash
# Warden's main job until `warden serve` lands: every example app run once
# under governance (deny by default, limits, trace), on the embedded store.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
cargo build -p warden-runtime --bin warden
warden=target/debug/warden
export WARDEN_DATA_DIR="${WARDEN_DATA_DIR:-$PWD/.warden}"

echo "== report-formatter (warden:host/app) =="
"$warden" run examples/report-formatter/app.toml --trace \
  --input '{"title":"Q3 travel","rows":[{"name":"flights","amount":1200.5},{"name":"hotels","amount":830}]}'

echo; echo "== oncall-picker (wasi:cli/command) =="
"$warden" run examples/oncall-picker/app.toml -- --week "$(date +%V)" alice bob carol dan

echo; echo "== hello-http (wasi:http/proxy) =="
"$warden" run examples/hello-http/app.toml --json

echo; echo "== audit log =="
"$warden" audit verify
