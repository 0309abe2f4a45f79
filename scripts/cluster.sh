#!/usr/bin/env bash
# Installs the clustered MQTT broker of the fleet tests and bench (tests/cluster/): Debian's
# Redis, Node.js and npm, and the pinned Aedes packages of tests/cluster/package-lock.json.
# A dependency of the tests only: scripts/test.sh runs it, the README's first command does not.
# Safe to run again: each step is skipped when already done.
#
# --rmqtt: instead, builds rmqttd 0.24.0 (the Raft-clustered broker the fleet bench can run on
# with ENGINE=rmqtt) into target/rmqttd and prints the binary's path. It needs protoc and cmake,
# and its cold build takes ≈13 minutes on 2 cores: the bench's, never the test command's.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi

if [ "${1:-}" = --rmqtt ]; then
  binary="$ROOT/target/rmqttd/bin/rmqttd"
  if [ ! -x "$binary" ]; then
    need=()
    command -v protoc >/dev/null || need+=(protobuf-compiler)
    command -v cmake >/dev/null || need+=(cmake)
    if [ ${#need[@]} -gt 0 ]; then
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
    fi
    printf '\n== building rmqttd 0.24.0 (about 13 minutes on 2 cores)\n' >&2
    cargo install --locked --root "$ROOT/target/rmqttd" rmqttd@0.24.0 >&2
  fi
  echo "$binary"
  exit 0
fi

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
