#!/usr/bin/env bash
# Make the base images the Dockerfile builds FROM exist, offline if need be.
# Usage: scripts/base-image.sh [TAG...]   (default debian:trixie-slim, the base of PostgreSQL 17)
#        scripts/base-image.sh debian:trixie-slim debian:bookworm-slim   (both supported majors: 17, 15)
# The suite debootstrap makes is the tag's (debian:SUITE or debian:SUITE-slim), or PGFORT_BASE_SUITE.
# Only when a tag is missing locally and cannot be pulled (an air-gapped host, or no registry
# reachable) does it build one: debootstrap --variant=minbase from the Debian mirror, cleaned of
# apt lists and docs, then `docker import` under TAG. Idempotent.
set -euo pipefail

mirror=${PGFORT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
log() { printf 'base-image: %s\n' "$*" >&2; }

# The Debian suite a tag names: debian:trixie-slim -> trixie.
suite_of() {
  local name=${1#debian:}
  if [ -n "${PGFORT_BASE_SUITE:-}" ]; then
    printf '%s\n' "$PGFORT_BASE_SUITE"
  elif [ "$name" != "$1" ] && [[ $name =~ ^([a-z]+)(-slim)?$ ]]; then
    printf '%s\n' "${BASH_REMATCH[1]}"
  else
    log "cannot tell which Debian suite $1 is: set PGFORT_BASE_SUITE (e.g. trixie)"
    return 1
  fi
}

make_base() {
  local tag=$1 suite
  if docker image inspect "$tag" >/dev/null 2>&1; then
    log "$tag is present"
    return 0
  fi
  # A short timeout: on an air-gapped host a pull hangs on DNS or TCP rather than failing.
  if timeout 60 docker pull -q "$tag" >/dev/null 2>&1; then
    log "pulled $tag"
    return 0
  fi
  # What cannot be done here is one line that says what to run.
  if ! command -v debootstrap >/dev/null 2>&1 && ! command -v apt-get >/dev/null 2>&1; then
    log "$tag is missing and cannot be pulled, and building it needs debootstrap, which this host lacks (not Debian/Ubuntu): install debootstrap and run this again, or 'docker load' a $tag image"
    exit 1
  fi
  if [ "$(id -u)" != 0 ]; then
    log "$tag is missing and cannot be pulled, and building it with debootstrap needs root: run 'sudo bash scripts/base-image.sh $tag' (or the whole command as root), or 'docker load' a $tag image"
    exit 1
  fi
  suite=$(suite_of "$tag")
  log "$tag is missing and cannot be pulled: building it with debootstrap ($suite, minbase)"
  if ! command -v debootstrap >/dev/null 2>&1; then
    apt_log=$(mktemp /tmp/pgfort-apt.XXXXXX.log)
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get install -y -qq debootstrap || { apt-get update -qq && apt-get install -y -qq debootstrap; }; } >"$apt_log" 2>&1; then
      log "apt-get could not install debootstrap: check that the Debian mirror in /etc/apt/sources.list answers; last lines of $apt_log:"
      tail -n 5 "$apt_log" >&2
      exit 1
    fi
    rm -f "$apt_log"
  fi

  root=$(mktemp -d /tmp/pgfort-rootfs.XXXXXX)
  # shellcheck disable=SC2064 # the directory of this call, expanded now
  trap "rm -rf '$root'" EXIT
  # An older debootstrap may not know a newer suite (trixie) by name; every Debian suite since
  # bookworm bootstraps with the same script as sid.
  local script=()
  if [ ! -e "/usr/share/debootstrap/scripts/$suite" ] && [ -e /usr/share/debootstrap/scripts/sid ]; then
    script=(/usr/share/debootstrap/scripts/sid)
  fi
  debootstrap_log=$(mktemp /tmp/pgfort-debootstrap.XXXXXX.log)
  debootstrap --variant=minbase "$suite" "$root" "$mirror" "${script[@]}" >"$debootstrap_log" 2>&1 || {
    log "debootstrap failed; last lines of $debootstrap_log:"
    tail -n 20 "$debootstrap_log" >&2
    exit 1
}
rm -f "$debootstrap_log"

# Same spirit as the official -slim images: no package lists, no docs, no man pages, no caches.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/log/*.log \
  "$root"/tmp/* "$root"/root/.cache
mkdir -p "$root"/etc/dpkg/dpkg.cfg.d
cat >"$root"/etc/dpkg/dpkg.cfg.d/pgfort-slim <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
DPKG
cat >"$root"/etc/apt/apt.conf.d/pgfort-slim <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
APT
# Point apt inside the image at the mirror we reached.
printf 'deb %s %s main\ndeb %s %s-updates main\n' "$mirror" "$suite" "$mirror" "$suite" >"$root"/etc/apt/sources.list

tar -C "$root" -c . | docker import \
  --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  - "$tag" >/dev/null
log "imported $tag ($(docker image inspect -f '{{.Size}}' "$tag") bytes)"
rm -rf "$root"
trap - EXIT
}

if [ $# -eq 0 ]; then set -- debian:trixie-slim; fi
for tag in "$@"; do make_base "$tag"; done
