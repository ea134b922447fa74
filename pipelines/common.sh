# Sourced by the pipeline scripts (not run): finds the build, the plugin, slowfast-launch and the
# model, and holds the options every script shares. BUILD_DIR (default <repo>/build) is the Meson
# build directory.

pipelines_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$pipelines_dir/.." && pwd)
build=${BUILD_DIR:-$repo/build}
launcher=$build/pipelines/slowfast-launch
# The build's plugin first; the GStreamer plugins of the system after it.
export GST_PLUGIN_PATH_1_0="$build/gst${GST_PLUGIN_PATH_1_0:+:$GST_PLUGIN_PATH_1_0}"

die() {
  echo "$(basename "$0"): $*" >&2
  exit 2
}

# Element settings shared by the scripts; each script sets its own defaults before parsing.
model=
prompt=
prompt_file=
element_props=()

# Parses one shared option; returns 1 when "$1" is not one. Sets `shift_by`.
parse_common_option() {
  shift_by=2
  case "$1" in
    --model) model=${2:?--model needs a directory} ;;
    --prompt) prompt=${2?--prompt needs a text} ;;
    --prompt-file) prompt_file=${2:?--prompt-file needs a file} ;;
    --window-frames) element_props+=("window-frames=${2:?}") ;;
    --hop-frames) element_props+=("hop-frames=${2:?}") ;;
    --sample-fps) element_props+=("sample-fps=${2:?}") ;;
    --max-new-tokens) element_props+=("max-new-tokens=${2:?}") ;;
    --set) [[ ${2:-} == *=* ]] || die "--set needs PROPERTY=VALUE"; element_props+=("$2") ;;
    *) return 1 ;;
  esac
}

common_usage="Model and element:
  --model DIR            checkpoint directory (default: $repo/model/demo when it exists)
  --prompt TEXT          the question asked about each window, any UTF-8 text, verbatim
  --prompt-file FILE     the question from a UTF-8 file (trailing newlines dropped)
  --window-frames N      sampled frames per window (element default 64)
  --hop-frames N         sampled frames between answers (element default 16)
  --sample-fps F         frames per second taken into windows (element default 4)
  --max-new-tokens N     longest answer
  --set PROPERTY=VALUE   any other slowfastmllm property (repeatable), e.g. --set temperature=0
Environment: BUILD_DIR (default $repo/build). Prompts reach the element exactly as given
(slowfast-launch sets the property in code), tabs, backslashes and quotes included."

# Checks the model and the build; call after parsing.
check_setup() {
  if [ -n "$prompt_file" ]; then
    [ -f "$prompt_file" ] || die "no prompt file '$prompt_file'"
    prompt=$(<"$prompt_file")
  fi
  if [ -z "$model" ]; then
    [ -d "$repo/model/demo" ] || die "no model: pass --model DIR (model/demo is not there)"
    model=$repo/model/demo
  fi
  [ -d "$model" ] || die "model directory '$model' does not exist"
  [ -f "$build/gst/libgstslowfast.so" ] || die "no plugin in $build/gst: build first (./setup.sh)"
}

check_launcher() {
  [ -x "$launcher" ] || die "no $launcher: build first (./setup.sh)"
}

# An unbounded queue: after slowfastmllm, live pipelines with a text branch render one hop late,
# so each queue holds a hop of video (docs/element.md, "Queues and latency").
hop_queue=(queue max-size-time=0 max-size-buffers=0 max-size-bytes=0)
