/* slowfastmllm with the tiny golden models: answers equal slowfast-cli's for the same frames,
 * text timing, prompt changes, caps changes, flushing, EOS, whole-stream mode, state changes,
 * model sharing, live drops and broken models. */
#include "slowfast_test_util.h"

#include <glib/gstdio.h>
#include <gst/app/gstappsink.h>
#include <unistd.h>

#include "gstslowfastmeta.h"

#define ANSWER_TIMEOUT (120 * GST_SECOND)

typedef struct
{
  GstElement *element;
  GstHarness *h;                /* sink -> src (video) */
  GstHarness *t;                /* text_src */
  GstBus *bus;
} Fixture;

static void
fixture_start (Fixture * f, GstElement * element, const gchar * caps)
{
  f->element = element;
  f->bus = gst_bus_new ();
  gst_element_set_bus (element, f->bus);
  f->h = gst_harness_new_with_element (element, "sink", "src");
  f->t = gst_harness_new_with_element (element, NULL, "text_src");
  /* A file-like upstream (the harness says live by default): every window is answered, and
   * the text does not depend on how fast the machine answers (a live stream's end, learnt at
   * EOS, clips only the captions still being made then). */
  gst_harness_set_live (f->h, FALSE);
  gst_harness_set_src_caps_str (f->h, caps);
}

static void
fixture_stop (Fixture * f)
{
  gst_harness_teardown (f->t);
  gst_harness_teardown (f->h);
  gst_bus_set_flushing (f->bus, TRUE);
  gst_object_unref (f->bus);
  gst_object_unref (f->element);
}

/* Pushes one frame and checks it comes out untouched (same memory, same timestamps). Returns the
 * buffer that came out. */
static GstBuffer *
push_frame (Fixture * f, GstBuffer * in, GstClockTime pts, GstClockTime duration)
{
  GstBuffer *out;
  GstMemory *in_memory;

  GST_BUFFER_PTS (in) = pts;
  GST_BUFFER_DURATION (in) = duration;
  in_memory = gst_buffer_peek_memory (in, 0);
  gst_memory_ref (in_memory);
  fail_unless_equals_int (gst_harness_push (f->h, in), GST_FLOW_OK);
  out = gst_harness_pull (f->h);
  fail_unless (out != NULL);
  fail_unless (gst_buffer_peek_memory (out, 0) == in_memory, "video memory was copied");
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), pts);
  gst_memory_unref (in_memory);
  return out;
}

static GstClockTime
frame_time (guint i, guint fps)
{
  return gst_util_uint64_scale (i, GST_SECOND, fps);
}

/* Pushes frames `first`..`first+n-1` of `frames` at `fps`, frame i at i/fps. */
static void
push_frames (Fixture * f, const SlowfastFrames * frames, guint first, guint n, guint fps,
    guint frame_offset)
{
  for (guint i = first; i < first + n; i++) {
    guint k = i + frame_offset;
    gst_buffer_unref (push_frame (f, slowfast_rgb_buffer (frames, i % frames->t),
            frame_time (k, fps), frame_time (k + 1, fps) - frame_time (k, fps)));
  }
}

/* Sends EOS and returns the text buffers: EOS returns once every answer is made, and text_src's
 * task pushes them all before its own EOS. */
static GPtrArray *
finish_and_pull_text (Fixture * f)
{
  GPtrArray *texts = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  GstBuffer *buffer;
  GstEvent *event;

  fail_unless (gst_harness_push_event (f->h, gst_event_new_eos ()));
  while ((event = gst_harness_pull_event (f->t)) != NULL) {
    gboolean eos = GST_EVENT_TYPE (event) == GST_EVENT_EOS;
    gst_event_unref (event);
    if (eos)
      break;
  }
  fail_unless (event != NULL, "no EOS on text_src");
  while ((buffer = gst_harness_try_pull (f->t)))
    g_ptr_array_add (texts, buffer);
  return texts;
}

static gchar *
buffer_text (GstBuffer * buffer)
{
  GstMapInfo map;
  gchar *text;

  gst_buffer_map (buffer, &map, GST_MAP_READ);
  text = g_strndup ((const gchar *) map.data, map.size);
  gst_buffer_unmap (buffer, &map);
  return text;
}

static gchar *
temp_npy (const gchar * name)
{
  return g_build_filename (g_get_tmp_dir (), name, NULL);
}

static gchar *
reference_answer (const gchar * which, const SlowfastFrames * frames, const guint * indices,
    guint n, const gchar * prompt, guint max_new_tokens)
{
  gchar *model = slowfast_golden_path (which, "model");
  gchar *name = g_strdup_printf ("slowfast-test-%d-%u.npy", (int) getpid (), g_random_int ());
  gchar *npy = temp_npy (name);
  gchar *answer;

  slowfast_write_npy_u8 (npy, frames, indices, n);
  answer = slowfast_cli_answer (model, npy, prompt, max_new_tokens);
  g_unlink (npy);
  g_free (npy);
  g_free (name);
  g_free (model);
  return answer;
}

#define DEFAULT_PROMPT "Please describe this video in detail."

/* A full window of the golden frames: the answer, the bus message and the meta agree with
 * slowfast-cli on the same 64 frames; the EOS window after one more frame is answered too. */
GST_START_TEST (test_window_matches_cli)
{
  gchar *npy = slowfast_golden_path ("a", "frames.npy");
  SlowfastFrames frames;
  Fixture f;
  GstMessage *message;
  const GstStructure *s;
  GstBuffer *out;
  GstSlowfastMeta *meta;
  GPtrArray *texts;
  gchar *expected, *text;
  guint64 start, end;
  guint indices[64];

  fail_unless (slowfast_read_npy_u8 (npy, &frames));
  fail_unless_equals_int (frames.t, 64);
  fixture_start (&f, slowfast_make_element ("a", 64, 16, 0.0, 12),
      "video/x-raw,format=RGB,width=128,height=128,framerate=30/1");

  push_frames (&f, &frames, 0, 64, 30, 0);
  message = slowfast_wait_message (f.bus, "slowfast-answer", ANSWER_TIMEOUT);
  fail_unless (message != NULL, "no answer");
  s = gst_message_get_structure (message);
  fail_unless (gst_structure_get_uint64 (s, "window-start", &start));
  fail_unless (gst_structure_get_uint64 (s, "window-end", &end));
  fail_unless_equals_uint64 (start, 0);
  fail_unless_equals_uint64 (end, frame_time (64, 30));
  fail_unless (gst_structure_has_field (s, "latency"));
  fail_unless (gst_structure_has_field (s, "tokens"));

  for (guint i = 0; i < 64; i++)
    indices[i] = i;
  expected = reference_answer ("a", &frames, indices, 64, DEFAULT_PROMPT, 12);
  fail_unless_equals_string (slowfast_message_text (message), expected);

  /* The answer rides on the next video buffer as meta. */
  out = push_frame (&f, slowfast_rgb_buffer (&frames, 0), frame_time (64, 30),
      frame_time (65, 30) - frame_time (64, 30));
  meta = gst_buffer_get_slowfast_meta (out);
  fail_unless (meta != NULL, "no GstSlowfastMeta on the buffer after the answer");
  fail_unless_equals_string (meta->text, expected);
  fail_unless_equals_uint64 (meta->window_start, 0);
  fail_unless_equals_uint64 (meta->window_end, frame_time (64, 30));
  fail_unless_equals_string (meta->model_id, "model");
  gst_buffer_unref (out);

  texts = finish_and_pull_text (&f);
  /* The EOS window (frames 1..64) ends one frame after this one: its answer is posted, but on
   * text_src it would overlap this caption (docs/element.md, "Timing of the text"). */
  fail_unless_equals_int (texts->len, 1);
  {
    GList *eos_answers = slowfast_pop_messages (f.bus, "slowfast-answer");
    fail_unless_equals_int (g_list_length (eos_answers), 1);
    g_list_free_full (eos_answers, (GDestroyNotify) gst_message_unref);
  }
  text = buffer_text ((GstBuffer *) g_ptr_array_index (texts, 0));
  fail_unless_equals_string (text, expected);
  g_free (text);
  /* PTS = end of the window's last frame; duration = one hop (16 frames at 30 fps). */
  fail_unless_equals_uint64 (GST_BUFFER_PTS (g_ptr_array_index (texts, 0)), frame_time (64, 30));
  fail_unless_equals_uint64 (GST_BUFFER_DURATION (g_ptr_array_index (texts, 0)),
      gst_util_uint64_scale (16, GST_SECOND, 30));

  gst_message_unref (message);
  g_ptr_array_unref (texts);
  g_free (expected);
  slowfast_frames_free (&frames);
  g_free (npy);
  fixture_stop (&f);
}

