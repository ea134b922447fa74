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

# What a GStreamer maintainer checks first (issue "first hour", item 8): a klass made of the
# usual tokens, no placeholder origin, times as GstClockTime (unsigned, NONE rather than -1),
# no counters printing G_MAXUINT64 as their default, and one `stats` structure.
fail() { echo "$1"; echo "$out"; exit 1; }
grep -qE '^ *Klass +Filter/Analyzer/Video$' <<<"$out" || fail "klass is not Filter/Analyzer/Video"
if grep -qi 'example\.invalid' <<<"$plugin$out"; then fail "a placeholder origin or author"; fi
latency=$(sed -n '/^  latency /,/Default/p' <<<"$out")
grep -q 'Unsigned Integer64' <<<"$latency" || fail "latency is not a guint64 GstClockTime: $latency"
if sed -n '/^  last-latency /,/Default/p;/^  mean-latency /,/Default/p' <<<"$out" |
    grep -q 'Default: 18446744073709551615'; then
  fail "last-latency/mean-latency print G_MAXUINT64 as default"
fi
grep -qE '^  stats +: ' <<<"$out" || fail "no stats property"
echo "ok"
