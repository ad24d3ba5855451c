#!/usr/bin/env bash
# Time to first answer after `warden serve` starts, with a big component
# beside a small one: the wasi:http hello in Rust (examples/hello-http,
# about 100 KiB) and in Python (examples/hello-py, an 18 MiB
# componentize-py interpreter). Measured twice on one data directory: cold
# (nothing compiled: the Python app compiles for tens of seconds) and
# cached (both load from the artifact cache). Apps compile in the
# background, so the Rust hello should answer at once even while the
# Python one compiles; meanwhile the Python route answers 503.
#
#   ./benches/first-answer.sh
#   RUNS=3 ./benches/first-answer.sh     # cached starts to average
#
# Prints, per start, the seconds from launch to the first 200 of each app
# and how many 503s the Python route answered before it.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-1}"
PORT="${WARDEN_PORT:-18091}"
./scripts/setup.sh >/dev/null
cargo build --release -p warden-runtime --bin warden
./scripts/build-foreign-examples.sh >/dev/null

DATA="$(mktemp -d)"
SERVER=""
cleanup() {
  if [ -n "$SERVER" ]; then
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
  fi
  rm -rf "$DATA"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# One start: launch, poll both routes every 20 ms until each answers 200
# (at most 10 minutes), stop. Prints "rust_s python_s python_503s".
start_once() {
  local t0 rust="" python="" unavailable=0 code
  t0=$(now)
  WARDEN_DATA_DIR="$DATA/warden" target/release/warden serve \
    --app examples/hello-http/app.toml --app examples/hello-py/app.toml \
    --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:0" 2>>"$DATA/warden.log" &
  SERVER=$!
  for _ in $(seq 1 30000); do
    if [ -z "$rust" ] && curl -fsS -o /dev/null "http://127.0.0.1:$PORT/hello/bench" 2>/dev/null; then
      rust=$(since "$t0")
    fi
    if [ -z "$python" ]; then
      code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/py/bench" 2>/dev/null || true)
      case "$code" in
        200) python=$(since "$t0") ;;
        503) unavailable=$((unavailable + 1)) ;;
      esac
    fi
    [ -n "$rust" ] && [ -n "$python" ] && break
    kill -0 "$SERVER" 2>/dev/null || break
    sleep 0.02
  done
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  SERVER=""
  if [ -z "$rust" ] || [ -z "$python" ]; then
    echo "first-answer: an app never answered; warden said:" >&2
    tail -30 "$DATA/warden.log" >&2
    exit 1
  fi
  echo "$rust $python $unavailable"
}

printf '%-8s %18s %20s %16s\n' start "hello-http (Rust)" "hello-py (18 MiB)" "503s before it"
read -r rust python unavailable < <(start_once)
printf '%-8s %17ss %19ss %16s\n' cold "$rust" "$python" "$unavailable"
for run in $(seq 1 "$RUNS"); do
  read -r rust python unavailable < <(start_once)
  printf '%-8s %17ss %19ss %16s\n' "cached" "$rust" "$python" "$unavailable"
done
