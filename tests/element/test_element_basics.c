/* The element registers, exposes its three pads and documented properties, passes video
 * through bit-exact, announces a sparse text stream that follows the video with GAP events, and
 * fails cleanly on a missing model. None of this needs a model. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>

#include "gstslowfastmeta.h"

#include <math.h>

GST_START_TEST (test_pads_exist)
{
  GstElement *e = gst_element_factory_make ("slowfastmllm", NULL);
  GstPad *pad;

  fail_unless (e != NULL, "slowfastmllm is not registered");
  for (const gchar * const *name = (const gchar *[]) {
    "sink", "src", "text_src", NULL}; *name; name++) {
    pad = gst_element_get_static_pad (e, *name);
    fail_unless (pad != NULL, "pad %s missing", *name);
    gst_object_unref (pad);
  }
  gst_object_unref (e);
}
GST_END_TEST;

GST_START_TEST (test_video_passes_bit_exact)
{
  GstHarness *h = gst_harness_new_with_padnames ("slowfastmllm", "sink", "src");
  const gsize size = 64 * 48 * 3;

  gst_harness_set_src_caps_str (h,
      "video/x-raw,format=RGB,width=64,height=48,framerate=30/1");
  for (guint i = 0; i < 10; i++) {
    GstBuffer *in = gst_buffer_new_allocate (NULL, size, NULL);
    GstBuffer *out;
    GstMapInfo a, b;

    gst_buffer_memset (in, 0, (guint8) (i * 17 + 3), size);
    GST_BUFFER_PTS (in) = i * GST_SECOND / 30;
    GST_BUFFER_DURATION (in) = GST_SECOND / 30;
    gst_buffer_ref (in);
    fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
    out = gst_harness_pull (h);
    fail_unless (out != NULL);
    fail_unless (out == in, "buffer was copied instead of passed through");
    fail_unless_equals_uint64 (GST_BUFFER_PTS (out), i * GST_SECOND / 30);
    gst_buffer_map (in, &a, GST_MAP_READ);
    gst_buffer_map (out, &b, GST_MAP_READ);
    fail_unless_equals_int (memcmp (a.data, b.data, size), 0);
    gst_buffer_unmap (in, &a);
    gst_buffer_unmap (out, &b);
    gst_buffer_unref (out);
    gst_buffer_unref (in);
  }
  gst_harness_teardown (h);
}
GST_END_TEST;

typedef struct
{
  const gchar *name;
  GType type;
  const gchar *default_value;   /* as gst_value_serialize writes it */
} PropertySpec;

/* The documented properties, their types and defaults (docs/element.md). */
GST_START_TEST (test_properties_and_defaults)
{
  const PropertySpec specs[] = {
    {"model-location", G_TYPE_STRING, NULL},
    {"prompt", G_TYPE_STRING, "\"Please\\ describe\\ this\\ video\\ in\\ detail.\""},
    {"window-frames", G_TYPE_UINT, "64"},
    {"sample-fps", G_TYPE_DOUBLE, "4"},
    {"hop-frames", G_TYPE_UINT, "16"},
    {"first-answer-frames", G_TYPE_UINT, "16"},
    {"mode", G_TYPE_ENUM, "sliding"},
    {"max-new-tokens", G_TYPE_UINT, "1024"},
    {"temperature", G_TYPE_FLOAT, "0.2"},
    {"top-p", G_TYPE_FLOAT, "1"},
    {"top-k", G_TYPE_UINT, "0"},
    {"repetition-penalty", G_TYPE_FLOAT, "1"},
    {"seed", G_TYPE_UINT64, "0"},
    {"device", G_TYPE_ENUM, "auto"},
    {"dtype", G_TYPE_ENUM, "auto"},
    {"weights-in-memory", G_TYPE_BOOLEAN, "false"},
    {"max-batch", G_TYPE_UINT, "8"},
    {"max-pending-windows", G_TYPE_UINT, "1"},
    {"leaky", G_TYPE_ENUM, "auto"},
    {"latency", G_TYPE_UINT64, "18446744073709551615"},
    {"stream-tokens", G_TYPE_BOOLEAN, "false"},
    {"feature-cache", G_TYPE_BOOLEAN, "true"},
    {"reservoir-frames", G_TYPE_UINT, "256"},
    {"windows-answered", G_TYPE_UINT64, "0"},
    {"windows-dropped", G_TYPE_UINT64, "0"},
    {"last-latency", G_TYPE_UINT64, "0"},
    {"mean-latency", G_TYPE_UINT64, "0"},
    {"tokens-per-second", G_TYPE_DOUBLE, "0"},
  };
  GstElement *e = gst_element_factory_make ("slowfastmllm", NULL);

  for (guint i = 0; i < G_N_ELEMENTS (specs); i++) {
    GParamSpec *pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (e), specs[i].name);
    GValue value = G_VALUE_INIT;
    gchar *serialized;

    fail_unless (pspec != NULL, "no property %s", specs[i].name);
    fail_unless (g_type_is_a (pspec->value_type, specs[i].type), "%s has type %s",
        specs[i].name, g_type_name (pspec->value_type));
    fail_unless (g_param_spec_get_blurb (pspec) && strlen (g_param_spec_get_blurb (pspec)) > 10,
        "%s is not documented", specs[i].name);
    g_value_init (&value, pspec->value_type);
    g_object_get_property (G_OBJECT (e), specs[i].name, &value);
    serialized = gst_value_serialize (&value);
    if (G_VALUE_HOLDS_FLOAT (&value) || G_VALUE_HOLDS_DOUBLE (&value)) {
      gdouble actual = G_VALUE_HOLDS_FLOAT (&value) ? g_value_get_float (&value) :
          g_value_get_double (&value);
      fail_unless (fabs (actual - g_ascii_strtod (specs[i].default_value, NULL)) < 1e-6,
          "%s defaults to %g", specs[i].name, actual);
    } else if (specs[i].default_value == NULL)
      fail_unless (serialized == NULL || g_str_equal (serialized, "NULL"),
          "%s defaults to %s", specs[i].name, serialized);
    else
      fail_unless_equals_string (serialized, specs[i].default_value);
    g_free (serialized);
    g_value_unset (&value);
  }
  /* statistics are read-only */
  fail_if (g_object_class_find_property (G_OBJECT_GET_CLASS (e),
          "windows-dropped")->flags & G_PARAM_WRITABLE);
  gst_object_unref (e);
}
GST_END_TEST;

