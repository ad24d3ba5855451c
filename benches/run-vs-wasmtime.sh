#!/usr/bin/env bash
# A warm `warden run` of a tiny command against `wasmtime run` of the same
# component (examples/oncall-picker, a wasi:cli command), timed by
# hyperfine over many runs. Warm: the data directory exists and holds the
# compiled artifact, as on a creator's second run; wasmtime uses its own
# compilation cache. Prints both means and the ratio against the target
# (warden <= 1.2x wasmtime).
#
#   ./benches/run-vs-wasmtime.sh               # 60 runs each
#   RUNS=200 ./benches/run-vs-wasmtime.sh
#
# hyperfine comes from Debian's packages (installed with apt when missing);
# wasmtime-cli 48.0.8 is installed with `cargo install` into
# $WARDEN_BENCH_TOOLS (default target/bench-tools) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-60}"
. benches/tools.sh
if ! command -v hyperfine >/dev/null; then
  apt-get install -y hyperfine >/dev/null
fi
need_wasmtime
./scripts/setup.sh >/dev/null
cargo build --release -p warden-runtime --bin warden

COMPONENT=examples/target/wasm32-wasip2/release/oncall-picker.wasm
ARGS="--week 3 ada bob cy"
DATA="$(mktemp -d)"
trap 'rm -rf "$DATA"' EXIT
export WARDEN_DATA_DIR="$DATA/warden"
# Both must say the same thing, and Warden's artifact is cached after this.
expected=$("$TOOLS/bin/wasmtime" run "$COMPONENT" $ARGS)
got=$(target/release/warden run examples/oncall-picker/app.toml -- $ARGS)
if [ "$expected" != "$got" ]; then
  echo "bench: warden run said '$got', wasmtime run said '$expected'" >&2
  exit 1
fi
hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$DATA/runs.json" \
  -n "warden run" "target/release/warden run examples/oncall-picker/app.toml -- $ARGS" \
  -n "wasmtime run" "$TOOLS/bin/wasmtime run $COMPONENT $ARGS" >/dev/null
python3 - "$DATA/runs.json" "$RUNS" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
w, t = results["warden run"], results["wasmtime run"]
print(f"oncall-picker (a wasi:cli command), warm, {sys.argv[2]} runs each (hyperfine)")
print(f"{'command':<14}{'mean ms':>10}{'± ms':>8}{'user ms':>10}{'system ms':>11}")
for name, r in (("wasmtime run", t), ("warden run", w)):
    print(f"{name:<14}{r['mean']*1e3:>10.1f}{r['stddev']*1e3:>8.1f}{r['user']*1e3:>10.1f}{r['system']*1e3:>11.1f}")
ratio = w["mean"] / t["mean"]
print(f"ratio warden/wasmtime: {ratio:.2f}x (target <= 1.20x: {'met' if ratio <= 1.2 else 'NOT met'})")
PY
