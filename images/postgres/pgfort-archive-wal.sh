#!/usr/bin/env bash
# archive_command of pgfort servers (conf.d/25-archive.conf):
#   pgfort-archive-wal PATH NAME MAX_PENDING_BYTES
# Hands one WAL file to the cluster's agent and succeeds only once the agent says it is stored in
# the backup target (sha256 checked): PostgreSQL removes or recycles a WAL file only after that.
# It also hands over the next few files PostgreSQL has marked ready (PGFORT_ARCHIVE_AHEAD, 4), so
# the agent stores them in parallel while PostgreSQL is still waiting for this one: PostgreSQL's
# archiver runs one archive_command at a time, and a burst of WAL would otherwise queue behind the
# round trip of each file. A file stored ahead is answered `done` at once when its turn comes.
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

# How many of the following ready WAL files are handed over with this one.
readonly ARCHIVE_AHEAD=${PGFORT_ARCHIVE_AHEAD:-4}
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

# Copies one WAL file into the spool whole (a temporary name, then the rename the agent looks for).
hand_over() {
  local source=$1 spool=$2 name=$3
  if ! cp "$source" "$spool/.$name.tmp"; then
    rm -f "$spool/.$name.tmp"
    archive_log "cannot copy $name into the spool $spool (is the socket volume full?): it waits in pg_wal"
    return 1
  fi
  mv -f "$spool/.$name.tmp" "$spool/$name.ready"
}

# Hands over up to ARCHIVE_AHEAD ready WAL files that follow NAME and are not in the spool yet.
# PostgreSQL marks a file ready only once it is complete, and keeps it until it is archived.
hand_over_ahead() {
  local source=$1 spool=$2 name=$3 wal_dir mark next count=0
  wal_dir=$(dirname "$source")
  for mark in "$wal_dir"/archive_status/*.ready; do
    [ "$count" -lt "$ARCHIVE_AHEAD" ] || break
    [ -e "$mark" ] || break
    next=$(basename "$mark" .ready)
    case "$next" in "$name" | */* | .*) continue ;; esac
    [[ "$next" > "$name" ]] || continue
    count=$((count + 1))
    [ -e "$spool/$next.ready" ] || [ -e "$spool/$next.done" ] || [ ! -f "$wal_dir/$next" ] ||
      hand_over "$wal_dir/$next" "$spool" "$next" || true
  done
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
  # A failure answered to an earlier attempt (or to a hand-over ahead) is not this attempt's answer.
  rm -f "$spool/$name.failed"
  [ -e "$spool/$name.ready" ] || hand_over "$source" "$spool" "$name"
  hand_over_ahead "$source" "$spool" "$name"
  await_agent "$spool" "$name"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  archive_wal "$@"
fi
