#!/usr/bin/env bash
# Makes sure python3 (with venv) and node/npm are here: `warden build`
# needs them to install componentize-py (PyPI) and componentize-js (npm)
# for the Python and JavaScript apps. Installs Debian's packages with apt
# where they are missing; exits non-zero when it cannot.
set -euo pipefail

missing=()
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3 python3-venv)
node_major=$(node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/' || true)
if [ -z "$node_major" ] || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
elif [ "$node_major" -lt 18 ]; then
  echo "setup-sdk-toolchains: Node.js $node_major is too old: componentize-js needs 18 or newer (Debian 12's nodejs, or nodejs.org)" >&2
  exit 1
fi
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if ! command -v apt-get >/dev/null; then
  echo "setup-sdk-toolchains: missing ${missing[*]} and no apt-get to install them" >&2
  exit 1
fi
echo "setup-sdk-toolchains: installing ${missing[*]} with apt" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
