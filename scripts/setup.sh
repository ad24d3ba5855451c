#!/usr/bin/env bash
# Installs what building guests needs (the wasm32-wasip2 target) and builds
# the example apps and the test fixtures. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi
cargo build --release --target wasm32-wasip2 --manifest-path examples/Cargo.toml
cargo build --release --target wasm32-wasip2 --manifest-path runtime/tests/fixtures/Cargo.toml
