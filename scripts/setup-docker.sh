#!/usr/bin/env bash
# Make sure a Docker engine answers. Idempotent: does nothing when one already does.
# On Debian/Ubuntu as root it installs docker.io and starts dockerd in the background;
# anywhere else it stops with a message that says what to install.
set -euo pipefail

log() { printf 'setup-docker: %s\n' "$*" >&2; }
engine_answers() { docker info >/dev/null 2>&1; }

# The `docker` CLI can be on PATH with no engine behind it: test the engine, not the command.
if command -v docker >/dev/null 2>&1 && engine_answers; then
  log "Docker engine already answers"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "no Docker engine answers and I can only install one on Debian/Ubuntu as root."
    log "install Docker Engine (https://docs.docker.com/engine/install/) and start it, or set DOCKER_HOST."
    exit 1
  fi
  log "installing docker.io from the distribution's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io iptables ca-certificates >/dev/null
fi

if [ "$(id -u)" != 0 ]; then
  log "dockerd is installed but not running; start it (sudo systemctl start docker) and run this again."
  exit 1
fi

# No systemd in containers and CI sandboxes: start dockerd ourselves, detached, logging to a file.
log "starting dockerd (log: /var/log/pgfort-dockerd.log)"
nohup dockerd >/var/log/pgfort-dockerd.log 2>&1 &

for _ in $(seq 1 60); do
  if [ -S /var/run/docker.sock ] && engine_answers; then
    log "Docker engine is up"
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within 60 s; last lines of /var/log/pgfort-dockerd.log:"
tail -n 20 /var/log/pgfort-dockerd.log >&2 || true
exit 1
