#!/usr/bin/env bash
# Creates (once) the light Python virtual environment the setup needs to make the float
# detector (onnx only): scripts/python-tools.sh models. The peer benchmark's fuller environment
# (same folder) comes from benches/peer/setup.sh. Prints the environment's python on stdout.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv-tools"
case "${1:-models}" in
  models) REQ="$ROOT/models/requirements.txt" ;;
  *) echo "usage: $0 models" >&2; exit 2 ;;
esac
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" >&2
STAMP="$VENV/.installed-$(sha256sum "$REQ" | cut -c1-16)"
if [ ! -f "$STAMP" ]; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ" >&2
  touch "$STAMP"
fi
echo "$VENV/bin/python"
