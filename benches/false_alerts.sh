#!/usr/bin/env bash
# False alerts per 1,000 vehicles, for each alert policy considered, on real photographs.
#
# The material is benches/support/scenes.sh's road video (four cars a scene, 1080p, 25 fps) of
# every photograph of ../shared/data/openalpr-eu-dev and openalpr-us-dev. The hotlist holds
# HOTLIST_ENTRIES random plausible plates, the true plate of every even-numbered photograph
# (hits that should fire), and, for every odd-numbered one, near-misses of its plate that a
# misread could turn into a match: one confusable character swapped (0/O, 1/I, 8/B, 5/S, 2/Z),
# one other character changed, one dropped, one added — but not the plate itself. So every
# alert matched to a near-miss (or a random plate) is a false alert. The video is read as fast as
# recognition goes (no frame dropped), once per policy.
#
#   benches/false_alerts.sh          # KEEP=1 keeps the scratch folder (records per policy)
#
# Prints one row per policy and, last, one JSON object: {"vehicles", "policies": [{name,
# false_confirmed_per_1000, false_possible_per_1000, true_confirmed, true_listed_shown,
# alerts_before_fusion}]}.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOTLIST_ENTRIES=${HOTLIST_ENTRIES:-100000}
ANPR=${ANPR:-anpr-edge}
WORK=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
cd "$WORK"
mapfile -t photos < <(ls "$ROOT"/../shared/data/openalpr-eu-dev/*.jpg "$ROOT"/../shared/data/openalpr-us-dev/*.jpg)
bash "$ROOT/benches/support/scenes.sh" "${photos[@]}" > /dev/null
python3 - "$HOTLIST_ENTRIES" plates.txt > hotlist.csv 2> listed.json <<'PY'
import json, random, sys
n, shown = int(sys.argv[1]), [l.strip().upper() for l in open(sys.argv[2])]
rng = random.Random(11)
L, D = "ABCDEFGHJKLMNPRSTUVWXYZ", "0123456789"
# Not O/0: the annotations write O where a plate prints 0, so that swap may be the true plate.
swap = {"1": "I", "I": "1", "8": "B", "B": "8", "5": "S", "S": "5", "2": "Z", "Z": "2"}
fold = lambda p: p.replace("O", "0")
listed = {}
def near(p):
    out = set()
    at = [i for i, c in enumerate(p) if c in swap]
    if at:
        i = rng.choice(at); out.add(p[:i] + swap[p[i]] + p[i + 1:])
    i = rng.randrange(len(p)); pool = D if p[i].isdigit() else L
    out.add(p[:i] + rng.choice([c for c in pool if c != p[i] and swap.get(p[i]) != c]) + p[i + 1:])
    if len(p) > 4:
        i = rng.randrange(len(p)); out.add(p[:i] + p[i + 1:])
    i = rng.randrange(len(p) + 1); out.add(p[:i] + rng.choice(D) + p[i:])
    return out - {p}
truth = {fold(p) for p in shown}
for k, p in enumerate(shown):
    if k % 2 == 0:
        listed[p] = "true"
    else:
        for q in near(p):
            if fold(q) not in truth:
                listed.setdefault(q, "near-miss")
while len(listed) < n + len(shown):
    p = (str(rng.randint(1, 9)) + "".join(rng.choices(L, k=3)) + "".join(rng.choices(D, k=3))
         if rng.random() < 0.5 else "".join(rng.choices(L, k=rng.choice((2, 3)))) + "".join(rng.choices(D, k=3)))
    if fold(p) not in truth:
        listed.setdefault(p, "random")
print("version,false-alerts-1\nplate,list,category,action,expires,note")
for p in listed:
    print(f"{p},bench,stolen,alert,,")
json.dump({"kinds": listed, "true_shown": sum(1 for k in range(0, len(shown), 2))}, sys.stderr)
PY
run_policy() { # name, then the [hotlist] lines
  local name=$1; shift
  { printf '[device]\nid = "fa"\n[device.site]\nname = "fa"\n[privacy]\npurpose = "false alert bench"\n'
    printf '[source]\nkind = "file"\npath = "%s/road.mp4"\n[output]\nkind = "stdout"\n' "$WORK"
    printf '[images]\noverview = false\nplate_crop = false\n'
    printf '[hotlist]\nfile = "%s/hotlist.csv"\n' "$WORK"
    printf '%s\n' "$@"; } > "$name.toml"
  ANPR_LOG=warn "$ANPR" run --config "$name.toml" > "$name.jsonl" 2> "$name.err" \
    || { echo "run $name failed:" >&2; tail -5 "$name.err" >&2; exit 1; }
  echo "$name"
}
names=()
names+=("$(run_policy any-match-at-fusion 'fuzzy_tolerance = 1' '[hotlist.alert]' 'early = false' 'min_frames = 1' 'min_confidence = 0.0' 'min_detection_score = 0.0')")
names+=("$(run_policy default 'fuzzy_tolerance = 1')")
names+=("$(run_policy one-frame-early 'fuzzy_tolerance = 1' '[hotlist.alert]' 'min_frames = 1' 'min_confidence = 0.0' 'min_detection_score = 0.0')")
names+=("$(run_policy strict 'fuzzy_tolerance = 1' '[hotlist.alert]' 'min_frames = 3' 'min_confidence = 0.9')")
names+=("$(run_policy exact-only 'fuzzy_tolerance = 0')")
python3 - listed.json "${names[@]}" <<'PY'
import json, sys
listed = json.load(open(sys.argv[1])); kinds = listed["kinds"]
rows = []
for name in sys.argv[2:]:
    records = [json.loads(l) for l in open(f"{name}.jsonl") if l.startswith("{")]
    records = [r for r in records if "report" in r]
    vehicles = sum(r["report"] == "vehicle" for r in records)
    false_confirmed, false_possible, true_confirmed, early = set(), set(), set(), 0
    for r in records:
        if not r["hit"]:
            continue
        kind = kinds.get((r["hotlist"] or {}).get("plate") or "", "random")
        early += r["report"] == "alert"
        if r["alert_level"] == "confirmed":
            (true_confirmed if kind == "true" else false_confirmed).add(r["vehicle_id"])
        elif kind != "true":
            false_possible.add(r["vehicle_id"])
    per = lambda s: round(1000 * len(s) / max(vehicles, 1), 1)
    rows.append({"name": name, "vehicles": vehicles, "false_confirmed_per_1000": per(false_confirmed),
                 "false_possible_per_1000": per(false_possible), "true_confirmed": len(true_confirmed),
                 "true_listed_shown": listed["true_shown"], "alerts_before_fusion": early})
    print(f"{name:22} vehicles {vehicles:4}  false confirmed {per(false_confirmed):6}/1000  false possible "
          f"{per(false_possible):6}/1000  true confirmed {len(true_confirmed)}/{listed['true_shown']}  early {early}")
print(json.dumps({"vehicles": rows[0]["vehicles"] if rows else 0, "policies": rows}))
PY
