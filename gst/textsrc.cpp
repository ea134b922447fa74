// text_src: a sparse text stream of its own, pushed by one thread, the pad's task. The streaming
// thread (stream-start, caps, segment, GAPs as the video advances, windows becoming due, EOS) and
// the worker (answers) feed it through one ordered queue, so nothing on text_src needs a lock
// between threads and a GAP never waits for the video push it announces: a pipeline without
// queues after the element prerolls.
#include "gstslowfastmllm_private.h"

#define GST_CAT_DEFAULT gst_slowfast_mllm_debug

namespace gstslowfast {
namespace {

void push_event(GstSlowfastMllm* self, GstEvent* event) {
  if (!gst_pad_push_event(self->text_srcpad, event)) {
    GST_LOG_OBJECT(self, "text_src did not take the event (unlinked or flushing)");
  }
}

void handle(GstSlowfastMllm* self, TextItem& item) {
  GstSlowfastMllmPrivate* priv = self->priv;
  TextTimeline& timeline = priv->text_timeline;
  switch (item.kind) {
    case TextItem::Kind::Event: {
      GstEvent* event = item.event.release();
      if (GST_EVENT_TYPE(event) == GST_EVENT_STREAM_START) timeline.reset();
      if (GST_EVENT_TYPE(event) == GST_EVENT_EOS) timeline.end_stream();
      push_event(self, event);
      break;
    }
    case TextItem::Kind::Advance:
      if (const auto gap = timeline.advance(item.from, item.until)) {
        push_event(self, gst_event_new_gap(gap->start, gap->duration));
      }
      break;
    case TextItem::Kind::Hold:
      timeline.hold(item.until);
      break;
    case TextItem::Kind::Release:
      timeline.release(item.until);
      break;
    case TextItem::Kind::ReleaseAll:
      timeline.release_all();
      break;
    case TextItem::Kind::Reset:
      timeline.reset();
      break;
    case TextItem::Kind::End:
      timeline.set_end(item.until);
      break;
    case TextItem::Kind::Answer: {
      // A flush came after the window was made: its hold is gone with the reset.
      if (item.flushes != priv->flushes.load()) break;
      const auto span = timeline.place(item.until, item.duration, item.at_eos);
      if (!span) {
        GST_DEBUG_OBJECT(self,
                         "answer of the window ending at %" GST_TIME_FORMAT
                         " has no time left in the stream: bus only",
                         GST_TIME_ARGS(item.until));
        break;
      }
      GstBuffer* buffer = gst_buffer_new_memdup(item.text.data(), item.text.size());
      GST_BUFFER_PTS(buffer) = span->start;
      GST_BUFFER_DURATION(buffer) = span->duration;
      const GstFlowReturn ret = gst_pad_push(self->text_srcpad, buffer);
      if (ret != GST_FLOW_OK) GST_DEBUG_OBJECT(self, "text push: %s", gst_flow_get_name(ret));
      break;
    }
  }
}

void text_src_loop(gpointer user_data) {
  auto* self = static_cast<GstSlowfastMllm*>(user_data);
  std::optional<TextItem> item = self->priv->text_queue.pop();
  if (!item) {  // closed: flushing or deactivating
    gst_pad_pause_task(self->text_srcpad);
    return;
  }
  handle(self, *item);
}

void start_task(GstSlowfastMllm* self) {
  self->priv->text_queue.open();
  self->priv->text_timeline.reset();
  gst_pad_start_task(self->text_srcpad, text_src_loop, self, nullptr);
}

gboolean text_src_activate_mode(GstPad* pad, GstObject* parent, GstPadMode mode, gboolean active) {
  auto* self = GST_SLOWFAST_MLLM(parent);
  if (mode != GST_PAD_MODE_PUSH) return FALSE;
  if (active) {
    start_task(self);
    return TRUE;
  }
  self->priv->text_queue.close();
  return gst_pad_stop_task(pad);
}

// Seeks go upstream; QoS, navigation and the like concern the text branch only.
gboolean text_src_event(GstPad* pad, GstObject* parent, GstEvent* event) {
  (void)pad;
  GstSlowfastMllm* self = GST_SLOWFAST_MLLM(parent);
  if (GST_EVENT_TYPE(event) == GST_EVENT_SEEK) return forward_upstream_event(self, event);
  gst_event_unref(event);
  return TRUE;
}

gboolean text_src_query(GstPad* pad, GstObject* parent, GstQuery* query) {
  GstSlowfastMllm* self = GST_SLOWFAST_MLLM(parent);
  switch (GST_QUERY_TYPE(query)) {
    case GST_QUERY_LATENCY: {
      // Text for a window comes after the window's last frame, by up to one hop in a pipeline
      // that keeps up (slower windows are dropped in live pipelines).
      gboolean live;
      GstClockTime min, max;
      if (!gst_pad_peer_query(self->sinkpad, query)) return FALSE;
      gst_query_parse_latency(query, &live, &min, &max);
      const GstClockTime ours = text_latency(self);
      min += ours;
      if (GST_CLOCK_TIME_IS_VALID(max)) max += ours;
      gst_query_set_latency(query, live, min, max);
      GST_DEBUG_OBJECT(self,
                       "text latency: live %d, min %" GST_TIME_FORMAT ", max %" GST_TIME_FORMAT,
                       live, GST_TIME_ARGS(min), GST_TIME_ARGS(max));
      return TRUE;
    }
    case GST_QUERY_CAPS: {
      GstCaps *filter, *caps = gst_pad_get_pad_template_caps(pad);
      gst_query_parse_caps(query, &filter);
      if (filter) {
        GstCaps* filtered = gst_caps_intersect_full(filter, caps, GST_CAPS_INTERSECT_FIRST);
        gst_caps_unref(caps);
        caps = filtered;
      }
      gst_query_set_caps_result(query, caps);
      gst_caps_unref(caps);
      return TRUE;
    }
    case GST_QUERY_POSITION:
    case GST_QUERY_DURATION:
    case GST_QUERY_SEEKING:
    case GST_QUERY_SEGMENT:
    case GST_QUERY_CONVERT:
      return gst_pad_peer_query(self->sinkpad, query);
    default:
      return gst_pad_query_default(pad, parent, query);
  }
}

}  // namespace

void text_src_setup(GstSlowfastMllm* self) {
  gst_pad_set_activatemode_function(self->text_srcpad, GST_DEBUG_FUNCPTR(text_src_activate_mode));
  gst_pad_set_event_function(self->text_srcpad, GST_DEBUG_FUNCPTR(text_src_event));
  gst_pad_set_query_function(self->text_srcpad, GST_DEBUG_FUNCPTR(text_src_query));
  gst_pad_use_fixed_caps(self->text_srcpad);
}

// The latency text_src adds to the video's: the `latency` property, or one hop, the time the
// model has to answer a window before the next is due.
GstClockTime text_latency(GstSlowfastMllm* self) {
  GST_OBJECT_LOCK(self);
  const GstClockTime latency = self->priv->settings.latency;
  GST_OBJECT_UNLOCK(self);
  if (GST_CLOCK_TIME_IS_VALID(latency)) return latency;
  const GstClockTime hop = nominal_hop_duration(self);
  return GST_CLOCK_TIME_IS_VALID(hop) ? hop : 0;
}

void queue_text_at(GstSlowfastMllm* self, TextItem::Kind kind, GstClockTime from,
                   GstClockTime until) {
  TextItem item;
  item.kind = kind;
  item.from = from;
  item.until = until;
  queue_text(self, std::move(item));
}

void queue_text(GstSlowfastMllm* self, TextItem item) {
  if (!self->priv->text_queue.push(std::move(item))) {
    GST_LOG_OBJECT(self, "text_src is not running: text item dropped");
  }
}

void queue_text_event(GstSlowfastMllm* self, GstEvent* event) {
  TextItem item;
  item.kind = TextItem::Kind::Event;
  item.event.reset(event);
  queue_text(self, std::move(item));
}

// Flush events go out at once, from the streaming thread: flush-start unblocks the task if it
// is pushing into a blocked peer, then the task stops at its next item.
void text_src_flush_start(GstSlowfastMllm* self, GstEvent* event) {
  self->priv->text_queue.close();
  push_event(self, event);
  gst_pad_pause_task(self->text_srcpad);
}

void text_src_flush_stop(GstSlowfastMllm* self, GstEvent* event) {
  push_event(self, event);
  // Only an active pad runs a task (a flush can reach an element still in READY).
  if (gst_pad_is_active(self->text_srcpad)) start_task(self);
}

}  // namespace gstslowfast
