#!/usr/bin/env bash
# One answer about a whole video file: slowfastmllm in whole-stream mode takes window-frames
# (64) frames spread uniformly over every decoded frame, as the reference samples a file, and
# answers the question once at the end. Prints the answer (or its JSON line with --json).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
  cat <<EOF
usage: $(basename "$0") FILE "QUESTION" [options]
       $(basename "$0") FILE --prompt-file QUESTION.txt [options]

  --json                 print the slowfast-answer JSON line instead of the text
$common_usage
EOF
}

case "${1:-}" in -h|--help) usage; exit 0 ;; esac
[ $# -ge 2 ] || { usage >&2; exit 2; }
file=$1
shift
case "$1" in --*) ;; *) prompt=$1; shift ;; esac
json=false
while [ $# -gt 0 ]; do
  case "$1" in
    --json) json=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) parse_common_option "$@" || die "unknown option $1 (--help)"; shift "$shift_by" ;;
  esac
done
[ -f "$file" ] || die "no file '$file'"
check_setup
[ -n "$prompt" ] || die "no question: give it after FILE, or --prompt-file FILE"
check_launcher

# The answer is taken from the element's bus message (slowfast-launch), not from text_src: its
# text starts at the end of the stream, where sinks may clip it as outside the segment.
# sample-fps=0: every decoded frame counts, so the picks equal the reference's linspace.
format=(--text)
if $json; then format=(); fi
"$launcher" --quiet "${format[@]}" --prompt "$prompt" \
  filesrc "location=$file" ! decodebin ! videoconvert ! \
  slowfastmllm name=describe mode=whole-stream sample-fps=0 "model-location=$model" \
    "${element_props[@]}" ! fakesink
