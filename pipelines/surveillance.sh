#!/usr/bin/env bash
# Surveillance event narration: one JSON line per answer for each camera (source id, wall-clock
# and stream time of the window, text), and with --condition an alert per camera: the yes/no
# question is asked about every window, the alert is raised after --raise-after consecutive
# "yes" and cleared after --clear-after consecutive "no"; each raise and clear is a
# `slowfast-alert` JSON line. All cameras run in one process and share one loaded model, each in
# its own pipeline (slowfast-launch's `::`): a camera that drops reconnects alone while the others
# go on. --config FILE reads the cameras from a camera list file instead (or as well), and
# --mqtt URL also publishes everything on an MQTT broker. docs/pipelines.md explains it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
  cat <<EOF
usage: $(basename "$0") --source ID=URI [--source ID=URI ...] [options]
       $(basename "$0") --config FILE [--source ID=URI ...] [options]

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
Camera list file (pipelines/cameras.example.ini):
  --config FILE          the cameras of an INI file, one [ID] group each (uri, prompt or
                         condition, raise-after, clear-after, sample-fps, window-frames,
                         hop-frames, ...); the options here are defaults below the file's
MQTT (slowfast-launch --help lists them all):
  --mqtt URL             also publish on a broker: mqtt://HOST[:PORT][/PREFIX], mqtts://...
  --mqtt-credentials F   "username = ..." / "password = ..." file (never printed)
  --mqtt-node NAME       this machine's name in topics (default: host name)
  --mqtt-discovery       Home Assistant MQTT discovery for the cameras
  --mqtt-ca-file F, --mqtt-cert F, --mqtt-key F, --mqtt-user U, --mqtt-password P,
  --mqtt-qos N, --mqtt-outbox N, --mqtt-retry-max S, --mqtt-keepalive S,
  --mqtt-flush-timeout S, --mqtt-discovery-prefix P, --mqtt-device-class C
$common_usage
EOF
}

sources=()
condition=
raise_after=2
clear_after=2
retry=2
log=
config=
mqtt_args=()
default_prompt="Describe what the people and vehicles in this video are doing."
prompt=$default_prompt
while [ $# -gt 0 ]; do
  case "$1" in
    --source) sources+=("${2:?}"); shift 2 ;;
    --config) config=${2:?}; shift 2 ;;
    --mqtt-discovery) mqtt_args+=("$1"); shift ;;
    --mqtt|--mqtt-*) mqtt_args+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    --condition) condition=${2:?}; shift 2 ;;
    --raise-after) raise_after=${2:?}; shift 2 ;;
    --clear-after) clear_after=${2:?}; shift 2 ;;
    --retry) retry=${2:?}; shift 2 ;;
    --log) log=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) parse_common_option "$@" || die "unknown option $1 (--help)"; shift "$shift_by" ;;
  esac
done
[ ${#sources[@]} -gt 0 ] || [ -n "$config" ] || { usage >&2; exit 2; }
check_setup
check_launcher

# The camera file's cameras get this script's options as defaults (slowfast-launch
# --camera-default): a camera's own keys and the file's [defaults] come first.
config_args=()
if [ -n "$config" ]; then
  [ -f "$config" ] || die "no camera file '$config'"
  config_args=(--config "$config" --camera-default "model=$model"
    --camera-default "raise-after=$raise_after" --camera-default "clear-after=$clear_after")
  if [ -n "$condition" ]; then
    config_args+=(--camera-default "condition=$condition")
  elif [ "$prompt" != "$default_prompt" ]; then
    config_args+=(--camera-default "prompt=$prompt")
  fi
  other_props=()
  for prop in "${element_props[@]}"; do
    case "${prop%%=*}" in
      window-frames|hop-frames|sample-fps|max-new-tokens) config_args+=(--camera-default "$prop") ;;
      *) other_props+=("$prop") ;;
    esac
  done
  if [ ${#other_props[@]} -gt 0 ]; then
    config_args+=(--camera-default "properties=$(IFS=';'; echo "${other_props[*]}")")
  fi
fi

alert_props=()
if [ -n "$condition" ]; then
  prompt=$condition
  alert_props=("alert-raise-after=$raise_after" "alert-clear-after=$clear_after")
fi

pipeline=()
for spec in "${sources[@]+"${sources[@]}"}"; do
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
    slowfastmllm "name=$id" "source-id=$id" "model-location=$model"
      "${alert_props[@]}" "${element_props[@]}" !
    fakesink sync=false async=false)
done

# Only pipelines with a network source restart; a file's pipeline just ends.
restart=(--restart-on-error "$retry" --restart-on-eos)
launch=("$launcher" "${restart[@]}" --prompt "$prompt" "${mqtt_args[@]+"${mqtt_args[@]}"}"
  "${config_args[@]+"${config_args[@]}"}" "${pipeline[@]+"${pipeline[@]}"}")
if [ -n "$log" ]; then
  "${launch[@]}" | tee -i -a "$log"
else
  "${launch[@]}"
fi
