#!/usr/bin/env bash
# Functions of pgfort's entrypoint. Sourced by docker-entrypoint.sh, and by the unit tests, which
# call the pure ones (no server, no files outside a temp dir) with a prepared environment.
# Everything here runs as uid 999: there is no step-down from root, because there is no root.

pgfort_log() { printf '%s pgfort-entrypoint: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
pgfort_die() { pgfort_log "error: $*"; exit 1; }

# file_env VAR [DEFAULT]: VAR from $VAR or from the file named by $VAR_FILE (Docker secrets),
# never both. The value is exported to this shell only; it is not passed to postgres' argv.
file_env() {
  local var=$1 default=${2:-} file_var="${1}_FILE" value
  if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
    pgfort_die "both $var and $file_var are set; set only one of them"
  fi
  value=$default
  if [ -n "${!var:-}" ]; then
    value=${!var}
  elif [ -n "${!file_var:-}" ]; then
    [ -r "${!file_var}" ] || pgfort_die "$file_var=${!file_var} is not a readable file (mount it readable by uid 999)"
    value=$(<"${!file_var}")
  fi
  export "$var"="$value"
  unset "$file_var"
}

# network_auth_method: what pg_hba.conf uses for TCP connections. scram-sha-256 unless the user
# explicitly asks otherwise with POSTGRES_HOST_AUTH_METHOD (as with the official image).
network_auth_method() {
  local method=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
  case "$method" in
    scram-sha-256 | md5 | password | trust | reject | cert) printf '%s\n' "$method" ;;
    *) pgfort_die "POSTGRES_HOST_AUTH_METHOD=$method is not one of scram-sha-256, md5, password, trust, reject, cert" ;;
  esac
}

# shared_socket_dir: this server's own directory in the cluster's socket volume (mounted at
# PGFORT_SOCKETS_DIR by pgfort, shared with the agent), named by the container's host name, made
# when missing and cleared of a predecessor's socket and lock files (Docker names are unique: no
# live server uses it). Prints nothing when the variable is unset or the volume not writable.
shared_socket_dir() {
  local base=${PGFORT_SOCKETS_DIR:-} dir
  [ -n "$base" ] || return 0
  dir="$base/${HOSTNAME:?}"
  if ! { [ -d "$dir" ] || mkdir -m 0700 "$dir" 2>/dev/null; } || [ ! -w "$dir" ]; then
    pgfort_log "warning: $base is not writable: the agent reaches this server over the network only"
    return 0
  fi
  rm -f "$dir"/.s.PGSQL.*
  printf '%s\n' "$dir"
}

# render_hba TEMPLATE: the pg_hba.conf for this container on stdout.
render_hba() {
  local method user
  method=$(network_auth_method) || exit 1
  user=${PGFORT_REPLICATION_USER:-replicator}
  case "$user" in *[!A-Za-z0-9_]*) pgfort_die "PGFORT_REPLICATION_USER=$user: use letters, digits and _" ;; esac
  sed -e "s/@@NETWORK_AUTH@@/$method/g" -e "s/@@REPLICATION_USER@@/$user/g" "$1"
}

# check_password_policy: refuse to initialise a server nobody can log in to over the network,
# or one anybody can, unless that was asked for (the official image's rule).
check_password_policy() {
  local method
  method=$(network_auth_method) || exit 1
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$method" != trust ]; then
    pgfort_die "the database is uninitialised and no superuser password is set: set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE (or POSTGRES_HOST_AUTH_METHOD=trust, which allows any network client in without a password)"
  fi
  if [ "$method" = trust ]; then
    pgfort_log "warning: POSTGRES_HOST_AUTH_METHOD=trust lets every network client connect as any role without a password"
  fi
}

# is_replica_mode: should an empty data directory be filled from a primary rather than initdb'd?
is_replica_mode() { [ -n "${PGFORT_PRIMARY_HOST:-}" ]; }

# basebackup_args: the pg_basebackup arguments for replica mode, one per line. The password is
# not among them: it travels in PGPASSWORD, in this process's environment only.
basebackup_args() {
  local slot=${PGFORT_REPLICATION_SLOT:-}
  [ -n "${PGFORT_PRIMARY_HOST:-}" ] || pgfort_die "PGFORT_PRIMARY_HOST is not set"
  case "$slot" in *[!a-z0-9_]*) pgfort_die "PGFORT_REPLICATION_SLOT=$slot: use lowercase letters, digits and _" ;; esac
  printf '%s\n' \
    "--pgdata=$PGDATA" \
    "--host=$PGFORT_PRIMARY_HOST" \
    "--port=${PGFORT_PRIMARY_PORT:-5432}" \
    "--username=${PGFORT_REPLICATION_USER:-replicator}" \
    "--no-password" \
    "--write-recovery-conf" \
    "--wal-method=stream" \
    "--checkpoint=fast" \
    "--progress"
  [ -z "$slot" ] || printf '%s\n' "--slot=$slot"
  [ -z "${POSTGRES_INITDB_WALDIR:-}" ] || printf '%s\n' "--waldir=$POSTGRES_INITDB_WALDIR"
}

