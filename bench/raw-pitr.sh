#!/usr/bin/env bash
# The raw point-in-time restore the WAL benchmark compares pgfort's with (bench/wal.ts): run in a
# container of the image with the backup target at /target (read-only): the base backup extracted,
# every archived WAL file decompressed into a directory, and PostgreSQL replaying them to the end
# and promoting, with no pgfort at all. Prints the seconds each part took.
set -euo pipefail
base=${1:?usage: raw-pitr.sh BASE_TAR_ZST WAL_DIR}
wal=${2:?usage: raw-pitr.sh BASE_TAR_ZST WAL_DIR}
work=$(mktemp -d /tmp/raw-pitr.XXXXXX)
data=$work/data
mkdir -m 0700 "$data" "$work/wal"
start=$(date +%s.%N)
zstd -dc "$base" | tar -x -C "$data"
extracted=$(date +%s.%N)
for file in "$wal"/*.zst; do
  name=$(basename "$file")
  # Segments only (<name>.<sha256>.zst): history and backup-history files keep their own names.
  [[ $name =~ ^[0-9A-F]{24}\.[0-9a-f]{64}\.zst$ ]] || continue
  zstd -q -dc "$file" >"$work/wal/${name%%.*}"
done
fetched=$(date +%s.%N)
: >"$data/recovery.signal"
cat >"$work/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
hba_file = '$work/pg_hba.conf'
ident_file = '$work/pg_ident.conf'
hot_standby = off
restore_command = 'cp $work/wal/%f "%p"'
recovery_target_timeline = 'latest'
CONF
printf 'local all all trust\n' >"$work/pg_hba.conf"
: >"$work/pg_ident.conf"
: >"$data/postgresql.auto.conf"
pg_ctl start -D "$data" -w -t 3600 -l "$work/log" -o "-c config_file=$work/postgresql.conf" >/dev/null
until [ "$(psql -X -A -t -h "$work" -U postgres -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; do sleep 0.2; done
replayed=$(date +%s.%N)
pg_ctl stop -D "$data" -m fast -w >/dev/null
awk -v s="$start" -v e="$extracted" -v f="$fetched" -v r="$replayed" 'BEGIN { printf "extract %.2f\nwal %.2f\nreplay %.2f\n", e - s, f - e, r - f }'
rm -rf "$work"
