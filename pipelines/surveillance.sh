#!/usr/bin/env bash
# Surveillance event narration: one JSON line per answer for each camera (source id, wall-clock
# and stream time of the window, text), and with --condition an alert per camera: the yes/no
# question is asked about every window, the alert is raised after --raise-after consecutive
# "yes" and cleared after --clear-after consecutive "no"; each raise and clear is a
# `slowfast-alert` JSON line. All cameras run in one process and share one loaded model, each in
# its own pipeline (slowfast-launch's `::`): a camera that drops reconnects alone while the others
# go on. docs/pipelines.md explains it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
  cat <<EOF
usage: $(basename "$0") --source ID=URI [--source ID=URI ...] [options]

Sources (ID: letters, digits, '-', '_'; it names the camera in every JSON line):
  rtsp://...             an RTSP camera (TCP; reconnects by itself after --retry seconds)
  FILE or file://...     a video file (forensics, tests)
  test or test:PATTERN   a live videotestsrc (default pattern ball)
Narration and alerts:
  --prompt TEXT          narration prompt (default: describe what happens)
  --condition QUESTION   alert mode: a yes/no question instead of the prompt, e.g.
                         "Is there a person at the door? Answer yes or no."
  --raise-after N        raise after N consecutive yes (default 2)
  --clear-after M        clear after M consecutive no (default 2)
  --retry SECONDS        delay before reconnecting a dropped camera (default 2)
  --log FILE             also append the JSON lines to FILE
$common_usage
EOF
}

sources=()
condition=
raise_after=2
clear_after=2
retry=2
log=
prompt="Describe what the people and vehicles in this video are doing."
while [ $# -gt 0 ]; do
  case "$1" in
    --source) sources+=("${2:?}"); shift 2 ;;
    --condition) condition=${2:?}; shift 2 ;;
    --raise-after) raise_after=${2:?}; shift 2 ;;
    --clear-after) clear_after=${2:?}; shift 2 ;;
    --retry) retry=${2:?}; shift 2 ;;
    --log) log=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) parse_common_option "$@" || die "unknown option $1 (--help)"; shift "$shift_by" ;;
  esac
done
[ ${#sources[@]} -gt 0 ] || { usage >&2; exit 2; }
check_setup
check_launcher

alert_props=()
if [ -n "$condition" ]; then
  prompt=$condition
  alert_props=("alert-raise-after=$raise_after" "alert-clear-after=$clear_after")
fi

pipeline=()
for spec in "${sources[@]}"; do
  id=${spec%%=*}
  uri=${spec#*=}
  [[ $spec == *=* && $id =~ ^[A-Za-z0-9_-]+$ ]] || die "--source needs ID=URI, got '$spec'"
  case "$uri" in
    rtsp://*|rtsps://*)
      src=(rtspsrc "name=$id-src" "location=$uri" protocols=tcp latency=200
        "$id-src." ! application/x-rtp,media=video ! decodebin) ;;
    test|test:*)
      pattern=${uri#test}; pattern=${pattern#:}
      src=(videotestsrc is-live=true "pattern=${pattern:-ball}" !
        video/x-raw,width=320,height=240,framerate=10/1) ;;
    *)
      path=${uri#file://}
      [ -f "$path" ] || die "source $id: no file '$path'"
      src=(filesrc "location=$path" ! decodebin) ;;
  esac
  # Only the answers matter here: the video ends in a fakesink, text_src stays unlinked.
  [ ${#pipeline[@]} -eq 0 ] || pipeline+=(::)
  pipeline+=("${src[@]}" ! videoconvert !
    slowfastmllm "name=$id" "source-id=$id" "model-location=$model" "prompt=$prompt"
      "${alert_props[@]}" "${element_props[@]}" !
    fakesink sync=false async=false)
done

# Only pipelines with a network source restart; a file's pipeline just ends.
restart=(--restart-on-error "$retry" --restart-on-eos)
if [ -n "$log" ]; then
  "$launcher" "${restart[@]}" "${pipeline[@]}" | tee -i -a "$log"
else
  "$launcher" "${restart[@]}" "${pipeline[@]}"
fi