# initdb_scripts DIR: the files to run on first init, in name order, one per line.
initdb_scripts() {
  local file
  for file in "$1"/*; do
    [ -e "$file" ] || continue
    case "$file" in
      *.sh | *.sql | *.sql.gz | *.sql.xz | *.sql.zst) printf '%s\n' "$file" ;;
      *) pgfort_log "ignoring $file (not .sh, .sql, .sql.gz, .sql.xz or .sql.zst)" ;;
    esac
  done | LC_ALL=C sort
}

# data_dir_state: "initialised", "empty" or "foreign" (files there, but no PG_VERSION).
data_dir_state() {
  if [ -s "$PGDATA/PG_VERSION" ]; then
    echo initialised
  elif [ -z "$(find "$PGDATA" -mindepth 1 -maxdepth 1 ! -name lost+found -print -quit 2>/dev/null)" ]; then
    echo empty
  else
    echo foreign
  fi
}

# check_data_major: an initialised PGDATA of another major (a 15 volume under the 17 image, the
# common way a default change goes wrong) stops here with what to do, before postgres says only
# "database files are incompatible with server".
check_data_major() {
  local data_major
  data_major=$(cat "$PGDATA/PG_VERSION")
  if [ "$data_major" != "${PG_MAJOR:?PG_MAJOR is set by the image}" ]; then
    pgfort_die "PGDATA=$PGDATA holds a PostgreSQL $data_major cluster and this image runs PostgreSQL $PG_MAJOR: set image.pgMajor: $data_major in pgfort.yaml (the $data_major image) to run it; moving it to $PG_MAJOR is a major upgrade (dump and restore), never this image on the old files"
  fi
}

# ensure_data_dir: PGDATA exists, belongs to us and is 0700, or a message says how to fix it.
# We cannot chown as uid 999, so a root-owned bind mount is the user's to fix, and we say how.
ensure_data_dir() {
  mkdir -p "$PGDATA" 2>/dev/null || pgfort_die "cannot create PGDATA=$PGDATA as uid $(id -u); create it and chown it to 999:999 on the host"
  if [ ! -w "$PGDATA" ] || [ "$(stat -c %u "$PGDATA")" != "$(id -u)" ]; then
    pgfort_die "PGDATA=$PGDATA is owned by uid $(stat -c %u "$PGDATA"), not by uid $(id -u) (postgres); on the host run: chown -R 999:999 <the directory you mounted>"
  fi
  chmod 700 "$PGDATA" 2>/dev/null || true
  if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
    mkdir -p "$POSTGRES_INITDB_WALDIR" 2>/dev/null || pgfort_die "cannot create POSTGRES_INITDB_WALDIR=$POSTGRES_INITDB_WALDIR; chown it to 999:999"
    [ -w "$POSTGRES_INITDB_WALDIR" ] || pgfort_die "POSTGRES_INITDB_WALDIR=$POSTGRES_INITDB_WALDIR is not writable by uid 999; chown it to 999:999"
    chmod 700 "$POSTGRES_INITDB_WALDIR" 2>/dev/null || true
  fi
}

# tls_required: PGFORT_TLS_CA_FILE names the CA of the cluster's certificates (pgfort sets it with
# ssl = on in conf.d): network connections must use TLS, and a replica verifies its primary.
tls_required() { [ -n "${PGFORT_TLS_CA_FILE:-}" ]; }

# check_tls_files: with TLS required, the CA must be readable (the server's own pair is checked by
# postgres itself, which names the file it cannot use).
check_tls_files() {
  tls_required || return 0
  [ -r "$PGFORT_TLS_CA_FILE" ] || pgfort_die "PGFORT_TLS_CA_FILE=$PGFORT_TLS_CA_FILE is not readable: run pgfort up (it puts the cluster's certificates into the secrets volume)"
}

# hba_require_tls FILE: every `host` line becomes `hostssl` (plain TCP is refused; `local` lines
# and lines the operator wrote as hostssl, hostnossl or hostgssenc stay). Run at every start, so a
# data directory from before TLS, a restore or an upgrade gets it too.
hba_require_tls() {
  sed -i -E 's/^host([[:space:]])/hostssl\1/' "$1"
}

# conninfo_verify_tls FILE: a standby's primary_conninfo verifies the primary's certificate
# (sslmode=verify-full against PGFORT_TLS_CA_FILE), also for a standby made before TLS.
conninfo_verify_tls() {
  local file=$1 ca=$PGFORT_TLS_CA_FILE
  # A value in primary_conninfo is plain, or quoted by libpq ('…'), which postgresql.auto.conf doubles (''…'').
  local value="(''[^']*''|[^ ']*)"
  grep -q '^primary_conninfo = ' "$file" 2>/dev/null || return 0
  sed -i -E \
    -e "/^primary_conninfo = /s/ (sslmode|sslrootcert)=$value//g" \
    -e "/^primary_conninfo = /s/^primary_conninfo = '(sslmode|sslrootcert)=$value ?/primary_conninfo = '/" \
    -e "/^primary_conninfo = /s/^primary_conninfo = '(sslmode|sslrootcert)=$value ?/primary_conninfo = '/" \
    -e "/^primary_conninfo = /s|^primary_conninfo = '|primary_conninfo = 'sslmode=verify-full sslrootcert=${ca} |" \
    "$file"
}

# private_tls_key DIR: the server's key where postgres accepts it. A key in the secrets volume is
# 0400 and ours; a key bind-mounted as a Compose secret keeps its host owner and mode (0644: the
# container cannot read a 0600 file of another uid), which postgres refuses ("group or world
# access"). Such a key is copied into DIR (tmpfs) as 0600 and its path printed: the server then
# takes ssl_key_file from the command line. Prints nothing when the key is fine or TLS is off.
private_tls_key() {
  tls_required || return 0
  local dir=$1 key=${PGFORT_TLS_KEY_FILE:-${PGFORT_TLS_CA_FILE%/*}/tls-server.key}
  [ -r "$key" ] || pgfort_die "the server's TLS key $key is not readable: run pgfort up (or pgfort compose again)"
  if [ -O "$key" ] && [ -z "$(find "$key" -perm /077 2>/dev/null)" ]; then return 0; fi
  (umask 077 && mkdir -p "$dir" && cp "$key" "$dir/tls-server.key") || pgfort_die "cannot copy the TLS key $key into $dir"
  printf '%s\n' "$dir/tls-server.key"
}

# replication_slot_sql SLOT: the replication command that makes a replica's slot on its primary.
# A Compose project has no pgfort to make it first (PGFORT_CREATE_SLOT=1): the replica does.
replication_slot_sql() {
  case "$1" in '' | *[!a-z0-9_]*) pgfort_die "PGFORT_REPLICATION_SLOT=$1: use lowercase letters, digits and _" ;; esac
  printf 'CREATE_REPLICATION_SLOT %s PHYSICAL RESERVE_WAL\n' "$1"
}

# pgpass_line USER PASSWORD: a ~/.pgpass line for any host, port and database, ':' and '\' escaped.
pgpass_line() {
  local user=${1//\\/\\\\} password=${2//\\/\\\\}
  printf '*:*:*:%s:%s\n' "${user//:/\\:}" "${password//:/\\:}"
}

# conninfo_upstream FILE: point primary_conninfo at PGFORT_PRIMARY_HOST:PGFORT_PRIMARY_PORT. A
# self-managed replica (Compose, Swarm) is told its upstream by its environment: after a promotion
# its service names the new primary, and the standby follows it across the timeline switch.
conninfo_upstream() {
  local file=$1 host=${PGFORT_PRIMARY_HOST:-} port=${PGFORT_PRIMARY_PORT:-5432}
  case "$host" in '' | *[!A-Za-z0-9_.-]*) pgfort_die "PGFORT_PRIMARY_HOST=$host: use a host name" ;; esac
  case "$port" in '' | *[!0-9]*) pgfort_die "PGFORT_PRIMARY_PORT=$port: use a port number" ;; esac
  grep -q '^primary_conninfo = ' "$file" 2>/dev/null || return 0
  # A value is plain, or quoted by libpq ('…'), which postgresql.auto.conf doubles (''…''): pg_basebackup -R quotes the host.
  local value="(''[^']*''|[^ ']*)"
  sed -i -E \
    -e "/^primary_conninfo = /s/ host=$value/ host=${host}/" \
    -e "/^primary_conninfo = /s/ port=$value/ port=${port}/" \
    "$file"
}

# standby_conninfo FILE: in postgresql.auto.conf written by pg_basebackup -R, drop the password from
# primary_conninfo, point it at the passfile, and name the walreceiver after this node (so the
# primary's pg_stat_replication says which replica it is).
standby_conninfo() {
  local file=$1 name=${PGFORT_NODE_NAME:-walreceiver}
  case "$name" in *[!A-Za-z0-9_-]*) pgfort_die "PGFORT_NODE_NAME=$name: use letters, digits, - and _" ;; esac
  sed -i -E \
    -e "/^primary_conninfo = /s/ ?password=('[^']*'|[^ ']*)//" \
    -e "/^primary_conninfo = /s|^primary_conninfo = '|primary_conninfo = 'application_name=${name} passfile=${REPLICA_PASSFILE:-/tmp/pgfort-replica/pgpass} |" \
    "$file"
}