GST_END_TEST;

/* 42 frames, a 64-frame window: EOS answers the partial window padded with its last frame, as
 * slowfast-cli answers the same 64 frames. */
GST_START_TEST (test_partial_window_at_eos)
{
  gchar *npy = slowfast_golden_path ("b", "frames.npy");
  SlowfastFrames frames;
  Fixture f;
  GPtrArray *texts;
  gchar *expected, *text;
  guint indices[64];

  fail_unless (slowfast_read_npy_u8 (npy, &frames));
  fail_unless_equals_int (frames.t, 42);
  fixture_start (&f, slowfast_make_element ("b", 64, 16, 0.0, 10),
      "video/x-raw,format=RGB,width=160,height=120,framerate=25/1");
  push_frames (&f, &frames, 0, 42, 25, 0);
  texts = finish_and_pull_text (&f);
  fail_unless_equals_int (texts->len, 1);

  for (guint i = 0; i < 64; i++)
    indices[i] = MIN (i, 41);
  expected = reference_answer ("b", &frames, indices, 64, DEFAULT_PROMPT, 10);
  text = buffer_text ((GstBuffer *) g_ptr_array_index (texts, 0));
  fail_unless_equals_string (text, expected);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (g_ptr_array_index (texts, 0)), frame_time (42, 25));
  fail_if (GST_BUFFER_DURATION_IS_VALID (g_ptr_array_index (texts, 0)));

  g_free (text);
  g_free (expected);
  g_ptr_array_unref (texts);
  slowfast_frames_free (&frames);
  g_free (npy);
  fixture_stop (&f);
}

GST_END_TEST;

/* sample-fps 4, window 8, hop 4 over 10 s at `fps`: a window every second from 1.75 s on; the
 * text of each starts at the end of its last frame and lasts until the next is due. */
static void
check_constant_rate_timing (guint fps)
{
  SlowfastFrames frames = slowfast_synthetic_frames (32, 64, 64, fps);
  Fixture f;
  GPtrArray *texts;
  gchar *caps = g_strdup_printf ("video/x-raw,format=RGB,width=64,height=64,framerate=%u/1",
      fps);

  fixture_start (&f, slowfast_make_element ("a", 8, 4, 4.0, 2), caps);
  push_frames (&f, &frames, 0, 10 * fps, fps, 0);
  texts = finish_and_pull_text (&f);
  /* 40 sampled frames: windows end at sampled frames 7, 11, ..., 39 (the last one is answered,
   * so EOS adds none). */
  fail_unless_equals_int (texts->len, 9);
  for (guint w = 0; w < texts->len; w++) {
    GstBuffer *text = (GstBuffer *) g_ptr_array_index (texts, w);
    guint sampled = 7 + 4 * w;
    /* slot k (k/4 s) takes the first frame at or after it: frame ceil(k * fps / 4) */
    guint frame = (sampled * fps + 3) / 4;
    fail_unless_equals_uint64 (GST_BUFFER_PTS (text), frame_time (frame + 1, fps));
    fail_unless_equals_uint64 (GST_BUFFER_DURATION (text), GST_SECOND);
    if (w > 0) {
      GstBuffer *previous = (GstBuffer *) g_ptr_array_index (texts, w - 1);
      fail_unless_equals_uint64 (GST_BUFFER_PTS (previous) + GST_BUFFER_DURATION (previous),
          GST_BUFFER_PTS (text));
    }
  }
  g_ptr_array_unref (texts);
  slowfast_frames_free (&frames);
  g_free (caps);
  fixture_stop (&f);
}

GST_START_TEST (test_text_timing_30fps)
{
  check_constant_rate_timing (30);
}

GST_END_TEST;

GST_START_TEST (test_text_timing_25fps)
{
  check_constant_rate_timing (25);
}

GST_END_TEST;

/* Irregular timestamps: the windows' frames are picked by time (first frame at or after each
 * quarter second) and each text starts at the end of its window's last frame. */
GST_START_TEST (test_text_timing_variable_rate)
{
  SlowfastFrames frames = slowfast_synthetic_frames (16, 64, 64, 7);
  GRand *rand = g_rand_new_with_seed (42);
  const guint n = 160;
  GstClockTime times[161];
  GArray *expected_ends = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  GstClockTime next_slot = 0;
  guint sampled = 0, slot = 0;
  Fixture f;
  GPtrArray *texts;

  times[0] = 0;
  for (guint i = 1; i <= n; i++)
    times[i] = times[i - 1] + g_rand_int_range (rand, 15, 90) * GST_MSECOND;
  /* The expected windows, computed independently of the element. */
  for (guint i = 0; i < n; i++) {
    if (times[i] < next_slot)
      continue;
    while (slot * (GST_SECOND / 4) <= times[i])
      slot++;
    next_slot = slot * (GST_SECOND / 4);
    sampled++;
    if (sampled >= 8 && (sampled - 8) % 4 == 0)
      g_array_append_val (expected_ends, times[i + 1]);
  }
  fail_unless (expected_ends->len >= 3);

  fixture_start (&f, slowfast_make_element ("a", 8, 4, 4.0, 2),
      "video/x-raw,format=RGB,width=64,height=64,framerate=0/1");
  for (guint i = 0; i < n; i++)
    gst_buffer_unref (push_frame (&f, slowfast_rgb_buffer (&frames, i % 16), times[i],
            times[i + 1] - times[i]));
  texts = finish_and_pull_text (&f);
  /* The sliding windows (the EOS window's answer would overlap the last: bus only). A caption
   * whose window ends before the previous caption stops (irregular frames) starts at that
   * stop: captions never overlap. */
  fail_unless_equals_int (texts->len, expected_ends->len);
  for (guint w = 0; w < expected_ends->len; w++) {
    GstBuffer *text = (GstBuffer *) g_ptr_array_index (texts, w);
    GstClockTime start = g_array_index (expected_ends, GstClockTime, w);
    if (w > 0) {
      GstBuffer *previous = (GstBuffer *) g_ptr_array_index (texts, w - 1);
      start = MAX (start, GST_BUFFER_PTS (previous) + GST_BUFFER_DURATION (previous));
    }
    fail_unless_equals_uint64 (GST_BUFFER_PTS (text), start);
    fail_unless_equals_uint64 (GST_BUFFER_DURATION (text), GST_SECOND);
  }
  g_ptr_array_unref (texts);
  g_array_unref (expected_ends);
  g_rand_free (rand);
  slowfast_frames_free (&frames);
  fixture_stop (&f);
}

