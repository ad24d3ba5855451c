#!/usr/bin/env bash
# Nodes side by side, over HTTP on loopback (oha, keep-alive): one node on
# the embedded store, one node on PostgreSQL, and two nodes sharing
# PostgreSQL behind no balancer (each loaded by its own oha with half the
# connections; their req/s summed). Two apps: `hello` (wasi:http, touches
# no storage: its path must not reach the database) and `kv` (reads one
# key from an `internal` bucket per request). Prints req/s, p50 and p99
# per setup and the ratios PostgreSQL/embedded and two nodes/one node.
#
#   ./benches/nodes.sh                          # 10 s per run, 32 connections
#   DURATION=30s CONNECTIONS=64 ./benches/nodes.sh
#
# On one machine the two nodes share its cores (and the database's), so
# "two nodes" here measures what sharing state costs, not what a second
# machine adds. The PostgreSQL server is a throwaway one on a unix socket
# (scripts/postgres.sh); oha is installed with `cargo install` into
# $WARDEN_BENCH_TOOLS (default target/bench-tools) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
. benches/tools.sh
need_oha
./scripts/setup.sh >/dev/null
cargo build --release -p warden-runtime --bin warden
cargo build --release --target wasm32-wasip2 --manifest-path runtime/tests/fixtures/Cargo.toml >/dev/null

WORK="$(mktemp -d)"
# The server's own directory (its owner must reach it: not under $WORK).
PGDIR="$(mktemp -d "${TMPDIR:-/tmp}/warden-bench-pg.XXXXXX")"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ./scripts/postgres.sh stop "$PGDIR" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
started="$(./scripts/postgres.sh start "$PGDIR")"
eval "$started"
python3 -c 'import os; print(os.urandom(32).hex())' >"$WORK/master.key"

cat >"$WORK/hello.toml" <<TOML
[app]
name = "hello"
version = "1.0.0"
component = "$PWD/examples/target/wasm32-wasip2/release/hello_http.wasm"
[http]
route = "/hello/..."
TOML
cat >"$WORK/kv.toml" <<TOML
[app]
name = "kv"
version = "1.0.0"
component = "$PWD/runtime/tests/fixtures/target/wasm32-wasip2/release/kv_app.wasm"
[http]
route = "/kv"
[[storage]]
bucket = "cache"
class = "internal"
TOML
printf '[secrets]\nmaster_key_file = "%s"\n' "$WORK/master.key" >"$WORK/embedded.toml"
printf '[state]\nbackend = "postgres"\nurl = "%s"\npool_size = 16\n[secrets]\nmaster_key_file = "%s"\n' \
  "$WARDEN_TEST_POSTGRES_URL" "$WORK/master.key" >"$WORK/postgres.toml"

wait_for() {
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "bench: $1 never answered" >&2
  exit 1
}

# serve NAME CONFIG PORT: a node on its own data directory.
serve() {
  WARDEN_DATA_DIR="$WORK/$1" target/release/warden serve --config "$2" \
    --app "$WORK/hello.toml" --app "$WORK/kv.toml" \
    --listen "127.0.0.1:$3" --admin-listen "127.0.0.1:0" 2>"$WORK/$1.log" &
  PIDS+=($!)
  wait_for "http://127.0.0.1:$3/hello/bench"
}

GET='[{"op":"get","bucket":"cache","key":"hot"}]'
SET='[{"op":"set","bucket":"cache","key":"hot","value":"warm"}]'
# load NAME CONNECTIONS URL [body]: oha's JSON in $WORK/NAME.json.
load() {
  local args=(--no-tui -c "$2")
  if [ $# -ge 4 ]; then args+=(-m POST -d "$4"); fi
  "$TOOLS/bin/oha" "${args[@]}" -n 1000 "$3" >/dev/null
  "$TOOLS/bin/oha" "${args[@]}" --output-format json -z "$DURATION" "$3" >"$WORK/$1.json"
}

serve embedded "$WORK/embedded.toml" 18101
serve pg-a "$WORK/postgres.toml" 18102
curl -fsS -o /dev/null -X POST -d "$SET" http://127.0.0.1:18101/kv
curl -fsS -o /dev/null -X POST -d "$SET" http://127.0.0.1:18102/kv
HALF=$((CONNECTIONS / 2))
for app in hello kv; do
  if [ "$app" = hello ]; then path=/hello/bench; body=(); else path=/kv; body=("$GET"); fi
  load "one-embedded-$app" "$CONNECTIONS" "http://127.0.0.1:18101$path" "${body[@]}"
  load "one-postgres-$app" "$CONNECTIONS" "http://127.0.0.1:18102$path" "${body[@]}"
done
kill "${PIDS[0]}"
serve pg-b "$WORK/postgres.toml" 18103
for app in hello kv; do
  if [ "$app" = hello ]; then path=/hello/bench; body=(); else path=/kv; body=("$GET"); fi
  load "two-a-$app" "$HALF" "http://127.0.0.1:18102$path" "${body[@]}" &
  first=$!
  load "two-b-$app" "$HALF" "http://127.0.0.1:18103$path" "${body[@]}"
  wait "$first"
done

python3 - "$WORK" "$DURATION" "$CONNECTIONS" <<'PY'
import json, sys
work, duration, conns = sys.argv[1:4]
def figures(*names):
    rps, p50, p99, ok, total = 0.0, 0.0, 0.0, 0, 0
    for name in names:
        d = json.load(open(f"{work}/{name}.json"))
        s, p = d["summary"], d["latencyPercentiles"]
        codes = d.get("statusCodeDistribution", {})
        ok += sum(v for k, v in codes.items() if k.startswith("2"))
        total += sum(codes.values())
        rps += s["requestsPerSec"]
        p50 = max(p50, p["p50"] * 1e3)
        p99 = max(p99, p["p99"] * 1e3)
    return rps, p50, p99, ok / max(total, 1)
print(f"{duration} per run, {conns} connections in all, loopback, oha keep-alive; two nodes share this machine's cores")
print(f"{'setup':<34}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'2xx':>8}")
for app, what in (("hello", "hello (no storage)"), ("kv", "kv (one storage get)")):
    e = figures(f"one-embedded-{app}")
    p = figures(f"one-postgres-{app}")
    t = figures(f"two-a-{app}", f"two-b-{app}")
    for name, f in ((f"{what}, 1 node embedded", e), (f"{what}, 1 node postgres", p), (f"{what}, 2 nodes postgres", t)):
        print(f"{name:<34}{f[0]:>10.0f}{f[1]:>9.3f}{f[2]:>9.3f}{f[3]:>8.1%}")
    per_e, per_p = 1e6 / e[0], 1e6 / p[0]
    print(f"  {app}: postgres/embedded req/s {p[0]/e[0]:.2f}x ({per_p - per_e:+.1f} µs per request of the machine); two nodes/one node {t[0]/p[0]:.2f}x")
PY
