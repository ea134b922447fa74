/* Alert mode and the answer's identification fields: the properties source-id,
 * alert-raise-after, alert-clear-after and alert-raised (defaults, ranges, flags), the fields
 * source-id, stream-time and wall-clock of slowfast-answer, and slowfast-alert messages that
 * follow the posted answers exactly as the documented hysteresis says.
 *
 * The model tests use $SLOWFAST_TEST_MODEL, else the golden model a under $SLOWFAST_SHARED, and
 * are skipped without either. The golden model's random weights answer gibberish, which is read
 * as neither yes nor no: the alert test then checks that no alert is posted. With a model that
 * answers yes/no (model/demo) the same test checks real raises and clears, and
 * SLOWFAST_EXPECT_ALERT=1 requires at least one raise for the ball scene. */
#include "slowfast_test_util.h"

#include <ctype.h>

#define ANSWER_TIMEOUT (120 * GST_SECOND)

/* The model directory of these tests, or NULL (the reason in `reason`). */
static gchar *
test_model (const gchar ** reason)
{
  const gchar *chosen = g_getenv ("SLOWFAST_TEST_MODEL");
  gchar *golden;

  if (chosen && *chosen) {
    if (g_file_test (chosen, G_FILE_TEST_IS_DIR))
      return g_strdup (chosen);
    *reason = "SLOWFAST_TEST_MODEL is not a directory";
    return NULL;
  }
  golden = slowfast_golden_path ("a", "model");
  if (golden == NULL)
    *reason = "neither SLOWFAST_TEST_MODEL nor $SLOWFAST_SHARED/golden/a/model exists";
  return golden;
}


/* ------------------------------------------------------------------------------------------ */

GST_START_TEST (test_property_defaults_and_ranges)
{
  GstElement *e = gst_element_factory_make ("slowfastmllm", "porch-cam");
  GObjectClass *klass = G_OBJECT_GET_CLASS (e);
  GParamSpec *spec;
  gchar *source_id = (gchar *) "unset";
  guint raise_after = 99, clear_after = 99;
  gboolean raised = TRUE;

  g_object_get (e, "source-id", &source_id, "alert-raise-after", &raise_after,
      "alert-clear-after", &clear_after, "alert-raised", &raised, NULL);
  fail_unless (source_id == NULL, "source-id defaults to NULL (the element's name)");
  fail_unless_equals_int (raise_after, 0);
  fail_unless_equals_int (clear_after, 1);
  fail_if (raised);

  spec = g_object_class_find_property (klass, "alert-raise-after");
  fail_unless (G_IS_PARAM_SPEC_UINT (spec));
  fail_unless_equals_int (G_PARAM_SPEC_UINT (spec)->minimum, 0);
  fail_unless_equals_uint64 (G_PARAM_SPEC_UINT (spec)->maximum, G_MAXUINT);
  fail_unless (spec->flags & GST_PARAM_MUTABLE_PLAYING);

  spec = g_object_class_find_property (klass, "alert-clear-after");
  fail_unless (G_IS_PARAM_SPEC_UINT (spec));
  fail_unless_equals_int (G_PARAM_SPEC_UINT (spec)->minimum, 1);
  fail_unless_equals_uint64 (G_PARAM_SPEC_UINT (spec)->maximum, G_MAXUINT);
  fail_unless (spec->flags & GST_PARAM_MUTABLE_PLAYING);

  spec = g_object_class_find_property (klass, "source-id");
  fail_unless (G_IS_PARAM_SPEC_STRING (spec));
  fail_unless (spec->flags & GST_PARAM_MUTABLE_PLAYING);

  spec = g_object_class_find_property (klass, "alert-raised");
  fail_unless (G_IS_PARAM_SPEC_BOOLEAN (spec));
  fail_if (spec->flags & G_PARAM_WRITABLE, "alert-raised is read-only");

  /* Values round-trip; NULL brings source-id back to the element's name. */
  g_object_set (e, "source-id", "door", "alert-raise-after", 3, "alert-clear-after", 5, NULL);
  g_object_get (e, "source-id", &source_id, "alert-raise-after", &raise_after,
      "alert-clear-after", &clear_after, NULL);
  fail_unless_equals_string (source_id, "door");
  fail_unless_equals_int (raise_after, 3);
  fail_unless_equals_int (clear_after, 5);
  g_free (source_id);
  g_object_set (e, "source-id", NULL, NULL);
  g_object_get (e, "source-id", &source_id, NULL);
  fail_unless (source_id == NULL);
  gst_object_unref (e);
}

