#!/usr/bin/env bash
# A throwaway PostgreSQL server: a fresh cluster in DIR, listening on a unix
# socket in DIR only (no TCP port, so nothing else on the machine can reach
# it and no port can clash), with trust authentication for the user `warden`.
#
#   eval "$(scripts/postgres.sh start DIR)"   # prints: export WARDEN_TEST_POSTGRES_URL=...
#   scripts/postgres.sh halt DIR              # stops the server, keeps the cluster
#   scripts/postgres.sh stop DIR              # stops it and removes DIR
#
# The tests use it through scripts/test.sh; anyone can use it to try
# `[state] backend = "postgres"` (url = the printed WARDEN_TEST_POSTGRES_URL).
# PostgreSQL's tools refuse to run as root: as root, the cluster belongs to
# the `postgres` user. The server comes from Debian's packages and is
# installed with apt when missing.
set -euo pipefail

usage() {
  echo "usage: $0 start DIR | halt DIR | stop DIR" >&2
  exit 2
}
[ $# -eq 2 ] || usage
command=$1
dir=$2

pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

# Runs a PostgreSQL tool as the cluster's owner.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$command" in
start)
  if [ -z "$(pg_bin)" ]; then
    echo "postgres.sh: installing PostgreSQL from apt" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
  fi
  bin=$(pg_bin)
  if [ -z "$bin" ]; then
    echo "postgres.sh: no PostgreSQL server found under /usr/lib/postgresql after installing" >&2
    exit 1
  fi
  mkdir -p "$dir/sock"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres "$dir"
    chmod 755 "$dir"
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$dir/data" -U warden -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 || {
      cat "$dir/initdb.log" >&2
      exit 1
    }
  fi
  # Many test hosts, each with a small pool, share the server.
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses='' -k $dir/sock -c max_connections=400 -c shared_buffers=64MB" \
    start >&2 || {
    cat "$dir/server.log" >&2
    exit 1
  }
  echo "export WARDEN_TEST_POSTGRES_URL='postgresql://warden@localhost/postgres?host=$dir/sock'"
  ;;
stop | halt)
  bin=$(pg_bin)
  if [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
  fi
  # `halt` keeps the cluster, so `start` brings the same one back.
  if [ "$command" = stop ]; then
    rm -rf "$dir"
  fi
  ;;
*)
  usage
  ;;
esac
