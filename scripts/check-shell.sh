#!/usr/bin/env bash
# Runs shellcheck over every shell program of the repository (npm run test:shell; npm test runs it
# first). Installs shellcheck when it is missing and we are root on Debian; otherwise says what
# to install.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v shellcheck >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "check-shell: installing shellcheck (apt-get install -y shellcheck)" >&2
    apt-get install -y -qq shellcheck >/dev/null 2>&1 || {
      apt-get update -qq && apt-get install -y -qq shellcheck >/dev/null
    }
  else
    echo "check-shell: shellcheck is not installed: run \`sudo apt-get install shellcheck\` (Debian/Ubuntu) or see https://www.shellcheck.net" >&2
    exit 1
  fi
fi

# Every *.sh under git, plus the extension-less bash scripts (a bash shebang) such as .ci/run.
mapfile -t files < <(
  git ls-files --cached --others --exclude-standard -- '*.sh'
  git ls-files --cached --others --exclude-standard -- '.ci/*' | while IFS= read -r file; do
    if head -n 1 "$file" | grep -Eq '^#!.*\b(ba)?sh\b'; then printf '%s\n' "$file"; fi
  done
)
if [ "${#files[@]}" -eq 0 ]; then
  echo "check-shell: no shell files found" >&2
  exit 1
fi
# -x with SCRIPTDIR: follow `source` of sibling files (docker-entrypoint.sh sources entrypoint-lib.sh).
shellcheck -x --source-path=SCRIPTDIR "${files[@]}"
echo "check-shell: shellcheck passed on ${#files[@]} file(s)"
