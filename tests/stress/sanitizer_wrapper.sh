#!/bin/bash
# meson test --wrapper of run_sanitizers.sh. A test whose program the project did not build
# (bash for the script tests, /usr/bin/python3) gets the sanitizer runtimes preloaded, so the
# instrumented plugin and tools work in every process it starts, with leak checking off there:
# those programs' exit-time leaks are not ours. The project's own programs run as they are,
# with LeakSanitizer on.
program=$(command -v "$1" || echo "$1")
if ! ldd "$program" 2> /dev/null | grep -q libasan; then
  export LD_PRELOAD="$SLOWFAST_SANITIZER_RUNTIMES"
  export ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0"
fi
exec "$@"