GST_END_TEST;

/* ------------------------------------------------------------------------------------------ */

/* Milliseconds since the epoch of "YYYY-MM-DDTHH:MM:SS.mmmZ", or -1 when it is not that. */
static gint64
parse_wall_clock (const gchar * text)
{
  GDateTime *time;
  gint64 ms;

  if (text == NULL || strlen (text) != 24 || text[10] != 'T' || text[19] != '.'
      || text[23] != 'Z')
    return -1;
  time = g_date_time_new_from_iso8601 (text, NULL);
  if (time == NULL)
    return -1;
  ms = g_date_time_to_unix (time) * 1000 + g_date_time_get_microsecond (time) / 1000;
  g_date_time_unref (time);
  return ms;
}

static GstElement *
make_element (const gchar * name, guint window, guint hop, guint max_new_tokens)
{
  const gchar *reason = NULL;
  GstElement *element = gst_element_factory_make ("slowfastmllm", name);
  gchar *model = test_model (&reason);

  fail_unless (model != NULL, "%s", reason);
  gst_util_set_object_arg (G_OBJECT (element), "dtype", "float32");
  gst_util_set_object_arg (G_OBJECT (element), "device", "cpu");
  gst_util_set_object_arg (G_OBJECT (element), "leaky", "no");
  g_object_set (element, "model-location", model, "window-frames", window,
      "hop-frames", hop, "sample-fps", 0.0, "max-new-tokens", max_new_tokens,
      "temperature", 0.0f, NULL);
  g_free (model);
  return element;
}

static void
push_rgb_frames (GstHarness * h, const SlowfastFrames * frames, guint first, guint n, guint fps)
{
  for (guint i = first; i < first + n; i++) {
    GstBuffer *buffer = slowfast_rgb_buffer (frames, i % frames->t);
    GST_BUFFER_PTS (buffer) = gst_util_uint64_scale (i, GST_SECOND, fps);
    GST_BUFFER_DURATION (buffer) = gst_util_uint64_scale (i + 1, GST_SECOND, fps)
        - GST_BUFFER_PTS (buffer);
    fail_unless_equals_int (gst_harness_push (h, buffer), GST_FLOW_OK);
    gst_buffer_unref (gst_harness_pull (h));
  }
}

/* slowfast-answer carries source-id (the element's name, then the property), the window's end in
 * stream time (through the segment) and the real time the window was complete. */
