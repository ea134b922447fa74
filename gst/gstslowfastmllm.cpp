/* slowfastmllm: turns video into text with the Slow-Fast video MLLM.
 *
 * At this stage the element forwards video untouched from sink to src and announces an
 * (empty) sparse text stream on text_src; inference is added on top of this skeleton. */
#include "gstslowfastmllm.h"

#include <gst/video/video.h>

GST_DEBUG_CATEGORY_STATIC (gst_slowfast_mllm_debug);
#define GST_CAT_DEFAULT gst_slowfast_mllm_debug

#define VIDEO_FORMATS "{ RGB, BGR, RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, ARGB, ABGR, I420, NV12 }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (VIDEO_FORMATS)));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (VIDEO_FORMATS)));
static GstStaticPadTemplate text_src_template = GST_STATIC_PAD_TEMPLATE ("text_src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("text/x-raw, format=(string)utf8"));

struct _GstSlowfastMllm
{
  GstElement parent;
  GstPad *sinkpad;
  GstPad *srcpad;
  GstPad *text_srcpad;
};

#define gst_slowfast_mllm_parent_class parent_class
G_DEFINE_TYPE (GstSlowfastMllm, gst_slowfast_mllm, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (slowfastmllm, "slowfastmllm", GST_RANK_NONE,
    GST_TYPE_SLOWFAST_MLLM);

static GstFlowReturn
gst_slowfast_mllm_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  GstSlowfastMllm *self = GST_SLOWFAST_MLLM (parent);
  GstClockTime pts = GST_BUFFER_PTS (buf);
  GstClockTime duration = GST_BUFFER_DURATION (buf);
  (void) pad;

  /* The text stream is sparse: a GAP up to this frame's end lets downstream sinks, muxers and
   * overlays go on without waiting for text. */
  if (GST_CLOCK_TIME_IS_VALID (pts))
    gst_pad_push_event (self->text_srcpad, gst_event_new_gap (pts, duration));
  return gst_pad_push (self->srcpad, buf);
}

static gboolean
gst_slowfast_mllm_sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstSlowfastMllm *self = GST_SLOWFAST_MLLM (parent);

  (void) pad;
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START:{
      /* The text stream is our own: its own stream id, caps and segment. */
      gchar *stream_id = gst_pad_create_stream_id (self->text_srcpad,
          GST_ELEMENT (self), "text");
      GstEvent *start = gst_event_new_stream_start (stream_id);
      GstCaps *caps = gst_static_pad_template_get_caps (&text_src_template);
      GstSegment segment;
      g_free (stream_id);
      gst_event_set_stream_flags (start, GST_STREAM_FLAG_SPARSE);
      gst_pad_push_event (self->text_srcpad, start);
      gst_pad_push_event (self->text_srcpad, gst_event_new_caps (caps));
      gst_caps_unref (caps);
      gst_segment_init (&segment, GST_FORMAT_TIME);
      gst_pad_push_event (self->text_srcpad, gst_event_new_segment (&segment));
      break;
    }
    case GST_EVENT_EOS:
      gst_pad_push_event (self->text_srcpad, gst_event_new_eos ());
      break;
    default:
      break;
  }
  return gst_pad_push_event (self->srcpad, event);
}

/* Video flows sink <-> src only; text_src is a stream of our own, so queries and events proxied
 * through internal links must never reach it. */
static GstIterator *
gst_slowfast_mllm_iterate_internal_links (GstPad * pad, GstObject * parent)
{
  GstSlowfastMllm *self = GST_SLOWFAST_MLLM (parent);
  GstPad *other = NULL;
  GValue value = G_VALUE_INIT;
  GstIterator *it;

  if (pad == self->sinkpad)
    other = self->srcpad;
  else if (pad == self->srcpad)
    other = self->sinkpad;
  if (other == NULL)
    return gst_iterator_new_single (GST_TYPE_PAD, NULL);
  g_value_init (&value, GST_TYPE_PAD);
  g_value_set_object (&value, other);
  it = gst_iterator_new_single (GST_TYPE_PAD, &value);
  g_value_unset (&value);
  return it;
}

static void
gst_slowfast_mllm_class_init (GstSlowfastMllmClass * klass)
{
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_slowfast_mllm_debug, "slowfastmllm", 0,
      "Slow-Fast video MLLM");

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_add_static_pad_template (element_class, &text_src_template);
  gst_element_class_set_static_metadata (element_class,
      "Slow-Fast video MLLM", "Filter/Analyzer/Video/Text",
      "Answers a prompt about a sliding window of video frames with the Slow-Fast video LLM",
      "gst-slowfast developers");
}

static void
gst_slowfast_mllm_init (GstSlowfastMllm * self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_slowfast_mllm_chain));
  gst_pad_set_event_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_slowfast_mllm_sink_event));
  gst_pad_set_iterate_internal_links_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_slowfast_mllm_iterate_internal_links));
  GST_PAD_SET_PROXY_CAPS (self->sinkpad);
  GST_PAD_SET_PROXY_ALLOCATION (self->sinkpad);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_iterate_internal_links_function (self->srcpad,
      GST_DEBUG_FUNCPTR (gst_slowfast_mllm_iterate_internal_links));
  GST_PAD_SET_PROXY_CAPS (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  self->text_srcpad = gst_pad_new_from_static_template (&text_src_template, "text_src");
  gst_pad_set_iterate_internal_links_function (self->text_srcpad,
      GST_DEBUG_FUNCPTR (gst_slowfast_mllm_iterate_internal_links));
  gst_element_add_pad (GST_ELEMENT (self), self->text_srcpad);
}
