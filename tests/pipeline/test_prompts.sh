#!/usr/bin/env bash
# Any prompt reaches the element exactly as given, from every script and from slowfast-launch,
# whatever the locale: German, Chinese and Japanese text, a tab, backslashes and quotes (the
# gst-launch description parser takes backslashes as escapes and splits at tabs, and GOption in
# a C locale refused every non-ASCII byte). Each answer's JSON line carries the prompt the
# element used; it must equal the one given. Also slowfast-launch's own options: --prompt-file,
# --tokens, --progress, --version, --help, and finding the plugin without GST_PLUGIN_PATH.
#   test_prompts.sh BUILD_DIR
set -euo pipefail
export BUILD_DIR=${1:?usage: test_prompts.sh BUILD_DIR}
model=${SLOWFAST_TEST_MODEL:-${SLOWFAST_SHARED:-/nonexistent}/golden/a/model}
if [ ! -d "$model" ]; then
  echo "SKIP: neither SLOWFAST_TEST_MODEL nor \$SLOWFAST_SHARED/golden/a/model exists"; exit 77
fi
pipelines=$SLOWFAST_SOURCE_ROOT/pipelines
launcher=$BUILD_DIR/pipelines/slowfast-launch
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gst-launch-1.0 -q videotestsrc num-buffers=24 pattern=ball ! \
  video/x-raw,format=I420,width=160,height=120,framerate=8/1 ! matroskamux ! \
  filesink location="$work/clip.mkv"

prompts=(
  'Was passiert in diesem Video? Grüße aus Köln, ß'
  '这个视频里发生了什么？'
  'この動画で何が起きていますか？'
  $'tab\there, back\\slash \\t \\\\ and "double" \'single\' quotes'
)
small=(--window-frames 8 --hop-frames 8 --sample-fps 8 --max-new-tokens 2 --model "$model"
  --set temperature=0 --set dtype=float32 --set device=cpu)

# check_prompt JSONL PROMPT MIN_ANSWERS: every answer (and alert) line has exactly PROMPT.
check_prompt() {
  python3 - "$@" <<'PY'
import json, sys
path, prompt, minimum = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
answers = [l for l in lines if l["type"] in ("slowfast-answer", "slowfast-alert")]
assert len(answers) >= minimum, f"{len(answers)} answers in {path}: {lines}"
for a in answers:
    assert a["prompt"] == prompt, f"prompt {a['prompt']!r} != {prompt!r}"
PY
}

n=0
for prompt in "${prompts[@]}"; do
  # A C locale is where GOption used to refuse the prompt; a UTF-8 one must work too.
  for locale in C C.UTF-8; do
    n=$((n + 1))
    LC_ALL=$locale bash "$pipelines/describe.sh" "$work/clip.mkv" "$prompt" --json "${small[@]}" \
      > "$work/describe-$n.jsonl"
    check_prompt "$work/describe-$n.jsonl" "$prompt" 1
  done
done
echo "describe.sh: ${#prompts[@]} prompts verbatim in the C and C.UTF-8 locales"

mixed="${prompts[0]} ${prompts[1]} ${prompts[3]}"
printf '%s\n' "$mixed" > "$work/prompt.txt"
LC_ALL=C bash "$pipelines/describe.sh" "$work/clip.mkv" --prompt-file "$work/prompt.txt" --json \
  "${small[@]}" > "$work/describe-file.jsonl"
check_prompt "$work/describe-file.jsonl" "$mixed" 1
echo "describe.sh --prompt-file: verbatim, trailing newline dropped"

# surveillance.sh: --source pipelines, alert mode (--condition), and a camera file whose
# prompt holds non-ASCII text and an INI-escaped backslash.
LC_ALL=C bash "$pipelines/surveillance.sh" --source "cam=$work/clip.mkv" --prompt "$mixed" \
  "${small[@]}" > "$work/surveillance.jsonl"
check_prompt "$work/surveillance.jsonl" "$mixed" 3
condition="${prompts[2]} Answer yes or no."
LC_ALL=C bash "$pipelines/surveillance.sh" --source "cam=$work/clip.mkv" \
  --condition "$condition" --raise-after 1 "${small[@]}" > "$work/condition.jsonl"
check_prompt "$work/condition.jsonl" "$condition" 3
cat > "$work/cameras.ini" <<EOF
[door]
uri = $work/clip.mkv
prompt = ${prompts[1]} a\\\\b ${prompts[0]}
EOF
LC_ALL=C bash "$pipelines/surveillance.sh" --config "$work/cameras.ini" "${small[@]}" \
  > "$work/config.jsonl"