GST_END_TEST;

/* A prompt set while playing applies from the next window. */
GST_START_TEST (test_prompt_change_applies_to_next_window)
{
  const gchar *second_prompt = "What happens at the end?";
  SlowfastFrames frames = slowfast_synthetic_frames (16, 64, 64, 3);
  Fixture f;
  GList *answers;
  GPtrArray *texts;
  gchar *expected_first, *expected_second;
  guint first[8], second[8];

  fixture_start (&f, slowfast_make_element ("a", 8, 8, 0.0, 6),
      "video/x-raw,format=RGB,width=64,height=64,framerate=30/1");
  push_frames (&f, &frames, 0, 8, 30, 0);      /* window 1 is due: it keeps the old prompt */
  g_object_set (f.element, "prompt", second_prompt, NULL);
  push_frames (&f, &frames, 8, 8, 30, 0);
  texts = finish_and_pull_text (&f);
  fail_unless_equals_int (texts->len, 2);
  answers = slowfast_pop_messages (f.bus, "slowfast-answer");
  fail_unless_equals_int (g_list_length (answers), 2);
  fail_unless_equals_string (gst_structure_get_string (gst_message_get_structure (
              (GstMessage *) answers->data), "prompt"), DEFAULT_PROMPT);
  fail_unless_equals_string (gst_structure_get_string (gst_message_get_structure (
              (GstMessage *) answers->next->data), "prompt"), second_prompt);

  for (guint i = 0; i < 8; i++) {
    first[i] = i;
    second[i] = 8 + i;
  }
  expected_first = reference_answer ("a", &frames, first, 8, DEFAULT_PROMPT, 6);
  expected_second = reference_answer ("a", &frames, second, 8, second_prompt, 6);
  fail_unless_equals_string (slowfast_message_text ((GstMessage *) answers->data),
      expected_first);
  fail_unless_equals_string (slowfast_message_text ((GstMessage *) answers->next->data),
      expected_second);

  g_list_free_full (answers, (GDestroyNotify) gst_message_unref);
  g_ptr_array_unref (texts);
  g_free (expected_first);
  g_free (expected_second);
  slowfast_frames_free (&frames);
  fixture_stop (&f);
}

GST_END_TEST;

/* The resolution and format change mid-window: video keeps flowing untouched and windows mixing
 * both sizes are answered. */
GST_START_TEST (test_caps_change)
{
  SlowfastFrames rgb = slowfast_synthetic_frames (6, 64, 64, 1);
  Fixture f;
  GPtrArray *texts;
  GstVideoInfo info;
  GstMessage *error;

  fixture_start (&f, slowfast_make_element ("a", 8, 4, 0.0, 2),
      "video/x-raw,format=RGB,width=64,height=64,framerate=30/1");
  push_frames (&f, &rgb, 0, 6, 30, 0);
  gst_harness_set_src_caps_str (f.h,
      "video/x-raw,format=I420,width=96,height=48,framerate=30/1");
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_I420, 96, 48);
  for (guint i = 6; i < 12; i++) {
    GstBuffer *in = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&info), NULL);
    GstMapInfo a, b;
    GstBuffer *out;
    gst_buffer_memset (in, 0, (guint8) (i * 20), GST_VIDEO_INFO_SIZE (&info));
    gst_buffer_ref (in);
    out = push_frame (&f, in, frame_time (i, 30), frame_time (i + 1, 30) - frame_time (i, 30));
    gst_buffer_map (in, &a, GST_MAP_READ);
    gst_buffer_map (out, &b, GST_MAP_READ);
    fail_unless_equals_int (a.size, b.size);
    fail_unless_equals_int (memcmp (a.data, b.data, a.size), 0);
    gst_buffer_unmap (in, &a);
    gst_buffer_unmap (out, &b);
    gst_buffer_unref (out);
    gst_buffer_unref (in);
  }
  texts = finish_and_pull_text (&f);
  /* windows at sampled frames 7 and 11 */
  fail_unless_equals_int (texts->len, 2);
  error = gst_bus_pop_filtered (f.bus, (GstMessageType) (GST_MESSAGE_ERROR |
          GST_MESSAGE_WARNING));
  fail_unless (error == NULL, "unexpected error or warning");
  g_ptr_array_unref (texts);
  slowfast_frames_free (&rgb);
  fixture_stop (&f);
}

GST_END_TEST;

typedef struct
{
  gint flushed;                 /* set once FLUSH_START has returned */
  gint late_tokens;             /* tokens of the flushed window posted after that */
  gint late_answers;
  GstClockTime window_end;
} FlushWatch;

/* Runs in the posting thread, so it sees exactly which messages come after the flush. */
static GstBusSyncReply
watch_after_flush (GstBus * bus, GstMessage * message, gpointer data)
{
  FlushWatch *watch = (FlushWatch *) data;
  guint64 end;
  (void) bus;

  if (g_atomic_int_get (&watch->flushed) && GST_MESSAGE_TYPE (message) == GST_MESSAGE_ELEMENT
      && gst_structure_get_uint64 (gst_message_get_structure (message), "window-end", &end)
      && end == watch->window_end) {
    if (gst_message_has_name (message, "slowfast-token"))
      g_atomic_int_inc (&watch->late_tokens);
    if (gst_message_has_name (message, "slowfast-answer"))
      g_atomic_int_inc (&watch->late_answers);
  }
  return GST_BUS_PASS;
}

/* FLUSH aborts a running generation within a decode step and clears the window: the flushed
 * window's text never comes out and the frames after the flush form new windows. */
