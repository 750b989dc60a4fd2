#!/usr/bin/env bash
# pgfort's entrypoint: the official image's environment contract, run as uid 999 throughout.
#   first start, empty PGDATA:  initdb --data-checksums, pg_hba.conf, POSTGRES_DB,
#                               /docker-entrypoint-initdb.d/*, then the server
#   first start, replica mode:  pg_basebackup -R -X stream -S SLOT from PGFORT_PRIMARY_HOST, then a hot standby
#   any later start:            the server, over the existing data (never re-initialised)
set -Eeuo pipefail
# shellcheck source=entrypoint-lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/entrypoint-lib.sh"

CONFIG_FILE="${PGFORT_CONFIG_DIR:-/etc/postgresql}/postgresql.conf"
HBA_TEMPLATE="${PGFORT_CONFIG_DIR:-/etc/postgresql}/pg_hba.conf.template"
# The temporary server of the first init listens on a private socket only, so neither clients nor
# the healthcheck (which asks /var/run/postgresql) take it for the real, finished server.
INIT_SOCKET_DIR=/tmp/pgfort-init
REPLICA_PASSFILE=/tmp/pgfort-replica/pgpass
# The server's key when it must be used from a private copy (private_tls_key); empty otherwise.
TLS_KEY=

server_args() {
  printf '%s\n' "-D" "$PGDATA" "-c" "config_file=$CONFIG_FILE"
  local shared
  shared=$(shared_socket_dir)
  if [ -n "$shared" ]; then printf '%s\n' "-c" "unix_socket_directories=/var/run/postgresql,$shared"; fi
}

initialise_database() {
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  check_password_policy
  pgfort_log "initialising $PGDATA (data checksums on)"
  local initdb_args=(--data-checksums "--username=$POSTGRES_USER" "--pgdata=$PGDATA" --auth-local=trust)
  [ -z "${POSTGRES_INITDB_WALDIR:-}" ] || initdb_args+=("--waldir=$POSTGRES_INITDB_WALDIR")
  # The password goes through a file descriptor, never argv. POSTGRES_INITDB_ARGS is eval'd like
  # the official image does, so quoted values with spaces survive.
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    eval 'initdb "${initdb_args[@]}" --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD") '"${POSTGRES_INITDB_ARGS:-}"
  else
    eval 'initdb "${initdb_args[@]}" '"${POSTGRES_INITDB_ARGS:-}"
  fi
  # initdb writes its own postgresql.conf and pg_hba.conf into PGDATA. The configuration in
  # force is /etc/postgresql/postgresql.conf (includes only); the hba file is rendered here.
  render_hba "$HBA_TEMPLATE" >"$PGDATA/pg_hba.conf"
  printf '# Not used: this server reads %s (include_dir conf.d).\n' "$CONFIG_FILE" >"$PGDATA/postgresql.conf"

  mkdir -p "$INIT_SOCKET_DIR"
  pg_ctl -D "$PGDATA" -w -t 120 \
    -o "-c config_file=$CONFIG_FILE ${TLS_KEY:+-c ssl_key_file=$TLS_KEY} -c listen_addresses='' -c unix_socket_directories=$INIT_SOCKET_DIR" start
  export PGHOST=$INIT_SOCKET_DIR PGUSER=$POSTGRES_USER PGPORT=${PGPORT:-5432}
  local psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet)
  if [ "$POSTGRES_DB" != postgres ]; then
    # A psql variable, so database names with spaces or quotes are quoted by psql itself.
    "${psql[@]}" --dbname=postgres -v dbname="$POSTGRES_DB" <<<'CREATE DATABASE :"dbname";'
  fi
  export PGDATABASE=$POSTGRES_DB
  local script
  while IFS= read -r script; do
    pgfort_log "running $script"
    case "$script" in
      *.sh)
        if [ -x "$script" ]; then "$script"; else
          # shellcheck disable=SC1090
          source "$script"
        fi
        ;;
      *.sql) "${psql[@]}" -f "$script" ;;
      *.sql.gz) gzip -dc "$script" | "${psql[@]}" ;;
      *.sql.xz) xz -dc "$script" | "${psql[@]}" ;;
      *.sql.zst) zstd -dcq "$script" | "${psql[@]}" ;;
    esac
  done < <(initdb_scripts /docker-entrypoint-initdb.d)
  create_replication_role "${psql[@]}"
  pg_ctl -D "$PGDATA" -m fast -w stop
  unset PGHOST PGUSER PGDATABASE
  pgfort_log "initialisation complete"
}

