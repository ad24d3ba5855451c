#!/usr/bin/env bash
# Where a `warden serve` request spends its CPU: serves the wasi:http hello
# (examples/hello-http, or APP=hello-py / APP=hello-js) with governance and
# tracing on, loads it with `oha` on loopback, measures the server's CPU
# time per request (from /proc, user + system), samples it with
# `perf record --call-graph dwarf` meanwhile, and prints the time per
# request by category: HTTP server, routing, instantiation, WASI and
# wasi-http contexts, host calls, fiber stacks, guest code, memory reset,
# tracing and metrics, quota and kill checks, allocation, socket I/O,
# scheduler (rules in benches/profile-categories.py).
#
#   ./benches/profile-serve.sh                      # 8 s of load, 32 connections
#   APP=hello-py ./benches/profile-serve.sh
#   CONFIG=my-warden.toml ./benches/profile-serve.sh  # e.g. [engine] keep_resident = "0"
#   KEEP=1 ./benches/profile-serve.sh               # keep perf.data (path printed)
#   DETAIL="instantiation;routing" ./benches/profile-serve.sh  # commonest frames of those
#
# Needs perf (Debian's linux-perf, installed with apt when missing) and a
# kernel that lets root sample its own processes (cpu-clock is enough: no
# hardware counters are used). The shares are sampled; the µs per request
# come from the measured CPU time, so they include perf's own overhead on
# the sampled process (a few per cent). Unwinding the call graphs takes
# perf a few minutes after the load ends.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-8}"
DURATION="${DURATION%s}" # whole seconds; "10s" as serve-vs-wasmtime.sh takes it works too
if [ "$DURATION" -lt 4 ]; then
  echo "profile: DURATION must be 4 seconds or more (perf samples all but the first and last)" >&2
  exit 2
fi
CONNECTIONS="${CONNECTIONS:-32}"
. benches/tools.sh
PORT="${WARDEN_PORT:-18081}"
APP="${APP:-hello-http}"

if ! command -v perf >/dev/null; then
  apt-get install -y linux-perf >/dev/null
fi
need_oha
./scripts/setup.sh >/dev/null
cargo build --release -p warden-runtime --bin warden
MANIFEST="examples/$APP/app.toml"
case "$APP" in
  hello-py | hello-js) ./scripts/build-foreign-examples.sh >/dev/null ;;
esac
ROUTE=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["http"]["route"].removesuffix("/..."))' "$MANIFEST")
URL="http://127.0.0.1:$PORT$ROUTE/bench"

DATA="$(mktemp -d)"
SERVER=""
cleanup() {
  if [ -n "$SERVER" ]; then
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
  fi
  [ -n "${KEEP:-}" ] || rm -rf "$DATA"
}
trap cleanup EXIT

WARDEN_DATA_DIR="$DATA/warden" target/release/warden serve ${CONFIG:+--config "$CONFIG"} \
  --app "$MANIFEST" --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:0" 2>"$DATA/warden.log" &
SERVER=$!
for _ in $(seq 1 600); do
  curl -fsS -o /dev/null "$URL" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "$URL" || { echo "profile: $URL never answered; warden said:" >&2; cat "$DATA/warden.log" >&2; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER/stat"; }
"$TOOLS/bin/oha" --no-tui -n 2000 -c "$CONNECTIONS" "$URL" >/dev/null # warm-up
before=$(cpu_ticks)
"$TOOLS/bin/oha" --no-tui --output-format json -z "${DURATION}s" -c "$CONNECTIONS" "$URL" >"$DATA/load.json" &
LOAD=$!
sleep 1
if ! perf record -q -e cpu-clock -F 999 --call-graph dwarf,16384 -p "$SERVER" -o "$DATA/perf.data" \
  -- sleep $((DURATION - 2)) 2>"$DATA/perf.log"; then
  echo "profile: perf could not sample warden serve; it said:" >&2
  cat "$DATA/perf.log" >&2
  exit 1
fi
wait "$LOAD"
after=$(cpu_ticks)
read -r RPS REQUESTS OK < <(python3 - "$DATA/load.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
codes = d["statusCodeDistribution"]
print(d["summary"]["requestsPerSec"], sum(codes.values()), sum(v for k, v in codes.items() if k.startswith("2")))
PY
)
if [ "$REQUESTS" -eq 0 ]; then
  echo "profile: no request was answered under load; warden said:" >&2
  cat "$DATA/warden.log" >&2
  exit 1
fi
HZ=$(getconf CLK_TCK)
US=$(python3 -c "print(($after - $before) / $HZ * 1e6 / $REQUESTS)")
printf '%s: %.0f req/s over %s s, %s connections (%s of %s answered 2xx); warden serve used %.1f µs of CPU per request\n\n' \
  "$APP" "$RPS" "$DURATION" "$CONNECTIONS" "$OK" "$REQUESTS" "$US"
perf script -i "$DATA/perf.data" -F comm,tid,ip,sym,dso 2>/dev/null | python3 benches/profile-categories.py "$US"
[ -n "${KEEP:-}" ] && echo "perf data kept in $DATA/perf.data"
exit 0
