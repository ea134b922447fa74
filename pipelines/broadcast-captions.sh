#!/usr/bin/env bash
# Live captioning of a broadcast: from a file or a live source, slowfastmllm's answers become
#   burned.mp4      the video with the captions burned in (textoverlay)
#   captions.srt    SubRip sidecar (srtenc)
#   captions.vtt    WebVTT sidecar (webvttenc)
#   subtitled.mkv   the video with the captions as a subtitle track (matroskamux, S_TEXT/UTF8)
#   captions.ts     with --closed-captions: MPEG-TS, H.264 at 29.97 fps carrying the answers as
#                   CEA-608 closed captions (CC1) in ATSC A/53 SEI (texttocea608, ccconverter,
#                   cccombiner, x264enc, mpegtsmux)
#   line21.mkv      with --line21: SD video (720x486, 29.97 fps interlaced, lossless FFV1)
#                   with the same CC1 captions drawn on line 21 (texttocea608, cccombiner,
#                   line21encoder), for analog/SDI-era chains that take line-21 captions
# and every answer is printed as a JSON line on stdout. One pipeline, one model, one decode: the
# text stream is teed to all four outputs. docs/pipelines.md explains it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
  cat <<EOF
usage: $(basename "$0") (--input FILE | --live) [options]

Source:
  --input FILE           a video file (its audio, if any, is kept in both video outputs)
  --live                 a live source: videotestsrc pattern=ball at 25 fps, or --source
  --source DESCRIPTION   with --live: a gst-launch source producing video, e.g. 'v4l2src'
  --duration SECONDS     with --live and no --source: stop after this long (default 20);
                         otherwise Ctrl-C stops cleanly (EOS: every file is completed)
Output:
  --out DIR              where the four files go (default ./broadcast-out)
  --closed-captions      also write captions.ts: MPEG-TS with H.264 (29.97 fps) carrying the
                         answers as CEA-608 CC1 closed captions in A/53 SEI, for broadcast
  --line21               also write line21.mkv: SD 720x486 29.97 fps interlaced video with the
                         CC1 captions encoded on line 21 (EIA-608 waveform), lossless FFV1
  --cc-mode MODE         closed-caption style: roll-up2 (default), roll-up3, roll-up4, pop-on
$common_usage
EOF
}

input=
live=false
source_desc=
duration=20
out=./broadcast-out
closed_captions=false
line21=false
cc_mode=roll-up2
prompt="Please describe this video in detail."
while [ $# -gt 0 ]; do
  case "$1" in
    --input) input=${2:?}; shift 2 ;;
    --live) live=true; shift ;;
    --source) source_desc=${2:?}; shift 2 ;;
    --duration) duration=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --closed-captions) closed_captions=true; shift ;;
    --line21) line21=true; shift ;;
    --cc-mode) cc_mode=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) parse_common_option "$@" || die "unknown option $1 (--help)"; shift "$shift_by" ;;
  esac
done
if [ -n "$input" ] && $live; then die "--input and --live exclude each other"; fi
if [ -z "$input" ] && ! $live; then usage >&2; exit 2; fi
check_setup
check_launcher
mkdir -p "$out"

audio=false
if [ -n "$input" ]; then
  [ -f "$input" ] || die "no file '$input'"
  # Link an audio branch only when there is audio: a muxer pad that never gets data would wait.
  streams=$(gst-discoverer-1.0 "$input" 2>/dev/null || true)
  if grep -q '^ *audio #' <<<"$streams"; then audio=true; fi
  source=(filesrc "location=$input" ! decodebin name=dec dec. ! video/x-raw)
  encode=(x264enc speed-preset=veryfast)
else
  if [ -n "$source_desc" ]; then
    read -r -a source <<<"$source_desc"
  else
    source=(videotestsrc is-live=true pattern=ball "num-buffers=$((duration * 25))" !
      video/x-raw,width=640,height=360,framerate=25/1)
  fi
  # No B-frames or lookahead: a live encoder must not hold frames back.
  encode=(x264enc tune=zerolatency speed-preset=veryfast)