# create_replication_role PSQL…: with PGFORT_REPLICATION_PASSWORD[_FILE] on a primary (a Compose
# project's: no pgfort makes the role there), the replication role at the first start, as pgfort
# up makes it (src/replica/replication.ts). The password reaches psql in its environment, never argv,
# and the statement is not logged whatever conf.d says.
create_replication_role() {
  [ -n "${PGFORT_REPLICATION_PASSWORD:-}${PGFORT_REPLICATION_PASSWORD_FILE:-}" ] || return 0
  file_env PGFORT_REPLICATION_PASSWORD
  local user=${PGFORT_REPLICATION_USER:-replicator}
  pgfort_log "creating the replication role $user"
  PGFORT_ROLE_PASSWORD=$PGFORT_REPLICATION_PASSWORD "$@" --dbname=postgres -v user="$user" <<'SQL'
\getenv password PGFORT_ROLE_PASSWORD
SET log_statement = 'none';
CREATE ROLE :"user" WITH REPLICATION LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOBYPASSRLS CONNECTION LIMIT 20 PASSWORD :'password';
SQL
}

# ensure_replication_slot ENV…: with PGFORT_CREATE_SLOT=1 (a Compose project's replica), the slot
# on the primary before the base backup, over a replication connection; one that exists is used.
ensure_replication_slot() {
  [ "${PGFORT_CREATE_SLOT:-}" = 1 ] && [ -n "${PGFORT_REPLICATION_SLOT:-}" ] || return 0
  local out
  if out=$(replication_slot_sql "$PGFORT_REPLICATION_SLOT" | env "$@" psql --no-psqlrc -X -v ON_ERROR_STOP=1 \
    "host=$PGFORT_PRIMARY_HOST port=${PGFORT_PRIMARY_PORT:-5432} user=${PGFORT_REPLICATION_USER:-replicator} dbname=replication replication=true" 2>&1); then
    pgfort_log "made the replication slot $PGFORT_REPLICATION_SLOT on $PGFORT_PRIMARY_HOST"
  elif [[ $out == *"already exists"* ]]; then
    pgfort_log "the replication slot $PGFORT_REPLICATION_SLOT exists on $PGFORT_PRIMARY_HOST"
  else
    pgfort_die "cannot make the replication slot $PGFORT_REPLICATION_SLOT on $PGFORT_PRIMARY_HOST: $out"
  fi
}

# The replication password reaches libpq through a pgpass file on tmpfs, written at every start
# from PGFORT_REPLICATION_PASSWORD[_FILE]: never argv, never the environment of postgres, and a
# rotated secret is picked up by a restart.
write_replica_passfile() {
  file_env PGFORT_REPLICATION_PASSWORD
  [ -n "$PGFORT_REPLICATION_PASSWORD" ] || pgfort_die "replica mode needs PGFORT_REPLICATION_PASSWORD or PGFORT_REPLICATION_PASSWORD_FILE"
  (umask 077 && mkdir -p "$(dirname "$REPLICA_PASSFILE")" &&
    pgpass_line "${PGFORT_REPLICATION_USER:-replicator}" "$PGFORT_REPLICATION_PASSWORD" >"$REPLICA_PASSFILE")
  unset PGFORT_REPLICATION_PASSWORD
}