GST_START_TEST (test_flush_aborts_generation)
{
  SlowfastFrames frames = slowfast_synthetic_frames (8, 64, 64, 5);
  Fixture f;
  GstMessage *message;
  GstSegment segment;
  GPtrArray *texts;
  GList *answers;
  FlushWatch watch = { 0, 0, 0, frame_time (8, 30) };
  guint64 answered;

  fixture_start (&f, slowfast_make_element ("a", 8, 8, 0.0, 2000),
      "video/x-raw,format=RGB,width=64,height=64,framerate=30/1");
  gst_bus_set_sync_handler (f.bus, watch_after_flush, &watch, NULL);
  g_object_set (f.element, "stream-tokens", TRUE, "repetition-penalty", 1.3f, NULL);
  push_frames (&f, &frames, 0, 8, 30, 0);
  message = slowfast_wait_message (f.bus, "slowfast-token", ANSWER_TIMEOUT);
  fail_unless (message != NULL, "generation did not start");
  gst_message_unref (message);

  fail_unless (gst_harness_push_event (f.h, gst_event_new_flush_start ()));
  g_atomic_int_set (&watch.flushed, 1);
  g_usleep (G_USEC_PER_SEC / 2);
  /* At most the decode step that was running when the flush came. */
  fail_unless (g_atomic_int_get (&watch.late_tokens) <= 1, "%d tokens after the flush",
      g_atomic_int_get (&watch.late_tokens));
  fail_unless_equals_int (g_atomic_int_get (&watch.late_answers), 0);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_flush_stop (TRUE)));
  g_object_set (f.element, "max-new-tokens", 2, "stream-tokens", FALSE, NULL);
  gst_segment_init (&segment, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_segment (&segment)));

  /* 7 frames after the flush: no window is due until EOS, which answers them. */
  push_frames (&f, &frames, 0, 7, 30, 0);
  texts = finish_and_pull_text (&f);
  fail_unless_equals_int (texts->len, 1);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (g_ptr_array_index (texts, 0)), frame_time (7, 30));
  answers = slowfast_pop_messages (f.bus, "slowfast-answer");
  fail_unless_equals_int (g_list_length (answers), 1);
  g_object_get (f.element, "windows-answered", &answered, NULL);
  fail_unless_equals_uint64 (answered, 1);
  g_list_free_full (answers, (GDestroyNotify) gst_message_unref);
  g_ptr_array_unref (texts);
  slowfast_frames_free (&frames);
  gst_bus_set_sync_handler (f.bus, NULL, NULL, NULL);
  fixture_stop (&f);
}

GST_END_TEST;

/* whole-stream: one answer at EOS about linspace(0, n-1, 64) of the n sampled frames, as the
 * reference samples a file; equal to slowfast-cli on those frames. */
GST_START_TEST (test_whole_stream_linspace)
{
  SlowfastFrames frames = slowfast_synthetic_frames (100, 64, 64, 11);
  Fixture f;
  GstElement *element = slowfast_make_element ("a", 64, 16, 0.0, 8);
  GPtrArray *texts;
  gchar *expected, *text;
  guint picks[64];

  gst_util_set_object_arg (G_OBJECT (element), "mode", "whole-stream");
  fixture_start (&f, element, "video/x-raw,format=RGB,width=64,height=64,framerate=30/1");
  push_frames (&f, &frames, 0, 100, 30, 0);
  texts = finish_and_pull_text (&f);
  fail_unless_equals_int (texts->len, 1);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (g_ptr_array_index (texts, 0)), frame_time (100,
          30));
  /* numpy.linspace(0, 99, 64).astype(int) */
  for (guint i = 0; i < 64; i++)
    picks[i] = i == 63 ? 99 : (guint) (i * (99.0 / 63.0));
  expected = reference_answer ("a", &frames, picks, 64, DEFAULT_PROMPT, 8);
  text = buffer_text ((GstBuffer *) g_ptr_array_index (texts, 0));
  fail_unless_equals_string (text, expected);
  g_free (text);
  g_free (expected);
  g_ptr_array_unref (texts);
  slowfast_frames_free (&frames);
  fixture_stop (&f);
}

GST_END_TEST;

/* whole-stream with a stream longer than the reservoir: 100 frames, reservoir 16, window 8. The
 * reservoir holds the multiples of 8 (ceil(100/8) = 13 <= 16 < ceil(100/4)); linspace(0, 99, 8)
 * = 0 14 28 42 56 70 84 99 becomes the nearest held frames 0 16 24 40 56 72 80 99 (ties to the
 * earlier frame). */
GST_START_TEST (test_whole_stream_reservoir)
{
  SlowfastFrames frames = slowfast_synthetic_frames (100, 64, 64, 13);
  Fixture f;
  GstElement *element = slowfast_make_element ("a", 8, 4, 0.0, 8);
  GPtrArray *texts;
  gchar *expected, *text;
  const guint picks[8] = { 0, 16, 24, 40, 56, 72, 80, 99 };

  gst_util_set_object_arg (G_OBJECT (element), "mode", "whole-stream");
  g_object_set (element, "reservoir-frames", 16, NULL);
  fixture_start (&f, element, "video/x-raw,format=RGB,width=64,height=64,framerate=30/1");
  push_frames (&f, &frames, 0, 100, 30, 0);
  texts = finish_and_pull_text (&f);
  fail_unless_equals_int (texts->len, 1);
  expected = reference_answer ("a", &frames, picks, 8, DEFAULT_PROMPT, 8);
  text = buffer_text ((GstBuffer *) g_ptr_array_index (texts, 0));
  fail_unless_equals_string (text, expected);
  g_free (text);
  g_free (expected);
  g_ptr_array_unref (texts);
  slowfast_frames_free (&frames);
  fixture_stop (&f);
}

GST_END_TEST;

static GstElement *
parse_pipeline (const gchar * description)
{
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (description, &error);
  fail_unless (pipeline != NULL && error == NULL, "cannot build %s: %s", description,
      error ? error->message : "?");
  return pipeline;
}

/* Running times of every sample an appsink holds, oldest first (after EOS: the appsinks do not
 * wait on EOS for their samples to be pulled). */
static GArray *
pull_running_times (GstElement * sink)
{
  GArray *times = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  GstSample *sample;

  while ((sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 0))) {
    GstClockTime time = gst_segment_to_running_time (gst_sample_get_segment (sample),
        GST_FORMAT_TIME, GST_BUFFER_PTS (gst_sample_get_buffer (sample)));
    g_array_append_val (times, time);
    gst_sample_unref (sample);
  }
  return times;
}

/* Plays `pipeline` to EOS and returns how many slowfast-answer messages it posted; fails on an
 * error, or when EOS does not come (a stall) within ANSWER_TIMEOUT of the last message. */
static guint
play_to_eos (GstElement * pipeline)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *message;
  guint answers = 0;
  gboolean eos = FALSE;

  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  while (!eos && (message = gst_bus_timed_pop (bus, ANSWER_TIMEOUT))) {
    if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR) {
      GError *error = NULL;
      gst_message_parse_error (message, &error, NULL);
      fail ("pipeline error: %s", error->message);
    }
    eos = GST_MESSAGE_TYPE (message) == GST_MESSAGE_EOS;
    answers += gst_message_has_name (message, "slowfast-answer");
    gst_message_unref (message);
  }
  gst_object_unref (bus);
  fail_unless (eos, "no EOS within %" GST_TIME_FORMAT " (stalled after %u answers)",
      GST_TIME_ARGS (ANSWER_TIMEOUT), answers);
  return answers;
}

