#!/usr/bin/env bash
# The chaos bench (benches/chaos.rs, issue 25): the project's publisher, spool on, in a process
# of its own against Mosquitto or the three-node Aedes cluster, one fault per round drawn from
# a printed seed (broker or node frozen, killed, restarted; packets delayed, held or the
# connection cut through a loopback relay; the unit starved by stress-ng on every core and
# nice 19, frozen, or SIGKILLed and started again from its spool). Every message the unit
# counted as acknowledged must reach the consumer. Not run by the test command.
#
#   ROUNDS=N QOS=1|2 BROKER=mosquitto|cluster SEED=S benches/chaos.sh
#
# ROUNDS: default as many as fit in 10 minutes. QOS: 2. BROKER: mosquitto. SEED: the clock.
# A round that loses a message prints its seed and round. The last line is one JSON object:
# rounds, seed, qos, messages, acked, delivered_unique, lost, duplicates, faults (by kind).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
command -v stress-ng >/dev/null || { echo "stress-ng is missing: run scripts/setup.sh" >&2; exit 1; }
if [ "${BROKER:-mosquitto}" = cluster ]; then
  "$ROOT/scripts/cluster.sh" >&2
fi
cd "$ROOT"
cargo bench --locked --bench chaos
