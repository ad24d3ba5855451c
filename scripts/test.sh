#!/usr/bin/env bash
# The whole test suite: guests built for wasm32-wasip2, then every host test.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
cargo test --workspace --all-targets "$@"
