#!/bin/bash
# Fuzzes the parsers with libFuzzer under ASan and UBSan and prints, per harness, executions,
# coverage (libFuzzer's edges "cov" and features "ft"), corpus size and findings.
#   tests/fuzz/run_fuzz.sh [SECONDS_PER_HARNESS (default 600)] [HARNESS...]
# It configures its own clang build (SLOWFAST_FUZZ_BUILD, default build-fuzz beside the source),
# builds only the harnesses and the libraries they test (libtorch stays uninstrumented), and
# keeps what each run found in $SLOWFAST_FUZZ_BUILD/findings/HARNESS (crash-*, leak-*, timeout-*,
# oom-*, slow-unit-*). A finding is fixed and its input copied into corpus/HARNESS, where every
# build's unit test (fuzz_HARNESS) replays it. Exit status: 1 if anything was found.
# Limits: 1 s per input (-timeout), 2 GiB RSS and 2 GiB per allocation (a header claiming 2^63
# bytes must be refused, not allocated).
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${SLOWFAST_FUZZ_BUILD:-$src/build-fuzz}
seconds=${1:-${SLOWFAST_FUZZ_SECONDS:-600}}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(safetensors config npy tokenizer_json encode chat_template)

command -v clang++ > /dev/null || { echo "run_fuzz: clang++ not found (apt install clang libclang-rt-14-dev)"; exit 1; }
if [ ! -f "$build/build.ninja" ]; then
  mkdir -p "$build"
  # -fsanitize=fuzzer-no-link: coverage feedback from the code under test; the harnesses link
  # libFuzzer itself (tests/fuzz/meson.build).
  CC=clang CXX=clang++ meson setup "$build" "$src" -Dgstreamer=disabled -Dfuzzing=true \
    -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false \
    -Dcpp_args=-fsanitize=fuzzer-no-link -Dc_args=-fsanitize=fuzzer-no-link > "$build/setup.log" 2>&1 ||
    { cat "$build/setup.log"; echo "run_fuzz: meson setup failed"; exit 1; }
fi
targets=()
for h in "${harnesses[@]}"; do targets+=("tests/fuzz/fuzz_$h"); done
ninja -C "$build" "${targets[@]}" > "$build/fuzz-ninja.log" 2>&1 ||
  { tail -40 "$build/fuzz-ninja.log"; echo "run_fuzz: build failed"; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
found_any=0
rows=()
for h in "${harnesses[@]}"; do
  work="$build/corpus/$h"
  findings="$build/findings/$h"
  mkdir -p "$work" "$findings"
  log="$build/findings/$h.log"
  # The working corpus starts from the committed one and keeps growing across runs.
  set +e
  "$build/tests/fuzz/fuzz_$h" -max_total_time="$seconds" -timeout=1 -rss_limit_mb=2048 \
    -malloc_limit_mb=2048 -report_slow_units=1 -print_final_stats=1 -artifact_prefix="$findings/" \
    "$work" "$src/tests/fuzz/corpus/$h" > "$log" 2>&1
  status=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}' || true)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
  corpus=$(find "$work" -type f | wc -l)
  artifacts=$(find "$findings" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o \
    -name 'timeout-*' -o -name 'oom-*' -o -name 'slow-unit-*' \) | wc -l)
  # UBSan reports that do not halt and ASan's non-crash reports still count.
  reports=$(grep -c -E 'runtime error:|ERROR: (AddressSanitizer|LeakSanitizer)' "$log" || true)
  if [ "$status" -ne 0 ] || [ "$artifacts" -gt 0 ] || [ "$reports" -gt 0 ]; then found_any=1; fi
  rows+=("$(printf '%-15s %10s %8s %8s %8s %9s %8s %7s' "$h" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
    "$corpus" "$artifacts" "$reports" "$status")")
  echo "fuzz_$h: ${execs:-?} executions in ${seconds} s, exit $status (log $log)"
done
echo
printf '%-15s %10s %8s %8s %8s %9s %8s %7s\n' harness executions cov ft corpus findings reports exit
printf '%s\n' "${rows[@]}"
exit $found_any
