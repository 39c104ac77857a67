#!/usr/bin/env bash
# Installs the Debian packages the tests need: headless Chromium and its WebDriver (browser tests), and
# PostgreSQL, Redis and nginx (the scaled topology's tests start throwaway ones: tests/services.py).
# Idempotent and quiet: does nothing when every binary is already there. CI calls it before the tests.
# Nothing is started here: Debian's packages may start their own services (Docker images usually forbid
# it with policy-rc.d); the tests run theirs on free ports in a temporary folder.
set -euo pipefail

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
[ -x /usr/bin/redis-server ] || need+=(redis-server)
[ -x /usr/sbin/nginx ] || need+=(nginx)

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
echo "install-system-deps: $(/usr/bin/redis-server --version 2>/dev/null | cut -d' ' -f1-3 || echo 'redis-server not found'); $(/usr/sbin/nginx -v 2>&1 || echo 'nginx not found')"
