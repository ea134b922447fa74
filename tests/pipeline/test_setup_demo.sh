#!/usr/bin/env bash
# ./setup.sh demo compiles only what the main job runs (the plugin, slowfast-launch, slowfast-demo),
# not the test suites and benchmarks: ninja's full command list for its targets builds nothing
# under tests/ and does build the three programs.
set -euo pipefail
build=${1:?usage: test_setup_demo.sh BUILD_DIR}
setup=${SLOWFAST_SOURCE_ROOT:?}/setup.sh
targets=$(sed -n 's/^ *demo) .*configure_and_build \([^;]*\) ;;$/\1/p' "$setup")
[ -n "$targets" ] || { echo "setup.sh demo names no targets: it builds everything"; exit 1; }
# meson's target names -> the files ninja builds
# shellcheck disable=SC2086
outputs=$(meson introspect --targets "$build" | /usr/bin/python3 -c '
import json, os, sys
build, wanted = sys.argv[1], sys.argv[2:]
targets = {t["name"]: t for t in json.load(sys.stdin)}
missing = [name for name in wanted if name not in targets]
if missing:
    sys.exit("setup.sh demo names unknown targets: " + " ".join(missing))
for name in wanted:
    for path in targets[name]["filename"]:
        print(os.path.relpath(path, build))
' "$build" $targets)
# shellcheck disable=SC2086
commands=$(ninja -C "$build" -t commands $outputs)
if grep -q 'tests/' <<<"$commands"; then
  echo "setup.sh demo ($targets) compiles tests:"; grep 'tests/' <<<"$commands" | head -5; exit 1
fi
for output in gst/libgstslowfast.so pipelines/slowfast-launch model/train/slowfast-demo; do
  grep -q -- "-o $output " <<<"$commands" || { echo "setup.sh demo does not build $output"; exit 1; }
done
echo "ok: setup.sh demo builds $targets ($(wc -l <<<"$commands") commands, none for tests)"
