#!/usr/bin/env bash
# pipelines/surveillance.sh with two cameras (files, each its own pipeline in one process): one
# JSON line per answer with the camera's source id, wall-clock and stream time of the window, and
# text; in alert mode every slowfast-alert line follows from the answers before it by the
# documented hysteresis (an answer is yes/no by its first word).
#
# Run 1: the model under test. The golden model's gibberish is neither yes nor no: no alert; a
#   model that knows the scenes (model/demo) raises for the ball, and SLOWFAST_EXPECT_ALERT=1
#   requires it.
# Run 2: a yes/no checkpoint made here from golden model a (its final norm keeps one channel and
#   its lm_head maps that channel's sign to "Yes" or "No"): the element, engine and tokenizer are
#   the real ones, and a clip ball/smpte/ball gives runs of both answers, so the alert must be
#   raised, cleared and raised again.
#   test_surveillance.sh BUILD_DIR
set -euo pipefail
export BUILD_DIR=${1:?usage: test_surveillance.sh BUILD_DIR}
golden=${SLOWFAST_SHARED:-/nonexistent}/golden/a/model
model=${SLOWFAST_TEST_MODEL:-$golden}
if [ ! -d "$model" ]; then
  echo "SKIP: neither SLOWFAST_TEST_MODEL nor \$SLOWFAST_SHARED/golden/a/model exists"; exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
caps=video/x-raw,format=I420,width=160,height=120,framerate=8/1
for pattern in ball smpte; do
  gst-launch-1.0 -q videotestsrc num-buffers=48 "pattern=$pattern" ! "$caps" ! matroskamux ! \
    filesink location="$work/$pattern.mkv"
done
surveillance=(bash "$SLOWFAST_SOURCE_ROOT/pipelines/surveillance.sh"
  --window-frames 8 --hop-frames 4 --sample-fps 8
  --set temperature=0 --set dtype=float32 --set device=cpu)

# check.py JSONL STARTED FINISHED RAISE CLEAR ANSWERS MIN_RAISES MIN_CLEARS CAMERA...
cat > "$work/check.py" <<'PY'
import json, string, sys
from datetime import datetime, timezone
path, started, finished, raise_after, clear_after, n_answers, min_raises, min_clears = sys.argv[1:9]
cameras = sys.argv[9:]
started, finished = int(started), int(finished)
raise_after, clear_after, n_answers = int(raise_after), int(clear_after), int(n_answers)
lines = [json.loads(l) for l in open(path) if l.strip()]

def verdict(text):
    words = text.split()
    word = words[0].strip(string.punctuation).lower() if words else ""
    return word if word in ("yes", "no") else None

raises = clears = 0
for camera in cameras:
    mine = [l for l in lines if l.get("source-id") == camera]
    answers = [l for l in mine if l["type"] == "slowfast-answer"]
    assert len(answers) == n_answers, f"{camera}: {len(answers)} answers, expected {n_answers}"
    ends = [a["window-end"] for a in answers]
    assert ends == sorted(ends) and len(set(ends)) == len(ends), ends
    for a in answers:
        assert a["element"] == camera, a
        assert a["stream-time"] == a["window-end"], a
        wall = datetime.strptime(a["wall-clock"], "%Y-%m-%dT%H:%M:%S.%fZ")
        wall = wall.replace(tzinfo=timezone.utc).timestamp()
        assert started - 1 <= wall <= finished + 1, (a["wall-clock"], started, finished)
        assert isinstance(a["text"], str)
    # The alerts, replayed from the answers before each of them.
    raised, run, expected = False, 0, []
    for l in mine:
        if l["type"] != "slowfast-answer":
            continue
        v = verdict(l["text"])
        if v is None:
            continue
        run = run + 1 if v == ("no" if raised else "yes") else 0
        if run == (clear_after if raised else raise_after):
            expected.append(("cleared" if raised else "raised", l["window-end"], l["text"], run))
            raised, run = not raised, 0
    got = [(l["state"], l["window-end"], l["text"], l["consecutive"])
           for l in mine if l["type"] == "slowfast-alert"]
    assert got == expected, f"{camera}: alerts {got}, expected {expected}"
    raises += sum(1 for g in got if g[0] == "raised")
    clears += sum(1 for g in got if g[0] == "cleared")
    print(f"{camera}: {len(answers)} answers:", " ".join(a["text"][:12] for a in answers))
    print(f"{camera}: alerts", [g[:2] for g in got])
assert raises >= int(min_raises), f"{raises} raises, expected at least {min_raises}"
assert clears >= int(min_clears), f"{clears} clears, expected at least {min_clears}"
PY

