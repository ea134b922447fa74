#!/usr/bin/env bash
# The built-in demo model (model/demo) on held-out clips, so a regression anywhere in the engine
# or the element shows up: (1) through the engine API (slowfast-demo eval), (2) the ablation
# with the slow tokens zeroed, which must cost the detail question at least 30 points, and (3)
# through slowfast-cli and through the element in a real pipeline, which must agree.
# Seeds are fixed, so the figures are deterministic. The committed checkpoint meets the issue's
# targets (docs/model.md: describe 100%, yes/no 97.0%, detail 100% on 200 held-out clips, against
# 95/95/90; on these 60: 100%, 98.3%, 100%); the accuracy minima are regression floors a few
# points under its scores here. The ablation minimum is the target itself: 30 points.
set -euo pipefail
: "${SLOWFAST_DEMO:?}" "${SLOWFAST_DEMO_MODEL:?}" "${SLOWFAST_CLI:?}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -f "$SLOWFAST_DEMO_MODEL/model.safetensors" ]; then
  echo "FAIL: no demo model in $SLOWFAST_DEMO_MODEL" >&2
  exit 1
fi

# Prints kind accuracies from eval's JSON and checks them against minima (fractions).
check() {
  python3 - "$@" <<'PY'
import json, sys
result = json.loads(sys.argv[1])
label = sys.argv[2]
minima = dict(zip(("describe", "yes-no", "detail"), map(float, sys.argv[3:6])))
failed = False
for kind, minimum in minima.items():
    r = result.get(kind)
    if r is None or r["asked"] == 0:
        print(f"FAIL: {label}: no {kind} questions"); failed = True; continue
    print(f"{label}: {kind} {r['right']}/{r['asked']} = {100 * r['accuracy']:.1f}% (min {100 * minimum:.0f}%)")
    if r["accuracy"] < minimum:
        print(f"FAIL: {label}: {kind} below the minimum"); failed = True
sys.exit(1 if failed else 0)
PY
}

count=${SLOWFAST_DEMO_EVAL_CLIPS:-60}
full=$("$SLOWFAST_DEMO" eval --model "$SLOWFAST_DEMO_MODEL" --count "$count" --verbose | tee "$work/full.log" | tail -1)
grep -v '^{' "$work/full.log" || true
check "$full" "engine, $count held-out clips" 0.95 0.93 0.95

# The alert set (docs/model.md): every window of 20 scripted streams, asked about the object and
# about a near miss. Regression floors a few points under the committed model's figures here
# (own 93.6%, near miss 90.0%; on the 100-stream set 96.1% and 83.9%).
alerts=$("$SLOWFAST_DEMO" alerts --model "$SLOWFAST_DEMO_MODEL" --count 20 | tail -1)
python3 - "$alerts" 0.88 0.85 <<'PY'
import json, sys
result = json.loads(sys.argv[1])
failed = False
for kind, minimum in (("own", float(sys.argv[2])), ("other", float(sys.argv[3]))):
    r = result[kind]
    print(f"alert set, 20 streams: {kind} {r['right']}/{r['asked']} = {100 * r['accuracy']:.1f}% (min {100 * minimum:.0f}%)")
    if r["asked"] != 140 or r["accuracy"] < minimum:
        print(f"FAIL: alert set: {kind} below the minimum or not 7 windows a stream"); failed = True
print(f"alert set: {result['clips']['right']} of 20 streams with every answer right")
sys.exit(1 if failed else 0)
PY

ablated=$("$SLOWFAST_DEMO" eval --model "$SLOWFAST_DEMO_MODEL" --count "$count" --zero-slow-tokens | tail -1)
check "$ablated" "slow tokens zeroed" 0 0 0
python3 - "$full" "$ablated" <<'PY'
import json, sys
full, ablated = (json.loads(a)["detail"]["accuracy"] for a in sys.argv[1:3])
drop = 100 * (full - ablated)
print(f"detail accuracy with slow tokens zeroed: {100 * ablated:.1f}% (drop {drop:.1f} points, min 30)")
sys.exit(0 if drop >= 30 else 1)
PY

# The vision side keeps the scene: a linear probe reads the shape's colour from the clip's
# averaged visual tokens at least as well as from its 2 x 2 pixel averages (100% and 86% on these
# 200 clips; a vision tower stuck near linear read 53%).
probe=$("$SLOWFAST_DEMO" probe --model "$SLOWFAST_DEMO_MODEL" --count 200 | tail -1)
python3 - "$probe" <<'PY'
import json, sys
probe = json.loads(sys.argv[1])
features, pixels = probe["features"]["colour"], probe["pixels"]["colour"]
print(f"linear probe of the shape's colour: features {100 * features:.0f}%, pixels {100 * pixels:.0f}% (min 95%, and not below pixels)")
sys.exit(0 if features >= 0.95 and features >= pixels else 1)
PY

"$SLOWFAST_DEMO" make-eval --out "$work/set" --count 6
python3 "$here/demo_eval.py" "$work/set" --model "$SLOWFAST_DEMO_MODEL" --cli "$SLOWFAST_CLI" \
  --max-disagreements 0
