#!/usr/bin/env bash
# Captions for an RTSP camera: the camera's video with the answers burned in (Matroska), the
# answers as SubRip, and every answer as a JSON line on stdout. When the camera drops, a new
# session starts every --retry seconds until it is back (slowfast-launch --restart-on-error):
# captions resume by themselves. docs/pipelines.md explains the pipeline.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
  cat <<EOF
usage: $(basename "$0") URL [options]

Camera:
  --id ID                names the camera in the JSON lines (source-id; letters, digits, - and
                         _; default: camera)
  --protocols tcp|udp    RTP transport (default tcp: works through NAT and firewalls)
  --latency MS           rtspsrc jitterbuffer latency (default 200)
  --retry SECONDS        delay before reconnecting after the camera dropped (default 2)
Output:
  --out DIR              where files go (default ./rtsp-camera-out):
                           captions-N.srt  answers of session N (one per connection) as SubRip
                           video-N.mkv     the video of session N with the answers burned in
                           answers.jsonl   the JSON lines printed on stdout, appended
  --display              show the captioned video in a window instead of writing video-N.mkv
  --no-video             no captioned video at all (SRT and JSON only)
$common_usage
EOF
}

[ $# -ge 1 ] || { usage >&2; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; esac
url=$1
shift
id=camera
protocols=tcp
latency=200
retry=2
out=./rtsp-camera-out
video=file
prompt="Please describe this video in detail."
while [ $# -gt 0 ]; do
  case "$1" in
    --id) id=${2:?}; shift 2 ;;
    --protocols) protocols=${2:?}; shift 2 ;;
    --latency) latency=${2:?}; shift 2 ;;
    --retry) retry=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --display) video=display; shift ;;
    --no-video) video=none; shift ;;
    -h|--help) usage; exit 0 ;;
    *) parse_common_option "$@" || die "unknown option $1 (--help)"; shift "$shift_by" ;;
  esac
done
case "$protocols" in tcp|udp) ;; *) die "--protocols must be tcp or udp" ;; esac
[[ $id =~ ^[A-Za-z0-9_-]+$ ]] || die "--id takes letters, digits, - and _, got '$id'"
check_setup
check_launcher
mkdir -p "$out"

# Only the camera's video stream; decodebin plugs the depayloader and decoder the SDP asks for
# (H.264, H.265, MJPEG, ...).
pipeline=(
  rtspsrc name=cam "location=$url" "protocols=$protocols" "latency=$latency"
  cam. ! application/x-rtp,media=video ! decodebin ! videoconvert !
  slowfastmllm name=m "source-id=$id" "model-location=$model" "${element_props[@]}"
)
srt=(srtenc ! filesink "location=$out/captions-@SESSION@.srt")
case "$video" in
  none)
    pipeline+=(! queue ! fakesink sync=false m.text_src ! "${hop_queue[@]}" ! "${srt[@]}") ;;
  *)
    if [ "$video" = display ]; then
      sink=(videoconvert ! autovideosink)
    else
      sink=(videoconvert ! video/x-raw,format=I420 ! x264enc tune=zerolatency speed-preset=veryfast ! h264parse !
        matroskamux ! filesink "location=$out/video-@SESSION@.mkv")
    fi
    pipeline+=(! "${hop_queue[@]}" ! overlay.video_sink
      m.text_src ! "${hop_queue[@]}" ! tee name=text
      text. ! "${hop_queue[@]}" ! overlay.text_sink
      text. ! "${hop_queue[@]}" ! "${srt[@]}"
      textoverlay name=overlay shaded-background=true ! "${sink[@]}") ;;
esac

# tee -i: Ctrl-C reaches slowfast-launch (EOS, files completed) while tee keeps the last lines.
"$launcher" --restart-on-error "$retry" --restart-on-eos --prompt "$prompt" "${pipeline[@]}" |
  tee -i -a "$out/answers.jsonl"
