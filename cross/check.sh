#!/usr/bin/env bash
# Checks what can be checked of the Docker cross builds without a Docker engine:
#   - Cross.toml parses and names Dockerfiles that exist;
#   - each Dockerfile is made of known instructions (continuations joined);
#   - every Debian package the Dockerfiles install exists for its architecture (arm64, armhf,
#     or the amd64 build host) in bookworm, asked of apt with a private package list, so this
#     machine's apt state is left as it is.
# Needs deb.debian.org (apt); not part of the test suite, which never downloads.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

python3 - "$ROOT" <<'PY'
import pathlib, sys, tomllib
root = pathlib.Path(sys.argv[1])
cross = tomllib.loads((root / "Cross.toml").read_text())
known = {"FROM", "RUN", "COPY", "ENV", "ARG", "WORKDIR", "USER", "LABEL", "ADD", "SHELL", "ENTRYPOINT", "CMD"}
for triple, table in cross["target"].items():
    spec = table["dockerfile"]
    path = root / (spec["file"] if isinstance(spec, dict) else spec)
    lines, joined = path.read_text().splitlines(), []
    for line in lines:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + " " + line.strip()
        elif line.strip() and not line.lstrip().startswith("#"):
            joined.append(line.strip())
    bad = [l for l in joined if l.split()[0] not in known]
    if bad or not joined[0].startswith("FROM "):
        sys.exit(f"{path}: not a Dockerfile instruction: {bad or joined[0]}")
    for l in joined:
        if l.startswith("COPY "):
            src = l.split()[1]
            if not (root / src).exists():
                sys.exit(f"{path}: COPY {src}: no such file in the build context")
    print(f"ok {triple}: {path.relative_to(root)} ({len(joined)} instructions)")
PY

APTDIR=$(mktemp -d)
trap 'rm -rf "$APTDIR"' EXIT
mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial"
APT=(-o Dir::State::Lists="$APTDIR/lists" -o Dir::Cache="$APTDIR/cache" -o Dir::State::status=/dev/null
     -o Debug::NoLocking=1 -o APT::Architectures::=amd64 -o APT::Architectures::=arm64 -o APT::Architectures::=armhf)
# A mirror mid-sync may refuse one index; what matters is that each package is found below.
apt-get "${APT[@]}" update -qq >/dev/null 2>&1 || echo "check: some package lists did not download (mirror sync?); checking with the rest" >&2

status=0; checked=0
for dockerfile in "$ROOT"/cross/*.Dockerfile; do
  # The packages of the install line: words after --no-install-recommends up to `&&`.
  packages=$(sed -n '/--no-install-recommends/,/&&/p' "$dockerfile" | tr -d '\\' | tr ' ' '\n' \
             | grep -v -e '^$' -e '^&&' -e '^-' -e '/' -e 'apt-get' -e 'DEBIAN_FRONTEND' -e '^install$' -e '^rm$' || true)
  set -f  # package words are not file patterns
  for p in $packages; do
    checked=$((checked + 1))
    case "$p" in *:*) spec=$p ;; *) spec="$p:amd64" ;; esac
    if version=$(apt-cache "${APT[@]}" policy "$spec" 2>/dev/null | awk '/Candidate:/ {print $2}') && [ -n "$version" ] && [ "$version" != "(none)" ]; then
      echo "ok $(basename "$dockerfile"): $spec $version"
    else
      echo "MISSING $(basename "$dockerfile"): $spec" >&2; status=1
    fi
  done
  set +f
done
[ "$checked" -ge 20 ] || { echo "check: only $checked packages found in the Dockerfiles" >&2; exit 1; }
exit $status
