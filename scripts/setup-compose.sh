#!/usr/bin/env bash
# The two Composes the integration tests run `pgfort compose`'s projects with, from Debian's
# packages (no registry, no download from GitHub):
#   docker-compose  1.29, Debian bookworm's package, installed with apt-get;
#   docker compose  2.x, Debian trixie's package: installed inside a debian:trixie-slim build
#                   (scripts/base-image.sh makes that image offline) and its CLI plugin copied out to
#                   /usr/local/lib/docker/cli-plugins (a static Go binary; it runs on bookworm).
# Idempotent; as another user than root it says what to run instead.
set -euo pipefail

log() { printf 'setup-compose: %s\n' "$*" >&2; }
plugins=/usr/local/lib/docker/cli-plugins

need_root() {
  if [ "$(id -u)" != 0 ]; then
    log "$1 is missing and installing it needs root: run 'sudo bash scripts/setup-compose.sh'"
    exit 1
  fi
}

if ! command -v docker-compose >/dev/null 2>&1; then
  need_root "docker-compose (v1)"
  log "installing Debian's docker-compose"
  apt_log=$(mktemp /tmp/pgfort-apt.XXXXXX.log)
  if ! { apt-get install -y -qq --no-install-recommends docker-compose || { apt-get update -qq && apt-get install -y -qq --no-install-recommends docker-compose; }; } >"$apt_log" 2>&1; then
    log "apt-get could not install docker-compose; last lines of $apt_log:"
    tail -n 5 "$apt_log" >&2
    exit 1
  fi
  rm -f "$apt_log"
fi

if ! docker compose version >/dev/null 2>&1; then
  need_root "docker compose (v2)"
  log "taking Compose v2 from Debian trixie's docker-compose package"
  context=$(mktemp -d /tmp/pgfort-compose.XXXXXX)
  trap 'rm -rf "$context"; docker rm -f pgfort-compose-v2 >/dev/null 2>&1 || true' EXIT
  printf '%s\n' 'FROM debian:trixie-slim' \
    'RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends docker-compose >/dev/null' >"$context/Dockerfile"
  if ! docker build -q -t pgfort-test/compose-v2 "$context" >"$context/build.log" 2>&1; then
    log "could not install docker-compose in debian:trixie-slim; last lines of the build:"
    tail -n 5 "$context/build.log" >&2
    exit 1
  fi
  docker rm -f pgfort-compose-v2 >/dev/null 2>&1 || true
  docker create --name pgfort-compose-v2 pgfort-test/compose-v2 >/dev/null
  mkdir -p "$plugins"
  docker cp pgfort-compose-v2:/usr/libexec/docker/cli-plugins/docker-compose "$plugins/docker-compose"
  chmod 0755 "$plugins/docker-compose"
fi
log "$(docker-compose version --short 2>/dev/null || echo '?') (v1) and $(docker compose version --short) (v2)"