echo "== run 1: $model"
started=$(date +%s)
"${surveillance[@]}" --model "$model" --max-new-tokens 4 \
  --source "yard=$work/ball.mkv" --source "gate=file://$work/smpte.mkv" \
  --condition "Is there a white ball? Answer yes or no." --raise-after 2 --clear-after 1 \
  --log "$work/log.jsonl" > "$work/out.jsonl"
finished=$(date +%s)
cmp -s "$work/out.jsonl" "$work/log.jsonl" || { echo "--log differs from stdout"; exit 1; }
# 48 frames sampled at 8 fps, windows of 8 every 4: due at frames 8, 12, ..., 48: 11 answers.
min_raises=0
[ "${SLOWFAST_EXPECT_ALERT:-}" = 1 ] && min_raises=1
python3 "$work/check.py" "$work/out.jsonl" "$started" "$finished" 2 1 11 "$min_raises" 0 yard gate

if [ ! -d "$golden" ]; then
  echo "run 2 skipped: no \$SLOWFAST_SHARED/golden/a/model to make the yes/no checkpoint from"
  exit 0
fi
echo "== run 2: a yes/no checkpoint made from $golden"
mkdir "$work/yesno"
cp "$golden"/*.json "$work/yesno/"
python3 - "$golden/model.safetensors" "$work/yesno/model.safetensors" \
  "$golden/tokenizer.json" <<'PY'
import json, struct, sys
source, target, tokenizer = sys.argv[1:4]
data = bytearray(open(source, "rb").read())
header_len = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + header_len])
base = 8 + header_len
vocab = json.load(open(tokenizer))["model"]["vocab"]

def tensor(name):
    entry = header[name]
    assert entry["dtype"] == "BF16", entry
    return base + entry["data_offsets"][0], base + entry["data_offsets"][1], entry["shape"]

def bf16(value):
    return struct.pack("<f", value)[2:4]

start, end, (hidden,) = tensor("model.norm.weight")
for i in range(hidden):  # only channel 0 of the last hidden state reaches the logits
    data[start + 2 * i:start + 2 * i + 2] = bf16(1.0 if i == 0 else 0.0)
start, end, (vocab_size, width) = tensor("lm_head.weight")
data[start:end] = bytes(end - start)
for word, weight in (("Yes", -100.0), ("No", 100.0)):
    offset = start + vocab[word] * width * 2
    data[offset:offset + 2] = bf16(weight)
open(target, "wb").write(data)
PY
segment() { echo "videotestsrc pattern=$1 num-buffers=32 ! $caps ! mix."; }
gst-launch-1.0 -q concat name=mix ! matroskamux ! filesink location="$work/mix.mkv" \
  $(segment ball) $(segment smpte) $(segment ball)
started=$(date +%s)
"${surveillance[@]}" --model "$work/yesno" --max-new-tokens 1 \
  --source "mix=$work/mix.mkv" --condition "Is there a white ball?" \
  --raise-after 2 --clear-after 1 > "$work/yesno.jsonl"
finished=$(date +%s)
# 96 frames: windows due at frames 8, 12, ..., 96: 23 answers.
python3 "$work/check.py" "$work/yesno.jsonl" "$started" "$finished" 2 1 23 2 1 mix

# A file shorter than one window gets one answer: with --raise-after 2 no alert can be raised,
# and the element says so (a warning, printed by slowfast-launch) instead of passing for "no
# alert". With --raise-after 1 the same file raises it.
gst-launch-1.0 -q videotestsrc pattern=ball num-buffers=6 ! "$caps" ! matroskamux ! \
  filesink location="$work/short.mkv"
"${surveillance[@]}" --model "$work/yesno" --max-new-tokens 1 --source "short=$work/short.mkv" \
  --condition "Is there a white ball?" --raise-after 2 > "$work/short.jsonl" 2> "$work/short.err"
grep -q "The stream ended after 1 answer(s): with alert-raise-after=2 no alert could be raised" \
  "$work/short.err" || { echo "no warning about the short file:"; cat "$work/short.err"; exit 1; }
if grep -q '"slowfast-alert"' "$work/short.jsonl"; then echo "an alert from one answer"; exit 1; fi
"${surveillance[@]}" --model "$work/yesno" --max-new-tokens 1 --source "short=$work/short.mkv" \
  --condition "Is there a white ball?" --raise-after 1 > "$work/short1.jsonl" 2> "$work/short1.err"
grep -q '"state":"raised"' "$work/short1.jsonl" || { echo "raise-after 1: no alert"; exit 1; }
if grep -q "no alert could be raised" "$work/short1.err"; then echo "warned with raise-after 1"; exit 1; fi
echo "short file: warned with raise-after 2, raised with raise-after 1"
echo ok
