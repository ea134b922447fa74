#!/usr/bin/env bash
# The main job: a scripted clip through slowfastmllm with the built-in demo model (model/demo).
#
# A 40-second synthetic scene (a red circle moving right, rendered by slowfast-demo). The element
# answers every 4 s about the last 16 s (64 frames sampled at 4 fps, hop 16). The answers are
#   - burned into the video with textoverlay: OUT/demo.mp4 (H.264),
#   - written next to it as subtitles: OUT/demo.srt,
#   - printed as they come, one JSON line each (slowfast-launch prints the element's
#     slowfast-answer bus messages).
# Usage: pipelines/demo.sh [OUT_DIR] [--model DIR] [--prompt TEXT | --prompt-file FILE]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

out=$build/demo
while [ $# -gt 0 ]; do
  if parse_common_option "$@"; then shift "$shift_by"; continue; fi
  case "$1" in
    -h|--help) echo "usage: $0 [OUT_DIR] [--model DIR] [--prompt TEXT]"; echo "$common_usage"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) out=$1; shift ;;
  esac
done
check_setup
prompt=${prompt:-Please describe this video in detail.}
check_launcher
demo_tool=$build/model/train/slowfast-demo
[ -x "$demo_tool" ] || die "no $demo_tool: build first (./setup.sh)"
mkdir -p "$out"

# The scene: 160 frames (40 s at 4 fps) of a red circle moving right, bouncing at the edges,
# rendered by slowfast-demo at 320x240.
"$demo_tool" render --seed 7 --colour red --shape circle --direction right --frames 160 \
  --width 320 --height 240 --out "$out/scene.rgb" >/dev/null

# gst-launch syntax, one token per argument. The clip is repeated to 30 fps like a camera would
# deliver it; every queue after the element holds a hop of latency (docs/element.md).
unbounded=(queue max-size-time=0 max-size-buffers=0 max-size-bytes=0)
args=(filesrc "location=$out/scene.rgb" ! rawvideoparse format=rgb width=320 height=240
  framerate=4/1 ! videorate ! videoconvert ! video/x-raw,format=I420,framerate=30/1 !
  slowfastmllm name=m "model-location=$model" temperature=0
  "${element_props[@]}" ! "${unbounded[@]}" !
  textoverlay name=o valignment=bottom halignment=left line-alignment=left
  "font-desc=Sans 9" shaded-background=true ! videoconvert ! x264enc ! mp4mux !
  filesink "location=$out/demo.mp4"
  m.text_src ! tee name=t ! "${unbounded[@]}" ! o.text_sink
  t. ! "${unbounded[@]}" ! srtenc ! filesink "location=$out/demo.srt")
"$launcher" --prompt "$prompt" "${args[@]}"
echo "demo: wrote $out/demo.mp4 and $out/demo.srt" >&2
