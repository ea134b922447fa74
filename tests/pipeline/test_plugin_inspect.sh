#!/usr/bin/env bash
# gst-inspect-1.0 finds the plugin in the build tree and describes the element's pads.
set -euo pipefail
out=$(gst-inspect-1.0 slowfastmllm)
for want in 'Factory Details' 'SINK template: .sink.' 'SRC template: .src.' \
    'SRC template: .text_src.' 'text/x-raw'; do
  if ! grep -q "$want" <<<"$out"; then
    echo "gst-inspect-1.0 slowfastmllm lacks: $want"; echo "$out"; exit 1
  fi
done
plugin=$(gst-inspect-1.0 slowfast)
grep -q 'slowfastmllm' <<<"$plugin" || { echo "plugin 'slowfast' does not list slowfastmllm"; exit 1; }
echo "ok"
