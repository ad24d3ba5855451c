# Sourced by the bench scripts (from the repository's root): the tools
# they load and compare with, installed on first use with `cargo install`
# into $WARDEN_BENCH_TOOLS (default target/bench-tools). One place for the
# wasmtime version every comparison runs against.
TOOLS="${WARDEN_BENCH_TOOLS:-$PWD/target/bench-tools}"
WASMTIME_VERSION=48.0.8

need_oha() {
  if [ ! -x "$TOOLS/bin/oha" ]; then
    cargo install --locked oha --root "$TOOLS"
  fi
}

need_wasmtime() {
  if [ ! -x "$TOOLS/bin/wasmtime" ] || ! "$TOOLS/bin/wasmtime" --version | grep -q "$WASMTIME_VERSION"; then
    cargo install --locked "wasmtime-cli@$WASMTIME_VERSION" --root "$TOOLS"
  fi
}
