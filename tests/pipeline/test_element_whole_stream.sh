#!/usr/bin/env bash
# whole-stream mode on a file: the one answer at EOS equals `slowfast-cli run --video` on the same
# file (64 frames at linspace(0, n-1, 64) of all decoded frames).
set -euo pipefail
model=${SLOWFAST_SHARED:-}/golden/a/model
if [ -z "${SLOWFAST_SHARED:-}" ] || [ ! -d "$model" ]; then
  echo "SKIP: SLOWFAST_SHARED/golden/a/model is missing"; exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# 150 frames of lossless video (raw I420 in Matroska), so both sides decode identical frames.
gst-launch-1.0 -q videotestsrc num-buffers=150 pattern=ball ! \
  video/x-raw,format=I420,width=160,height=120,framerate=25/1 ! matroskamux ! \
  filesink location="$work/clip.mkv"

gst-launch-1.0 -q filesrc location="$work/clip.mkv" ! decodebin ! \
  slowfastmllm name=m mode=whole-stream sample-fps=0 model-location="$model" dtype=float32 \
    device=cpu temperature=0 max-new-tokens=10 ! queue ! fakesink \
  m.text_src ! queue ! filesink location="$work/answer.txt"
expected=$("$SLOWFAST_CLI" run --model "$model" --video "$work/clip.mkv" --max-new-tokens 10 \
  --temperature 0 --dtype float32 --device cpu)
got=$(cat "$work/answer.txt")
if [ "$got" != "$expected" ]; then
  printf 'element:   %q\nslowfast-cli: %q\n' "$got" "$expected"; exit 1
fi
[ -n "$got" ] || { echo "empty answer"; exit 1; }
echo "ok: $got"
