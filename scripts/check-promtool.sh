#!/usr/bin/env bash
# Makes sure promtool (Prometheus's rule checker) is on PATH before the unit tests: they run
# `promtool test rules` on the alert rules of `pgfort monitoring rules` and fail without it.
# Installs Debian's prometheus package (it ships promtool) when we are root on Debian; otherwise
# says what to install. --no-install-recommends: the server's recommends are not needed to test.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "check-promtool: installing promtool (apt-get install -y --no-install-recommends prometheus)" >&2
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 || {
    apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  }
  command -v promtool >/dev/null 2>&1 || {
    echo "check-promtool: the prometheus package is installed but promtool is not on PATH" >&2
    exit 1
  }
else
  echo "check-promtool: promtool is not installed: run \`sudo apt-get install --no-install-recommends prometheus\` (Debian/Ubuntu) or put promtool from https://prometheus.io/download/ on PATH" >&2
  exit 1
fi
