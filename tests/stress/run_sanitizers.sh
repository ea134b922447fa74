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
# The interpreter of this script's own log parsing, found before the shims shadow it.
host_python=$(command -v python3)
shims="$build/sanitize-shims"
mkdir -p "$shims"
for program in gst-launch-1.0 gst-inspect-1.0 python3; do
  real=$(command -v "$program")
  printf '#!/bin/sh\nLD_PRELOAD="%s %s" ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" exec %s "$@"\n' \
    "$asan_runtime" "$ubsan_runtime" "$real" > "$shims/$program"
  chmod +x "$shims/$program"
done
export PATH="$shims:$PATH"
# The plugin scanner GStreamer forks (gst-plugin-scanner) is not instrumented and cannot load the
# instrumented plugin ("ASan runtime does not come first"): after a rebuild the registry would
# lose the element. Scanning in the process itself works, as every process here has the runtime.
export GST_REGISTRY_FORK=no
# A registry left by such a scan lists the plugin as failed until the plugin changes again.
rm -f "$build/tests/registry.bin"
# Tests run by a program that is not ours (a script's bash, /usr/bin/python3) get the same
# preload through sanitizer_wrapper.sh, so programs started by absolute path have it too.
export SLOWFAST_SANITIZER_RUNTIMES="$asan_runtime $ubsan_runtime"
# fast_unwind_on_malloc=0: full allocation stacks through uninstrumented libraries, which the
# suppressions match on. print_stacktrace: UBSan's reports name the line.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_odr_violation=0:allocator_may_return_null=1:fast_unwind_on_malloc=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$src/tests/stress/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
# Sanitized code runs 2-3x slower: meson's timeouts are tripled, and so are the tests' own time
# bounds (test_time_scale in tests/pipeline/test_time_scale.h).
export SLOWFAST_TEST_TIME_SCALE=${SLOWFAST_TEST_TIME_SCALE:-3}
# meson names the log after the wrapper.
log="$build/meson-logs/testlog-sanitizer_wrapper.sh.txt"
run_tests() {
  meson test -C "$build" --no-rebuild --timeout-multiplier 3 \
    --wrapper "$src/tests/stress/sanitizer_wrapper.sh" "$@" > "$build/sanitize-test.log" 2>&1
}
count_reports() {
  grep -c -E 'runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer' "$log" || true
}
show_reports() {
  grep -E 'runtime error:|SUMMARY: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)' \
    "$log" | sort | uniq -c | sort -rn | head -20 || true
}
status=0
run_tests "$@" || status=$?
grep -E '^ *[0-9]+/[0-9]+ ' "$build/sanitize-test.log" | tail -60
reports=$(count_reports)
show_reports

# LeakSanitizer's own stop-the-world tracer sometimes crashes at a process's exit ("Tracer caught
# signal 11", google/sanitizers#1353): no report, and no verdict on leaks. When every failed test
# failed that way, those tests run once more and the rerun decides; both logs are kept.
verdicts=$("$host_python" - "$build/meson-logs/testlog-sanitizer_wrapper.sh.json" <<'PYTHON'
import json, re, sys
report = re.compile(r"runtime error:|ERROR: (AddressSanitizer|LeakSanitizer)")
for line in open(sys.argv[1], errors="replace"):
    try:
        test = json.loads(line)
    except ValueError:
        continue  # not a test's record
    if test["result"] == "OK":
        continue
    output = (test.get("stdout") or "") + (test.get("stderr") or "")
    crashed = ("LeakSanitizer has encountered a fatal error" in output
               and not report.search(output))
    print(("tracer-crash " if crashed else "failed ") + test["name"].split(" / ")[-1])
PYTHON
) || verdicts=""  # no log to read: nothing to rerun, the first run's status stands
if [ "$status" -ne 0 ] && [ -n "$verdicts" ] && ! grep -q '^failed ' <<< "$verdicts"; then
  crashed=$(sed 's/^tracer-crash //' <<< "$verdicts" | tr '\n' ' ')
  echo
  echo "LeakSanitizer's tracer crashed, with no report, in: $crashed- running them once more"
  cp "$log" "$log.first-run"
  status=0
  # shellcheck disable=SC2086 # one test name per word
  run_tests $crashed || status=$?
  grep -E '^ *[0-9]+/[0-9]+ ' "$build/sanitize-test.log" | tail -20
  reports=$((reports + $(count_reports)))
  show_reports
fi
echo
echo "sanitizer reports in the test logs: $reports (log: $log)"
[ "$status" -eq 0 ] && [ "$reports" -eq 0 ]