# follow_upstream: at every start of a self-managed replica (PGFORT_CREATE_SLOT=1), its
# primary_conninfo names the upstream of its environment and its slot exists there. An upstream
# that does not answer is no reason not to start: the standby replays what it has and retries.
follow_upstream() {
  conninfo_upstream "$PGDATA/postgresql.auto.conf"
  local tls=()
  if tls_required; then tls=("PGSSLMODE=verify-full" "PGSSLROOTCERT=$PGFORT_TLS_CA_FILE"); fi
  (ensure_replication_slot "${tls[@]}" PGPASSFILE="$REPLICA_PASSFILE" PGCONNECT_TIMEOUT=10) ||
    pgfort_log "could not make sure of the slot on ${PGFORT_PRIMARY_HOST} now: starting anyway, the standby retries its upstream"
}

bootstrap_replica() {
  local args
  mapfile -t args < <(basebackup_args)
  pgfort_log "replica mode: base backup from ${PGFORT_PRIMARY_HOST}:${PGFORT_PRIMARY_PORT:-5432}${PGFORT_REPLICATION_SLOT:+ via slot $PGFORT_REPLICATION_SLOT}"
  local tls=()
  if tls_required; then tls=("PGSSLMODE=verify-full" "PGSSLROOTCERT=$PGFORT_TLS_CA_FILE"); fi
  ensure_replication_slot "${tls[@]}" PGPASSFILE="$REPLICA_PASSFILE"
  if ! env "${tls[@]}" PGPASSFILE="$REPLICA_PASSFILE" pg_basebackup "${args[@]}"; then
    # Leave the directory empty, so the next start tries again instead of running half a copy.
    find "$PGDATA" -mindepth 1 -delete 2>/dev/null || true
    [ -z "${POSTGRES_INITDB_WALDIR:-}" ] || find "$POSTGRES_INITDB_WALDIR" -mindepth 1 -delete 2>/dev/null || true
    pgfort_die "pg_basebackup from ${PGFORT_PRIMARY_HOST} failed (see above): check the primary is reachable, the replication password and the slot"
  fi
  # -R copies the password into primary_conninfo; the passfile is the one place it lives.
  standby_conninfo "$PGDATA/postgresql.auto.conf"
  render_hba "$HBA_TEMPLATE" >"$PGDATA/pg_hba.conf"
  printf '# Not used: this server reads %s (include_dir conf.d).\n' "$CONFIG_FILE" >"$PGDATA/postgresql.conf"
  pgfort_log "base backup complete; starting as a hot standby"
}

main() {
  # `docker run IMAGE -c work_mem=8MB` means postgres with those flags, as in the official image.
  if [ $# -eq 0 ]; then set -- postgres; fi
  if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi
  if [ "$1" != postgres ]; then exec "$@"; fi
  shift
  ensure_data_dir
  # A key postgres would refuse (a Compose secret keeps its host mode): a private copy on tmpfs,
  # for the first init's server too.
  TLS_KEY=$(private_tls_key /var/run/postgresql/pgfort-tls)
  if is_replica_mode; then write_replica_passfile; fi
  case "$(data_dir_state)" in
    initialised)
      check_data_major
      if is_replica_mode && [ "${PGFORT_CREATE_SLOT:-}" = 1 ]; then follow_upstream; fi
      ;;
    empty) if is_replica_mode; then bootstrap_replica; else initialise_database; fi ;;
    foreign) pgfort_die "PGDATA=$PGDATA is not empty but holds no database (no PG_VERSION); empty it or point PGDATA at a subdirectory" ;;
  esac
  unset POSTGRES_PASSWORD PGFORT_REPLICATION_PASSWORD
  if tls_required; then
    check_tls_files
    hba_require_tls "$PGDATA/pg_hba.conf"
    if is_replica_mode; then conninfo_verify_tls "$PGDATA/postgresql.auto.conf"; fi
  fi
  local args
  mapfile -t args < <(server_args)
  if [ -n "$TLS_KEY" ]; then args+=("-c" "ssl_key_file=$TLS_KEY"); fi
  exec postgres "${args[@]}" "$@"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
