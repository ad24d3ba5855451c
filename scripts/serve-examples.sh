#!/usr/bin/env bash
# Warden's main job: `warden serve` with the example apps — Rust, Python
# and JavaScript — on the embedded store in .warden/, under the demo
# platform in examples/warden.toml, with a stand-in CRM and team chat
# (examples/demo-upstream/saas.py) on 127.0.0.1:8089. Once the apps
# answer it prints a short tour: curl lines, a call the platform denies
# and where to see it, and the dashboard with a token made for the demo.
# Ctrl-C drains and stops both.
#   curl http://127.0.0.1:8080/hello/ada
#   curl -d '{"title":"Q3","rows":[{"name":"travel","amount":120.5}]}' http://127.0.0.1:8080/report
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
cargo build -p warden-runtime --bin warden
W=target/debug/warden
export WARDEN_DATA_DIR="${WARDEN_DATA_DIR:-$PWD/.warden}"
mkdir -p "$WARDEN_DATA_DIR"

apps=(--app examples/hello-http/app.toml --app examples/report-formatter/app.toml)
# The Python and JavaScript apps: `warden build` installs componentize-py
# and componentize-js on first use (it needs python3 and node/npm, which
# setup-sdk-toolchains.sh installs with apt where they are missing).
sdk=()
if ./scripts/setup-sdk-toolchains.sh; then
  for app in lunch-bot expense-dashboard; do
    if $W build "examples/$app/app.toml"; then
      sdk+=("$app")
      apps+=(--app "examples/$app/app.toml")
    else
      echo "warning: $app did not build (above); serving the others" >&2
    fi
  done
else
  echo "warning: no python3 or node here; serving the Rust examples only" >&2
fi

# The credentials the connectors use; the apps never see them.
for secret in crm-token chat-token; do
  if ! $W secrets list 2>/dev/null | grep -q "^$secret "; then
    printf 'demo-%s' "$secret" | $W secrets set "$secret" >/dev/null
  fi
done
# An admin token for the dashboard, made once for the demo.
token_file="$WARDEN_DATA_DIR/demo-admin.token"
if [ ! -s "$token_file" ]; then
  (umask 077 && $W tokens create --name demo-admin --role admin >"$token_file")
fi
token=$(grep -o 'wdn_[A-Za-z0-9_-]*' "$token_file" | head -1)

saas_pid=""
if [ ${#sdk[@]} -gt 0 ]; then
  mkdir -p target
  python3 examples/demo-upstream/saas.py --port 8089 >target/demo-saas.log 2>&1 &
  saas_pid=$!
fi
$W serve --config examples/warden.toml "${apps[@]}" "$@" &
serve_pid=$!
stop() {
  kill -TERM "$serve_pid" 2>/dev/null || true
  wait "$serve_pid" 2>/dev/null || true
  [ -z "$saas_pid" ] || kill "$saas_pid" 2>/dev/null || true
}
trap stop INT TERM EXIT

# The first start compiles the Python and JavaScript components (tens of
# seconds); later starts use the compiled artifacts kept in .warden/.
until (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null; do
  kill -0 "$serve_pid" 2>/dev/null || exit 1
  sleep 0.5
done

cat <<TOUR

Warden is serving on http://127.0.0.1:8080 (admin API and dashboard on :8081).

  # Rust: an HTTP component and a JSON handler
  curl http://127.0.0.1:8080/hello/ada
  curl -d '{"title":"Q3","rows":[{"name":"travel","amount":120.5}]}' http://127.0.0.1:8080/report
TOUR
if [[ " ${sdk[*]} " == *" lunch-bot "* ]]; then
  cat <<TOUR

  # Python: lunch orders kept a day in an internal bucket, the summary posted to the chat
  curl -d '{"name":"ada","dish":"soup"}' http://127.0.0.1:8080/lunch
  curl -d '{"summary":true}' http://127.0.0.1:8080/lunch
TOUR
fi
if [[ " ${sdk[*]} " == *" expense-dashboard "* ]]; then
  cat <<TOUR

  # JavaScript: expense reports read from the CRM (read scope), cached, posted with emails redacted
  curl http://127.0.0.1:8080/expenses
  curl -d '{"post":true}' http://127.0.0.1:8080/expenses
  curl http://127.0.0.1:8089/chat/messages     # what the chat received: [REDACTED:email:…]

  # Denied by policy: approving needs the CRM's write scope, which the app was not granted
  curl -d '{"approve":"EXP-101"}' http://127.0.0.1:8080/expenses
  $W traces expense-dashboard --errors         # the denial, in the trace
TOUR
fi
cat <<TOUR

  Dashboard: http://127.0.0.1:8081/dashboard  (token: $token)
  WARDEN_TOKEN=$token $W top

TOUR
wait "$serve_pid"
