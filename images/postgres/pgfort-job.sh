#!/usr/bin/env bash
# pgfort's job programs: what a throwaway backup/restore/verify container runs, as
# `pgfort-job VERB`. Parameters come only from the environment (PGFORT_*), never from shell
# text built by pgfort; the one result of a verb is one line on stderr:
#   PGFORT-RESULT {"rawBytes":…,"rowCounts":{…},"wal":{…}}
# Sourced by the unit tests (test/unit/image/pgfort-job.test.ts), executed in the image.
#
# Environment, per verb:
#   every verb reaching a server  PGFORT_SECRET_FILE (password file), PGFORT_PGUSER, PGFORT_PGHOST
#   dump-*, basebackup            PGFORT_COMPRESSION (zstd|lz4|none), PGFORT_COMPRESSION_LEVEL,
#                                 PGFORT_COMPRESSION_THREADS; PGFORT_AGE_RECIPIENTS (age public
#                                 keys, space-separated): encrypted with age after compression
#   dump-database                 PGFORT_DATABASE, PGFORT_DUMP_MODE (pipe|builtin), PGFORT_ROW_COUNT_SQL
#   compress-stdin                the PGFORT_COMPRESSION* and PGFORT_AGE_RECIPIENTS of dump-*: stdin (or the
#                                 FIFO PGFORT_INPUT) to stdout
#   basebackup                    PGFORT_BACKUP_LABEL; PGFORT_KEEP_MANIFEST=1: backup_manifest kept
#                                 in PGFORT_TMP (17+); PGFORT_PARENT_MANIFEST (a file in PGFORT_TMP, as stored) and
#                                 PGFORT_PARENT_DECOMPRESSION: pg_basebackup --incremental against it
#   restore-*, extract-base       PGFORT_DECOMPRESSION (zstd|lz4|none), stdin: the stored file;
#                                 PGFORT_AGE_IDENTITY_FILE: decrypted with age first
#   restore-database              PGFORT_DATABASE
#   extract-base, verify-base     PGFORT_DATA_DIR
#   combine-chain                 PGFORT_DATA_DIR, PGFORT_CHAIN_COUNT (links in PGFORT_DATA_DIR/pgfort-chain/0..)
#   restore-* into a drill's scratch server: PGFORT_PGHOST = its socket directory and no
#                                 PGFORT_SECRET_FILE (trust over a socket in a 0700 directory)
#   scratch-init                  PGFORT_DATA_DIR, PGFORT_LOCALE (the image's LANG)
#   scratch-start                 PGFORT_DATA_DIR, PGFORT_SCRATCH_DIR (config, log, socket),
#                                 PGFORT_SCRATCH_CONF (settings lines), PGFORT_START_TIMEOUT (s)
#   scratch-stop                  PGFORT_DATA_DIR, PGFORT_STOP_MODE (fast|immediate)
#   reindex-collations            PGFORT_PGHOST (a private server's socket), PGFORT_PGUSER
#   upgrade-move                  PGFORT_SOURCE_HOST (the old major's socket directory), PGFORT_PGHOST
#                                 (the new one's), PGFORT_PGUSER; trust over both sockets
#   reset-wal                     PGFORT_DATA_DIR (a cleanly stopped server's), PGFORT_NEXT_WAL_FILE,
#                                 PGFORT_TIMELINE_HISTORY (the new timeline's history line)
#   run-sql                       PGFORT_SQL (statements, one per line), PGFORT_DATABASE (postgres)
#   served-certificate            PGFORT_TLS_HOST (default localhost), PGFORT_TLS_PORT (5432): the SHA-256
#                                 fingerprint of the certificate a new connection there is served
# PGFORT_TMP (default /tmp, a tmpfs in the container) holds the pgpass file and the compressor's report.

readonly PGFORT_RESULT_PREFIX="PGFORT-RESULT"

# A failing command under set -e says nothing by itself: name it, so an error is never "no output".
job_trap() {
  # shellcheck disable=SC2154 # job_status is assigned inside the trap's own text
  # With set -E the trap also fires where a function returns its failure: name only the command.
  trap 'job_status=$?; [[ $BASH_COMMAND == return* ]] || echo "pgfort: \"$BASH_COMMAND\" failed with exit status $job_status" >&2' ERR
}

job_tmp() {
  printf '%s' "${PGFORT_TMP:-/tmp}"
}

