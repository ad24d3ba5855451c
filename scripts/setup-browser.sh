#!/usr/bin/env bash
# Installs what the dashboard test drives: Debian's `chromium` (apt) and
# playwright-core (npm, into target/browser/). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PLAYWRIGHT=1.57.0
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium
fi
OUT=target/browser
if [ ! -f "$OUT/node_modules/playwright-core/package.json" ]; then
  mkdir -p "$OUT"
  (cd "$OUT" && npm init -y >/dev/null &&
    npm install --silent --no-audit --no-fund "playwright-core@$PLAYWRIGHT")
fi
