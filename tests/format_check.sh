#!/usr/bin/env bash
# Every C++ file of the repository follows .clang-format (one style in model/, gst/, tests/):
# fails, naming the files, when one does not. C files (*.c: the GstCheck tests, slowfast-launch)
# and the C headers only they include (pipelines/*.h, the tests' C helpers) keep GStreamer's C
# style and are not checked.
set -euo pipefail
root=${SLOWFAST_SOURCE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"
command -v clang-format >/dev/null || { echo "clang-format is not installed (setup.sh installs it)"; exit 1; }
c_headers=(tests/element/slowfast_test_util.h tests/pipeline/pipeline_test_util.h
  tests/pipeline/client_process.h tests/pipeline/test_time_scale.h)
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -- '*.cpp' '*.h')
else
  mapfile -t files < <(find model gst tests pipelines -name '*.cpp' -o -name '*.h' | sort)
fi
checked=()
for f in "${files[@]}"; do
  [[ " ${c_headers[*]} " == *" $f "* || $f == pipelines/*.h ]] && continue
  [ -f "$f" ] && checked+=("$f")
done
bad=()
for f in "${checked[@]}"; do
  clang-format --style=file --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "not formatted with .clang-format (fix: clang-format -i FILE):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "ok: ${#checked[@]} C++ files follow .clang-format"