/* The text stream: its own sparse stream-start, utf8 caps, the video's segment, then GAP events
 * covering each video frame, so downstream never waits for text. */
GST_START_TEST (test_text_stream_is_sparse_and_follows_video)
{
  GstHarness *h = gst_harness_new_with_padnames ("slowfastmllm", "sink", "src");
  GstHarness *t = gst_harness_new_with_element (h->element, NULL, "text_src");
  GstEvent *event;
  GstStreamFlags flags;
  GstCaps *caps;
  GstClockTime position = 0;

  gst_harness_set_src_caps_str (h, "video/x-raw,format=I420,width=32,height=16,framerate=25/1");
  for (guint i = 0; i < 5; i++) {
    GstBuffer *in = gst_buffer_new_allocate (NULL, 32 * 16 * 3 / 2, NULL);
    GST_BUFFER_PTS (in) = i * GST_SECOND / 25;
    GST_BUFFER_DURATION (in) = GST_SECOND / 25;
    fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
    gst_buffer_unref (gst_harness_pull (h));
  }
  event = gst_harness_pull_event (t);
  fail_unless_equals_int (GST_EVENT_TYPE (event), GST_EVENT_STREAM_START);
  gst_event_parse_stream_flags (event, &flags);
  fail_unless (flags & GST_STREAM_FLAG_SPARSE, "text stream is not sparse");
  gst_event_unref (event);
  event = gst_harness_pull_event (t);
  fail_unless_equals_int (GST_EVENT_TYPE (event), GST_EVENT_CAPS);
  gst_event_parse_caps (event, &caps);
  fail_unless (gst_structure_has_name (gst_caps_get_structure (caps, 0), "text/x-raw"));
  fail_unless_equals_string (gst_structure_get_string (gst_caps_get_structure (caps, 0),
          "format"), "utf8");
  gst_event_unref (event);
  event = gst_harness_pull_event (t);
  fail_unless_equals_int (GST_EVENT_TYPE (event), GST_EVENT_SEGMENT);
  gst_event_unref (event);
  /* text_src's task pushes them: wait for as many as the frames need. */
  while (position < 5 * GST_SECOND / 25) {
    GstClockTime start, duration;
    event = gst_harness_pull_event (t);
    fail_unless (event != NULL, "text_src announced only up to %" GST_TIME_FORMAT,
        GST_TIME_ARGS (position));
    fail_unless_equals_int (GST_EVENT_TYPE (event), GST_EVENT_GAP);
    gst_event_parse_gap (event, &start, &duration);
    fail_unless_equals_uint64 (start, position);
    position = start + duration;
    gst_event_unref (event);
  }
  fail_unless_equals_uint64 (position, 5 * GST_SECOND / 25);

  /* EOS reaches both src pads. */
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  event = gst_harness_pull_event (t);
  fail_unless_equals_int (GST_EVENT_TYPE (event), GST_EVENT_EOS);
  gst_event_unref (event);
  while ((event = gst_harness_try_pull_event (h)) && GST_EVENT_TYPE (event) != GST_EVENT_EOS)
    gst_event_unref (event);
  fail_unless (event != NULL, "no EOS on src");
  gst_event_unref (event);
  gst_harness_teardown (t);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Nothing linked to text_src: video still flows (NOT_LINKED on text is not an error). */
GST_START_TEST (test_unlinked_text_pad)
{
  GstHarness *h = gst_harness_new_with_padnames ("slowfastmllm", "sink", "src");

  gst_harness_set_src_caps_str (h, "video/x-raw,format=RGB,width=8,height=8,framerate=30/1");
  for (guint i = 0; i < 10; i++) {
    GstBuffer *in = gst_buffer_new_allocate (NULL, 8 * 8 * 3, NULL);
    GST_BUFFER_PTS (in) = i * GST_SECOND / 30;
    GST_BUFFER_DURATION (in) = GST_SECOND / 30;
    fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
    gst_buffer_unref (gst_harness_pull (h));
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  gst_harness_teardown (h);
}
GST_END_TEST;

/* A model directory that does not exist fails READY->PAUSED with a RESOURCE/NOT_FOUND error
 * naming the path, and posts a progress error. */
GST_START_TEST (test_missing_model_fails)
{
  GstElement *e = gst_element_factory_make ("slowfastmllm", NULL);
  GstBus *bus = gst_bus_new ();
  const gchar *path = "/nonexistent/slowfast/model-dir";
  GstMessage *message;
  GError *error = NULL;
  GstProgressType type;
  gchar *code = NULL, *text = NULL;

  gst_element_set_bus (e, bus);
  g_object_set (e, "model-location", path, NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  message = gst_bus_pop_filtered (bus, GST_MESSAGE_PROGRESS);
  fail_unless (message != NULL, "no progress message");
  gst_message_parse_progress (message, &type, &code, &text);
  fail_unless_equals_int (type, GST_PROGRESS_TYPE_ERROR);
  fail_unless (strstr (text, path) != NULL);
  g_free (code);
  g_free (text);
  gst_message_unref (message);
  message = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (message != NULL, "no error message");
  gst_message_parse_error (message, &error, NULL);
  fail_unless (g_error_matches (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND));
  fail_unless (strstr (error->message, path) != NULL, "error does not name the path: %s",
      error->message);
  fail_unless (strstr (error->message, "does not exist") != NULL);
  g_error_free (error);
  gst_message_unref (message);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
  gst_object_unref (e);
}
GST_END_TEST;

/* The meta's API type is registered by the plugin and found by name through the public header. */
GST_START_TEST (test_meta_api_registered)
{
  GstElement *e = gst_element_factory_make ("slowfastmllm", NULL);
  GstBuffer *buffer = gst_buffer_new ();

  fail_unless (gst_slowfast_meta_api_get_type () != 0);
  fail_unless (gst_meta_api_type_has_tag (gst_slowfast_meta_api_get_type (),
          g_quark_from_static_string ("video")) == FALSE);
  fail_unless (gst_buffer_get_slowfast_meta (buffer) == NULL);
  gst_buffer_unref (buffer);
  gst_object_unref (e);
}
GST_END_TEST;

/* What gst-inspect shows a maintainer: a klass of the usual tokens, and every statistic in one
 * structure read at once. */
GST_START_TEST (test_klass_and_stats)
{
  GstElement *e = gst_element_factory_make ("slowfastmllm", NULL);
  const gchar *klass = gst_element_class_get_metadata (GST_ELEMENT_GET_CLASS (e),
      GST_ELEMENT_METADATA_KLASS);
  GstStructure *stats = NULL;
  guint64 answered = 1, dropped = 1, last = 1, mean = 1;
  gdouble rate = 1;
  gboolean raised = TRUE;

  fail_unless_equals_string (klass, "Filter/Analyzer/Video");
  g_object_get (e, "stats", &stats, NULL);
  fail_unless (stats != NULL, "no stats");
  fail_unless (gst_structure_has_name (stats, "slowfast-stats"));
  fail_unless (gst_structure_get (stats, "windows-answered", G_TYPE_UINT64, &answered,
          "windows-dropped", G_TYPE_UINT64, &dropped, "last-latency", G_TYPE_UINT64, &last,
          "mean-latency", G_TYPE_UINT64, &mean, "tokens-per-second", G_TYPE_DOUBLE, &rate,
          "alert-raised", G_TYPE_BOOLEAN, &raised, NULL), "stats lacks a field: %"
      GST_PTR_FORMAT, stats);
  fail_unless (answered == 0 && dropped == 0 && last == 0 && mean == 0 && rate == 0 && !raised,
      "stats of a new element: %" GST_PTR_FORMAT, stats);
  gst_structure_free (stats);
  gst_object_unref (e);
}
GST_END_TEST;

static Suite *
slowfastmllm_suite (void)
{
  Suite *s = suite_create ("slowfastmllm-basics");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_pads_exist);
  tcase_add_test (tc, test_video_passes_bit_exact);
  tcase_add_test (tc, test_properties_and_defaults);
  tcase_add_test (tc, test_text_stream_is_sparse_and_follows_video);
  tcase_add_test (tc, test_unlinked_text_pad);
  tcase_add_test (tc, test_missing_model_fails);
  tcase_add_test (tc, test_meta_api_registered);
  tcase_add_test (tc, test_klass_and_stats);
  return s;
}

GST_CHECK_MAIN (slowfastmllm);
