#!/usr/bin/env bash
# The whole test suite: guests built for wasm32-wasip2, then every host test.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
# Style and lints are enforced, not kept by hand: unformatted code or any
# clippy warning in the workspace crates (unwrap/expect/panic are denied
# outside tests) fails. The SDK and the guests are separate wasm32 builds.
for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    rustup component add "$component"
  fi
done
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Benches are built (so they cannot rot) but not run here: they measure,
# and `cargo bench -p warden-benches` runs them.
cargo build --workspace --all-targets
cargo test --workspace "$@"