/* Three streams joined by concat (new stream-start and segment, no flush, no EOS between them)
 * into textoverlay, the text also teed to an appsink. Each stream's answers must go out before
 * the next stream-start: textoverlay resets its text segment there, and answers timed against
 * the reset segment were dropped as too old while the video waited for text forever. */
GST_START_TEST (test_concat_streams_into_textoverlay)
{
  const guint streams = 3, frames = 90, fps = 30;
  gchar *model = slowfast_golden_path ("a", "model");
  GString *description = g_string_new (NULL);
  const gchar *patterns[] = { "ball", "smpte", "snow" };

  g_string_append_printf (description, "concat name=c ! slowfastmllm name=m "
      "model-location=\"%s\" dtype=float32 device=cpu leaky=no window-frames=8 hop-frames=4 "
      "sample-fps=4 max-new-tokens=8 ! queue ! textoverlay name=o ! appsink name=video "
      "sync=false wait-on-eos=false m.text_src ! tee name=t ! queue ! o.text_sink t. ! queue ! "
      "appsink name=text sync=false wait-on-eos=false ", model);
  for (guint i = 0; i < streams; i++)
    g_string_append_printf (description, "videotestsrc num-buffers=%u pattern=%s ! "
        "video/x-raw,format=RGB,width=64,height=64,framerate=%u/1 ! c. ", frames, patterns[i],
        fps);
  GstElement *pipeline = parse_pipeline (description->str);
  GstElement *video = gst_bin_get_by_name (GST_BIN (pipeline), "video");
  GstElement *text = gst_bin_get_by_name (GST_BIN (pipeline), "text");
  const guint answers = play_to_eos (pipeline);

  /* Every frame of every stream went through textoverlay, in running-time order. */
  GArray *video_times = pull_running_times (video);
  fail_unless_equals_int (video_times->len, streams * frames);
  for (guint i = 1; i < video_times->len; i++)
    fail_unless (g_array_index (video_times, GstClockTime, i) >
        g_array_index (video_times, GstClockTime, i - 1), "video running time %u", i);

  /* 90 frames at 4 samples/s: 12 sampled, windows end at samples 8 and 12 (the last one, so
   * no partial window at the stream's end): two answers per stream, each timed inside its own
   * stream's stretch of running time (concat gives stream k [3k s, 3k + 3 s)). */
  const GstClockTime stretch = gst_util_uint64_scale (frames, GST_SECOND, fps);
  GArray *text_times = pull_running_times (text);
  guint per_stream[3] = { 0, 0, 0 };
  fail_unless_equals_int (answers, streams * 2);
  fail_unless_equals_int (text_times->len, answers);
  for (guint i = 0; i < text_times->len; i++) {
    GstClockTime time = g_array_index (text_times, GstClockTime, i);
    fail_unless (GST_CLOCK_TIME_IS_VALID (time) && time < streams * stretch + stretch,
        "answer %u at %" GST_TIME_FORMAT, i, GST_TIME_ARGS (time));
    /* The window's end is its last frame's end: the stream's end belongs to the stream. */
    per_stream[MIN ((time - 1) / stretch, streams - 1)]++;
    if (i > 0)
      fail_unless (time > g_array_index (text_times, GstClockTime, i - 1));
  }
  for (guint k = 0; k < streams; k++)
    fail_unless_equals_int (per_stream[k], 2);

  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_array_free (video_times, TRUE);
  g_array_free (text_times, TRUE);
  gst_object_unref (video);
  gst_object_unref (text);
  gst_object_unref (pipeline);
  g_string_free (description, TRUE);
  g_free (model);
}

GST_END_TEST;

/* whole-stream mode over concat: each stream gets its own whole-stream answer when the next one
 * starts (and the last at EOS), timed at the end of its own stream. */
GST_START_TEST (test_concat_whole_stream_answer_per_stream)
{
  const guint frames = 60, fps = 30;
  gchar *model = slowfast_golden_path ("a", "model");
  gchar *description = g_strdup_printf ("concat name=c ! slowfastmllm name=m "
      "model-location=\"%s\" dtype=float32 device=cpu mode=whole-stream window-frames=8 "
      "max-new-tokens=8 ! queue ! fakesink sync=false m.text_src ! queue ! appsink name=text "
      "sync=false wait-on-eos=false "
      "videotestsrc num-buffers=%u pattern=ball ! video/x-raw,format=RGB,width=64,height=64,"
      "framerate=%u/1 ! c. videotestsrc num-buffers=%u pattern=smpte ! "
      "video/x-raw,format=RGB,width=64,height=64,framerate=%u/1 ! c.", model, frames, fps,
      frames, fps);
  GstElement *pipeline = parse_pipeline (description);
  GstElement *text = gst_bin_get_by_name (GST_BIN (pipeline), "text");
  const guint answers = play_to_eos (pipeline);
  fail_unless_equals_int (answers, 2);

  /* Each answer is stamped at its stream's last frame: stream k ends at running time 2k + 2 s. */
  const GstClockTime stretch = gst_util_uint64_scale (frames, GST_SECOND, fps);
  GArray *times = pull_running_times (text);
  fail_unless_equals_int (times->len, 2);
  for (guint k = 0; k < times->len; k++) {
    GstClockTime time = g_array_index (times, GstClockTime, k);
    fail_unless (time > k * stretch && time <= (k + 1) * stretch,
        "answer %u at %" GST_TIME_FORMAT, k, GST_TIME_ARGS (time));
  }

  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_array_free (times, TRUE);
  gst_object_unref (text);
  gst_object_unref (pipeline);
  g_free (description);
  g_free (model);
}

GST_END_TEST;

/* 100 random state changes while windows are being answered: no deadlock, no failure, and the
 * element is released cleanly. */
GST_START_TEST (test_random_state_changes)
{
  gchar *model = slowfast_golden_path ("a", "model");
  gchar *description = g_strdup_printf ("videotestsrc pattern=ball ! "
      "video/x-raw,format=RGB,width=64,height=64,framerate=30/1 ! "
      "slowfastmllm name=m model-location=\"%s\" dtype=float32 device=cpu window-frames=4 "
      "hop-frames=1 sample-fps=0 max-new-tokens=40 stream-tokens=true ! queue ! fakesink "
      "m.text_src ! queue ! fakesink", model);
  GstElement *pipeline = parse_pipeline (description);
  GstElement *element = gst_bin_get_by_name (GST_BIN (pipeline), "m");
  const GstState states[] = { GST_STATE_NULL, GST_STATE_READY, GST_STATE_PAUSED,
    GST_STATE_PLAYING
  };
  GRand *rand = g_rand_new_with_seed (2024);
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *error;

  for (guint i = 0; i < 100; i++) {
    GstState target = states[g_rand_int_range (rand, 0, 4)];
    GstStateChangeReturn ret = gst_element_set_state (pipeline, target);
    fail_if (ret == GST_STATE_CHANGE_FAILURE, "change %u to %s failed", i,
        gst_element_state_get_name (target));
    ret = gst_element_get_state (pipeline, NULL, NULL, 30 * GST_SECOND);
    fail_if (ret == GST_STATE_CHANGE_FAILURE || ret == GST_STATE_CHANGE_ASYNC,
        "change %u to %s did not complete (%s)", i, gst_element_state_get_name (target),
        gst_element_state_change_return_get_name (ret));
    g_usleep (g_rand_int_range (rand, 0, 80) * 1000);
  }
  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  error = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (error == NULL, "error during state changes");
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
  ASSERT_OBJECT_REFCOUNT (element, "slowfastmllm", 2);
  gst_object_unref (element);
  gst_object_unref (pipeline);
  g_rand_free (rand);
  g_free (description);
  g_free (model);
}

