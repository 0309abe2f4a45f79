#!/usr/bin/env bash
# Installs the clustered MQTT broker of the fleet tests and bench (tests/cluster/): Debian's
# Redis, Node.js and npm, and the pinned Aedes packages of tests/cluster/package-lock.json.
# A dependency of the tests only: scripts/test.sh runs it, the README's first command does not.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  printf '\n== installing Debian packages for the test cluster: %s\n' "${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian's redis-server package starts a service on 6379; the tests start their own on free ports.
if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
  $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "tests/cluster needs Node.js 20 or later (Aedes 1.x); this machine has $(node --version)" >&2
  exit 1
fi
cd "$ROOT/tests/cluster"
if ! npm ls --omit=dev >/dev/null 2>&1; then
  printf '\n== installing the test cluster (Aedes, mqemitter-redis, aedes-persistence-redis)\n' >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
