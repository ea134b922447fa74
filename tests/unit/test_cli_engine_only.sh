#!/usr/bin/env bash
# The engine-only build (-Dgstreamer=disabled): slowfast-cli links no GStreamer library itself, and
# --video fails with a message that says why and what to pass instead.
#   test_cli_engine_only.sh SLOWFAST_CLI
set -euo pipefail
cli=${1:?usage: test_cli_engine_only.sh SLOWFAST_CLI}
# Its own NEEDED entries: Debian's libtorch itself pulls libgst* in through OpenCV, which ldd
# would list too.
if readelf -d "$cli" | grep NEEDED | grep -q 'libgst'; then
  echo "the engine-only slowfast-cli links GStreamer:"; readelf -d "$cli" | grep libgst; exit 1
fi
err=$(mktemp)
trap 'rm -f "$err"' EXIT
if "$cli" run --model "$SLOWFAST_DEMO_MODEL" --video clip.mp4 > /dev/null 2> "$err"; then
  echo "--video succeeded without GStreamer"; exit 1
fi
grep -q 'built without GStreamer' "$err" || { echo "unexpected error:"; cat "$err"; exit 1; }
echo "ok: no libgst* in $(basename "$cli"); --video refused with a reason"
