#!/usr/bin/env bash
# A real pipeline: 60 frames through slowfastmllm arrive unchanged at the sink (checksums match a
# pipeline without the element), EOS reaches both src pads, and a missing model-location is
# reported as a warning naming the property.
set -euo pipefail
caps='video/x-raw,format=I420,width=160,height=120,framerate=30/1'
want=$(gst-launch-1.0 -q videotestsrc num-buffers=60 pattern=ball ! "$caps" ! checksumsink | md5sum)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Without model-location the element says so (a warning gst-launch prints, though not with -q)
# and passes the video on; checksumsink's lines are the frames.
gst-launch-1.0 videotestsrc num-buffers=60 pattern=ball ! "$caps" ! slowfastmllm name=m ! \
  checksumsink m.text_src ! fakesink async=false > "$work/log" 2>&1
grep -E '^[0-9]+:[0-9]{2}:[0-9]{2}\.[0-9]{9} [0-9a-f]{40}$' "$work/log" > "$work/out" || true
got=$(md5sum < "$work/out")
if [ "$want" != "$got" ]; then echo "video changed by slowfastmllm"; exit 1; fi
lines=$(wc -l < "$work/out")
[ "$lines" -eq 60 ] || { echo "expected 60 checksummed frames, got $lines"; exit 1; }
grep -q 'WARNING: from element .*:m: No model-location set' "$work/log" || {
  echo "no warning naming model-location:"; cat "$work/log"; exit 1; }
echo "ok"
