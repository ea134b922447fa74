/* The element registers, exposes its three pads and passes video through bit-exact. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>

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

static Suite *
slowfastmllm_suite (void)
{
  Suite *s = suite_create ("slowfastmllm-basics");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_pads_exist);
  tcase_add_test (tc, test_video_passes_bit_exact);
  return s;
}

GST_CHECK_MAIN (slowfastmllm);