GST_START_TEST (test_answer_identifies_source_and_time)
{
  GstElement *element;
  GstHarness *h, *t;
  GstBus *bus = gst_bus_new ();
  SlowfastFrames frames = slowfast_synthetic_frames (8, 64, 64, 7);
  GstSegment segment;
  GstMessage *message;
  const GstStructure *s;
  guint64 end, stream_time;
  gint64 before_ms, after_ms, wall_ms;

  element = make_element ("cam-7", 4, 2, 4);
  gst_element_set_bus (element, bus);
  h = gst_harness_new_with_element (element, "sink", "src");
  t = gst_harness_new_with_element (element, NULL, "text_src");
  gst_harness_set_src_caps_str (h, "video/x-raw,format=RGB,width=64,height=64,framerate=8/1");
  /* Stream time = PTS - start + time: the clip starts 10 s into its stream. */
  gst_segment_init (&segment, GST_FORMAT_TIME);
  segment.time = 10 * GST_SECOND;
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&segment)));

  before_ms = g_get_real_time () / 1000;
  push_rgb_frames (h, &frames, 0, 4, 8);
  message = slowfast_wait_message (bus, "slowfast-answer", ANSWER_TIMEOUT);
  after_ms = g_get_real_time () / 1000;
  fail_unless (message != NULL, "no answer");
  s = gst_message_get_structure (message);
  fail_unless_equals_string (gst_structure_get_string (s, "source-id"), "cam-7");
  fail_unless (gst_structure_get_uint64 (s, "window-end", &end));
  fail_unless_equals_uint64 (end, GST_SECOND / 2);      /* 4 frames at 8 fps */
  fail_unless (gst_structure_get_uint64 (s, "stream-time", &stream_time));
  fail_unless_equals_uint64 (stream_time, 10 * GST_SECOND + GST_SECOND / 2);
  wall_ms = parse_wall_clock (gst_structure_get_string (s, "wall-clock"));
  fail_unless (wall_ms >= 0, "wall-clock '%s' is not ISO-8601 UTC with milliseconds",
      gst_structure_get_string (s, "wall-clock"));
  fail_unless_equals_string (gst_structure_get_string (s, "wall-clock-source"), "arrival");
  fail_unless (wall_ms >= before_ms && wall_ms <= after_ms,
      "wall-clock %" G_GINT64_FORMAT " ms is outside the run [%" G_GINT64_FORMAT ", %"
      G_GINT64_FORMAT "]", wall_ms, before_ms, after_ms);
  gst_message_unref (message);

  /* source-id changes apply from the next window. */
  g_object_set (element, "source-id", "porch", NULL);
  push_rgb_frames (h, &frames, 4, 2, 8);
  message = slowfast_wait_message (bus, "slowfast-answer", ANSWER_TIMEOUT);
  fail_unless (message != NULL, "no second answer");
  s = gst_message_get_structure (message);
  fail_unless_equals_string (gst_structure_get_string (s, "source-id"), "porch");
  fail_unless (gst_structure_get_uint64 (s, "stream-time", &stream_time));
  fail_unless_equals_uint64 (stream_time, 10 * GST_SECOND + gst_util_uint64_scale (6,
          GST_SECOND, 8));
  gst_message_unref (message);

  gst_harness_teardown (t);
  gst_harness_teardown (h);
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
  gst_object_unref (element);
  slowfast_frames_free (&frames);
}

GST_END_TEST;

/* A camera's capture time (GstReferenceTimestampMeta timestamp/x-ntp, as rtspsrc
 * add-reference-timestamp-meta=true attaches it) is the answer's wall-clock, not the arrival. */
GST_START_TEST (test_wall_clock_is_capture_time)
{
  GstElement *element;
  GstHarness *h;
  GstBus *bus = gst_bus_new ();
  SlowfastFrames frames = slowfast_synthetic_frames (8, 64, 64, 7);
  GstCaps *ntp = gst_caps_new_empty_simple ("timestamp/x-ntp");
  /* 2021-03-04T05:06:07.250Z of the last frame, in ns since 1900 */
  const guint64 unix_s = 1614834367;
  const guint64 ntp_base = (unix_s + 2208988800ULL) * GST_SECOND;
  GstMessage *message;
  const GstStructure *s;

  element = make_element ("cam-ntp", 4, 4, 4);
  gst_element_set_bus (element, bus);
  h = gst_harness_new_with_element (element, "sink", "src");
  gst_harness_set_src_caps_str (h, "video/x-raw,format=RGB,width=64,height=64,framerate=4/1");
  for (guint i = 0; i < 4; i++) {
    GstBuffer *buffer = slowfast_rgb_buffer (&frames, i);
    GST_BUFFER_PTS (buffer) = i * GST_SECOND / 4;
    GST_BUFFER_DURATION (buffer) = GST_SECOND / 4;
    /* frame i captured at unix_s - 0.5 s + i * 0.25 s: the last one at unix_s + 0.25 s */
    gst_buffer_add_reference_timestamp_meta (buffer, ntp, ntp_base - GST_SECOND / 2
        + i * GST_SECOND / 4, GST_CLOCK_TIME_NONE);
    fail_unless_equals_int (gst_harness_push (h, buffer), GST_FLOW_OK);
    gst_buffer_unref (gst_harness_pull (h));
  }
  message = slowfast_wait_message (bus, "slowfast-answer", ANSWER_TIMEOUT);
  fail_unless (message != NULL, "no answer");
  s = gst_message_get_structure (message);
  fail_unless_equals_string (gst_structure_get_string (s, "wall-clock"),
      "2021-03-04T05:06:07.250Z");
  fail_unless_equals_string (gst_structure_get_string (s, "wall-clock-source"), "ntp");
  gst_message_unref (message);

  gst_harness_teardown (h);
  gst_caps_unref (ntp);
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
  gst_object_unref (element);
  slowfast_frames_free (&frames);
}

