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
# A throwaway PostgreSQL server for the shared-state tests (stopped on exit);
# a test that needs it and finds none fails, it is never skipped.
pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/warden-pg.XXXXXX")
trap './scripts/postgres.sh stop "$pg_dir"' EXIT
eval "$(./scripts/postgres.sh start "$pg_dir")"
cargo test --workspace "$@"
# Every host test once more with the state nodes share (storage, audit
# log, usage, kill switches, tokens, secrets so far) in PostgreSQL; the run
# above used the embedded store.
if [ $# -eq 0 ]; then
  WARDEN_TEST_STATE=postgres cargo test -p warden-runtime --test integration
fi
