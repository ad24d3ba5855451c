#!/usr/bin/env bash
# Side-by-side: the same wasi:http hello component (examples/hello-http, or
# APP=hello-py / APP=hello-js: the same greeting in Python and JavaScript)
# served by Warden (governance on: fuel, memory, deadline, quotas, kill
# switch, metering, every request traced into the span store) and by
# `wasmtime serve` 48.0.8, loaded by `oha` on loopback, and the machine's
# ceiling: a native hyper server answering the same greeting
# (benches/src/bin/native-hello.rs, built here). Prints requests/s, p50 and
# p99 for each and the ratios Warden/native and Warden/wasmtime against
# the targets. Warden also runs once with `[telemetry] enabled = false`,
# to show what tracing costs under load.
# Also prints how long each server took from its start to its first answer
# (compiling the component; Warden once more with its compiled artifact
# cached, as on a restart). For hello-http it prints what Warden would do
# without a fresh instance per request, projected from measured parts: the
# machine's CPU per request during Warden's load (/proc/stat) and the
# fresh instance's price from benches/fresh_instance.rs (a lower bound).
#
#   ./benches/serve-vs-wasmtime.sh                 # 10 s per side, 32 connections
#   DURATION=30s CONNECTIONS=64 ./benches/serve-vs-wasmtime.sh
#   APP=hello-py ./benches/serve-vs-wasmtime.sh    # a componentize-py component
#
# Tools (wasmtime-cli 48.0.8 and oha) are installed with `cargo install`
# into $WARDEN_BENCH_TOOLS (default target/bench-tools) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
. benches/tools.sh
WARDEN_PORT="${WARDEN_PORT:-18080}"
WASMTIME_PORT="${WASMTIME_PORT:-18090}"
QUIET_PORT="${QUIET_PORT:-18085}"
NATIVE_PORT="${NATIVE_PORT:-18095}"
# Extra flags for `wasmtime serve`, e.g. WASMTIME_FLAGS="-O pooling-allocator=y".
WASMTIME_FLAGS="${WASMTIME_FLAGS:-}"

need_wasmtime
need_oha
./scripts/setup.sh >/dev/null
cargo build --release -p warden-runtime --bin warden
PRICE=""
if [ "${APP:-hello-http}" = hello-http ]; then
  # Before any server starts, so nothing else loads the machine.
  PRICE=$(cargo bench -q -p warden-benches --bench fresh_instance 2>/dev/null |
    sed -n "s/.*the fresh instance's price: \([0-9.]*\) µs per request at p50.*/\1/p" || true)
fi
cargo build --release -p warden-benches --bin native-hello

APP="${APP:-hello-http}"
MANIFEST="examples/$APP/app.toml"
case "$APP" in
  hello-py | hello-js) ./scripts/build-foreign-examples.sh >/dev/null ;;
esac
# The component and the route's prefix, from the app's manifest.
read -r COMPONENT ROUTE < <(python3 - "$MANIFEST" <<'PY'
import os, sys, tomllib
path = sys.argv[1]
m = tomllib.load(open(path, "rb"))
component = os.path.normpath(os.path.join(os.path.dirname(path), m["app"]["component"]))
print(component, m["http"]["route"].removesuffix("/..."))
PY
)
URL_PATH="$ROUTE/bench"
DATA="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT

wait_for() {
  for _ in $(seq 1 200); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "bench: $1 never answered" >&2
  exit 1
}

now() { date +%s.%N; }
# Seconds from a server's start to its first answer, one server at a time
# (so each compiles on an idle machine): a cold start.
first_answer() { # name url -> seconds into $DATA/NAME.start
  local started
  started=$(now)
  wait_for "$2"
  python3 -c 'import sys; print(float(sys.argv[1]) - float(sys.argv[2]))' "$(now)" "$started" >"$DATA/$1.start"
}

