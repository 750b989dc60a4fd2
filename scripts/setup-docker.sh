#!/usr/bin/env bash
# Make sure a Docker engine answers. Idempotent: does nothing when one already does.
# On Debian/Ubuntu as root it installs docker.io and starts dockerd in the background;
# anywhere else it stops with one line that says what to run.
set -euo pipefail

log() { printf 'setup-docker: %s\n' "$*" >&2; }
engine_answers() { docker info >/dev/null 2>&1; }

# The `docker` CLI can be on PATH with no engine behind it: test the engine, not the command.
if command -v docker >/dev/null 2>&1 && engine_answers; then
  log "Docker engine already answers"
  exit 0
fi

# An engine that runs but refuses this user is not one to install or start.
user=$(id -un 2>/dev/null) || user=$(id -u)
if [ "$(id -u)" != 0 ] && [ -z "${DOCKER_HOST:-}" ] && [ -S /var/run/docker.sock ] && [ ! -w /var/run/docker.sock ]; then
  log "the Docker engine refuses user $user (no write access to /var/run/docker.sock): run 'sudo usermod -aG docker $user' and log in again, or run this as root"
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    log "no Docker engine answers and this is not Debian/Ubuntu: install Docker Engine (https://docs.docker.com/engine/install/) and start it, or set DOCKER_HOST, then run this again"
    exit 1
  fi
  if [ "$(id -u)" != 0 ]; then
    log "no Docker engine answers, and installing Debian's docker.io needs root: run 'sudo bash scripts/setup-docker.sh' (or the whole command as root), or set DOCKER_HOST"
    exit 1
  fi
  log "installing docker.io from the distribution's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt_log=$(mktemp /tmp/pgfort-apt.XXXXXX.log)
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends docker.io iptables ca-certificates; } >"$apt_log" 2>&1; then
    log "apt-get could not install docker.io: check that the Debian mirror in /etc/apt/sources.list answers; last lines of $apt_log:"
    tail -n 5 "$apt_log" >&2
    exit 1
  fi
  rm -f "$apt_log"
fi

if [ "$(id -u)" != 0 ]; then
  log "dockerd is installed but not running: run 'sudo systemctl start docker' (or this script as root), then run this again"
  exit 1
fi

# A dockerd that died (killed, a reboot of a container) leaves its pid file, and a new one refuses
# to start while it is there: remove it when no process has that pid.
if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid 2>/dev/null || echo 0)" 2>/dev/null; then
  log "removing the stale /var/run/docker.pid of a dockerd that is gone"
  rm -f /var/run/docker.pid
fi

# No systemd in containers and CI sandboxes: start dockerd ourselves, logging to a file, in a
# session of its own: a Ctrl-C or the end of the shell that ran `npm start` must not stop the engine.
log "starting dockerd (log: /var/log/pgfort-dockerd.log)"
setsid nohup dockerd >/var/log/pgfort-dockerd.log 2>&1 </dev/null &
dockerd_pid=$!

for _ in $(seq 1 60); do
  if [ -S /var/run/docker.sock ] && engine_answers; then
    log "Docker engine is up"
    exit 0
  fi
  # A dockerd that cannot start (no privileges for iptables or overlay) exits at once: say so now.
  if ! kill -0 "$dockerd_pid" 2>/dev/null; then
    log "dockerd exited before it answered (it needs root with full privileges: iptables, mounts); last lines of /var/log/pgfort-dockerd.log:"
    tail -n 5 /var/log/pgfort-dockerd.log >&2 || true
    exit 1
  fi
  sleep 1
done
log "dockerd did not answer within 60 s; last lines of /var/log/pgfort-dockerd.log:"
tail -n 20 /var/log/pgfort-dockerd.log >&2 || true
exit 1