# The password from its secret file into a pgpass file on tmpfs: never in argv, never in the
# environment of any tool. The secret file has no trailing newline: read returns 1 at EOF though
# it read the password.
write_pgpass() {
  local password pgpass
  pgpass="$(job_tmp)/pgpass"
  : "${PGFORT_SECRET_FILE:?PGFORT_SECRET_FILE must name the password file}"
  : "${PGFORT_PGUSER:?PGFORT_PGUSER must name the role}"
  IFS= read -r password <"$PGFORT_SECRET_FILE" || [ -n "$password" ]
  (umask 077 && printf '*:*:*:%s:%s\n' "$PGFORT_PGUSER" "$password" >"$pgpass")
  unset password
  export PGPASSFILE="$pgpass" PGHOST="${PGFORT_PGHOST:-127.0.0.1}" PGPORT="${PGFORT_PGPORT:-5432}"
  export PGUSER="$PGFORT_PGUSER" PGCONNECT_TIMEOUT=10
}

# A drill's scratch server listens only on a Unix socket in its own 0700 directory and trusts it:
# no password exists to give. Only an absolute socket directory without a secret file gets here.
socket_env_or_pgpass() {
  if [ -z "${PGFORT_SECRET_FILE:-}" ] && [[ ${PGFORT_PGHOST:-} == /* ]]; then
    : "${PGFORT_PGUSER:?PGFORT_PGUSER must name the role}"
    export PGHOST="$PGFORT_PGHOST" PGPORT="${PGFORT_PGPORT:-5432}" PGUSER="$PGFORT_PGUSER" PGCONNECT_TIMEOUT=10
  else
    write_pgpass
  fi
}

# The compressor for PGFORT_COMPRESSION as words on stdout (one per line); nothing for none.
compressor_words() {
  local level="${PGFORT_COMPRESSION_LEVEL:-3}" threads="${PGFORT_COMPRESSION_THREADS:-1}"
  case "${PGFORT_COMPRESSION:-zstd}" in
    # Verbose: their final report counts the bytes they read (raw_bytes), with no extra stage.
    zstd) printf '%s\n' zstd -vv -c "-$level" "-T$threads" ;;
    lz4) printf '%s\n' lz4 -v -c "-$((level > 12 ? 12 : level))" ;;
    none) ;;
    *)
      echo "pgfort: PGFORT_COMPRESSION must be zstd, lz4 or none, not ${PGFORT_COMPRESSION}" >&2
      return 2
      ;;
  esac
}

# `age -r KEY...` for PGFORT_AGE_RECIPIENTS, one word per line; nothing when it is empty.
encryptor_words() {
  local recipient
  [ -n "${PGFORT_AGE_RECIPIENTS:-}" ] || return 0
  printf '%s\n' age
  for recipient in $PGFORT_AGE_RECIPIENTS; do
    if ! [[ $recipient =~ ^age1[0-9a-z]+$ ]]; then
      echo "pgfort: PGFORT_AGE_RECIPIENTS holds ${recipient}, not an age public key" >&2
      return 2
    fi
    printf '%s\n' -r "$recipient"
  done
}

decompressor_words() {
  case "${PGFORT_DECOMPRESSION:-none}" in
    zstd) printf '%s\n' zstd -dc ;;
    lz4) printf '%s\n' lz4 -dc ;;
    none) printf '%s\n' cat ;;
    *)
      echo "pgfort: PGFORT_DECOMPRESSION must be zstd, lz4 or none, not ${PGFORT_DECOMPRESSION}" >&2
      return 2
      ;;
  esac
}

# The compressor's and the encryptor's words into the arrays named $1 and $2 (either may be empty).
# shellcheck disable=SC2034 # namerefs: the caller's arrays are what is filled
stage_words() {
  local -n compressor_into=$1 encryptor_into=$2
  # mapfile hides the function's status: ask again, so a bad value fails here (set -e may be off).
  compressor_words >/dev/null || return
  encryptor_words >/dev/null || return
  mapfile -t compressor_into < <(compressor_words)
  mapfile -t encryptor_into < <(encryptor_words)
}

# "$@" | compress, to stdout; every stage's exit status counts (pipefail). The compressor's report
# (its stderr) goes to a file, read by raw_bytes afterwards, and to stderr when it failed. No
# compression: the tool's own stdout (the job counts those bytes itself). A counting stage (dd)
# cost ~5% of a base backup's time: the compressors count for free.
compressed_pipe() {
  local -a compressor encryptor
  local stats status=0
  stats="$(job_tmp)/compressor-report"
  : >"$stats"
  stage_words compressor encryptor || return
  if [ "${#compressor[@]}" -eq 0 ] && [ "${#encryptor[@]}" -eq 0 ]; then
    "$@"
    return
  fi
  if [ "${#compressor[@]}" -eq 0 ]; then
    "$@" | "${encryptor[@]}" || status=$?
  elif [ "${#encryptor[@]}" -eq 0 ]; then
    "$@" | "${compressor[@]}" 2>"$stats" || status=$?
  else
    "$@" | "${compressor[@]}" 2>"$stats" | "${encryptor[@]}" || status=$?
  fi
  if [ "$status" -ne 0 ]; then
    compressor_failed "$status" "$* | ${compressor[*]:-}${encryptor[*]:+ | ${encryptor[0]}}" "$stats"
    return "$status"
  fi
}

# Says what failed, with the compressor's own errors but without its verbose report (it would
# bury the tool's message). The ERR trap sees only the caller's `return`. Arguments: the status,
# the pipeline as words, the compressor's report file.
compressor_failed() {
  grep -v -e '^Using std' -e '^Decompression will require' -e '^/\*stdin\*' -e '^\*\*\* ' -e 'Compressed [0-9]* bytes into' "$3" >&2 || true
  echo "pgfort: \"$2\" failed with exit status $1" >&2
}

# The parallel engine's bundle (src/jobs/parallel-backup.ts): a tar on stdin, compressed and, when
# asked, encrypted to stdout. No copying stage before the compressor: it reads stdin itself.
compress_stdin() {
  local -a compressor encryptor
  local stats status=0
  # PGFORT_INPUT: a FIFO the engine's worker thread writes the tar into.
  if [ -n "${PGFORT_INPUT:-}" ]; then exec <"$PGFORT_INPUT"; fi
  stats="$(job_tmp)/compressor-report"
  : >"$stats"
  stage_words compressor encryptor || return
  [ "${#compressor[@]}" -gt 0 ] || compressor=(cat)
  if [ "${#encryptor[@]}" -eq 0 ]; then
    "${compressor[@]}" 2>"$stats" || status=$?
  else
    "${compressor[@]}" 2>"$stats" | "${encryptor[@]}" || status=$?
  fi
  if [ "$status" -ne 0 ]; then
    compressor_failed "$status" "${compressor[*]}${encryptor[*]:+ | ${encryptor[0]}}" "$stats"
    return "$status"
  fi
  emit_result "\"rawBytes\":$(raw_bytes)"
}

# The bytes the compressor read, from its report (zstd -vv: "(N B => M B, …)"; lz4 -v: "Compressed
# N bytes into M bytes"), or null when there is none (no compression, builtin mode).
raw_bytes() {
  local bytes
  bytes="$(tr '\r' '\n' <"$(job_tmp)/compressor-report" 2>/dev/null |
    sed -n -e 's/.*(\([0-9][0-9]*\) B => .*/\1/p' -e 's/.*Compressed \([0-9][0-9]*\) bytes into .*/\1/p' | tail -n 1)"
  printf '%s' "${bytes:-null}"
}

# The one result line. Arguments are JSON members (`"rawBytes":12`), already valid JSON.
emit_result() {
  local IFS=,
  printf '%s {%s}\n' "$PGFORT_RESULT_PREFIX" "$*" >&2
}

dump_globals() {
  compressed_pipe pg_dumpall --globals-only
  emit_result "\"rawBytes\":$(raw_bytes)"
}

# One database: a REPEATABLE READ transaction exports its snapshot and pg_dump dumps that same
# snapshot. The rows of every table are counted in the snapshot too, while the dump runs (the
# count's one-line answer waits in psql's pipe), so the counts are exactly what the dump holds and
# cost no extra time.
dump_database() {
  : "${PGFORT_DATABASE:?PGFORT_DATABASE must name the database}"
  : "${PGFORT_ROW_COUNT_SQL:?PGFORT_ROW_COUNT_SQL must hold the row-count query}"
  local snapshot counts counted committed to_psql from_psql raw=null
  coproc PSQL { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$PGFORT_DATABASE"; }
  # bash unsets PSQL and PSQL_PID the moment the coprocess ends: keep our own copies of its pipes.
  exec {to_psql}>&"${PSQL[1]}" {from_psql}<&"${PSQL[0]}"
  # The count runs beside pg_dump: one process, no JIT (measured on 1.5 GB: a parallel count added
  # 0.5 s to the dump's 7.9 s, a serial one 0.1 s: less CPU taken from pg_dump and the compressor).
  printf '%s\n' 'BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;' 'SET LOCAL max_parallel_workers_per_gather = 0;' 'SET LOCAL jit = off;' \
    'SELECT pg_export_snapshot();' >&"$to_psql"
  IFS= read -r snapshot <&"$from_psql" || { echo "pgfort: could not open a snapshot of $PGFORT_DATABASE" >&2; return 1; }
  # In a savepoint, and not stopping psql: a count that fails (a corrupt page) must not end the
  # transaction whose snapshot pg_dump is importing (it would fail with "invalid snapshot
  # identifier" instead of naming the damage). The sentinel says whether the count answered.
  printf '%s\n' '\set ON_ERROR_STOP 0' 'SAVEPOINT pgfort_count;' "$PGFORT_ROW_COUNT_SQL" 'ROLLBACK TO SAVEPOINT pgfort_count;' \
    '\set ON_ERROR_STOP 1' "SELECT 'pgfort-counted';" >&"$to_psql"
  if [ "${PGFORT_DUMP_MODE:-pipe}" = builtin ]; then
    local level="${PGFORT_COMPRESSION_LEVEL:-6}"
    # pg_dump compresses; the pipe only encrypts (when asked).
    PGFORT_COMPRESSION=none compressed_pipe pg_dump -Fc "-Z$((level > 9 ? 9 : level))" --snapshot="$snapshot" -d "$PGFORT_DATABASE"
  else
    compressed_pipe pg_dump -Fc -Z0 --snapshot="$snapshot" -d "$PGFORT_DATABASE"
    raw="$(raw_bytes)"
  fi
  IFS= read -r counts <&"$from_psql" || { echo "pgfort: could not count the rows of $PGFORT_DATABASE" >&2; return 1; }
  if [ "$counts" = pgfort-counted ]; then
    echo "pgfort: counting the rows of $PGFORT_DATABASE failed (psql's message above)" >&2
    return 1
  fi
  IFS= read -r counted <&"$from_psql" || counted=""
  [ "$counted" = pgfort-counted ] || { echo "pgfort: the row count of $PGFORT_DATABASE did not end well" >&2; return 1; }
  # The snapshot had to stay open until pg_dump finished; the sentinel says the session ended well.
  printf '%s\n' 'COMMIT;' "SELECT 'pgfort-committed';" >&"$to_psql"
  if ! IFS= read -r committed <&"$from_psql" || [ "$committed" != pgfort-committed ]; then
    echo "pgfort: the snapshot session of $PGFORT_DATABASE failed" >&2
    return 1
  fi
  exec {to_psql}>&- {from_psql}<&-
  emit_result "\"rawBytes\":$raw" "\"rowCounts\":$counts"
}

# A base backup as one tar on stdout. stdout allows no parallel WAL stream, so WAL is fetched at
# the end (-X fetch). The WAL range comes from pg_basebackup's own report, read here so pgfort
# gets it as JSON.
# The base backup as one tar on stdout. PGFORT_KEEP_MANIFEST=1 (PostgreSQL 17+): the stream's
# backup_manifest member, which the tar ends with, is also written to $(job_tmp)/backup_manifest,
# read by a tar beside the stream (tee into a FIFO), so an incremental backup can later name it as its parent.
# Arguments: more pg_basebackup options (--incremental=FILE).
basebackup_tar() {
  local status=0 manifest
  manifest="$(job_tmp)/backup_manifest"
  if [ -z "${PGFORT_KEEP_MANIFEST:-}" ]; then
    pg_basebackup -D - -F tar -X fetch --checkpoint=fast --verbose --label="${PGFORT_BACKUP_LABEL:-pgfort}" "$@"
    return
  fi
  # A reader of our own on a FIFO (not a process substitution: this function runs in a pipeline's
  # subshell, where $! would not name it): the manifest is whole once it has exited.
  local fifo reader
  fifo="$(job_tmp)/backup_manifest.fifo"
  rm -f "$fifo"
  mkfifo -m 0600 "$fifo"
  tar -xOf "$fifo" backup_manifest >"$manifest" &
  reader=$!
  pg_basebackup -D - -F tar -X fetch --checkpoint=fast --verbose --label="${PGFORT_BACKUP_LABEL:-pgfort}" "$@" |
    tee "$fifo" || status=$?
  local read_status=0
  wait "$reader" || read_status=$?
  rm -f "$fifo"
  # pg_basebackup's own failure first: the reader then only saw a stream cut short.
  [ "$status" -eq 0 ] || return "$status"
  if [ "$read_status" -ne 0 ]; then
    echo "pgfort: could not read backup_manifest from pg_basebackup's tar stream" >&2
    return 1
  fi
}

# PGFORT_PARENT_MANIFEST: a file in PGFORT_TMP, the parent's backup_manifest as stored
# (PGFORT_PARENT_DECOMPRESSION says how): the backup is then pg_basebackup --incremental against it.
basebackup() {
  local log status=0 start end timeline raw kept="" parent
  local -a incremental=() compressor
  log="$(job_tmp)/basebackup.log"
  if [ -n "${PGFORT_PARENT_MANIFEST:-}" ]; then
    parent="$(job_tmp)/parent_manifest"
    if ! PGFORT_DECOMPRESSION="${PGFORT_PARENT_DECOMPRESSION:-none}" PGFORT_AGE_IDENTITY_FILE="" decompress_stdin <"$(job_tmp)/$PGFORT_PARENT_MANIFEST" >"$parent"; then
      echo "pgfort: the parent backup's backup_manifest ($PGFORT_PARENT_MANIFEST) could not be decompressed" >&2
      return 1
    fi
    incremental=(--incremental="$parent")
  fi
  compressed_pipe basebackup_tar "${incremental[@]}" 2>"$log" || status=$?
  cat "$log" >&2
  [ "$status" -eq 0 ] || return "$status"
  start="$(sed -n 's/.*write-ahead log start point: \([0-9A-F]*\/[0-9A-F]*\) on timeline \([0-9]*\).*/\1/p' "$log")"
  timeline="$(sed -n 's/.*write-ahead log start point: [0-9A-F]*\/[0-9A-F]* on timeline \([0-9]*\).*/\1/p' "$log")"
  end="$(sed -n 's/.*write-ahead log end point: \([0-9A-F]*\/[0-9A-F]*\).*/\1/p' "$log")"
  if [ -z "$start" ] || [ -z "$end" ] || [ -z "$timeline" ]; then
    echo "pgfort: pg_basebackup did not report its WAL start and end points" >&2
    return 1
  fi
  raw="$(raw_bytes)"
  if [ -n "${PGFORT_KEEP_MANIFEST:-}" ]; then
    if ! [ -s "$(job_tmp)/backup_manifest" ]; then
      echo "pgfort: pg_basebackup's tar stream held no backup_manifest" >&2
      return 1
    fi
    # Compressed as the backup is, never encrypted: it holds file names, sizes and CRC-32C
    # checksums, no data, and the next incremental must read it without the private key.
    mapfile -t compressor < <(compressor_words)
    if [ "${#compressor[@]}" -eq 0 ]; then compressor=(cat); fi
    "${compressor[@]}" <"$(job_tmp)/backup_manifest" >"$(job_tmp)/backup_manifest.stored" 2>/dev/null
    kept=',"pgManifest":"backup_manifest.stored"'
  fi
  emit_result "\"rawBytes\":$raw" "\"wal\":{\"startLsn\":\"$start\",\"endLsn\":\"$end\",\"timeline\":$timeline}$kept"
}

decompress_stdin() {
  local -a decompressor
  decompressor_words >/dev/null || return
  mapfile -t decompressor < <(decompressor_words)
  if [ -n "${PGFORT_AGE_IDENTITY_FILE:-}" ]; then
    if ! [ -r "$PGFORT_AGE_IDENTITY_FILE" ]; then
      echo "pgfort: the file is encrypted and there is no identity file at $PGFORT_AGE_IDENTITY_FILE" >&2
      return 2
    fi
    age -d -i "$PGFORT_AGE_IDENTITY_FILE" | "${decompressor[@]}"
  else
    "${decompressor[@]}"
  fi
}

# The globals create roles that exist in any new server (the superuser): those errors are
# expected and dropped; any other psql ERROR fails the step.
restore_globals() {
  local errors
  errors="$(decompress_stdin | psql -X -q -d postgres 2>&1 >/dev/null | { grep -v 'already exists' || true; })"
  if [ -n "$errors" ]; then
    # shellcheck disable=SC2001 # every line gets the prefix, not just the first
    sed 's/^/psql: /' <<<"$errors" >&2
    if grep -q 'ERROR' <<<"$errors"; then return 1; fi
  fi
  emit_result '"restored":"globals"'
}

restore_database() {
  : "${PGFORT_DATABASE:?PGFORT_DATABASE must name the database}"
  if [ "$PGFORT_DATABASE" = postgres ]; then
    decompress_stdin | pg_restore --exit-on-error --no-password -d "$PGFORT_DATABASE"
  else
    decompress_stdin | pg_restore --exit-on-error --no-password --create -d postgres
  fi
  emit_result "\"restored\":\"database\""
}

extract_base() {
  : "${PGFORT_DATA_DIR:?PGFORT_DATA_DIR must name the data directory}"
  decompress_stdin | tar -x -C "$PGFORT_DATA_DIR"
  emit_result '"extracted":true'
}

# An incremental chain, extracted link by link into $PGFORT_DATA_DIR/pgfort-chain/0..N-1 (full
# first), combined by pg_combinebackup into one full data directory that takes their place.
# PGFORT_CHAIN_COUNT: N. The combined backup has no WAL of its own: the last link's (which
# pg_basebackup -X fetch put in its tar) goes with it, so pg_verifybackup and recovery find it.
combine_chain() {
  : "${PGFORT_DATA_DIR:?PGFORT_DATA_DIR must name the data directory}"
  : "${PGFORT_CHAIN_COUNT:?PGFORT_CHAIN_COUNT must give the number of backups in the chain}"
  local chain="$PGFORT_DATA_DIR/pgfort-chain" out index
  local -a inputs=()
  out="$chain/combined"
  for ((index = 0; index < PGFORT_CHAIN_COUNT; index++)); do inputs+=("$chain/$index"); done
  pg_combinebackup "${inputs[@]}" -o "$out" >&2
  if [ -z "$(find "$out/pg_wal" -mindepth 1 -maxdepth 1 -print -quit 2>/dev/null)" ]; then
    mkdir -p "$out/pg_wal"
    cp -a "${inputs[-1]}/pg_wal/." "$out/pg_wal/"
  fi
  find "$out" -mindepth 1 -maxdepth 1 -exec mv -t "$PGFORT_DATA_DIR" {} +
  rm -rf "$chain"
  emit_result "\"combined\":$PGFORT_CHAIN_COUNT"
}

# pg_verifybackup reads the backup_manifest pg_basebackup put in the tar, and parses the WAL.
verify_base() {
  : "${PGFORT_DATA_DIR:?PGFORT_DATA_DIR must name the data directory}"
  pg_verifybackup "$PGFORT_DATA_DIR"
  emit_result '"verified":true'
}

# The scratch server of a restore drill, a child of the job (no container of its own): its paths
# become config text, so they must be plain (no quote, space or newline can reach the config).
scratch_paths() {
  : "${PGFORT_DATA_DIR:?PGFORT_DATA_DIR must name the data directory}"
  local dir
  for dir in "$PGFORT_DATA_DIR" "$@"; do
    if ! [[ $dir =~ ^/[A-Za-z0-9/._-]+$ ]]; then
      echo "pgfort: scratch path ${dir} must be absolute and plain (letters, digits, / . _ -)" >&2
      return 2
    fi
  done
}

# A new cluster for a logical drill: data checksums on, as every pgfort server, and the image's
# locale, so the dump's CREATE DATABASE finds what it names. Trust is for the socket only; the
# server is started with the drill's own hba file anyway (scratch-start).
scratch_init() {
  scratch_paths
  local -a locale=()
  [ -z "${PGFORT_LOCALE:-}" ] || locale=("--locale=$PGFORT_LOCALE")
  initdb -D "$PGFORT_DATA_DIR" -U postgres --data-checksums --auth-local=trust --auth-host=reject \
    --no-sync --no-instructions "${locale[@]}" >&2
  emit_result '"initialized":true'
}

# Starts the scratch server on the data directory (a fresh cluster, or an extracted base backup:
# pg_ctl -w waits through recovery to consistency, with the backup's own WAL from the tar, until
# the server accepts connections). The settings come from pgfort (sized to the job's limits); the
# lines that keep it private are appended last, so they win: no TCP at all, a socket in the
# scratch directory, trust for that socket only. The backup's postgresql.auto.conf (ALTER SYSTEM
# of the source, e.g. a shared_buffers sized for the primary) is set aside: the drill checks data,
# not the source's settings.
scratch_start() {
  : "${PGFORT_SCRATCH_DIR:?PGFORT_SCRATCH_DIR must name the scratch directory}"
  scratch_paths "$PGFORT_SCRATCH_DIR"
  local dir="$PGFORT_SCRATCH_DIR" data="$PGFORT_DATA_DIR"
  {
    printf '%s\n' "${PGFORT_SCRATCH_CONF:-}"
    printf "%s = '%s'\n" listen_addresses '' unix_socket_directories "$dir" \
      hba_file "$dir/pg_hba.conf" ident_file "$dir/pg_ident.conf"
  } >"$dir/postgresql.conf"
  printf '%s\n' 'local all all trust' >"$dir/pg_hba.conf"
  : >"$dir/pg_ident.conf"
  if [ -f "$data/postgresql.auto.conf" ] && ! [ -f "$data/postgresql.auto.conf.pgfort-drill" ]; then
    mv "$data/postgresql.auto.conf" "$data/postgresql.auto.conf.pgfort-drill"
    : >"$data/postgresql.auto.conf"
  fi
  if ! pg_ctl start -D "$data" -w -t "${PGFORT_START_TIMEOUT:-3600}" -l "$dir/server.log" \
    -o "-c config_file=$dir/postgresql.conf" >&2; then
    echo "pgfort: the scratch server did not start; its log ends:" >&2
    tail -n 20 "$dir/server.log" >&2 || true
    return 1
  fi
  emit_result '"started":true'
}

# Stops the scratch server: fast (a clean stop) or immediate (an abort), then SIGKILL if pg_ctl
# could not. Nothing to do when no postmaster.pid exists (never started, or already stopped).
scratch_stop() {
  scratch_paths
  local pid mode="${PGFORT_STOP_MODE:-fast}"
  case "$mode" in
    fast | immediate) ;;
    *)
      echo "pgfort: PGFORT_STOP_MODE must be fast or immediate, not ${mode}" >&2
      return 2
      ;;
  esac
  if ! [ -f "$PGFORT_DATA_DIR/postmaster.pid" ]; then
    emit_result '"stopped":false'
    return 0
  fi
  if ! pg_ctl stop -D "$PGFORT_DATA_DIR" -m "$mode" -w -t 60 >&2; then
    IFS= read -r pid <"$PGFORT_DATA_DIR/postmaster.pid" || true
    if [[ ${pid:-} =~ ^[0-9]+$ ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  emit_result '"stopped":true'
}

# The indexes whose order a C library's collation rules decide: a key column (or expression) with
# the database's default collation or a libc collation other than C and POSIX.
readonly COLLATION_INDEXES_SQL="SELECT DISTINCT format('%s', s.indexrelid::regclass) FROM (
  SELECT indexrelid, unnest(indcollation) AS coll FROM pg_index) s
  JOIN pg_collation c ON c.oid = s.coll
  WHERE c.collprovider IN ('d', 'c') AND c.collname NOT IN ('C', 'POSIX') ORDER BY 1"

# Rebuilds, in every database that takes connections, the indexes sorted by libc collations, then
# records the running library's collation versions (database and collation objects), so the
# server's mismatch warning is answered, not silenced. Against a private server (PGFORT_PGHOST, its
# socket) before the restored server takes writes.
reindex_collations() {
  local database index indexes=0 databases=0
  while IFS= read -r database; do
    while IFS= read -r index; do
      [ -n "$index" ] || continue
      psql -X -q -v ON_ERROR_STOP=1 -d "$database" -c "REINDEX INDEX $index" >&2
      indexes=$((indexes + 1))
    done < <(psql -X -At -v ON_ERROR_STOP=1 -d "$database" -c "$COLLATION_INDEXES_SQL")
    psql -X -q -v ON_ERROR_STOP=1 -d "$database" >&2 <<'SQL'
SELECT format('ALTER COLLATION %s REFRESH VERSION', oid::regcollation) FROM pg_collation
  WHERE collversion IS DISTINCT FROM pg_collation_actual_version(oid) AND collversion IS NOT NULL \gexec
SQL
    databases=$((databases + 1))
  done < <(psql -X -At -v ON_ERROR_STOP=1 -d postgres -c "SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1")
  # Every database's own recorded version (template1 too; template0 records none).
  psql -X -q -v ON_ERROR_STOP=1 -d postgres >&2 <<'SQL'
SELECT format('ALTER DATABASE %I REFRESH COLLATION VERSION', datname) FROM pg_database
  WHERE datcollversion IS NOT NULL AND datcollversion IS DISTINCT FROM pg_database_collation_actual_version(oid) \gexec
SQL
  emit_result "\"reindexed\":$indexes" "\"databases\":$databases"
}

# A major upgrade's data move: everything of the old server (roles with their password hashes,
# databases with their locales, schemas, data, grants) through pg_dumpall of the new major into
# the new server. The only errors expected are the roles the new server's initdb made already
# (the superuser, the replication role): any other psql ERROR, or pg_dumpall failing, fails it.
upgrade_move() {
  : "${PGFORT_SOURCE_HOST:?PGFORT_SOURCE_HOST must name the socket directory of the old server}"
  local errors tmp
  tmp="$(job_tmp)/upgrade-move.err"
  pg_dumpall -h "$PGFORT_SOURCE_HOST" -U "$PGUSER" --no-password |
    psql -X -q -d postgres >/dev/null 2>"$tmp"
  errors="$(grep 'ERROR' "$tmp" | { grep -v -E 'ERROR: +role "[^"]+" already exists' || true; })"
  if [ -n "$errors" ]; then
    # shellcheck disable=SC2001 # every line gets the prefix, not just the first
    sed 's/^/psql: /' <<<"$errors" >&2
    return 1
  fi
  emit_result '"moved":true'
}

# Starts the next WAL of a cleanly stopped server at PGFORT_NEXT_WAL_FILE (timeline and segment),
# as pg_upgrade does: a cluster moved by an upgrade then archives under names no earlier
# generation used. pg_resetwal refuses a server that was not stopped cleanly. The new timeline
# gets its history file (PGFORT_TIMELINE_HISTORY, its one line), marked ready for the archive:
# pg_basebackup and recovery ask for the history of any timeline after the first.
reset_wal() {
  : "${PGFORT_DATA_DIR:?PGFORT_DATA_DIR must name the data directory}"
  : "${PGFORT_NEXT_WAL_FILE:?PGFORT_NEXT_WAL_FILE must name the next WAL file}"
  : "${PGFORT_TIMELINE_HISTORY:?PGFORT_TIMELINE_HISTORY must hold the history file of the new timeline}"
  if ! [[ $PGFORT_NEXT_WAL_FILE =~ ^[0-9A-F]{24}$ ]]; then
    echo "pgfort: PGFORT_NEXT_WAL_FILE must be a WAL file name (24 hex digits), not ${PGFORT_NEXT_WAL_FILE}" >&2
    return 2
  fi
  local history="${PGFORT_NEXT_WAL_FILE:0:8}.history" wal="$PGFORT_DATA_DIR/pg_wal"
  pg_resetwal -l "$PGFORT_NEXT_WAL_FILE" -D "$PGFORT_DATA_DIR" >&2
  printf '%s\n' "$PGFORT_TIMELINE_HISTORY" >"$wal/$history.tmp"
  mv "$wal/$history.tmp" "$wal/$history"
  : >"$wal/archive_status/$history.ready"
  emit_result "\"nextWalFile\":\"$PGFORT_NEXT_WAL_FILE\"" "\"history\":\"$history\""
}

# What a new TLS connection to the server sees: after `tls rotate`'s reload, the new certificate.
served_certificate() {
  local host=${PGFORT_TLS_HOST:-localhost} port=${PGFORT_TLS_PORT:-5432} fingerprint
  fingerprint=$(openssl s_client -starttls postgres -connect "$host:$port" -servername "$host" </dev/null 2>/dev/null |
    openssl x509 -noout -fingerprint -sha256) || {
    echo "pgfort: the server on $host:$port served no TLS certificate (is ssl on?)" >&2
    return 1
  }
  emit_result "\"fingerprint\":\"${fingerprint#*=}\""
}

# Each line of PGFORT_SQL as its own statement and transaction (a promotion, then the write that
# proves it), on PGFORT_PGHOST as PGFORT_PGUSER; each one's rows on stdout, unaligned. The job
# service a swarm promotion runs (src/swarm/promote.ts): pgfort cannot exec on another node.
run_sql() {
  : "${PGFORT_SQL:?PGFORT_SQL must hold the statements, one per line}"
  local statements=() line
  while IFS= read -r line; do
    [ -z "$line" ] || statements+=(-c "$line")
  done <<<"$PGFORT_SQL"
  psql -X -v ON_ERROR_STOP=1 -d "${PGFORT_DATABASE:-postgres}" -tA "${statements[@]}"
}

pgfort_job() {
  local verb="${1:-}"
  case "$verb" in
    dump-globals | dump-database | basebackup | run-sql) write_pgpass ;;
    compress-stdin) ;;
    restore-globals | restore-database | reindex-collations | upgrade-move) socket_env_or_pgpass ;;
    extract-base | verify-base | combine-chain | scratch-init | scratch-start | scratch-stop | reset-wal | served-certificate) ;;
    *)
      echo "usage: pgfort-job dump-globals|dump-database|basebackup|compress-stdin|restore-globals|restore-database|extract-base|verify-base|combine-chain|scratch-init|scratch-start|scratch-stop|reindex-collations|upgrade-move|reset-wal|served-certificate|run-sql" >&2
      return 2
      ;;
  esac
  "${verb//-/_}"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -Eeuo pipefail
  job_trap
  umask 077
  pgfort_job "$@"
fi