WARDEN_DATA_DIR="$DATA/warden" target/release/warden serve \
  --app "$MANIFEST" \
  --listen "127.0.0.1:$WARDEN_PORT" --admin-listen "127.0.0.1:0" 2>"$DATA/warden.log" &
WARDEN_PID=$!
PIDS+=($WARDEN_PID)
first_answer warden "http://127.0.0.1:$WARDEN_PORT$URL_PATH"
# shellcheck disable=SC2086
"$TOOLS/bin/wasmtime" serve --addr "127.0.0.1:$WASMTIME_PORT" -Scli $WASMTIME_FLAGS "$COMPONENT" 2>"$DATA/wasmtime.log" &
PIDS+=($!)
first_answer wasmtime "http://127.0.0.1:$WASMTIME_PORT$URL_PATH"
# The same Warden data directory again: its compiled artifact is cached.
kill "$WARDEN_PID" && wait "$WARDEN_PID" 2>/dev/null || true
WARDEN_DATA_DIR="$DATA/warden" target/release/warden serve \
  --app "$MANIFEST" \
  --listen "127.0.0.1:$WARDEN_PORT" --admin-listen "127.0.0.1:0" 2>>"$DATA/warden.log" &
WARDEN_PID=$!
PIDS+=($WARDEN_PID)
first_answer warden-cached "http://127.0.0.1:$WARDEN_PORT$URL_PATH"
printf '[telemetry]\nenabled = false\n' >"$DATA/quiet.toml"
WARDEN_DATA_DIR="$DATA/quiet" target/release/warden serve --config "$DATA/quiet.toml" \
  --app "$MANIFEST" \
  --listen "127.0.0.1:$QUIET_PORT" --admin-listen "127.0.0.1:0" 2>"$DATA/quiet.log" &
PIDS+=($!)
wait_for "http://127.0.0.1:$QUIET_PORT$URL_PATH"
target/release/native-hello "127.0.0.1:$NATIVE_PORT" 2>"$DATA/native.log" &
PIDS+=($!)
wait_for "http://127.0.0.1:$NATIVE_PORT/hello/bench"

