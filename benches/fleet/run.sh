#!/usr/bin/env bash
# The fleet bench (benches/fleet.rs): simulated units built from the project's own publisher on
# a real three-node cluster (tests/cluster/, installed by scripts/cluster.sh), a node killed and
# restarted mid-run, a 100,000-entry fleet hotlist published. Prints one JSON object as its
# last line.
#
# Environment: UNITS (1000), SECONDS (60), RATE (reads/s per unit, 1), IMAGES (0/1),
# JITTER (1; 0 for the plain doubling backoff), HOTLIST_ENTRIES (100000), SPOOL (0; 1 gives
# each unit a durable spool), QOS (2; 1 to see what Aedes' QoS 1 loses at the kill), ENGINE
# (aedes; rmqtt builds rmqttd first, ≈13 min the first time).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ "${ENGINE:-aedes}" = rmqtt ]; then
  RMQTTD=$("$ROOT/scripts/cluster.sh" --rmqtt)
  export RMQTTD
else
  "$ROOT/scripts/cluster.sh"
fi
cd "$ROOT"
# Each simulated unit holds a socket and its runtime's descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo bench --locked --bench fleet