GST_END_TEST;

/* ------------------------------------------------------------------------------------------ */
/* The alert oracle: the documented rules written again, independently of gst/alert.cpp. */

typedef enum
{ VERDICT_YES, VERDICT_NO, VERDICT_NEITHER } Verdict;

static Verdict
verdict_of (const gchar * answer)
{
  gchar *stripped = g_strstrip (g_strdup (answer));
  gchar **words = g_strsplit_set (stripped, " \t\n\r\v\f", 2);
  gchar *word = g_strdup (words[0] ? words[0] : "");
  gchar *begin = word, *end = word + strlen (word);
  Verdict verdict = VERDICT_NEITHER;

  while (begin < end && ispunct ((guchar) * begin))
    begin++;
  while (end > begin && ispunct ((guchar) end[-1]))
    *--end = '\0';
  if (g_ascii_strcasecmp (begin, "yes") == 0)
    verdict = VERDICT_YES;
  else if (g_ascii_strcasecmp (begin, "no") == 0)
    verdict = VERDICT_NO;
  g_free (word);
  g_strfreev (words);
  g_free (stripped);
  return verdict;
}

typedef struct
{
  gchar *state;                 /* "raised" / "cleared" */
  guint64 window_end;
  gchar *text;
  guint consecutive;
} ExpectedAlert;

/* Runs a pipeline over the ball scene with alerts on and compares every slowfast-alert with
 * what the hysteresis makes of the slowfast-answer messages posted before it. */
GST_START_TEST (test_alerts_follow_answers)
{
  const guint raise_after = 2, clear_after = 1;
  const gchar *prompt = g_getenv ("SLOWFAST_ALERT_PROMPT");
  GstElement *pipeline, *element;
  GstBus *bus;
  GstMessage *message;
  gboolean raised = FALSE, property_raised;
  guint run = 0, answers = 0, alerts = 0, raises = 0;
  const gchar *reason = NULL;
  gchar *model, *description;
  GError *error = NULL;

  model = test_model (&reason);
  if (prompt == NULL)
    prompt = "Is there a white ball? Answer yes or no.";
  description = g_strdup_printf ("videotestsrc pattern=ball num-buffers=96 ! "
      "video/x-raw,format=I420,width=160,height=120,framerate=8/1 ! "
      "slowfastmllm name=m model-location=\"%s\" dtype=float32 device=cpu temperature=0 "
      "leaky=no max-new-tokens=4 window-frames=8 hop-frames=4 sample-fps=8 "
      "alert-raise-after=%u alert-clear-after=%u source-id=yard ! fakesink", model,
      raise_after, clear_after);
  pipeline = gst_parse_launch (description, &error);
  fail_unless (pipeline != NULL && error == NULL, "%s", error ? error->message : "?");
  element = gst_bin_get_by_name (GST_BIN (pipeline), "m");
  g_object_set (element, "prompt", prompt, NULL);
  bus = gst_element_get_bus (pipeline);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);

  ExpectedAlert pending = { NULL, 0, NULL, 0 };
  while ((message = gst_bus_timed_pop_filtered (bus, ANSWER_TIMEOUT,
              (GstMessageType) (GST_MESSAGE_ELEMENT | GST_MESSAGE_EOS | GST_MESSAGE_ERROR)))) {
    const GstStructure *s = gst_message_get_structure (message);
    if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR) {
      GError *err = NULL;
      gst_message_parse_error (message, &err, NULL);
      fail ("pipeline error: %s", err->message);
    }
    if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_EOS) {
      gst_message_unref (message);
      break;
    }
    if (gst_structure_has_name (s, "slowfast-answer")) {
      const gchar *text = gst_structure_get_string (s, "text");
      Verdict verdict = verdict_of (text);
      guint64 end;
      answers++;
      fail_unless (pending.state == NULL, "an alert was due after the previous answer");
      fail_unless (gst_structure_get_uint64 (s, "window-end", &end));
      if (verdict != VERDICT_NEITHER) {
        Verdict towards = raised ? VERDICT_NO : VERDICT_YES;
        run = verdict == towards ? run + 1 : 0;
        if (run > 0 && run == (raised ? clear_after : raise_after)) {
          raised = !raised;
          pending.state = g_strdup (raised ? "raised" : "cleared");
          pending.window_end = end;
          pending.text = g_strdup (text);
          pending.consecutive = run;
          run = 0;
        }
      }
    } else if (gst_structure_has_name (s, "slowfast-alert")) {
      guint64 end, stream_time;
      guint consecutive;
      alerts++;
      fail_unless (pending.state != NULL, "unexpected alert %" GST_PTR_FORMAT, s);
      fail_unless_equals_string (gst_structure_get_string (s, "state"), pending.state);
      fail_unless_equals_string (gst_structure_get_string (s, "text"), pending.text);
      fail_unless_equals_string (gst_structure_get_string (s, "source-id"), "yard");
      fail_unless (gst_structure_get_uint64 (s, "window-end", &end));
      fail_unless_equals_uint64 (end, pending.window_end);
      fail_unless (gst_structure_get_uint64 (s, "stream-time", &stream_time));
      fail_unless_equals_uint64 (stream_time, end);     /* default segment */
      fail_unless (gst_structure_has_field_typed (s, "window-start", G_TYPE_UINT64));
      fail_unless (parse_wall_clock (gst_structure_get_string (s, "wall-clock")) > 0);
      fail_unless (gst_structure_get_uint (s, "consecutive", &consecutive));
      fail_unless_equals_int (consecutive, pending.consecutive);
      if (g_str_equal (pending.state, "raised"))
        raises++;
      g_clear_pointer (&pending.state, g_free);
      g_clear_pointer (&pending.text, g_free);
    }
    gst_message_unref (message);
  }
  fail_unless (pending.state == NULL, "an alert was due after the last answer");
  /* 96 frames sampled at 8 fps, windows of 8 every 4: due at frames 8, 12, ..., 96 (23); the
   * last one ends the stream, so no EOS window is left. */
  fail_unless_equals_int (answers, 23);
  g_object_get (element, "alert-raised", &property_raised, NULL);
  fail_unless_equals_int (property_raised, raised);
  g_print ("alerts: %u answers, %u alerts (%u raised)\n", answers, alerts, raises);
  if (g_strcmp0 (g_getenv ("SLOWFAST_EXPECT_ALERT"), "1") == 0)
    fail_unless (raises > 0, "SLOWFAST_EXPECT_ALERT=1 but the alert was never raised");

  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (element);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  g_free (description);
  g_free (model);
}

