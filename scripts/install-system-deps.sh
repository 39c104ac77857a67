#!/usr/bin/env bash
# Installs the Debian packages the browser tests need (headless Chromium and its WebDriver).
# Idempotent and quiet: does nothing when both binaries are already there. CI calls it before the tests.
set -euo pipefail

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)

if [ "${#need[@]}" -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install-system-deps: need root (or sudo) to install: ${need[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-system-deps: installing ${need[*]}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# Output only on failure: apt's progress and debconf notes are noise in CI logs.
if ! { $SUDO apt-get update -qq && \
       $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" fonts-dejavu-core; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-system-deps: apt-get failed" >&2
  exit 1
fi
echo "install-system-deps: $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium not found')"
