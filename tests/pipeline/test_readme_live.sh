#!/usr/bin/env bash
# The README's live example, as written (but for autovideosink, which needs a display: a fakesink
# that also synchronises to the clock): it writes captions, and the video branch's queue never
# fills, so the live source is never held back (the text branch makes every sink render a hop
# late; a default queue holds 1 s and would block the source for the rest).
set -euo pipefail
root=${SLOWFAST_SOURCE_ROOT:?}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
description=$(/usr/bin/python3 - "$root/README.md" "$work/live.srt" <<'PY'
import re, sys
readme, srt = sys.argv[1], sys.argv[2]
blocks = re.findall(r"```sh\n(.*?)```", open(readme).read(), re.S)
live = [b for b in blocks if "is-live=true" in b and "slowfastmllm" in b]
if len(live) != 1:
    sys.exit(f"README.md has {len(live)} live gst-launch examples, expected 1")
line = live[0].replace("\\\n", " ").strip()
assert line.startswith("gst-launch-1.0 "), line
line = line.replace("gst-launch-1.0 ", "", 1).replace("autovideosink", "fakesink sync=true")
print(line.replace("location=live.srt", f"location={srt}"))
PY
)
echo "running: $description"
cd "$root"
# shellcheck disable=SC2086
GST_DEBUG=queue_dataflow:5 GST_DEBUG_NO_COLOR=1 timeout -s INT 14 gst-launch-1.0 -e $description \
  > "$work/out" 2> "$work/log" || true
full=$(grep -c 'queue is full' "$work/log" || true)
[ "$full" -eq 0 ] || { echo "a queue filled $full times: the live source was held back"; exit 1; }
cues=$(grep -c -- '-->' "$work/live.srt" 2>/dev/null || true)
[ "$cues" -ge 1 ] || { echo "no captions in live.srt"; tail -20 "$work/out"; exit 1; }
echo "ok: $cues captions in 14 s, no queue filled"