check_prompt "$work/config.jsonl" "${prompts[1]} a\\b ${prompts[0]}" 3
echo "surveillance.sh: --source, --condition and --config prompts verbatim"

# broadcast-captions.sh prints every answer as a JSON line; the captions carry the answers.
LC_ALL=C bash "$pipelines/broadcast-captions.sh" --input "$work/clip.mkv" --out "$work/bc" \
  --prompt "$mixed" "${small[@]}" > "$work/broadcast.jsonl"
check_prompt "$work/broadcast.jsonl" "$mixed" 3
echo "broadcast-captions.sh: prompt verbatim"

# demo.sh: the main job, with a prompt file.
LC_ALL=C bash "$pipelines/demo.sh" "$work/demo" --prompt-file "$work/prompt.txt" \
  --max-new-tokens 2 > "$work/demo.jsonl"
check_prompt "$work/demo.jsonl" "$mixed" 3
echo "demo.sh --prompt-file: prompt verbatim"
# (rtsp-camera.sh: test_rtsp_camera's udp run passes a non-ASCII prompt with a tab.)

# slowfast-launch by itself: no GST_PLUGIN_PATH (it finds the build's plugin), --prompt set in
# code over the description's, --tokens and --progress lines, a bad prompt file named.
pipeline=(filesrc "location=$work/clip.mkv" ! decodebin ! videoconvert !
  slowfastmllm name=m "model-location=$model" prompt=overridden window-frames=8 hop-frames=8
  sample-fps=8 max-new-tokens=3 temperature=0 dtype=float32 device=cpu ! fakesink)
env -u GST_PLUGIN_PATH -u GST_PLUGIN_PATH_1_0 GST_REGISTRY_1_0="$work/registry.bin" LC_ALL=C \
  "$launcher" --quiet --tokens --progress --prompt "${prompts[2]}" "${pipeline[@]}" \
  > "$work/launch.jsonl"
check_prompt "$work/launch.jsonl" "${prompts[2]}" 3
python3 - "$work/launch.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
answers = [l for l in lines if l["type"] == "slowfast-answer"]
tokens = [l for l in lines if l["type"] == "slowfast-token"]
progress = [l for l in lines if l["type"] == "slowfast-progress"]
assert progress and progress[0]["progress"] == "start", progress
assert progress[-1]["progress"] == "complete" and progress[-1]["percent"] == 100, progress
assert any(p["progress"] == "continue" and 0 < p["percent"] < 100 for p in progress), progress
percents = [p["percent"] for p in progress if p["progress"] == "continue"]
assert percents == sorted(percents), percents
# Each answer's text is the concatenation of the token pieces of its window, which come first.
for a in answers:
    pieces = [t["text"] for t in tokens if t["window-end"] == a["window-end"]]
    assert "".join(pieces).strip() == a["text"].strip(), (pieces, a["text"])
    assert lines.index(a) > max(i for i, l in enumerate(lines)
                                if l["type"] == "slowfast-token" and l["window-end"] == a["window-end"])
print(f"{len(answers)} answers, {len(tokens)} token lines, {len(progress)} progress lines")
PY
printf '\xff\xfe not UTF-8\n' > "$work/latin1.txt"
if "$launcher" --prompt-file "$work/latin1.txt" "${pipeline[@]}" > /dev/null 2> "$work/err.txt"; then
  echo "a prompt file that is not UTF-8 was accepted"; exit 1
fi
grep -q "latin1.txt' is not UTF-8" "$work/err.txt" || { cat "$work/err.txt"; exit 1; }
if "$launcher" --prompt-file "$work/missing.txt" "${pipeline[@]}" > /dev/null 2> "$work/err.txt"; then
  echo "a missing prompt file was accepted"; exit 1
fi
grep -q "missing.txt" "$work/err.txt" || { cat "$work/err.txt"; exit 1; }

version=$("$launcher" --version)
[[ $version =~ ^slowfast-launch\ [0-9]+\.[0-9]+\.[0-9]+\ \(gst-slowfast,\ GStreamer\ 1\. ]] ||
  { echo "--version printed: $version"; exit 1; }
help=$("$launcher" --help)
usage_lines=$(grep -ci '^usage' <<<"$help" || true)
[ "$usage_lines" -eq 1 ] || { echo "--help has $usage_lines usage lines:"; echo "$help"; exit 1; }
for option in --prompt --prompt-file --tokens --progress --version; do
  grep -q -- "$option" <<<"$help" || { echo "--help does not list $option"; exit 1; }
done
echo "ok: slowfast-launch --version ($version), --help, --tokens, --progress, plugin found"
