#!/usr/bin/env bash
# A real pipeline: 60 frames through slowfastmllm arrive unchanged at the sink (checksums match a
# pipeline without the element), and EOS reaches both src pads.
set -euo pipefail
caps='video/x-raw,format=I420,width=160,height=120,framerate=30/1'
want=$(gst-launch-1.0 -q videotestsrc num-buffers=60 pattern=ball ! "$caps" ! \
  checksumsink 2>&1 | md5sum)
got=$(gst-launch-1.0 -q videotestsrc num-buffers=60 pattern=ball ! "$caps" ! slowfastmllm name=m ! \
  checksumsink m.text_src ! fakesink async=false 2>&1 | md5sum)
if [ "$want" != "$got" ]; then echo "video changed by slowfastmllm"; exit 1; fi
lines=$(gst-launch-1.0 -q videotestsrc num-buffers=60 pattern=ball ! "$caps" ! slowfastmllm name=m ! \
  checksumsink m.text_src ! fakesink async=false 2>&1 | wc -l)
[ "$lines" -eq 60 ] || { echo "expected 60 checksummed frames, got $lines"; exit 1; }
echo "ok"