GST_END_TEST;

/* The oracle above agrees with the documented examples (so a broken oracle cannot hide a
 * broken element). */
GST_START_TEST (test_oracle_reads_documented_examples)
{
  fail_unless_equals_int (verdict_of ("Yes."), VERDICT_YES);
  fail_unless_equals_int (verdict_of ("  \"yes,\" a ball"), VERDICT_YES);
  fail_unless_equals_int (verdict_of ("NO"), VERDICT_NO);
  fail_unless_equals_int (verdict_of ("No, nothing."), VERDICT_NO);
  fail_unless_equals_int (verdict_of ("Yeah"), VERDICT_NEITHER);
  fail_unless_equals_int (verdict_of ("A ball. Yes."), VERDICT_NEITHER);
  fail_unless_equals_int (verdict_of (""), VERDICT_NEITHER);
}

GST_END_TEST;

static Suite *
slowfastmllm_alert_suite (gboolean with_model)
{
  Suite *s = suite_create ("slowfastmllm-alert");
  TCase *tc = tcase_create ("alert");

  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_property_defaults_and_ranges);
  tcase_add_test (tc, test_oracle_reads_documented_examples);
  if (with_model) {
    tcase_add_test (tc, test_answer_identifies_source_and_time);
    tcase_add_test (tc, test_wall_clock_is_capture_time);
    tcase_add_test (tc, test_alerts_follow_answers);
  }
  return s;
}

int
main (int argc, char **argv)
{
  const gchar *reason = NULL;
  gchar *model;
  int failed;

  gst_check_init (&argc, &argv);
  model = test_model (&reason);
  failed = gst_check_run_suite (slowfastmllm_alert_suite (model != NULL), "slowfastmllm-alert",
      __FILE__);
  g_free (model);
  if (failed == 0 && model == NULL) {
    /* The cases without a model passed; the ones with a model could not run. */
    g_print ("SKIP: %s\n", reason);
    return SLOWFAST_TEST_SKIP;
  }
  return failed;
}
