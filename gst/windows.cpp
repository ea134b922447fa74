// slowfastmllm's streaming side of the work: sampling frames, making windows when they are due
// and handing both to the convert thread and the worker, with the pending-window policy (wait or
// drop the oldest), EOS drains and the restarts of new segments and streams. Runs on the
// streaming thread only.
#include "gstslowfastmllm_private.h"
#include "messages.h"
#include "util/clock.h"

#define GST_CAT_DEFAULT gst_slowfast_mllm_debug

namespace gstslowfast {
namespace {

// Hands a window to the worker. Live (or leaky=downstream): never waits, drops the oldest pending
// windows instead. Otherwise waits while max-pending-windows windows are pending.
GstFlowReturn enqueue_window(GstSlowfastMllm* self, WindowPtr job, bool is_final) {
  GstSlowfastMllmPrivate* priv = self->priv;
  const Settings settings = settings_snapshot(self);
  const bool drop = !is_final && (settings.leaky == GST_SLOWFAST_LEAKY_DOWNSTREAM ||
                                  (settings.leaky == GST_SLOWFAST_LEAKY_AUTO && priv->live));

  // The text stream holds at the window's end before the worker can answer it.
  queue_text_at(self, TextItem::Kind::Hold, GST_CLOCK_TIME_NONE, job->end);
  priv->stream_windows++;
  auto admission = priv->pending.admit(job, settings.max_pending_windows, drop);
  if (!admission.admitted || halted(priv) ||
      !priv->convert_queue.push({WorkItem::Kind::Window, job->epoch, nullptr, job})) {
    queue_text_at(self, TextItem::Kind::Release, GST_CLOCK_TIME_NONE, job->end);
    return GST_FLOW_FLUSHING;
  }

  for (const WindowPtr& old : admission.dropped) {
    queue_text_at(self, TextItem::Kind::Release, GST_CLOCK_TIME_NONE, old->end);
    GST_OBJECT_LOCK(self);
    const guint64 total = ++priv->stats.dropped;
    GST_OBJECT_UNLOCK(self);
    GST_DEBUG_OBJECT(self, "dropped window %" GST_TIME_FORMAT " - %" GST_TIME_FORMAT,
                     GST_TIME_ARGS(old->start), GST_TIME_ARGS(old->end));
    post_dropped(self, *old, total);
  }
  return GST_FLOW_OK;
}

WindowPtr make_window_job(GstSlowfastMllm* self, const Window& window,
                          std::vector<uint64_t> indices, GstClockTime start, GstClockTime end,
                          GstClockTime duration) {
  const Settings settings = settings_snapshot(self);
  auto job = std::make_shared<WindowJob>();

  job->epoch = self->priv->epoch.load();
  job->flushes = self->priv->flushes.load();
  job->window = window;
  job->indices = std::move(indices);
  job->start = start;
  job->end = end;
  job->duration = duration;
  job->prompt = settings.prompt;
  job->generation = settings.generation;
  job->stream_tokens = settings.stream_tokens;
  job->due = slowfast::Clock::now();
  // The capture time of the newest sampled frame when the source gave one, else the arrival time
  // of the window's last frame, which is now.
  job->wall_clock = self->priv->capture_us;
  job->wall_clock_source = self->priv->capture_source;
  if (job->wall_clock_source == nullptr) {
    job->wall_clock = g_get_real_time();
    job->wall_clock_source = "arrival";
  }
  if (self->priv->have_segment && GST_CLOCK_TIME_IS_VALID(end)) {
    job->stream_time = gst_segment_to_stream_time(&self->priv->segment, GST_FORMAT_TIME, end);
  }
  if (settings.source_id.empty()) {
    GST_OBJECT_LOCK(self);
    job->source_id = GST_OBJECT_NAME(self) ? GST_OBJECT_NAME(self) : "";
    GST_OBJECT_UNLOCK(self);
  } else {
    job->source_id = settings.source_id;
  }
  return job;
}

void enqueue_frame(GstSlowfastMllm* self, GstBuffer* buffer, const GstVideoInfo* info,
                   uint64_t index, uint64_t seen) {
  GstSlowfastMllmPrivate* priv = self->priv;
  auto job = std::make_shared<FrameJob>();

  job->epoch = priv->epoch.load();
  job->index = index;
  job->seen = seen;
  job->video.reset(gst_buffer_ref(buffer));
  job->info = *info;
  if (halted(priv)) return;
  priv->convert_queue.push({WorkItem::Kind::Frame, job->epoch, job, nullptr});
}

}  // namespace

// The time `frames` sampled frames span.
static GstClockTime sampled_frames_duration(GstSlowfastMllm* self, uint64_t frames) {
  GstSlowfastMllmPrivate* priv = self->priv;
  const Settings& run = priv->run;

  if (run.sample_fps > 0) {
    return static_cast<GstClockTime>(frames * static_cast<gdouble>(GST_SECOND) / run.sample_fps +
                                     0.5);
  }
  if (priv->have_info && GST_VIDEO_INFO_FPS_N(&priv->video_info) > 0) {
    return gst_util_uint64_scale(frames * GST_SECOND, GST_VIDEO_INFO_FPS_D(&priv->video_info),
                                 GST_VIDEO_INFO_FPS_N(&priv->video_info));
  }
  if (GST_CLOCK_TIME_IS_VALID(priv->last_duration)) return frames * priv->last_duration;
  return GST_CLOCK_TIME_NONE;
}

// Time from one answer to the next: hop-frames sampling intervals.
GstClockTime nominal_hop_duration(GstSlowfastMllm* self) {
  return sampled_frames_duration(self, self->priv->run.hop_frames);
}

// Forgets every sampled frame and window (flush, segment restart, start).
void reset_stream_state(GstSlowfastMllm* self) {
  GstSlowfastMllmPrivate* priv = self->priv;

  priv->sampler = FrameSampler(priv->run.sample_fps);
  priv->window =
      SlidingWindow(priv->run.window_frames, priv->run.hop_frames, priv->run.first_answer_frames);
  priv->frame_times.clear();
  priv->next_pts = GST_CLOCK_TIME_NONE;
  priv->last_pts = GST_CLOCK_TIME_NONE;
  priv->tail.reset();
  priv->tail_sent = false;
  priv->stream_start = GST_CLOCK_TIME_NONE;
  priv->stream_end = GST_CLOCK_TIME_NONE;
  priv->video_end = GST_CLOCK_TIME_NONE;
  priv->live_known = false;
  priv->capture_source = nullptr;
  priv->stream_windows = 0;
}

// Makes everything queued and running stale, then drops what is queued: a running generation
// stops at its next step (flush, segment restart, stop).
void discard_queued_work(GstSlowfastMllmPrivate* priv) {
  priv->epoch++;
  priv->convert_queue.clear();
  priv->worker_queue.clear();
  priv->pending.clear();
  std::lock_guard<std::mutex> lock(priv->answers_lock);
  priv->ready_answers.clear();
}

bool halted(GstSlowfastMllmPrivate* priv) {
  return priv->flushing || priv->stop;
}

// The capture time a source put on the frame (rtspsrc add-reference-timestamp-meta=true gives
// timestamp/x-ntp from the camera's RTCP sender reports), in µs since the Unix epoch.
static const char* capture_time(GstBuffer* buffer, gint64* unix_us) {
  static GstStaticCaps ntp = GST_STATIC_CAPS("timestamp/x-ntp");
  static GstStaticCaps unix_time = GST_STATIC_CAPS("timestamp/x-unix");
  // NTP counts from 1900, 70 years (17 of them leap) before the Unix epoch.
  constexpr gint64 kNtpToUnixSeconds = 2208988800LL;
  if (const GstReferenceTimestampMeta* meta =
          gst_buffer_get_reference_timestamp_meta(buffer, gst_static_caps_get(&ntp))) {
    *unix_us = static_cast<gint64>(meta->timestamp / 1000) - kNtpToUnixSeconds * G_USEC_PER_SEC;
    return "ntp";
  }
  if (const GstReferenceTimestampMeta* meta =
          gst_buffer_get_reference_timestamp_meta(buffer, gst_static_caps_get(&unix_time))) {
    *unix_us = static_cast<gint64>(meta->timestamp / 1000);
    return "unix";
  }
  return nullptr;
}

GstFlowReturn sample_frame(GstSlowfastMllm* self, GstBuffer* buffer, GstClockTime pts,
                           GstClockTime end) {
  GstSlowfastMllmPrivate* priv = self->priv;
  const Settings& run = priv->run;

  if (!priv->sampler.accept(pts)) return GST_FLOW_OK;
  priv->capture_source = capture_time(buffer, &priv->capture_us);

  const uint64_t index = priv->window.count();
  if (run.mode == GST_SLOWFAST_MODE_WHOLE_STREAM) {
    const uint64_t seen = index + 1;
    priv->window.push();  // counts frames; whole-stream answers only at EOS
    if (!GST_CLOCK_TIME_IS_VALID(priv->stream_start)) priv->stream_start = pts;
    priv->stream_end = end;
    if (reservoir_keeps(index, seen, run.reservoir_frames)) {
      enqueue_frame(self, buffer, &priv->video_info, index, seen);
      priv->tail.reset();
      priv->tail_sent = true;
    } else {
      // The newest frame is always a pick; it is sent at EOS if it is still the newest.
      priv->tail.reset(gst_buffer_ref(buffer));
      priv->tail_info = priv->video_info;
      priv->tail_sent = false;
    }
    return GST_FLOW_OK;
  }

  enqueue_frame(self, buffer, &priv->video_info, index, index + 1);
  priv->frame_times.put(index, std::make_pair(pts, end));
  std::optional<Window> due = priv->window.push();
  priv->frame_times.keep_window(index, run.window_frames);
  if (!due) return GST_FLOW_OK;
  const auto* first = priv->frame_times.find(due->first);
  // The caption lasts until the next answer is due: a hop, or less for early answers.
  auto job = make_window_job(
      self, *due, due->indices(), first ? first->first : pts, end,
      sampled_frames_duration(self, priv->window.next_due() - priv->window.count()));
  return enqueue_window(self, job, false);
}

// Waits until the worker has handled everything queued so far (EOS), or until a flush or stop.
void drain(GstSlowfastMllm* self) {
  GstSlowfastMllmPrivate* priv = self->priv;
  const guint64 epoch = priv->epoch.load();

  if (halted(priv) || !priv->worker_thread.joinable()) return;
  if (!priv->convert_queue.push({WorkItem::Kind::Eos, epoch, nullptr, nullptr})) return;
  std::unique_lock<std::mutex> lock(priv->progress_lock);
  priv->progress.wait(lock, [&] {
    return halted(priv) || priv->eos_done_epoch == epoch || priv->epoch.load() != epoch;
  });
}

// Alert mode raises after alert-raise-after consecutive yes answers: a stream (a short file)
// that got fewer answers could never raise one, which must not pass for "nothing happened".
static void warn_if_too_short_for_alert(GstSlowfastMllm* self) {
  GstSlowfastMllmPrivate* priv = self->priv;
  GST_OBJECT_LOCK(self);
  const guint raise_after = priv->settings.alert_raise_after;
  const bool raised = priv->alert.raised();
  GST_OBJECT_UNLOCK(self);
  if (raise_after == 0 || raised || priv->stream_windows >= raise_after) return;
  const Settings& run = priv->run;
  const guint needed_frames = run.window_frames + (raise_after - 1) * run.hop_frames;
  gchar* seconds = run.sample_fps > 0
                       ? g_strdup_printf(", %.1f s at sample-fps=%g",
                                         needed_frames / run.sample_fps, run.sample_fps)
                       : g_strdup("");
  GST_ELEMENT_WARNING(self, STREAM, FAILED,
                      ("The stream ended after %" G_GUINT64_FORMAT " answer(s): with "
                       "alert-raise-after=%u no alert could be raised",
                       priv->stream_windows, raise_after),
                      ("An alert needs %u consecutive yes answers: a stream of at least %u sampled "
                       "frames (window-frames + (alert-raise-after - 1) x hop-frames%s); for short "
                       "clips lower alert-raise-after or hop-frames",
                       raise_after, needed_frames, seconds));
  g_free(seconds);
}

// EOS: answers the last partial window (sliding) or the whole stream, then waits for it.
void finish_stream(GstSlowfastMllm* self) {
  GstSlowfastMllmPrivate* priv = self->priv;
  const Settings& run = priv->run;

  if (!priv->model) return;
  if (run.mode == GST_SLOWFAST_MODE_SLIDING) {
    // Live, the end is known only now: answers still being made stop there. Not live, a file's
    // end was known ahead (announce_stream_end); an end learnt at EOS would clip only the
    // answers that happen to come late, so the text would depend on the machine's speed.
    if (priv->live && GST_CLOCK_TIME_IS_VALID(priv->video_end)) {
      queue_text_at(self, TextItem::Kind::End, GST_CLOCK_TIME_NONE, priv->video_end);
    }
    if (std::optional<Window> last = priv->window.finish()) {
      const auto* first = priv->frame_times.find(last->first);
      const auto* newest = priv->frame_times.find(last->last);
      if (first && newest) {
        WindowPtr job = make_window_job(self, *last, last->indices(), first->first, newest->second,
                                        GST_CLOCK_TIME_NONE);
        job->at_eos = true;
        enqueue_window(self, job, true);
      }
    }
    warn_if_too_short_for_alert(self);
  } else if (priv->window.count() > 0) {
    const uint64_t n = priv->window.count();
    if (!priv->tail_sent && priv->tail) {
      enqueue_frame(self, priv->tail.get(), &priv->tail_info, n - 1, n);
    }
    priv->tail.reset();
    std::vector<uint64_t> picks = reservoir_picks(n, run.window_frames, run.reservoir_frames);
    Window whole;
    whole.first = 0;
    whole.last = n - 1;
    whole.size = run.window_frames;
    WindowPtr job = make_window_job(self, whole, picks, priv->stream_start, priv->stream_end,
                                    GST_CLOCK_TIME_NONE);
    job->at_eos = true;
    enqueue_window(self, job, true);
  }
  drain(self);
}

// A new segment or stream restarts windows. Answers still due for the old one go out first (not
// live: the last partial window or the whole-stream answer); live, pending windows are dropped
// instead of delaying the stream.
void restart_windows(GstSlowfastMllm* self, bool answer_the_rest) {
  GstSlowfastMllmPrivate* priv = self->priv;
  if (priv->window.count() > 0) {
    if (priv->live) {
      discard_queued_work(priv);
    } else if (answer_the_rest) {
      finish_stream(self);
    } else {
      drain(self);
    }
    // Frame indices restart: the worker's cached features of this stream are stale.
    priv->epoch++;
  }
}

// The stream ends without EOS (a new one starts): the text stream then covers every frame of it
// (a GAP after the last answer), and the next segment always restarts windows and is sent on
// text_src.

// A file's end is known ahead (its segment's stop, or its duration): captions are clipped to it
// as they are placed, so the last one does not run past the end of the video.
static void announce_stream_end(GstSlowfastMllm* self) {
  GstSlowfastMllmPrivate* priv = self->priv;
  if (!priv->have_segment || priv->segment.format != GST_FORMAT_TIME) return;
  GstClockTime end = priv->segment.stop;
  gint64 duration = -1;
  if (!GST_CLOCK_TIME_IS_VALID(end) &&
      gst_pad_peer_query_duration(self->sinkpad, GST_FORMAT_TIME, &duration) && duration > 0) {
    end = gst_segment_position_from_stream_time(&priv->segment, GST_FORMAT_TIME,
                                                static_cast<guint64>(duration));
  }
  if (!GST_CLOCK_TIME_IS_VALID(end)) return;
  GST_DEBUG_OBJECT(self, "the stream ends at %" GST_TIME_FORMAT, GST_TIME_ARGS(end));
  queue_text_at(self, TextItem::Kind::End, GST_CLOCK_TIME_NONE, end);
}

// Is the pipeline upstream live? Asked once per segment with a latency query.
void check_live(GstSlowfastMllm* self) {
  GstSlowfastMllmPrivate* priv = self->priv;
  GstQuery* query = gst_query_new_latency();
  gboolean live = FALSE;

  if (gst_pad_peer_query(self->sinkpad, query)) gst_query_parse_latency(query, &live, NULL, NULL);
  gst_query_unref(query);
  priv->live = live;
  priv->live_known = true;
  GST_DEBUG_OBJECT(self, "upstream is %s", live ? "live" : "not live");
  if (!live && priv->run.mode == GST_SLOWFAST_MODE_SLIDING) announce_stream_end(self);
}

// The stream ends without EOS (a new one starts): the text stream then covers every frame of it
// (a GAP after the last answer), and the next segment always restarts windows and is sent on
// text_src.
void end_previous_stream(GstSlowfastMllm* self) {
  GstSlowfastMllmPrivate* priv = self->priv;

  restart_windows(self, true);
  queue_text_at(self, TextItem::Kind::ReleaseAll);  // answered above, or dropped
  queue_text_at(self, TextItem::Kind::Advance, priv->video_end, priv->video_end);
  reset_stream_state(self);
  queue_text_at(self, TextItem::Kind::Reset);
  priv->have_segment = false;
}

void restart_at_backwards_timestamp(GstSlowfastMllm* self, GstClockTime pts) {
  GstSlowfastMllmPrivate* priv = self->priv;
  GST_ELEMENT_WARNING(self, STREAM, FORMAT, ("Video timestamps went backwards"),
                      ("frame at %" GST_TIME_FORMAT " after one at %" GST_TIME_FORMAT
                       " without a new segment; windows restart at this frame",
                       GST_TIME_ARGS(pts), GST_TIME_ARGS(priv->last_pts)));
  restart_windows(self, false);
  reset_stream_state(self);
  queue_text_at(self, TextItem::Kind::Reset);
}

// A new segment: windows restart, and text_src gets the segment too.
void handle_segment(GstSlowfastMllm* self, GstEvent* event, const GstSegment* segment) {
  GstSlowfastMllmPrivate* priv = self->priv;
  // The same segment sent again (some elements repeat it with new caps) changes nothing.
  if (priv->have_segment && gst_segment_is_equal(&priv->segment, segment)) return;
  priv->segment = *segment;
  priv->have_segment = true;
  restart_windows(self, false);
  reset_stream_state(self);
  queue_text_at(self, TextItem::Kind::Reset);
  // The text stream gets the segment without its end: the answer for the last window at EOS
  // starts at that end and would be clipped by downstream sinks.
  GstSegment text_segment = *segment;
  text_segment.stop = GST_CLOCK_TIME_NONE;
  GstEvent* text_event = gst_event_new_segment(&text_segment);
  gst_event_set_seqnum(text_event, gst_event_get_seqnum(event));
  queue_text_event(self, text_event);
}

}  // namespace gstslowfast
