#!/usr/bin/env bash
# The README's file example, as written (autovideosink aside, as below): it writes captions.srt.
# The README's live example, as written (but for autovideosink, which needs a display: a fakesink
# that also synchronises to the clock): answers reach the overlay, and the video branch's queue
# never fills, so the live source is never held back (the text branch makes every sink render a
# hop late; a default queue holds 1 s and fills about 280 times in these 14 s).
set -euo pipefail
root=${SLOWFAST_SOURCE_ROOT:?}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
description=$(/usr/bin/python3 - "$root/README.md" <<'PY'
import re, sys
readme = sys.argv[1]
blocks = re.findall(r"```sh\n(.*?)```", open(readme).read(), re.S)
live = [b for b in blocks if "is-live=true" in b and "slowfastmllm" in b]
if len(live) != 1:
    sys.exit(f"README.md has {len(live)} live gst-launch examples, expected 1")
line = live[0].replace("\\\n", " ").strip()
assert line.startswith("gst-launch-1.0 "), line
line = line.replace("gst-launch-1.0 ", "", 1).replace("autovideosink", "fakesink sync=true")
print(line)
PY
)
echo "running: $description"
cd "$root"
# shellcheck disable=SC2086
GST_DEBUG=queue_dataflow:5 GST_DEBUG_NO_COLOR=1 timeout -s INT 14 gst-launch-1.0 -e -m $description \
  > "$work/out" 2> "$work/log" || true
full=$(grep -c 'queue is full' "$work/log" || true)
[ "$full" -eq 0 ] || { echo "a queue filled $full times: the live source was held back"; exit 1; }
answers=$(grep -c 'slowfast-answer' "$work/out" || true)
[ "$answers" -ge 1 ] || { echo "no answers in 14 s"; tail -20 "$work/out"; exit 1; }
echo "ok: live example: $answers captions in 14 s, no queue filled"

file_example=$(/usr/bin/python3 - "$root/README.md" <<'PY'
import re, sys
blocks = re.findall(r"```sh\n(.*?)```", open(sys.argv[1]).read(), re.S)
lines = [b.replace("\\\n", " ") for b in blocks if "captions.srt" in b]
if len(lines) != 1:
    sys.exit(f"README.md has {len(lines)} examples writing captions.srt, expected 1")
line = [l for l in lines[0].splitlines() if l.startswith("gst-launch-1.0 ")][0]
print(line.replace("gst-launch-1.0 ", "", 1).replace("autovideosink", "fakesink sync=true"))
PY
)
(cd "$work" && ln -s "$root/model" model &&
  # shellcheck disable=SC2086
  gst-launch-1.0 $file_example > "$work/file-out" 2>&1) || {
  echo "the file example failed:"; tail -20 "$work/file-out"; exit 1; }
cues=$(grep -c -- '-->' "$work/captions.srt" || true)
[ "$cues" -ge 2 ] || { echo "the file example wrote $cues captions"; exit 1; }
echo "ok: file example: $cues captions in captions.srt"
