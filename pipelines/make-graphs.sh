#!/usr/bin/env bash
# Regenerates docs/images/*.png, the pipeline graphs of docs/pipelines.md: each script runs once
# on a short synthetic input with GST_DEBUG_DUMP_DOT_DIR set, slowfast-launch dumps its pipeline
# when it reaches PLAYING, and graphviz's `dot` draws it. Needs graphviz (only for this) and a
# build with the pipeline tests (the RTSP graph comes from tests/pipeline/test_rtsp_camera, which
# serves a camera on 127.0.0.1).
#   make-graphs.sh [--model DIR]      (default: model/demo, else ../shared/golden/a/model)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

while [ $# -gt 0 ]; do
  parse_common_option "$@" || die "unknown option $1"
  shift "$shift_by"
done
if [ -z "$model" ] && [ ! -d "$repo/model/demo" ]; then model=$repo/../shared/golden/a/model; fi
check_setup
check_launcher
command -v dot >/dev/null || die "graphviz is missing: apt-get install graphviz"
images=$repo/docs/images
mkdir -p "$images"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# Relative names keep the graphs' labels short.
ln -s "$(cd "$model" && pwd)" model
small=(--model model --window-frames 16 --hop-frames 8 --sample-fps 8 --max-new-tokens 8)
caps=video/x-raw,width=320,height=240,framerate=8/1

# Renders the dump of pipeline N of the last run as docs/images/NAME.png.
render() {
  dot -Tpng "$work/dot/slowfast-launch.$2.playing.dot" -o "$images/$1.png"
  echo "wrote docs/images/$1.png"
  rm -f "$work"/dot/*
}
# GStreamer writes the dumps there but does not create it.
mkdir "$work/dot"
export GST_DEBUG_DUMP_DOT_DIR=$work/dot

bash "$pipelines_dir/broadcast-captions.sh" --live --duration 4 --out out "${small[@]}" \
  >/dev/null
render broadcast-captions 1

gst-launch-1.0 -q videotestsrc pattern=ball num-buffers=40 ! "$caps" ! x264enc ! mp4mux ! \
  filesink location=clip.mp4
bash "$pipelines_dir/describe.sh" clip.mp4 "What is in this video?" "${small[@]}" >/dev/null
render describe 1

bash "$pipelines_dir/surveillance.sh" --source door=clip.mp4 --source yard=clip.mp4 \
  --condition "Is anyone at the door? Answer yes or no." "${small[@]}" >/dev/null
render surveillance 1

SLOWFAST_SOURCE_ROOT=$repo SLOWFAST_TEST_MODEL=$work/model \
  "$build/tests/pipeline/test_rtsp_camera" "$build" tcp >/dev/null 2>&1
render rtsp-camera 1
