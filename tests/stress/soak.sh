#!/bin/bash
# Soak: SLOWFAST_SOAK_WINDOWS windows (default 10,000) in one gst-launch-1.0 process on the demo
# model: a live 64x64 videotestsrc at SLOWFAST_SOAK_FPS (default 60), 8-frame windows, hop 1.
# RSS is sampled every SLOWFAST_SOAK_INTERVAL s (default 10). Prints the samples, the RSS slope
# per 1,000 windows after warm-up (the first 20% of windows) by least squares, the worst window
# latency, and windows answered + dropped against windows due. Fails on an error, on a window
# unaccounted for, and (runs of at least 5,000 windows) on a slope of 1 MiB per 1,000 windows
# or more. The default test run has a 300-window version (suite pipeline).
set -euo pipefail
src=${SLOWFAST_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
model=${SLOWFAST_TEST_MODEL:-$src/model/demo}
windows=${SLOWFAST_SOAK_WINDOWS:-10000}
fps=${SLOWFAST_SOAK_FPS:-60}
interval=${SLOWFAST_SOAK_INTERVAL:-10}
window_frames=8
frames=$((windows + window_frames - 1))
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

gst-launch-1.0 -m videotestsrc is-live=true pattern=ball num-buffers=$frames ! \
  video/x-raw,width=64,height=64,framerate=$fps/1 ! \
  slowfastmllm model-location="$model" window-frames=$window_frames hop-frames=1 sample-fps=0 ! \
  fakesink > "$work/messages.txt" 2>&1 &
pid=$!
start=$(date +%s.%N)
echo "soak: $windows windows of $window_frames frames, hop 1, $fps fps live, demo model, pid $pid"
printf '%8s %9s %8s %9s\n' seconds answered dropped rss_mib | tee "$work/samples.txt"
sample() {
  local rss answered dropped now
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2> /dev/null || true)
  [ -n "$rss" ] || return 0
  answered=$(grep -c 'slowfast-answer,' "$work/messages.txt" || true)
  dropped=$(grep -c 'slowfast-dropped,' "$work/messages.txt" || true)
  now=$(date +%s.%N)
  awk -v t="$now" -v t0="$start" -v a="$answered" -v d="$dropped" -v rss="$rss" \
    'BEGIN { printf "%8.1f %9d %8d %9.1f\n", t - t0, a, d, rss / 1024 }' | tee -a "$work/samples.txt"
}
while kill -0 $pid 2> /dev/null; do
  sample
  for _ in $(seq $((interval * 10))); do
    kill -0 $pid 2> /dev/null || break
    sleep 0.1
  done
done
set +e
wait $pid
status=$?
set -e

answered=$(grep -c 'slowfast-answer,' "$work/messages.txt" || true)
dropped=$(grep -c 'slowfast-dropped,' "$work/messages.txt" || true)
worst_ms=$(grep -o 'slowfast-answer,.*latency=(guint64)[0-9]*' "$work/messages.txt" |
  sed 's/.*latency=(guint64)//' | sort -n | tail -1 | awk '{printf "%.1f", $1 / 1e6}')
# Least-squares slope of RSS (MiB) over windows done, on the samples after warm-up.
slope=$(awk -v warm=$((windows / 5)) 'NR > 1 && $2 + $3 >= warm {
    x = ($2 + $3) / 1000; y = $4; n++; sx += x; sy += y; sxx += x * x; sxy += x * y }
  END { if (n < 3 || n * sxx - sx * sx == 0) print "n/a"; else printf "%.3f", (n * sxy - sx * sy) / (n * sxx - sx * sx) }' \
  "$work/samples.txt")
errors=$(grep -c 'ERROR' "$work/messages.txt" || true)
echo
echo "exit status: $status, errors on the bus: $errors"
echo "windows due: $windows, answered: $answered, dropped: $dropped, answered + dropped: $((answered + dropped))"
echo "worst window latency: ${worst_ms:-n/a} ms"
echo "RSS slope after warm-up: $slope MiB per 1000 windows (target < 1)"
failed=0
if [ "$status" -ne 0 ] || [ "$errors" -ne 0 ]; then
  grep -m5 'ERROR' "$work/messages.txt" || true
  echo "FAIL: the pipeline failed"
  failed=1
fi
if [ $((answered + dropped)) -ne "$windows" ]; then
  echo "FAIL: $((windows - answered - dropped)) windows neither answered nor reported dropped"
  failed=1
fi
if [ "$windows" -ge 5000 ]; then
  if [ "$slope" = "n/a" ] || awk -v s="$slope" 'BEGIN { exit !(s >= 1) }'; then
    echo "FAIL: RSS grows by $slope MiB per 1000 windows"
    failed=1
  fi
fi
exit $failed
