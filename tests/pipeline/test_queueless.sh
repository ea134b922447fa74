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
# stdout: checksumsink's line per video buffer; stderr: the element's INFO line per answer.
GST_DEBUG=slowfastmllm:4 GST_DEBUG_NO_COLOR=1 timeout 300 gst-launch-1.0 \
  videotestsrc num-buffers=600 pattern=ball ! video/x-raw,width=160,height=120,framerate=30/1 ! \
  slowfastmllm name=m model-location="$model" temperature=0 max-new-tokens=16 window-frames=16 \
  hop-frames=8 sample-fps=4 ! checksumsink sync=false \
  m.text_src ! filesink location="$work/text" > "$work/video" 2> "$work/log" || status=$?
if [ "$status" -eq 124 ]; then
  echo "the queue-less pipeline did not reach EOS within 300 s"; tail -20 "$work/log"; exit 1
fi
[ "$status" -eq 0 ] || { echo "gst-launch-1.0 failed ($status)"; tail -20 "$work/log"; exit 1; }
grep -q 'Got EOS from element' "$work/video" || { echo "no EOS"; tail -20 "$work/video"; exit 1; }

frames=$(grep -cE '^[0-9]+:[0-9]{2}:[0-9]{2}\.[0-9]{9} [0-9a-f]{40}$' "$work/video" || true)
[ "$frames" -eq 600 ] || { echo "expected 600 video buffers through, got $frames"; exit 1; }
grep ' answered in ' "$work/log" | sed -E 's/.* tokens\): //' > "$work/answers"
answers=$(wc -l < "$work/answers")
[ "$answers" -eq "$expected_answers" ] || {
  echo "expected $expected_answers answers, got $answers"; tail -20 "$work/log"; exit 1; }
# text_src carried every answer, in order: the file is their texts one after the other.
tr -d '\n' < "$work/answers" > "$work/answer-text"
cmp -s "$work/answer-text" "$work/text" || {
  echo "text_src did not carry the answers:"; cat "$work/answers"; cat "$work/text"; exit 1; }
echo "ok: 600 frames and $answers answers on text_src, EOS, without queues"
