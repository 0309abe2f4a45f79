#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets/) for FUZZ_SECONDS each (default 30), with
# AddressSanitizer, debug assertions and overflow checks, starting from the seeds in
# testdata/fuzz/<target>/ (and the shipped configuration for the config parser). A crash,
# an assertion or a leak fails the run; libFuzzer writes the input that caused it to
# fuzz/artifacts/<target>/, and `cargo fuzz run -O -a <target> <that file>` replays it.
#
#   scripts/fuzz.sh [TARGET...]        (default: every target)
#   scripts/fuzz.sh --install-tool     only install the pinned cargo-fuzz
#
# The corpus grows in fuzz/corpus/<target>/ (not committed), so repeated runs go deeper.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_EACH=${FUZZ_SECONDS:-30}
CARGO_FUZZ_VERSION=0.13.2
if [ "${1:-}" = --install-tool ]; then
  if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION from crates.io" >&2
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
  fi
  exit 0
fi
cd "$ROOT/fuzz"
# cargo fuzz asks rustc for AddressSanitizer and sanitizer coverage with -Z flags, which the
# machine's one toolchain (stable) accepts only with RUSTC_BOOTSTRAP; nothing else of the
# build uses an unstable feature.
export RUSTC_BOOTSTRAP=1
# cargo fuzz has no --locked: refuse a lock file that would have to change, as the tests do.
cargo metadata --locked --format-version 1 >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build -O -a
for target in "${targets[@]}"; do
  corpus=corpus/$target
  mkdir -p "$corpus"
  if [ "$target" = config ]; then
    # The shipped file's source is the packaged sample, absent here; a path that exists lets
    # the mutations reach the checks after source.path.
    sed 's#^path = "/var/lib/anpr-edge/sample.mp4"#path = "/"#' "$ROOT/systemd/anpr-edge.toml" > "$corpus/shipped.toml"
  fi
  seeds=()
  if [ -d "$ROOT/testdata/fuzz/$target" ]; then seeds=("$ROOT/testdata/fuzz/$target"); fi
  printf '\n== fuzzing %s for %s s\n' "$target" "$SECONDS_EACH" >&2
  cargo fuzz run -O -a "$target" "$corpus" "${seeds[@]}" -- \
    -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1
done
