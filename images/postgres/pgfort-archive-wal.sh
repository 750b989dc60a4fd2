#!/usr/bin/env bash
# archive_command of pgfort servers (conf.d/25-archive.conf):
#   pgfort-archive-wal PATH NAME MAX_PENDING_BYTES
# Hands one WAL file to the cluster's agent and succeeds only once the agent says it is stored in
# the backup target (sha256 checked): PostgreSQL removes or recycles a WAL file only after that.
# Past MAX_PENDING_BYTES of WAL waiting in pg_wal (wal.maxPending) the file is given up instead:
# it leaves pg_wal unarchived, a `.skipped` mark tells the agent, which records the gap in the
# target and alerts; the primary keeps running and its disk does not fill.
#
# The spool: $PGFORT_SOCKETS_DIR/$HOSTNAME/archive, in the cluster's socket volume (uid 999, 0700),
# shared with the agent. One file per WAL file NAME:
#   server  .NAME.tmp -> NAME.ready  a copy of pg_wal/NAME (renamed when whole)
#   agent   NAME.done                stored; the agent has removed NAME.ready
#   agent   NAME.failed              why storing failed (one line); NAME.ready stays, the agent retries
#   server  NAME.skipped             given up past the bound (the agent records and removes it)
#   server  pending                  "BYTES NAME": WAL waiting in pg_wal when NAME was handed over
# The agent touches $PGFORT_SOCKETS_DIR/.agent-alive every few seconds and removes it when it
# stops: without a fresh one this fails at once (PostgreSQL retries) rather than waiting for nobody.
# Sourced by the unit tests (test/unit/image/pgfort-archive-wal.test.ts), executed in the image.

# Seconds to wait for the agent's answer before failing this attempt (PostgreSQL retries).
readonly ARCHIVE_WAIT_SECONDS=${PGFORT_ARCHIVE_WAIT_SECONDS:-120}
# An agent whose mark is older than this is taken as not running.
readonly AGENT_ALIVE_SECONDS=${PGFORT_AGENT_ALIVE_SECONDS:-30}

archive_log() {
  printf 'pgfort-archive-wal: %s\n' "$*" >&2
}

archive_spool_dir() {
  : "${PGFORT_SOCKETS_DIR:?PGFORT_SOCKETS_DIR must name the socket volume (pgfort sets it)}"
  printf '%s/%s/archive' "$PGFORT_SOCKETS_DIR" "${HOSTNAME:?}"
}

# Bytes of WAL waiting for the archiver: its .ready marks times the size of one segment.
pending_wal_bytes() {
  local source=$1 status_dir count size
  status_dir="$(dirname "$source")/archive_status"
  count=$(find "$status_dir" -maxdepth 1 -name '*.ready' 2>/dev/null | wc -l)
  size=$(stat -c %s "$source")
  printf '%s' "$((count * (size > 16777216 ? size : 16777216)))"
}

agent_alive() {
  local mark="$PGFORT_SOCKETS_DIR/.agent-alive" stamp
  stamp=$(stat -c %Y "$mark" 2>/dev/null) || return 1
  [ "$(($(date +%s) - stamp))" -le "$AGENT_ALIVE_SECONDS" ]
}

# Waits for NAME.done (0) or NAME.failed (1, its reason logged), up to ARCHIVE_WAIT_SECONDS.
await_agent() {
  local spool=$1 name=$2 waited=0 reason
  while [ "$waited" -lt "$((ARCHIVE_WAIT_SECONDS * 10))" ]; do
    if [ -e "$spool/$name.done" ]; then
      rm -f "$spool/$name.done"
      return 0
    fi
    if [ -e "$spool/$name.failed" ]; then
      IFS= read -r reason <"$spool/$name.failed" || true
      rm -f "$spool/$name.failed"
      archive_log "the agent could not store $name: ${reason:-no reason given} (it retries)"
      return 1
    fi
    # An agent that stopped (it removes its mark) or died (its mark goes stale): give up now.
    if [ "$((waited % 10))" -eq 9 ] && ! agent_alive; then
      archive_log "the agent stopped while storing $name: it waits in pg_wal (PostgreSQL retries)"
      return 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  archive_log "no answer from the agent for $name within ${ARCHIVE_WAIT_SECONDS} s (PostgreSQL retries)"
  return 1
}

archive_wal() {
  local source=${1:?usage: pgfort-archive-wal PATH NAME MAX_PENDING_BYTES} name=${2:?missing NAME} max_pending=${3:?missing MAX_PENDING_BYTES}
  local spool pending
  case "$name" in */* | .*) archive_log "refusing WAL file name $name" && return 2 ;; esac
  spool=$(archive_spool_dir)
  if ! { [ -d "$spool" ] || mkdir -m 0700 "$spool"; }; then
    archive_log "cannot make the spool $spool (is the socket volume mounted and writable?): $name waits in pg_wal"
    return 1
  fi
  # Stored by an earlier attempt whose answer came too late: nothing more to do.
  if [ -e "$spool/$name.done" ]; then
    rm -f "$spool/$name.done"
    return 0
  fi
  pending=$(pending_wal_bytes "$source")
  printf '%s %s\n' "$pending" "$name" >"$spool/.pending.tmp" && mv -f "$spool/.pending.tmp" "$spool/pending"
  if [ "$pending" -gt "$max_pending" ]; then
    # The documented bound (wal.maxPending): give this file up, never silently.
    printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$pending" >"$spool/.$name.skipped.tmp"
    mv -f "$spool/.$name.skipped.tmp" "$spool/$name.skipped"
    rm -f "$spool/$name.ready"
    archive_log "WARNING: $pending bytes of WAL wait for the archive, over wal.maxPending ($max_pending): $name leaves pg_wal unarchived (a gap in the recoverable window until the next base backup)"
    return 0
  fi
  if ! agent_alive; then
    archive_log "the agent is not running (no fresh $PGFORT_SOCKETS_DIR/.agent-alive): $name waits in pg_wal; start it with pgfort up"
    return 1
  fi
  if ! [ -e "$spool/$name.ready" ]; then
    cp "$source" "$spool/.$name.tmp"
    mv -f "$spool/.$name.tmp" "$spool/$name.ready"
  fi
  await_agent "$spool" "$name"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  archive_wal "$@"
fi
