#!/usr/bin/env bash
# The whole test suite: guests built for wasm32-wasip2, then every host test.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
# Benches are built (so they cannot rot) but not run here: they measure,
# and `cargo bench -p warden-benches` runs them.
cargo build --workspace --all-targets
cargo test --workspace "$@"
