/* slowfastmllm on the demo model (in the repository, so these run in every clone) fed what
 * real sources sometimes send: timestamps that go backwards without a new segment, and bytes
 * that are not UTF-8 in a prompt, a source id or a model path. Every answer's window must end
 * after it starts, and every string the element puts on the bus must be valid UTF-8 (GStreamer
 * otherwise prints "string is not valid UTF-8. Please file a bug"). */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include <string.h>

#define SIDE 64

static GstElement *
demo_element (void)
{
  const gchar *demo = g_getenv ("SLOWFAST_TEST_MODEL");
  GstElement *element = gst_element_factory_make ("slowfastmllm", NULL);

  fail_unless (demo != NULL, "SLOWFAST_TEST_MODEL is not set (run through meson test)");
  g_object_set (element, "model-location", demo, "window-frames", 8, "hop-frames", 8, "sample-fps", 0.0,
      "max-new-tokens", 4, NULL);
  return element;
}

/* A file-like (not live) harness on sink -> src with 64x64 RGB at 30 fps, messages to `bus`. */
static GstHarness *
start_harness (GstElement * element, GstBus * bus)
{
  GstHarness *h;

  gst_element_set_bus (element, bus);
  h = gst_harness_new_with_element (element, "sink", "src");
  gst_harness_set_live (h, FALSE);
  gst_harness_set_src_caps_str (h,
      "video/x-raw,format=RGB,width=64,height=64,framerate=30/1");
  return h;
}

static void
stop_harness (GstHarness * h, GstBus * bus, GstElement * element)
{
  gst_harness_teardown (h);
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
  gst_object_unref (element);
}

static void
push_frames (GstHarness * h, guint first_frame, guint n, guint8 shade)
{
  for (guint i = 0; i < n; i++) {
    GstBuffer *buffer = gst_buffer_new_allocate (NULL, SIDE * SIDE * 3, NULL);

    gst_buffer_memset (buffer, 0, (guint8) (shade + 7 * i), SIDE * SIDE * 3);
    GST_BUFFER_PTS (buffer) = gst_util_uint64_scale (first_frame + i, GST_SECOND, 30);
    GST_BUFFER_DURATION (buffer) = GST_SECOND / 30;
    fail_unless_equals_int (gst_harness_push (h, buffer), GST_FLOW_OK);
    gst_buffer_unref (gst_harness_pull (h));
  }
}

/* Every string field of an element message is valid UTF-8; returns how many messages named
 * `name` there were and checks their windows. */
static guint
check_messages (GstBus * bus, const gchar * name, gboolean * warned_backwards)
{
  GstMessage *message;
  guint count = 0;

  while ((message = gst_bus_pop (bus)) != NULL) {
    const GstStructure *s = gst_message_get_structure (message);

    if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_WARNING
        || GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR) {
      GError *error = NULL;
      gchar *debug = NULL;

      if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_WARNING)
        gst_message_parse_warning (message, &error, &debug);
      else
        gst_message_parse_error (message, &error, &debug);
      fail_unless (g_utf8_validate (error->message, -1, NULL));
      fail_unless (debug == NULL || g_utf8_validate (debug, -1, NULL));
      if (warned_backwards && strstr (error->message, "backwards") != NULL)
        *warned_backwards = TRUE;
      g_error_free (error);
      g_free (debug);
    } else if (s != NULL && gst_structure_has_name (s, name)) {
      guint64 start = 0, end = 0;

      for (gint i = 0; i < gst_structure_n_fields (s); i++) {
        const gchar *field = gst_structure_nth_field_name (s, i);
        const GValue *value = gst_structure_get_value (s, field);

        if (G_VALUE_HOLDS_STRING (value) && g_value_get_string (value) != NULL)
          fail_unless (g_utf8_validate (g_value_get_string (value), -1, NULL),
              "field %s of %s is not UTF-8", field, name);
      }
      fail_unless (gst_structure_get_uint64 (s, "window-start", &start));
      fail_unless (gst_structure_get_uint64 (s, "window-end", &end));
      fail_unless (start <= end, "window ends at %" GST_TIME_FORMAT " before it starts at %"
          GST_TIME_FORMAT, GST_TIME_ARGS (end), GST_TIME_ARGS (start));
      count++;
    }
    gst_message_unref (message);
  }
  return count;
}

/* 16 frames, then 16 more whose timestamps start again at 0 without a new segment (a source
 * that restarted its clock): a warning, windows restart at the jump, and no answer's window
 * ends before it starts (before the fix: window-end before window-start). */
GST_START_TEST (test_backwards_timestamps_restart_windows)
{
  GstElement *element = demo_element ();
  GstBus *bus = gst_bus_new ();
  GstHarness *h;
  gboolean warned = FALSE;

  /* hop 4: without the restart the window after the jump would hold frames from both sides */
  g_object_set (element, "hop-frames", 4, NULL);
  h = start_harness (element, bus);
  push_frames (h, 0, 16, 10);
  push_frames (h, 0, 16, 120);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  /* windows at frames 8, 12 and 16 before the jump, as many after */
  fail_unless_equals_int (check_messages (bus, "slowfast-answer", &warned), 6);
  fail_unless (warned, "no warning about the backwards timestamps");
  stop_harness (h, bus, element);
}

GST_END_TEST;

/* A prompt and source id with bytes that are not UTF-8 (as argv can hold): the properties read
 * back valid, and the answers' prompt and source-id fields are valid UTF-8. */
GST_START_TEST (test_invalid_utf8_prompt_and_source_id)
{
  GstElement *element = demo_element ();
  GstBus *bus = gst_bus_new ();
  GstHarness *h;
  gchar *prompt = NULL, *source_id = NULL;

  g_object_set (element, "prompt", "What \xff\xfe happens \xc3?", "source-id", "cam\xe9", NULL);
  g_object_get (element, "prompt", &prompt, "source-id", &source_id, NULL);
  fail_unless (g_utf8_validate (prompt, -1, NULL));
  fail_unless (g_utf8_validate (source_id, -1, NULL));
  fail_unless (strstr (prompt, "happens") != NULL, "the prompt lost its text: %s", prompt);
  g_free (prompt);
  g_free (source_id);

  h = start_harness (element, bus);
  push_frames (h, 0, 8, 40);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (check_messages (bus, "slowfast-answer", NULL), 1);
  stop_harness (h, bus, element);
}

GST_END_TEST;

/* A model path that is not UTF-8: the load error names it in valid UTF-8. */
GST_START_TEST (test_invalid_utf8_model_path_error)
{
  GstElement *element = gst_element_factory_make ("slowfastmllm", NULL);
  GstBus *bus = gst_bus_new ();

  gst_element_set_bus (element, bus);
  g_object_set (element, "model-location", "/nonexistent/mod\xffl", NULL);
  fail_unless_equals_int (gst_element_set_state (element, GST_STATE_PAUSED),
      GST_STATE_CHANGE_FAILURE);
  check_messages (bus, "none", NULL);
  gst_element_set_state (element, GST_STATE_NULL);
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
  gst_object_unref (element);
}

GST_END_TEST;

static Suite *
slowfastmllm_bad_input_suite (void)
{
  Suite *s = suite_create ("slowfastmllm-bad-input");
  TCase *tc = tcase_create ("bad-input");

  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_backwards_timestamps_restart_windows);
  tcase_add_test (tc, test_invalid_utf8_prompt_and_source_id);
  tcase_add_test (tc, test_invalid_utf8_model_path_error);
  return s;
}

GST_CHECK_MAIN (slowfastmllm_bad_input);
