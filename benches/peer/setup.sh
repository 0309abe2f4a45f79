#!/usr/bin/env bash
# Creates (or brings up to date) the Python virtual environment of the model tools and the peer
# benchmark: .venv-tools at the repository root, from the pinned
#   benches/peer/requirements.txt   fast-alpr, open-image-models, fast-plate-ocr, onnxruntime, ...
#   models/requirements.txt         onnx (models/dequantize_detector.py)
#   models/requirements-compare.txt onnxruntime, opencv (models/compare_detectors.py)
# Idempotent: does nothing when the environment already holds exactly these files' pins (a stamp
# named after their hash); reinstalls the pins when a file changed. ANPR_TOOLS_VENV overrides the
# location. Prints the environment's python on stdout.
#
#   benches/peer/setup.sh
#   "$(benches/peer/setup.sh)" benches/peer/peer_eval.py ../shared/data/openalpr-eu-dev --json
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${ANPR_TOOLS_VENV:-$ROOT/.venv-tools}
REQS=("$ROOT/benches/peer/requirements.txt" "$ROOT/models/requirements.txt" "$ROOT/models/requirements-compare.txt")
PYTHON=${PYTHON:-python3}

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "setup.sh: $("$PYTHON" --version 2>&1) is too old; fast-alpr needs Python >= 3.10" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV" >&2 || {
    echo "setup.sh: '$PYTHON -m venv' failed (on Debian: apt-get install python3-venv)" >&2
    exit 1
  }
fi
STAMP="$VENV/.peer-installed-$(cat "${REQS[@]}" | sha256sum | cut -c1-16)"
if [ ! -f "$STAMP" ]; then
  ARGS=()
  for r in "${REQS[@]}"; do ARGS+=(-r "$r"); done
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${ARGS[@]}" >&2
  CHECK=$("$VENV/bin/python" -m pip check) || { echo "$CHECK" >&2; exit 1; }
  touch "$STAMP"
fi
echo "$VENV/bin/python"