# CPU time in clock ticks: the machine's busy time (all cores: user,
# nice, system, irq, softirq, and steal, which on a VM makes the figure
# larger and the projection below more cautious) and a server's own (user +
# system; 0 once it is gone).
machine_ticks() { awk '/^cpu /{printf "%.0f\n", $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
server_ticks() { awk '{printf "%.0f\n", $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
load() { # name url [server pid] -> NAME.json, and NAME.cpu: ticks the load took
  "$TOOLS/bin/oha" --no-tui -n 2000 -c "$CONNECTIONS" "$2" >/dev/null # warm-up
  local machine server=0
  machine=$(machine_ticks)
  [ -z "${3:-}" ] || server=$(server_ticks "$3")
  "$TOOLS/bin/oha" --no-tui --output-format json -z "$DURATION" -c "$CONNECTIONS" "$2" >"$DATA/$1.json"
  machine=$(($(machine_ticks) - machine))
  [ -z "${3:-}" ] || server=$(($(server_ticks "$3") - server))
  echo "$machine $server" >"$DATA/$1.cpu"
}
load native "http://127.0.0.1:$NATIVE_PORT/hello/bench"
load wasmtime "http://127.0.0.1:$WASMTIME_PORT$URL_PATH"
load warden "http://127.0.0.1:$WARDEN_PORT$URL_PATH" "$WARDEN_PID"
load quiet "http://127.0.0.1:$QUIET_PORT$URL_PATH"

python3 - "$DATA" "$DURATION" "$CONNECTIONS" "$APP" "$COMPONENT" "$PRICE" "$(getconf CLK_TCK)" "$(nproc)" <<'PY'
import json, os, sys
data, duration, conns, app, component, price, tick, cores = sys.argv[1:9]
def figures(name):
    d = json.load(open(f"{data}/{name}.json"))
    s, p = d["summary"], d["latencyPercentiles"]
    codes = d.get("statusCodeDistribution", {})
    ok = sum(v for k, v in codes.items() if k.startswith("2"))
    total = sum(codes.values()) or 1
    if not s["requestsPerSec"] or p["p50"] is None:
        sys.exit(f"bench: {name} answered nothing under load")
    return s["requestsPerSec"], p["p50"] * 1e3, p["p99"] * 1e3, ok / total
w = figures("warden"); t = figures("wasmtime"); q = figures("quiet"); n = figures("native")
flags = os.environ.get("WASMTIME_FLAGS", "") or "defaults"
size = os.path.getsize(component)
size = f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.0f} KiB"
print(f"{app} ({size} component), {duration} per side, {conns} connections, loopback, oha keep-alive; wasmtime serve: {flags}")
print(f"{'server':<18}{'req/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'2xx':>8}")
for name, f in (("native hyper", n), ("wasmtime serve", t), ("warden serve", w), ("warden, no traces", q)):
    print(f"{name:<18}{f[0]:>12.0f}{f[1]:>10.3f}{f[2]:>10.3f}{f[3]:>8.1%}")
def verdict(ok):
    return "met" if ok else "NOT met"
# Three places: 0.247x must not print as 0.25x beside "NOT met".
print(f"ratio warden/native:   req/s {w[0]/n[0]:.3f}x (target >= 0.25x: {verdict(w[0] >= 0.25 * n[0])}); untraced {q[0]/n[0]:.3f}x")
print(f"ratio warden/wasmtime: req/s {w[0]/t[0]:.2f}x (target >= 2.00x: {verdict(w[0] >= 2 * t[0])}), "
      f"p50 {w[1]/t[1]:.2f}x, p99 {w[2]/t[2]:.2f}x (target <= 1.00x: {verdict(w[2] <= t[2])})")
print(f"tracing under load: req/s {(w[0]/q[0]-1)*100:+.1f}%, p50 {(w[1]/q[1]-1)*100:+.1f}%, p99 {(w[2]/q[2]-1)*100:+.1f}% (traced vs not)")
start = {server: float(open(f"{data}/{server}.start").read()) for server in ("warden", "wasmtime", "warden-cached")}
print(f"start to first answer: wasmtime serve {start['wasmtime']:.2f} s, warden serve {start['warden']:.2f} s cold, {start['warden-cached']:.2f} s with its cached artifact")
# What the fresh instance per request costs this run, and the throughput
# without it: the machine's busy CPU per request, less the price, shared
# out as before (the client's and the kernel's parts stay). Sound only when
# the CPU was what limited the run (the machine busy) and every answer was
# a 2xx that ran an instance.
if app == "hello-http":
    answered = sum(json.load(open(f"{data}/warden.json")).get("statusCodeDistribution", {}).values())
    ticks = [int(x) for x in open(f"{data}/warden.cpu").read().split()]
    machine, server = (t * 1e6 / int(tick) / max(answered, 1) for t in ticks)
    seconds = float(duration[:-1]) * {"s": 1, "m": 60, "h": 3600}[duration[-1]] if duration[-1] in "smh" else float(duration)
    busy = ticks[0] / int(tick) / (int(cores) * seconds)
    print(f"per request under load: the machine's CPU {machine:.1f} µs ({busy:.0%} of {cores} cores busy), Warden's {server:.1f} µs", end="")
    if not price:
        print("; the fresh instance's price was not measured (cargo bench -p warden-benches --bench fresh_instance failed)")
    elif busy < 0.9 or w[3] < 0.999 or machine <= float(price):
        print(f"; a fresh instance {float(price):.1f} µs, but no projection: the run was not CPU-bound, or not all 2xx")
    else:
        without = w[0] * machine / (machine - float(price))
        print(f"; a fresh instance {float(price):.1f} µs (benches/fresh_instance.rs, a lower bound)")
        print(f"without a fresh instance per request (projected, not run): {without:.0f} req/s, {without/n[0]:.3f}x native")
PY
