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
# The demo's own data directory and build cache, whatever the shell says:
# the script mints an admin token and sets secrets in it.
export WARDEN_DATA_DIR="$PWD/.warden"
export WARDEN_CACHE_DIR="$PWD/.warden-build"
mkdir -p "$WARDEN_DATA_DIR" target

saas_pid=""
serve_pid=""
stop() {
  [ -z "$serve_pid" ] || kill -TERM "$serve_pid" 2>/dev/null || true
  [ -z "$serve_pid" ] || wait "$serve_pid" 2>/dev/null || true
  [ -z "$saas_pid" ] || kill "$saas_pid" 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

apps=(--app examples/hello-http/app.toml --app examples/report-formatter/app.toml
  --app examples/expense-reminder/app.toml)
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
  echo "warning: no python3 or Node.js 18+ here; serving the Rust examples only" >&2
fi

# The credentials the connectors use; the apps never see them.
for secret in crm-token chat-token; do
  if ! $W secrets list 2>/dev/null | grep -q "^$secret "; then
    printf 'demo-%s' "$secret" | $W secrets set "$secret" >/dev/null
  fi
done
# An admin token for the dashboard, made for this run (12 hours).
token=$($W tokens create --name demo-admin --role admin --ttl 12h 2>/dev/null | grep -o 'wdn_[A-Za-z0-9_-]*' || true)
if [ -z "$token" ]; then
  echo "serve-examples: could not make a token for the dashboard (warden tokens create failed)" >&2
  exit 1
fi

if command -v python3 >/dev/null; then
  python3 examples/demo-upstream/saas.py --port 8089 >target/demo-saas.log 2>&1 &
  saas_pid=$!
  for _ in $(seq 1 50); do
    grep -q "listening on" target/demo-saas.log && break
    kill -0 "$saas_pid" 2>/dev/null || break
    sleep 0.2
  done
  if ! grep -q "listening on" target/demo-saas.log; then
    echo "warning: the stand-in CRM and chat did not start (is 127.0.0.1:8089 taken? see target/demo-saas.log); their calls will fail" >&2
  fi
fi
serve_log=target/demo-serve.log
# Emptied first: the wait below must not read the last run's log before
# tee truncates it (it printed a tour with empty addresses so).
: >"$serve_log"
$W serve --config examples/warden.toml "${apps[@]}" "$@" 2> >(tee "$serve_log" >&2) &
serve_pid=$!

# The first start compiles the Python and JavaScript components in the
# background (tens of seconds; the Rust apps answer meanwhile); later
# starts reuse the compiled artifacts kept in .warden/. The tour waits until
# every app answers.
until grep -q "^warden: ready" "$serve_log" 2>/dev/null; do
  kill -0 "$serve_pid" 2>/dev/null || exit 1
  sleep 0.5
done
app_url=$(sed -n 's/^warden: listening on \(http[^ ]*\).*/\1/p' "$serve_log" | head -1)
admin_url=$(sed -n 's/^warden: admin API on \(http[^ ]*\).*/\1/p' "$serve_log" | head -1)

cat <<TOUR

Warden is serving on $app_url (admin API and dashboard on $admin_url).

  # Rust: an HTTP component and a JSON handler
  curl $app_url/hello/ada
  curl -d '{"title":"Q3","rows":[{"name":"travel","amount":120.5}]}' $app_url/report
  # Rust: a reminder per person with open expenses, posted to the chat once a day (also at 09:00 UTC on weekdays)
  curl -X POST $app_url/remind
TOUR
if [[ " ${sdk[*]} " == *" lunch-bot "* ]]; then
  cat <<TOUR

  # Python: lunch orders kept a day in an internal bucket, the summary posted to the chat
  curl -d '{"name":"ada","dish":"soup"}' $app_url/lunch
  curl -d '{"summary":true}' $app_url/lunch
TOUR
fi
if [[ " ${sdk[*]} " == *" expense-dashboard "* ]]; then
  cat <<TOUR

  # JavaScript: expense reports read from the CRM (read scope), cached, posted with emails redacted
  curl $app_url/expenses
  curl -d '{"post":true}' $app_url/expenses
  curl http://127.0.0.1:8089/chat/messages     # what the chat received: [REDACTED:email:…]

  # Denied by policy: approving needs the CRM's write scope, which the app was not granted
  curl -d '{"approve":"EXP-101"}' $app_url/expenses
  WARDEN_DATA_DIR=.warden $W traces expense-dashboard --errors   # the denial, in the trace
TOUR
fi
cat <<TOUR

  Dashboard: $admin_url/dashboard  (token, valid 12 h: $token)
  WARDEN_DATA_DIR=.warden WARDEN_TOKEN=$token $W top

TOUR
wait "$serve_pid"
