#!/bin/bash
# The default test suite with the project's code under AddressSanitizer (LeakSanitizer included)
# and UndefinedBehaviorSanitizer: a build with -Db_sanitize=address,undefined
# (SLOWFAST_SANITIZE_BUILD, default build-asan beside the source; libtorch, GStreamer and the
# other system libraries stay uninstrumented), then `meson test` on it with the ASan runtime
# preloaded into programs that are not ours (gst-launch-1.0, python3), and a count of the
# sanitizer reports in the test logs. Suppressions: tests/stress/lsan.supp, each entry with why
# the leak is not ours. Exit status: 1 if a test failed or any report was found.
#   tests/stress/run_sanitizers.sh [meson test arguments, e.g. a test name]
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${SLOWFAST_SANITIZE_BUILD:-$src/build-asan}
if [ ! -f "$build/build.ninja" ]; then
  mkdir -p "$build"
  meson setup "$build" "$src" -Db_sanitize=address,undefined -Db_lundef=false -Dtests=enabled \
    > "$build/setup.log" 2>&1 || { cat "$build/setup.log"; exit 1; }
fi
ninja -C "$build" > "$build/sanitize-ninja.log" 2>&1 ||
  { tail -40 "$build/sanitize-ninja.log"; echo "run_sanitizers: build failed"; exit 1; }

asan_runtime=$(gcc -print-file-name=libasan.so)
ubsan_runtime=$(gcc -print-file-name=libubsan.so)
# Programs that are not ours but load the instrumented plugin (gst-launch-1.0, gst-inspect-1.0,
# python3 with gi) get the runtimes preloaded (ASan must come first) through shims first in PATH,
# with leak checking off: their own exit-time leaks are not ours. Everything the project builds
# is instrumented and runs with LeakSanitizer on, unless a script started it (it inherits the
# script's settings, see sanitizer_wrapper.sh).
shims="$build/sanitize-shims"
mkdir -p "$shims"
for program in gst-launch-1.0 gst-inspect-1.0 python3; do
  real=$(command -v "$program")
  printf '#!/bin/sh\nLD_PRELOAD="%s %s" ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" exec %s "$@"\n' \
    "$asan_runtime" "$ubsan_runtime" "$real" > "$shims/$program"
  chmod +x "$shims/$program"
done
export PATH="$shims:$PATH"
# Tests run by a program that is not ours (a script's bash, /usr/bin/python3) get the same
# preload through sanitizer_wrapper.sh, so programs started by absolute path have it too.
export SLOWFAST_SANITIZER_RUNTIMES="$asan_runtime $ubsan_runtime"
# fast_unwind_on_malloc=0: full allocation stacks through uninstrumented libraries, which the
# suppressions match on. print_stacktrace: UBSan's reports name the line.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_odr_violation=0:allocator_may_return_null=1:fast_unwind_on_malloc=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$src/tests/stress/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
status=0
# Sanitized code runs 2-3x slower: meson's timeouts are tripled.
meson test -C "$build" --no-rebuild --timeout-multiplier 3 \
  --wrapper "$src/tests/stress/sanitizer_wrapper.sh" "$@" > "$build/sanitize-test.log" 2>&1 ||
  status=$?
# meson names the log after the wrapper.
log="$build/meson-logs/testlog-sanitizer_wrapper.sh.txt"
grep -E '^ *[0-9]+/[0-9]+ ' "$build/sanitize-test.log" | tail -60
reports=$(grep -c -E 'runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer' "$log" || true)
echo
echo "sanitizer reports in the test logs: $reports (log: $log)"
grep -E 'runtime error:|SUMMARY: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)' "$log" |
  sort | uniq -c | sort -rn | head -20 || true
[ "$status" -eq 0 ] && [ "$reports" -eq 0 ]
