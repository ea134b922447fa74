#!/usr/bin/env bash
# Real caption pipelines: answers of slowfastmllm on text_src go through srtenc, webvttenc,
# matroskamux and textoverlay (each branch behind a queue); an unlinked text_src leaves the video
# alone while answers still reach the bus.
set -euo pipefail
model=${SLOWFAST_SHARED:-}/golden/a/model
if [ -z "${SLOWFAST_SHARED:-}" ] || [ ! -d "$model" ]; then
  echo "SKIP: SLOWFAST_SHARED/golden/a/model is missing"; exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src="videotestsrc num-buffers=150 pattern=ball ! video/x-raw,format=I420,width=160,height=120,framerate=30/1"
element="slowfastmllm name=m model-location=$model dtype=float32 device=cpu temperature=0 \
  max-new-tokens=6 window-frames=8 hop-frames=4 sample-fps=4"

# 150 frames at 30 fps sampled at 4 fps: 20 frames, windows end at sampled frames 7, 11, 15, 19.
gst-launch-1.0 -q $src ! $element ! queue ! fakesink m.text_src ! queue ! srtenc ! \
  filesink location="$work/out.srt"
cues=$(grep -c -- '-->' "$work/out.srt" || true)
[ "$cues" -eq 4 ] || { echo "srt: expected 4 cues, got $cues"; cat "$work/out.srt"; exit 1; }
# The first window ends with frame ceil(7 * 7.5) = 53 (end 54/30 s = 1.8 s) and lasts one hop (1 s).
grep -q '^00:00:01,800 --> 00:00:02,800$' "$work/out.srt" || {
  echo "srt: first cue is not 1.8 s - 2.8 s"; cat "$work/out.srt"; exit 1; }

# Early answers (first-answer-frames=4 with window 16, hop 8): after 4, 8 and 12 sampled frames
# over the frames so far, each lasting until the next, then the first full window at 16 frames,
# lasting a hop but clipped to the end of the stream (5 s); the EOS window's answer is on the
# bus only. Sampled frame k is video frame ceil(7.5 k), so frame 3 ends at 0.8 s, 7 at 1.8 s,
# 11 at 2.8 s, 15 at 3.8 s.
early="slowfastmllm name=m model-location=$model dtype=float32 device=cpu temperature=0 \
  max-new-tokens=6 window-frames=16 hop-frames=8 sample-fps=4 first-answer-frames=4"
gst-launch-1.0 -q $src ! $early ! queue ! fakesink m.text_src ! queue ! srtenc ! \
  filesink location="$work/early.srt"
times=$(grep -- '-->' "$work/early.srt" | tr '\n' ' ')
want='00:00:00,800 --> 00:00:01,800 00:00:01,800 --> 00:00:02,800 00:00:02,800 --> 00:00:03,800 00:00:03,800 --> 00:00:05,000 '
[ "$times" = "$want" ] || { echo "early answers: cues $times, expected $want"; cat "$work/early.srt"; exit 1; }

# A file of 140 frames (4.667 s, its duration known ahead): windows end at 1.8, 2.8 and 3.8 s;
# the last would last to 4.8 s and is clipped to the end of the video; the EOS window (sampled
# frames 16-18) ends where the video does, so its answer is on the bus only. No cue overlaps the
# next, none runs past the end (issue "first hour", item 3).
gst-launch-1.0 -q videotestsrc num-buffers=140 pattern=ball ! \
  video/x-raw,format=I420,width=160,height=120,framerate=30/1 ! matroskamux ! \
  filesink location="$work/file.mkv"
gst-launch-1.0 -q filesrc location="$work/file.mkv" ! decodebin ! $element ! queue ! fakesink \
  m.text_src ! queue ! srtenc ! filesink location="$work/file.srt"
python3 - "$work/file.srt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(t):
    h, m, s, f = map(int, re.split("[:,]", t))
    return ((h * 60 + m) * 60 + s) * 1000 + f
cues = [(ms(a), ms(b)) for a, b in re.findall(r"(\S+) --> (\S+)", text)]
assert len(cues) == 3, f"{len(cues)} cues, expected 3:\n{text}"
assert all(b > a for a, b in cues), cues
assert all(cues[i][1] <= cues[i + 1][0] for i in range(len(cues) - 1)), f"overlap: {cues}"
end = 140 * 1000 / 30
assert abs(cues[-1][1] - end) <= 1, f"the last cue ends at {cues[-1][1]} ms, the video at {end:.0f}"
print("file.srt:", cues)
PY

gst-launch-1.0 -q $src ! $element ! queue ! fakesink m.text_src ! queue ! webvttenc ! \
  filesink location="$work/out.vtt"
head -1 "$work/out.vtt" | grep -q WEBVTT || { echo "vtt: no header"; exit 1; }
cues=$(grep -c -- '-->' "$work/out.vtt" || true)
[ "$cues" -eq 4 ] || { echo "vtt: expected 4 cues, got $cues"; cat "$work/out.vtt"; exit 1; }

# Video and captions in one Matroska file; the muxer never stalls on the sparse text track.
gst-launch-1.0 -q $src ! $element ! queue ! mux. m.text_src ! queue ! mux. \
  matroskamux name=mux ! filesink location="$work/out.mkv"
gst-launch-1.0 -q filesrc location="$work/out.mkv" ! matroskademux name=d \
  d.video_0 ! queue ! checksumsink d.subtitle_0 ! queue ! filesink location="$work/mkv-text.txt" \
  > "$work/mkv-video.txt"
frames=$(wc -l < "$work/mkv-video.txt")
[ "$frames" -eq 150 ] || { echo "mkv: expected 150 video frames, got $frames"; exit 1; }
[ -s "$work/mkv-text.txt" ] || { echo "mkv: the subtitle track is empty"; exit 1; }

# Burnt-in captions.
if gst-inspect-1.0 textoverlay >/dev/null 2>&1; then
  gst-launch-1.0 -q $src ! $element ! queue ! overlay.video_sink m.text_src ! queue ! \
    overlay.text_sink textoverlay name=overlay ! videoconvert ! fakesink
else
  echo "textoverlay is missing (gstreamer1.0-x): its pipeline was not run"; exit 1
fi

# text_src unlinked: frames unchanged, answers on the bus.
caps='video/x-raw,format=I420,width=160,height=120,framerate=30/1'
want=$(gst-launch-1.0 -q videotestsrc num-buffers=150 pattern=ball ! "$caps" ! checksumsink | md5sum)
got=$(gst-launch-1.0 -q videotestsrc num-buffers=150 pattern=ball ! "$caps" ! $element ! \
  checksumsink | md5sum)
[ "$want" = "$got" ] || { echo "unlinked text_src: video changed"; exit 1; }
answers=$(gst-launch-1.0 -m videotestsrc num-buffers=150 pattern=ball ! "$caps" ! $element ! \
  fakesink | grep -c 'slowfast-answer' || true)
[ "$answers" -eq 4 ] || { echo "unlinked text_src: expected 4 answers on the bus, got $answers"; exit 1; }
echo "ok"
