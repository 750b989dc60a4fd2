#!/usr/bin/env bash
# The pooler container's program (<cluster>-pooler): PgBouncer with the config pgfort renders into
# PGFORT_POOLER_CONFIG_DIR (bind-mounted read-only: pgbouncer.ini, hba.conf), its own socket in
# the cluster's socket volume at PGFORT_POOLER_SOCKET_DIR (the admin console, for pgfort and the
# agent). Runs as uid 999 like the server; logs to stderr.
set -Eeuo pipefail

pooler_log() { printf 'pgfort-pooler: %s\n' "$*" >&2; }

# prepare_socket_dir DIR: the pooler's directory in the socket volume, 0700, without a
# predecessor's socket (Docker names are unique: no live pooler uses it).
prepare_socket_dir() {
  local dir=$1
  if ! { [ -d "$dir" ] || mkdir -m 0700 "$dir" 2>/dev/null; } || [ ! -w "$dir" ]; then
    pooler_log "$dir is not writable by uid $(id -u): mount the cluster's socket volume (pgfort up does)"
    return 1
  fi
  rm -f "$dir"/.s.PGSQL.*
}

main() {
  local config=${PGFORT_POOLER_CONFIG_DIR:-/etc/pgfort-pooler}
  [ -r "$config/pgbouncer.ini" ] || { pooler_log "$config/pgbouncer.ini is missing: run pgfort up"; exit 1; }
  prepare_socket_dir "${PGFORT_POOLER_SOCKET_DIR:?PGFORT_POOLER_SOCKET_DIR must name the socket directory of the pooler}"
  exec pgbouncer "$config/pgbouncer.ini"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
