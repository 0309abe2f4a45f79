#!/usr/bin/env bash
# Creates (once) the Python virtual environment the model tools and the peer benchmark use:
#   scripts/python-tools.sh models   -> onnx, to make the float detector (setup needs this)
#   scripts/python-tools.sh peer     -> fast-alpr and its components, for the side-by-side bench
# Prints the environment's python on stdout.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv-tools"
case "${1:-models}" in
  models) REQ="$ROOT/models/requirements.txt" ;;
  peer) REQ="$ROOT/benches/peer/requirements.txt" ;;
  *) echo "usage: $0 models|peer" >&2; exit 2 ;;
esac
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" >&2
STAMP="$VENV/.installed-$(sha256sum "$REQ" | cut -c1-16)"
if [ ! -f "$STAMP" ]; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ" >&2
  touch "$STAMP"
fi
echo "$VENV/bin/python"
