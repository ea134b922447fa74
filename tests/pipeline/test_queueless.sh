#!/usr/bin/env bash
# Both source pads of slowfastmllm straight into sinks, no queues: the element announces each
# frame's text GAP before it pushes the frame, so the text sink prerolls while the video sink
# holds the first frame, and the pipeline runs to EOS instead of hanging in PAUSED.
set -euo pipefail
model=${SLOWFAST_TEST_MODEL:?}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 600 frames at 30 fps sampled at 4 fps: 80 frames, windows end at sampled frames 15, 23, ..., 79.
expected_answers=9
status=0
timeout 300 gst-launch-1.0 -v -m videotestsrc num-buffers=600 pattern=ball ! \
  video/x-raw,width=160,height=120,framerate=30/1 ! \
  slowfastmllm name=m model-location="$model" temperature=0 max-new-tokens=16 window-frames=16 \
  hop-frames=8 sample-fps=4 ! fakesink name=video silent=false \
  m.text_src ! fakesink name=text silent=false > "$work/log" 2>&1 || status=$?
if [ "$status" -eq 124 ]; then
  echo "the queue-less pipeline did not reach EOS within 300 s"; tail -20 "$work/log"; exit 1
fi
[ "$status" -eq 0 ] || { echo "gst-launch-1.0 failed ($status)"; tail -20 "$work/log"; exit 1; }
grep -q 'Got EOS from element' "$work/log" || { echo "no EOS"; tail -20 "$work/log"; exit 1; }

frames=$(grep -c 'chain   \*\*\*\*\*\*\* (video:sink)' "$work/log" || true)
[ "$frames" -eq 600 ] || { echo "expected 600 video buffers through, got $frames"; exit 1; }
texts=$(grep -c 'chain   \*\*\*\*\*\*\* (text:sink)' "$work/log" || true)
answers=$(grep -c 'slowfast-answer' "$work/log" || true)
[ "$answers" -eq "$expected_answers" ] || {
  echo "expected $expected_answers answers on the bus, got $answers"; exit 1; }
[ "$texts" -eq "$answers" ] || { echo "$answers answers on the bus but $texts on text_src"; exit 1; }
gaps=$(grep -c 'event   \*\*\*\*\*\*\* (text:sink) E (type: gap' "$work/log" || true)
[ "$gaps" -gt 0 ] || { echo "no GAP reached the text sink"; exit 1; }
echo "ok: 600 frames, $texts answers on text_src, $gaps GAPs, EOS"