fi

# 4:2:0, the one chroma layout every player and hardware decoder takes.
i420=(video/x-raw,format=I420)
# The element's video and text outputs are both teed; every branch has its own unbounded queue
# (a live pipeline renders one hop late, docs/element.md "Queues and latency").
q=("${hop_queue[@]}")
pipeline=(
  "${source[@]}" ! videoconvert !
  slowfastmllm name=m "model-location=$model" "${element_props[@]}" !
  "${q[@]}" ! tee name=video
  m.text_src ! "${q[@]}" ! tee name=text
  video. ! "${q[@]}" ! overlay.video_sink
  text. ! "${q[@]}" ! overlay.text_sink
  textoverlay name=overlay shaded-background=true ! videoconvert ! "${i420[@]}" ! "${encode[@]}" ! h264parse ! mp4mux name=burned !
    filesink "location=$out/burned.mp4"
  text. ! "${q[@]}" ! srtenc ! filesink "location=$out/captions.srt"
  text. ! "${q[@]}" ! webvttenc ! filesink "location=$out/captions.vtt"
  video. ! "${q[@]}" ! videoconvert ! "${i420[@]}" ! "${encode[@]}" ! h264parse ! subtitled.video_0
  text. ! "${q[@]}" ! subtitled.subtitle_0
  matroskamux name=subtitled ! filesink "location=$out/subtitled.mkv"
)
if $closed_captions; then
  # ATSC: 29.97 fps video, one CEA-608 byte pair a frame (texttocea608's default rate), turned
  # into 708 cc_data by ccconverter; cccombiner attaches it to the frames as caption meta, which
  # x264enc writes as A/53 SEI.
  pipeline+=(
    video. ! "${q[@]}" ! videorate ! videoconvert ! "${i420[@]}",framerate=30000/1001 ! cc.sink
    text. ! "${q[@]}" ! texttocea608 "mode=$cc_mode" ! ccconverter !
      closedcaption/x-cea-708,format=cc_data ! cc.caption
    cccombiner name=cc ! "${encode[@]}" ! h264parse ! mpegtsmux name=ts !
      filesink "location=$out/captions.ts"
  )
fi
if $line21; then
  # NTSC SD: 720x486 at 29.97 fps, each progressive frame split into two fields (2:2, the
  # interlaced frame line21encoder writes into); cccombiner attaches one CEA-608 pair per frame
  # and line21encoder draws it as the line-21 waveform of field 1. FFV1 keeps that waveform
  # exact, which a lossy codec would blur.
  pipeline+=(
    video. ! "${q[@]}" ! videorate ! videoscale add-borders=true ! videoconvert !
      "${i420[@]}",width=720,height=486,pixel-aspect-ratio=10/11,framerate=30000/1001 !
      interlace field-pattern=2:2 top-field-first=true ! l21.sink
    text. ! "${q[@]}" ! texttocea608 "mode=$cc_mode" ! closedcaption/x-cea-608,format=s334-1a !
      l21.caption
    cccombiner name=l21 ! line21encoder remove-caption-meta=true ! avenc_ffv1 ! matroskamux !
      filesink "location=$out/line21.mkv"
  )
fi
if $audio; then
  pipeline+=(
    dec. ! audio/x-raw ! "${q[@]}" ! audioconvert ! audioresample ! avenc_aac ! tee name=audio
    audio. ! "${q[@]}" ! aacparse ! burned.
    audio. ! "${q[@]}" ! aacparse ! subtitled.audio_0
  )
  if $closed_captions; then pipeline+=(audio. ! "${q[@]}" ! aacparse ! ts.); fi
fi

"$launcher" --prompt "$prompt" "${pipeline[@]}"
echo "$(basename "$0"): wrote $out/burned.mp4, captions.srt, captions.vtt, subtitled.mkv$(
  $closed_captions && echo ", captions.ts")$($line21 && echo ", line21.mkv")" >&2
