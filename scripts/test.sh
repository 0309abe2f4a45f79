#!/usr/bin/env bash
# Runs every test of anpr-edge: sets up what they need (scripts/setup.sh and scripts/cluster.sh,
# idempotent), then the style gates (rustfmt, clippy), the unit and integration tests against
# the real models, real images and real brokers, then the fuzz targets for a bounded time.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/scripts/setup.sh"
# The clustered broker of the fleet tests (Redis and Aedes nodes), for the tests only.
"$ROOT/scripts/cluster.sh"
cd "$ROOT"
# Style first, so a run fails in seconds on what a reviewer would reject: formatting, then
# clippy with the [lints] of Cargo.toml (release, so it reuses the setup's build of the
# dependencies). The structure (layers, circles, file length) is tests/layers.rs.
cargo fmt --all --check
(cd fuzz && cargo fmt --all --check)
cargo clippy --release --locked --all-targets -- -D warnings
cargo test --release --locked -- --test-threads="${ANPR_TEST_THREADS:-2}"
# The benchmarks are not run here (speed is reported, not asserted), but they must build.
cargo bench --locked --no-run
# Every fuzz target for a bounded time (FUZZ_SECONDS each, 30 by default).
"$ROOT/scripts/fuzz.sh"
