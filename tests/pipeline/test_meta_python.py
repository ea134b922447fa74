#!/usr/bin/env python3
"""The answer meta read from Python (python3-gi): every answer posted on the bus is on a video
buffer as the custom meta "SlowfastAnswerMeta", with the same text and window times."""
import os
import sys

try:
    import gi

    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
except (ImportError, ValueError) as error:  # setup.sh installs python3-gi and the Gst typelib
    print(f"python3-gi with GStreamer's typelib is missing: {error}")
    sys.exit(1)

Gst.init(None)
model = os.environ["SLOWFAST_TEST_MODEL"]
pipeline = Gst.parse_launch(
    "videotestsrc num-buffers=120 pattern=ball ! video/x-raw,width=160,height=120,framerate=30/1 ! "
    f'slowfastmllm name=m model-location="{model}" temperature=0 max-new-tokens=12 '
    "window-frames=8 hop-frames=4 sample-fps=8 ! appsink name=video sync=false emit-signals=false"
)
sink = pipeline.get_by_name("video")
bus = pipeline.get_bus()
pipeline.set_state(Gst.State.PLAYING)

metas = []
while True:
    sample = sink.emit("try-pull-sample", 30 * Gst.SECOND)
    if sample is None:
        break
    buffer = sample.get_buffer()
    meta = buffer.get_custom_meta("SlowfastAnswerMeta")
    if meta is not None:
        s = meta.get_structure()
        metas.append((s.get_string("text"), s.get_uint64("window-start")[1],
                      s.get_uint64("window-end")[1], s.get_string("model-id")))

answers = []
while True:
    message = bus.pop()
    if message is None:
        break
    if message.type == Gst.MessageType.ERROR:
        print("pipeline error:", message.parse_error())
        sys.exit(1)
    s = message.get_structure()
    if message.type == Gst.MessageType.ELEMENT and s.get_name() == "slowfast-answer":
        answers.append((s.get_string("text"), s.get_uint64("window-start")[1],
                        s.get_uint64("window-end")[1]))
pipeline.set_state(Gst.State.NULL)

# 120 frames at 30 fps sampled at 8 fps: 32 frames, windows end at sampled frames 7, 11, ..., 31.
if len(answers) != 7:
    print(f"expected 7 answers on the bus, got {len(answers)}")
    sys.exit(1)
# Each answer rides on the next video buffer; the last ones may come after the last buffer. With
# max-pending-windows=1 the stream waits for all but the last two windows.
got = [(text, start, end) for text, start, end, _ in metas]
if len(got) < len(answers) - 2 or got != answers[: len(got)]:
    print("the metas are not the answers on the bus, in order")
    print(" bus: ", answers)
    print(" meta:", got)
    sys.exit(1)
if any(model_id != os.path.basename(model.rstrip("/")) for *_, model_id in metas):
    print("model-id is not the checkpoint directory's name:", [m[3] for m in metas])
    sys.exit(1)
print(f"ok: {len(metas)} answers read from the custom meta in Python, e.g. {metas[0][0]!r}")
