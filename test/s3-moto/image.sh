#!/usr/bin/env bash
# Make the image of moto's S3 server that the integration tests run, with nothing but Docker and
# the Debian mirror: the trixie base from scripts/base-image.sh (debootstrap + docker import when
# no registry answers), then Debian's python3-moto on it. Idempotent and cached: the tag carries a
# hash of the Dockerfile, so an unchanged one is skipped and an edited one is rebuilt.
# Usage: test/s3-moto/image.sh   (prints the image tag on stdout, progress on stderr)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
base=debian:trixie-slim
tag="pgfort-test/moto:$(sha256sum "$here/Dockerfile" | cut -c1-12)"
log() { printf 'moto-image: %s\n' "$*" >&2; }

if docker image inspect "$tag" >/dev/null 2>&1; then
  log "$tag is present"
  printf '%s\n' "$tag"
  exit 0
fi
PGFORT_BASE_SUITE=trixie bash "$here/../../scripts/base-image.sh" "$base"
log "building $tag from $base (apt-get of python3-moto: about a minute)"
build_log=$(mktemp /tmp/pgfort-moto-build.XXXXXX.log)
if ! docker build --build-arg "BASE=$base" --tag "$tag" "$here" >"$build_log" 2>&1; then
  log "docker build failed; last lines of $build_log:"
  tail -n 20 "$build_log" >&2
  exit 1
fi
rm -f "$build_log"
log "built $tag"
printf '%s\n' "$tag"