GST_END_TEST;

static guint
count_progress (GList * messages, const gchar * code, GstProgressType want)
{
  guint n = 0;
  for (GList * l = messages; l; l = l->next) {
    GstProgressType type;
    gchar *message_code = NULL, *text = NULL;
    gst_message_parse_progress ((GstMessage *) l->data, &type, &message_code, &text);
    n += type == want && g_strcmp0 (message_code, code) == 0;
    g_free (message_code);
    g_free (text);
  }
  return n;
}

/* Two elements on the same model, device and dtype load it once; both answer. */
GST_START_TEST (test_two_elements_share_model)
{
  gchar *model = slowfast_golden_path ("a", "model");
  gchar *description = g_strdup_printf (
      "videotestsrc num-buffers=12 ! video/x-raw,format=RGB,width=64,height=64 ! "
      "slowfastmllm name=m1 model-location=\"%s\" dtype=float32 device=cpu window-frames=4 "
      "hop-frames=4 sample-fps=0 max-new-tokens=2 leaky=no ! queue ! fakesink "
      "m1.text_src ! queue ! fakesink "
      "videotestsrc num-buffers=12 pattern=ball ! video/x-raw,format=RGB,width=64,height=64 ! "
      "slowfastmllm name=m2 model-location=\"%s\" dtype=float32 device=cpu window-frames=4 "
      "hop-frames=4 sample-fps=0 max-new-tokens=2 leaky=no ! queue ! fakesink "
      "m2.text_src ! queue ! fakesink", model, model);
  GstElement *pipeline = parse_pipeline (description);
  GstBus *bus = gst_element_get_bus (pipeline);
  GList *progress = NULL;
  GstMessage *message;
  guint answers = 0;
  gboolean eos = FALSE;

  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  while (!eos && (message = gst_bus_timed_pop (bus, 120 * GST_SECOND))) {
    switch (GST_MESSAGE_TYPE (message)) {
      case GST_MESSAGE_PROGRESS:
        progress = g_list_append (progress, gst_message_ref (message));
        break;
      case GST_MESSAGE_ELEMENT:
        answers += gst_message_has_name (message, "slowfast-answer");
        break;
      case GST_MESSAGE_ERROR:
        fail ("pipeline error");
        break;
      case GST_MESSAGE_EOS:
        eos = TRUE;
        break;
      default:
        break;
    }
    gst_message_unref (message);
  }
  fail_unless (eos, "no EOS");
  fail_unless_equals_int (count_progress (progress, "model-load", GST_PROGRESS_TYPE_START), 1);
  fail_unless_equals_int (count_progress (progress, "model-load", GST_PROGRESS_TYPE_COMPLETE), 1);
  /* Loading reports how far it is, up to every tensor placed. */
  fail_unless (count_progress (progress, "model-load", GST_PROGRESS_TYPE_CONTINUE) >= 2,
      "no load progress");
  fail_unless_equals_int (count_progress (progress, "model-share", GST_PROGRESS_TYPE_COMPLETE),
      1);
  /* 12 frames, windows of 4 every 4: 3 answers each */
  fail_unless_equals_int (answers, 6);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_list_free_full (progress, (GDestroyNotify) gst_message_unref);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  g_free (description);
  g_free (model);
}

GST_END_TEST;

/* weights-in-memory is part of what is shared: an element copying the weights into memory loads
 * the model on its own, and answers exactly as the one sharing the page cache (greedy, the same
 * frames). */
GST_START_TEST (test_weights_in_memory_loads_its_own_copy)
{
  gchar *model = slowfast_golden_path ("a", "model");
  gchar *description = g_strdup_printf (
      "videotestsrc num-buffers=8 pattern=ball ! video/x-raw,format=RGB,width=64,height=64 ! "
      "tee name=t ! queue ! slowfastmllm name=m1 model-location=\"%s\" dtype=bfloat16 "
      "device=cpu window-frames=4 hop-frames=4 sample-fps=0 max-new-tokens=4 temperature=0 "
      "leaky=no ! fakesink m1.text_src ! queue ! fakesink "
      "t. ! queue ! slowfastmllm name=m2 model-location=\"%s\" dtype=bfloat16 device=cpu "
      "weights-in-memory=true window-frames=4 hop-frames=4 sample-fps=0 max-new-tokens=4 "
      "temperature=0 leaky=no ! fakesink m2.text_src ! queue ! fakesink", model, model);
  GstElement *pipeline = parse_pipeline (description);
  GstElement *m2 = gst_bin_get_by_name (GST_BIN (pipeline), "m2");
  GstBus *bus = gst_element_get_bus (pipeline);
  GList *progress = NULL;
  GPtrArray *answers[2] = { g_ptr_array_new_with_free_func (g_free),
    g_ptr_array_new_with_free_func (g_free) };
  GstMessage *message;
  gboolean eos = FALSE, in_memory = FALSE;

  g_object_get (m2, "weights-in-memory", &in_memory, NULL);
  fail_unless (in_memory, "weights-in-memory=true did not stick");
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  while (!eos && (message = gst_bus_timed_pop (bus, 120 * GST_SECOND))) {
    if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_PROGRESS)
      progress = g_list_append (progress, gst_message_ref (message));
    else if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR)
      fail ("pipeline error");
    else if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_EOS)
      eos = TRUE;
    else if (gst_message_has_name (message, "slowfast-answer")) {
      const gchar *text = gst_structure_get_string (gst_message_get_structure (message), "text");
      gboolean second = GST_MESSAGE_SRC (message) == GST_OBJECT (m2);
      fail_unless (text != NULL, "answer without text");
      g_ptr_array_add (answers[second ? 1 : 0], g_strdup (text));
    }
    gst_message_unref (message);
  }
  fail_unless (eos, "no EOS");
  fail_unless_equals_int (count_progress (progress, "model-load", GST_PROGRESS_TYPE_COMPLETE), 2);
  fail_unless_equals_int (count_progress (progress, "model-share", GST_PROGRESS_TYPE_COMPLETE),
      0);
  /* 8 frames, windows of 4 every 4: 2 answers each, the same words */
  fail_unless_equals_int (answers[0]->len, 2);
  fail_unless_equals_int (answers[1]->len, 2);
  for (guint i = 0; i < 2; i++)
    fail_unless_equals_string (g_ptr_array_index (answers[1], i),
        g_ptr_array_index (answers[0], i));
  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_list_free_full (progress, (GDestroyNotify) gst_message_unref);
  g_ptr_array_unref (answers[0]);
  g_ptr_array_unref (answers[1]);
  gst_object_unref (m2);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  g_free (description);
  g_free (model);
}

