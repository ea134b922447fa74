"""Checks closed captions decoded by ffmpeg (an SRT from its CEA-608 decoder) against the answers
that were captioned: every answer's text, after texttocea608's documented 608 mapping, appears in
the decoded rows in order, and the cue that first shows it starts within TOLERANCE of the
answer's PTS. Answers stamped less than TAIL before the end of the video are reported but not
required: no frames remain to carry them (and ffmpeg shows a roll-up row only at the next CR).

  cea608_check.py ANSWERS.tsv DECODED.srt VIDEO_END_SECONDS [pop-on]

With pop-on every cue is a caption of its own; otherwise (roll-up) a cue repeats the rows of the
previous one above its new row, and only the new rows count.

ANSWERS.tsv: one answer a line, "PTS_NANOSECONDS<TAB>TEXT"."""
import re
import sys

TOLERANCE = 1.0
TAIL = 1.5


def words_of(text):
    # The mapping of the demo model's ASCII answers: the basic 0x27 apostrophe, which ffmpeg
    # writes as U+2019, and whitespace runs as one space (docs/pipelines.md).
    return text.replace("\u2019", "'").split()


def parse_srt(path):
    cues = []
    text = open(path, encoding="utf-8").read()
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        if len(lines) < 2:
            continue
        m = re.match(r"(\d+):(\d+):(\d+),(\d+) -->", lines[1])
        if not m:
            continue
        h, mi, s, ms = map(int, m.groups())
        start = h * 3600 + mi * 60 + s + ms / 1000
        body = [re.sub(r"<[^>]*>|\{[^}]*\}", "", line).strip() for line in lines[2:]]
        cues.append((start, [line for line in body if line]))
    return cues


def decoded_words(cues, pop_on):
    """The rows as they appeared, each once."""
    out = []
    previous = []
    for start, rows in cues:
        overlap = 0
        for k in range(0 if pop_on else min(len(previous), len(rows)), 0, -1):
            if previous[-k:] == rows[:k]:
                overlap = k
                break
        for row in rows[overlap:]:
            out.extend((start, word) for word in words_of(row))
        previous = rows
    return out


def main():
    answers = []
    for line in open(sys.argv[1], encoding="utf-8"):
        pts, _, text = line.rstrip("\n").partition("\t")
        answers.append((int(pts) / 1e9, text))
    cues = parse_srt(sys.argv[2])
    video_end = float(sys.argv[3])
    stream = decoded_words(cues, len(sys.argv) > 4 and sys.argv[4] == "pop-on")
    print(f"{len(answers)} answers, {len(cues)} decoded cues, {len(stream)} decoded words")
    position = 0
    failures = 0
    required = 0
    for pts, text in answers:
        want = words_of(text)
        needed = pts <= video_end - TAIL
        required += needed
        found = None
        for i in range(position, len(stream) - len(want) + 1):
            if [w for _, w in stream[i:i + len(want)]] == want:
                found = i
                break
        if found is None:
            status = "MISSING" if needed else "not carried (end of video)"
            failures += needed
            print(f"  {pts:7.3f}s {status}: {text}")
            continue
        shown = stream[found][0]
        late = abs(shown - pts) > TOLERANCE
        failures += late and needed
        print(f"  {pts:7.3f}s shown {shown:7.3f}s ({shown - pts:+.3f}s){' LATE' if late else ''}: "
              f"{text}")
        position = found + len(want)
    if required == 0:
        print("no answer early enough to be checked")
        return 1
    print(f"{required - failures}/{required} required answers found in order within "
          f"{TOLERANCE} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
