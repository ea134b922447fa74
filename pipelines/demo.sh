#!/usr/bin/env bash
# The main job: a real GStreamer pipeline through slowfastmllm. A scripted videotestsrc clip goes
# through the element into an H.264 MP4; the element's text stream is written as SRT beside it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$here/build}
out=${1:-$build/demo}
mkdir -p "$out"
export GST_PLUGIN_PATH_1_0="$build/gst${GST_PLUGIN_PATH_1_0:+:$GST_PLUGIN_PATH_1_0}"

gst-launch-1.0 -e \
  videotestsrc pattern=ball num-buffers=300 ! \
  video/x-raw,width=320,height=240,framerate=30/1 ! \
  slowfastmllm name=mllm ! queue ! videoconvert ! x264enc tune=zerolatency ! mp4mux ! \
  filesink location="$out/demo.mp4" \
  mllm.text_src ! queue ! srtenc ! filesink location="$out/demo.srt"
echo "demo: wrote $out/demo.mp4 and $out/demo.srt"