GST_END_TEST;

/* A live 30 fps source with a window every frame: the model cannot keep up, so stale windows are
 * dropped, counted in windows-dropped and posted as slowfast-dropped; answers still come. */
GST_START_TEST (test_live_drops_stale_windows)
{
  gchar *model = slowfast_golden_path ("a", "model");
  gchar *description = g_strdup_printf ("videotestsrc is-live=true num-buffers=90 ! "
      "video/x-raw,format=RGB,width=64,height=64,framerate=30/1 ! "
      "slowfastmllm name=m model-location=\"%s\" dtype=float32 device=cpu window-frames=8 "
      "hop-frames=1 sample-fps=0 max-new-tokens=64 ! queue ! fakesink sync=true "
      "m.text_src ! queue ! fakesink sync=false async=false", model);
  GstElement *pipeline = parse_pipeline (description);
  GstElement *element = gst_bin_get_by_name (GST_BIN (pipeline), "m");
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *message;
  guint64 dropped = 0, answered = 0, dropped_messages = 0;
  gboolean eos = FALSE;

  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  while (!eos && (message = gst_bus_timed_pop (bus, 120 * GST_SECOND))) {
    if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR)
      fail ("pipeline error");
    if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_EOS)
      eos = TRUE;
    if (gst_message_has_name (message, "slowfast-dropped"))
      dropped_messages++;
    gst_message_unref (message);
  }
  fail_unless (eos);
  g_object_get (element, "windows-dropped", &dropped, "windows-answered", &answered, NULL);
  fail_unless (dropped > 0, "nothing dropped although the model is slower than real time");
  fail_unless_equals_uint64 (dropped_messages, dropped);
  fail_unless (answered >= 1);
  /* 90 frames: windows at frames 8..90 (83) and none at EOS */
  fail_unless (answered + dropped <= 83, "%" G_GUINT64_FORMAT " + %" G_GUINT64_FORMAT,
      answered, dropped);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (element);
  gst_object_unref (pipeline);
  g_free (description);
  g_free (model);
}

GST_END_TEST;

/* Four chains on one model: videotestsrc patterns differing per chain. */
#define CHAINS 4
static const gchar *chain_patterns[CHAINS] = { "smpte", "ball", "snow", "pinwheel" };

static gchar *
chain_description (const gchar * model, guint chain, gboolean live)
{
  if (live)
    return g_strdup_printf ("videotestsrc is-live=true num-buffers=90 pattern=%s ! "
        "video/x-raw,format=RGB,width=64,height=64,framerate=30/1 ! slowfastmllm name=m%u "
        "model-location=\"%s\" dtype=float32 device=cpu window-frames=8 hop-frames=1 "
        "sample-fps=0 max-new-tokens=64 ! queue ! fakesink sync=true "
        "m%u.text_src ! queue ! fakesink sync=false async=false ", chain_patterns[chain], chain,
        model, chain);
  return g_strdup_printf ("videotestsrc num-buffers=12 pattern=%s ! "
      "video/x-raw,format=RGB,width=64,height=64,framerate=4/1 ! slowfastmllm name=m%u "
      "model-location=\"%s\" dtype=float32 device=cpu window-frames=4 hop-frames=2 "
      "sample-fps=0 max-new-tokens=12 temperature=0 leaky=no ! fakesink "
      "m%u.text_src ! queue ! fakesink ", chain_patterns[chain], chain, model, chain);
}

/* Plays `pipeline` to EOS; answers[i] gets chain i's answers as "start-end: text", in order, and
 * dropped[i] its slowfast-dropped messages. */
static void
collect_chain_answers (GstElement * pipeline, GPtrArray ** answers, guint64 * dropped)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *message;
  gboolean eos = FALSE;

  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  while (!eos && (message = gst_bus_timed_pop (bus, 120 * GST_SECOND))) {
    const gchar *name = GST_MESSAGE_SRC_NAME (message);
    guint chain = name && name[0] == 'm' ? (guint) g_ascii_strtoull (name + 1, NULL, 10) : 0;

    if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR)
      fail ("pipeline error from %s", name);
    else if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_EOS)
      eos = TRUE;
    else if (gst_message_has_name (message, "slowfast-answer")) {
      const GstStructure *s = gst_message_get_structure (message);
      guint64 start = 0, end = 0;

      fail_unless (chain < CHAINS);
      fail_unless (gst_structure_get_uint64 (s, "window-start", &start));
      fail_unless (gst_structure_get_uint64 (s, "window-end", &end));
      g_ptr_array_add (answers[chain], g_strdup_printf ("%" GST_TIME_FORMAT "-%"
              GST_TIME_FORMAT ": %s", GST_TIME_ARGS (start), GST_TIME_ARGS (end),
              gst_structure_get_string (s, "text")));
    } else if (gst_message_has_name (message, "slowfast-dropped") && dropped) {
      fail_unless (chain < CHAINS);
      dropped[chain]++;
    }
    gst_message_unref (message);
  }
  fail_unless (eos, "no EOS");
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
}

/* Four elements on one model in one non-live pipeline share vision calls and decode together
 * through the model's scheduler; greedy float32 answers do not depend on what else is computed
 * with them (bf16 vision features can differ in their last bit with the frames that share a
 * vision call), so every chain answers exactly as it does alone: the same windows, the same
 * words. */
GST_START_TEST (test_four_chains_answer_as_alone)
{
  gchar *model = slowfast_golden_path ("a", "model");
  GString *together = g_string_new (NULL);
  GPtrArray *shared[CHAINS], *alone[CHAINS];
  GstElement *pipeline;
  guint i, j;

  for (i = 0; i < CHAINS; i++) {
    gchar *chain = chain_description (model, i, FALSE);
    g_string_append (together, chain);
    g_free (chain);
    shared[i] = g_ptr_array_new_with_free_func (g_free);
    alone[i] = g_ptr_array_new_with_free_func (g_free);
  }
  pipeline = parse_pipeline (together->str);
  collect_chain_answers (pipeline, shared, NULL);
  gst_object_unref (pipeline);

  for (i = 0; i < CHAINS; i++) {
    gchar *chain = chain_description (model, i, FALSE);
    GPtrArray *only[CHAINS];

    for (j = 0; j < CHAINS; j++)
      only[j] = j == i ? alone[i] : g_ptr_array_new_with_free_func (g_free);
    pipeline = parse_pipeline (chain);
    collect_chain_answers (pipeline, only, NULL);
    gst_object_unref (pipeline);
    for (j = 0; j < CHAINS; j++)
      if (j != i)
        g_ptr_array_unref (only[j]);
    g_free (chain);

    /* 12 frames, windows of 4 every 2: 5 answers */
    fail_unless_equals_int (alone[i]->len, 5);
    fail_unless_equals_int (shared[i]->len, alone[i]->len);
    for (j = 0; j < alone[i]->len; j++)
      fail_unless_equals_string (g_ptr_array_index (shared[i], j),
          g_ptr_array_index (alone[i], j));
  }
  /* The patterns differ, so the chains' answers do (the test compares something). */
  fail_if (g_str_equal (g_ptr_array_index (alone[0], 0), g_ptr_array_index (alone[1], 0)) &&
      g_str_equal (g_ptr_array_index (alone[0], 0), g_ptr_array_index (alone[2], 0)),
      "every chain gave the same first answer");
  for (i = 0; i < CHAINS; i++) {
    g_ptr_array_unref (shared[i]);
    g_ptr_array_unref (alone[i]);
  }
  g_string_free (together, TRUE);
  g_free (model);
}

