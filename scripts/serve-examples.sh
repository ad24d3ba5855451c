#!/usr/bin/env bash
# Warden's main job: a `warden serve` host with the example apps deployed,
# on the embedded default store in .warden/. Stop it with Ctrl-C (it drains).
#   curl http://127.0.0.1:8080/hello/ada
#   curl -d '{"title":"Q3","rows":[{"name":"travel","amount":120.5}]}' http://127.0.0.1:8080/report
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
cargo build -p warden-runtime --bin warden
export WARDEN_DATA_DIR="${WARDEN_DATA_DIR:-$PWD/.warden}"
exec target/debug/warden serve \
  --app examples/hello-http/app.toml \
  --app examples/report-formatter/app.toml \
  "$@"
