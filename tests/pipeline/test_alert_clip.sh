#!/usr/bin/env bash
# A scripted surveillance clip: a red circle is in view from frame 100 to frame 160 of 224
# (4 frames per second: from 25 s to 40.25 s), nothing but the background and the small dot
# before and after. pipelines/surveillance.sh asks "Is there a red circle?" about every window
# (64 frames, an answer every 16) with raise-after 1 and clear-after 1. Exactly one alert must be
# raised, within one hop (4 s) after the circle appears, and cleared within one hop after it
# leaves.
#
# The model must know the scenes: $SLOWFAST_TEST_MODEL, else the built-in demo model
# ($SLOWFAST_DEMO_MODEL). The clip is rendered by slowfast-demo ($SLOWFAST_DEMO).
#   test_alert_clip.sh BUILD_DIR
set -euo pipefail
export BUILD_DIR=${1:?usage: test_alert_clip.sh BUILD_DIR}
model=${SLOWFAST_TEST_MODEL:-${SLOWFAST_DEMO_MODEL:-}}
if [ -z "$model" ] || [ ! -f "$model/model.safetensors" ]; then
  echo "SKIP: no demo model (SLOWFAST_TEST_MODEL or SLOWFAST_DEMO_MODEL)"; exit 77
fi
[ -x "${SLOWFAST_DEMO:-}" ] || { echo "SLOWFAST_DEMO (slowfast-demo) is not set"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

frames=224 first=100 last=160 fps=4 hop=16
"$SLOWFAST_DEMO" render --out "$work/clip.rgb" --seed 7 --frames $frames --width 160 \
  --height 120 --colour red --shape circle --direction right --visible $first:$last > /dev/null
gst-launch-1.0 -q filesrc location="$work/clip.rgb" ! \
  rawvideoparse width=160 height=120 format=rgb framerate=$fps/1 ! videoconvert ! \
  video/x-raw,format=I420 ! matroskamux ! filesink location="$work/clip.mkv"

bash "$SLOWFAST_SOURCE_ROOT/pipelines/surveillance.sh" --model "$model" \
  --source "yard=$work/clip.mkv" --condition "Is there a red circle? Answer yes or no." \
  --raise-after 1 --clear-after 1 --window-frames 64 --hop-frames $hop --sample-fps $fps \
  --max-new-tokens 4 --set temperature=0 --set dtype=float32 --set device=cpu \
  > "$work/out.jsonl"

python3 - "$work/out.jsonl" $frames $first $last $fps $hop <<'PY'
import json, sys
path = sys.argv[1]
frames, first, last, fps, hop = map(int, sys.argv[2:7])
lines = [json.loads(l) for l in open(path) if l.strip()]
answers = [l for l in lines if l["type"] == "slowfast-answer"]
alerts = [l for l in lines if l["type"] == "slowfast-alert"]
second = 10**9
for a in answers:
    print(f"window ending {a['window-end'] / second:6.2f} s: {a['text']}")
for a in alerts:
    print(f"alert {a['state']} at {a['window-end'] / second:.2f} s")
# Windows end at frames 63, 79, ..., 223: the clip's last frame ends the last window.
assert len(answers) == (frames - 64) // hop + 1, len(answers)
states = [a["state"] for a in alerts]
assert states == ["raised", "cleared"], f"expected one raise then one clear, got {states}"
appear, leave = first / fps, (last + 1) / fps
hop_seconds = hop / fps
raised, cleared = (a["window-end"] / second for a in alerts)
assert appear <= raised <= appear + hop_seconds, \
    f"raised at {raised} s: not within one hop ({hop_seconds} s) of the appearance at {appear} s"
assert leave <= cleared <= leave + hop_seconds, \
    f"cleared at {cleared} s: not within one hop ({hop_seconds} s) after it left at {leave} s"
print(f"raised {raised - appear:.2f} s after the appearance, cleared {cleared - leave:.2f} s "
      f"after it left (one hop: {hop_seconds} s)")
PY