GST_END_TEST;

/* Four live 30 fps chains on one model, a window every frame: the shared model cannot keep up,
 * and each element drops its own stale windows, counted in its windows-dropped and posted as its
 * slowfast-dropped; each still answers. */
GST_START_TEST (test_four_live_chains_drop_per_element)
{
  gchar *model = slowfast_golden_path ("a", "model");
  GString *together = g_string_new (NULL);
  GPtrArray *answers[CHAINS];
  guint64 dropped_messages[CHAINS] = { 0 };
  GstElement *pipeline;
  guint i;

  for (i = 0; i < CHAINS; i++) {
    gchar *chain = chain_description (model, i, TRUE);
    g_string_append (together, chain);
    g_free (chain);
    answers[i] = g_ptr_array_new_with_free_func (g_free);
  }
  pipeline = parse_pipeline (together->str);
  collect_chain_answers (pipeline, answers, dropped_messages);
  for (i = 0; i < CHAINS; i++) {
    gchar *name = g_strdup_printf ("m%u", i);
    GstElement *element = gst_bin_get_by_name (GST_BIN (pipeline), name);
    guint64 dropped = 0, answered = 0;

    g_object_get (element, "windows-dropped", &dropped, "windows-answered", &answered, NULL);
    fail_unless (dropped > 0, "%s dropped nothing", name);
    fail_unless_equals_uint64 (dropped_messages[i], dropped);
    fail_unless_equals_uint64 (answers[i]->len, answered);
    fail_unless (answered >= 1, "%s answered nothing", name);
    /* 90 frames: windows at frames 8..90 (83) and none at EOS */
    fail_unless (answered + dropped <= 83, "%s: %" G_GUINT64_FORMAT " + %" G_GUINT64_FORMAT,
        name, answered, dropped);
    gst_object_unref (element);
    g_free (name);
    g_ptr_array_unref (answers[i]);
  }
  gst_object_unref (pipeline);
  g_string_free (together, TRUE);
  g_free (model);
}

GST_END_TEST;

static void
copy_file (const gchar * from_dir, const gchar * to_dir, const gchar * name)
{
  gchar *from = g_build_filename (from_dir, name, NULL);
  gchar *to = g_build_filename (to_dir, name, NULL);
  gchar *contents;
  gsize length;
  fail_unless (g_file_get_contents (from, &contents, &length, NULL));
  fail_unless (g_file_set_contents (to, contents, length, NULL));
  g_free (contents);
  g_free (from);
  g_free (to);
}

/* A checkpoint whose weights file is cut short: READY->PAUSED fails with an error naming the
 * directory and the problem, and a progress error is posted. */
GST_START_TEST (test_corrupt_model_fails)
{
  gchar *good = slowfast_golden_path ("a", "model");
  gchar *dir = g_dir_make_tmp ("slowfast-corrupt-XXXXXX", NULL);
  gchar *weights = g_build_filename (dir, "model.safetensors", NULL);
  GstElement *element = gst_element_factory_make ("slowfastmllm", NULL);
  GstBus *bus = gst_bus_new ();
  GstMessage *message;
  GError *error = NULL;
  gchar *debug = NULL;

  copy_file (good, dir, "config.json");
  copy_file (good, dir, "generation_config.json");
  copy_file (good, dir, "tokenizer.json");
  copy_file (good, dir, "tokenizer_config.json");
  fail_unless (g_file_set_contents (weights, "\x40\x00\x00\x00\x00\x00\x00\x00{\"a\":", 13,
          NULL));
  gst_element_set_bus (element, bus);
  g_object_set (element, "model-location", dir, NULL);
  fail_unless_equals_int (gst_element_set_state (element, GST_STATE_PAUSED),
      GST_STATE_CHANGE_FAILURE);
  message = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (message != NULL, "no error message");
  gst_message_parse_error (message, &error, &debug);
  fail_unless (strstr (error->message, dir) != NULL, "error does not name the path: %s",
      error->message);
  fail_unless (strstr (error->message, "safetensors") != NULL,
      "error does not name the problem: %s", error->message);
  g_error_free (error);
  g_free (debug);
  gst_message_unref (message);
  gst_element_set_state (element, GST_STATE_NULL);
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
  gst_object_unref (element);
  g_unlink (weights);
  for (const gchar * const *name = (const gchar *[]) {
  "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", NULL};
      *name; name++) {
    gchar *path = g_build_filename (dir, *name, NULL);
    g_unlink (path);
    g_free (path);
  }
  g_rmdir (dir);
  g_free (weights);
  g_free (dir);
  g_free (good);
}

GST_END_TEST;

static Suite *
slowfastmllm_model_suite (void)
{
  Suite *s = suite_create ("slowfastmllm-model");
  TCase *tc = tcase_create ("model");

  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 600);
  tcase_add_test (tc, test_window_matches_cli);
  tcase_add_test (tc, test_partial_window_at_eos);
  tcase_add_test (tc, test_text_timing_30fps);
  tcase_add_test (tc, test_text_timing_25fps);
  tcase_add_test (tc, test_text_timing_variable_rate);
  tcase_add_test (tc, test_prompt_change_applies_to_next_window);
  tcase_add_test (tc, test_caps_change);
  tcase_add_test (tc, test_flush_aborts_generation);
  tcase_add_test (tc, test_whole_stream_linspace);
  tcase_add_test (tc, test_whole_stream_reservoir);
  tcase_add_test (tc, test_random_state_changes);
  tcase_add_test (tc, test_concat_streams_into_textoverlay);
  tcase_add_test (tc, test_concat_whole_stream_answer_per_stream);
  tcase_add_test (tc, test_two_elements_share_model);
  tcase_add_test (tc, test_weights_in_memory_loads_its_own_copy);
  tcase_add_test (tc, test_four_chains_answer_as_alone);
  tcase_add_test (tc, test_four_live_chains_drop_per_element);
  tcase_add_test (tc, test_live_drops_stale_windows);
  tcase_add_test (tc, test_corrupt_model_fails);
  return s;
}

int
main (int argc, char **argv)
{
  const gchar *reason;

  gst_check_init (&argc, &argv);
  reason = slowfast_skip_reason ();
  if (reason != NULL) {
    g_print ("SKIP: %s\n", reason);
    return SLOWFAST_TEST_SKIP;
  }
  return gst_check_run_suite (slowfastmllm_model_suite (), "slowfastmllm-model",
      __FILE__);
}
