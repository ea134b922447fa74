#!/usr/bin/env bash
# Broadcast closed captions checked by an independent decoder: slowfastmllm (demo model) answers go
# through texttocea608 ! ccconverter ! cccombiner ! x264enc ! mpegtsmux; ffmpeg's CEA-608 decoder
# (lavfi movie=...[out0+subcc]) reads the CC1 captions back from the A/53 SEI of the MPEG-TS, and
# cea608_check.py requires every answer's text, in order, within 1 s of its PTS.
#   A. the gst-launch-1.0 line of docs/pipelines.md, as a user types it (roll-up2, the default);
#   B. pipelines/broadcast-captions.sh --closed-captions --line21 on a file, in pop-on mode: the
#      TS as above, and the SD line-21 video read back by line21decoder (libzvbi's line-21
#      slicer) into a TS for ffmpeg's decoder;
#   C. the same from a live source (videotestsrc is-live=true), roll-up2.
#   test_cea608_ts.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: test_cea608_ts.sh BUILD_DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=${SLOWFAST_SOURCE_ROOT:-$(cd "$here/../.." && pwd)}
if ! command -v ffmpeg >/dev/null 2>&1; then
  echo "SKIP: ffmpeg is missing (apt-get install ffmpeg; setup.sh installs it)"; exit 77
fi
model=${SLOWFAST_TEST_MODEL:-$root/model/demo}
[ -d "$model" ] || { echo "no model at $model"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 12 s at 29.97 fps; windows of 16 frames sampled at 4 fps, an answer every 2 s from 4 s on.
frames=360
video_end=$(python3 -c "print($frames * 1001 / 30000)")
answers_tsv() {  # JSONL: slowfast-launch's answer lines as "PTS<TAB>TEXT" (cea608_check.py)
  python3 - "$1" <<'PY'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    event = json.loads(line)
    if event.get("type") == "slowfast-answer":
        print(f"{event['window-end']}\t{event['text']}")
PY
}
decode() {  # TS SRT: ffmpeg's own CEA-608 decoder on the caption side data of the H.264 frames
  ffmpeg -nostdin -loglevel error -y -f lavfi -i "movie=$1[out0+subcc]" -map 0:1 "$2"
}

# line21.mkv -> TS: line21decoder slices the line-21 waveform back into CEA-608 pairs, which
# cccombiner and x264enc carry as A/53 SEI for decode(). (1.22's line21decoder mis-handles
# avdec_ffv1's own buffers, hence the conversion to UYVY first.)
line21_to_ts() {
  local q="queue max-size-time=0 max-size-buffers=0 max-size-bytes=0"
  gst-launch-1.0 -q filesrc location="$1" ! matroskademux ! avdec_ffv1 ! videoconvert ! \
    video/x-raw,format=UYVY ! line21decoder ! ccextractor name=e \
    e.src ! $q ! deinterlace ! videoscale ! video/x-raw,width=320,height=240 ! cc.sink \
    e.caption ! $q ! ccconverter ! closedcaption/x-cea-708,format=cc_data ! cc.caption \
    cccombiner name=cc ! videoconvert ! x264enc speed-preset=ultrafast ! h264parse ! mpegtsmux ! \
    filesink location="$2"
}

echo "== A: gst-launch-1.0, roll-up2"
q="queue max-size-time=0 max-size-buffers=0 max-size-bytes=0"
gst-launch-1.0 -m -e videotestsrc pattern=ball num-buffers=$frames ! \
  video/x-raw,width=320,height=240,framerate=30000/1001 ! \
  slowfastmllm name=m model-location="$model" temperature=0 window-frames=16 hop-frames=8 \
    sample-fps=4 max-new-tokens=24 ! $q ! cc.sink \
  m.text_src ! $q ! texttocea608 ! ccconverter ! closedcaption/x-cea-708,format=cc_data ! cc.caption \
  cccombiner name=cc ! videoconvert ! x264enc speed-preset=ultrafast ! h264parse ! mpegtsmux ! \
  filesink location="$work/a.ts" > "$work/a.log" 2>&1 || { cat "$work/a.log"; exit 1; }
# The slowfast-answer messages gst-launch -m prints: text and window-end (= the text's PTS).
python3 - "$work/a.log" > "$work/a.tsv" <<'PY'
import re, sys
for line in open(sys.argv[1], encoding="utf-8"):
    m = re.search(r'slowfast-answer, text=\(string\)"((?:[^"\\]|\\.)*)".*?window-end=\(guint64\)(\d+)', line)
    if m:
        print(m.group(2) + "\t" + re.sub(r"\\(.)", r"\1", m.group(1)))
PY
decode "$work/a.ts" "$work/a.srt"
cat "$work/a.srt"
python3 "$here/cea608_check.py" "$work/a.tsv" "$work/a.srt" "$video_end"

echo "== B: broadcast-captions.sh --closed-captions --line21 --cc-mode pop-on"
gst-launch-1.0 -q videotestsrc pattern=ball num-buffers=$frames ! \
  video/x-raw,width=320,height=240,framerate=30000/1001 ! x264enc speed-preset=ultrafast ! \
  mp4mux ! filesink location="$work/clip.mp4"
BUILD_DIR=$build "$root/pipelines/broadcast-captions.sh" --input "$work/clip.mp4" \
  --out "$work/b" --model "$model" --window-frames 16 --hop-frames 8 --sample-fps 4 \
  --max-new-tokens 24 --set temperature=0 --closed-captions --line21 --cc-mode pop-on \
  > "$work/b.jsonl" 2> "$work/b.log" || { cat "$work/b.log"; exit 1; }
answers_tsv "$work/b.jsonl" > "$work/b.tsv"
decode "$work/b/captions.ts" "$work/b.srt"
cat "$work/b.srt"
python3 "$here/cea608_check.py" "$work/b.tsv" "$work/b.srt" "$video_end" pop-on
echo "-- B: line21.mkv"
gst-discoverer-1.0 "$work/b/line21.mkv" > "$work/b-line21.txt"
for want in "Width: 720" "Height: 486" "Frame rate: 30000/1001" "Interlaced: true"; do
  grep -q "$want" "$work/b-line21.txt" || { cat "$work/b-line21.txt"; echo "line21.mkv: no '$want'"; exit 1; }
done
line21_to_ts "$work/b/line21.mkv" "$work/b-line21.ts"
decode "$work/b-line21.ts" "$work/b-line21.srt"
cat "$work/b-line21.srt"
python3 "$here/cea608_check.py" "$work/b.tsv" "$work/b-line21.srt" "$video_end" pop-on

echo "== C: broadcast-captions.sh --live --closed-captions (roll-up2)"
# A live source: 12 s of videotestsrc is-live=true at 25 fps, made 29.97 fps by the script's
# videorate; the captions must be carried as in the file case.
BUILD_DIR=$build "$root/pipelines/broadcast-captions.sh" --live --duration 12 \
  --out "$work/c" --model "$model" --window-frames 16 --hop-frames 8 --sample-fps 4 \
  --max-new-tokens 24 --set temperature=0 --closed-captions \
  > "$work/c.jsonl" 2> "$work/c.log" || { cat "$work/c.log"; exit 1; }
answers_tsv "$work/c.jsonl" > "$work/c.tsv"
[ -s "$work/c.tsv" ] || { echo "live: no answers"; cat "$work/c.log"; exit 1; }
decode "$work/c/captions.ts" "$work/c.srt"
cat "$work/c.srt"
python3 "$here/cea608_check.py" "$work/c.tsv" "$work/c.srt" 12
echo "ok"
