// slowfastmllm's model threads. The convert thread turns sampled frames into RGB with
// GstVideoConverter and drops the reference to the upstream buffer at once, so upstream pools are
// never starved. The worker encodes each sampled frame once into per-frame features, keeps exactly
// the features windows can still need and answers windows; answers go to text_src's task, the bus
// and the next video buffer's meta.
#include <algorithm>
#include <exception>
#include <limits>
#include <stdexcept>

#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "gstslowfastmllm_private.h"
#include "messages.h"
#include "utf8.h"
#include "util/clock.h"

#define GST_CAT_DEFAULT gst_slowfast_mllm_debug

namespace gstslowfast {
namespace {

// The model's threads yield the CPU to the video: a live sink thread must never be late because
// inference took both cores. On Linux a thread's nice value is its own and is inherited by the
// threads it creates (libtorch's intra-op pool is created by the worker on its first operation).
void lower_thread_priority(GstSlowfastMllm* self) {
#ifdef __linux__
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10) != 0) {
    GST_DEBUG_OBJECT(self, "could not lower the priority of a model thread");
  }
#else
  (void)self;
#endif
}

// Frames older than the oldest pending window's first frame are needed by no window: windows were
// dropped in between (a window's own frames come before it in the queues, so the windows already
// taken are done with them).
bool needed_by_no_window(GstSlowfastMllm* self, const FrameJob& frame) {
  const std::optional<WindowPtr> oldest = self->priv->pending.oldest();
  return oldest && (*oldest)->epoch == frame.epoch && frame.index < (*oldest)->window.first;
}

// The RGB converter for one input format, remade when the format changes.
class RgbConverter {
 public:
  ~RgbConverter() {
    if (converter_) gst_video_converter_free(converter_);
  }

  // frame->video -> frame->rgb. Throws when the frame cannot be converted.
  void convert(FrameJob& frame) {
    GstVideoInfo out;
    gst_video_info_set_format(&out, GST_VIDEO_FORMAT_RGB, GST_VIDEO_INFO_WIDTH(&frame.info),
                              GST_VIDEO_INFO_HEIGHT(&frame.info));
    // Only the format changes: the converter requires the rest to match.
    GST_VIDEO_INFO_FPS_N(&out) = GST_VIDEO_INFO_FPS_N(&frame.info);
    GST_VIDEO_INFO_FPS_D(&out) = GST_VIDEO_INFO_FPS_D(&frame.info);
    GST_VIDEO_INFO_PAR_N(&out) = GST_VIDEO_INFO_PAR_N(&frame.info);
    GST_VIDEO_INFO_PAR_D(&out) = GST_VIDEO_INFO_PAR_D(&frame.info);
    GST_VIDEO_INFO_INTERLACE_MODE(&out) = GST_VIDEO_INFO_INTERLACE_MODE(&frame.info);
    if (converter_ == nullptr || !gst_video_info_is_equal(&in_, &frame.info) ||
        !gst_video_info_is_equal(&out_, &out)) {
      if (converter_) gst_video_converter_free(converter_);
      converter_ = gst_video_converter_new(&frame.info, &out, nullptr);
      in_ = frame.info;
      out_ = out;
    }
    if (converter_ == nullptr) throw std::runtime_error("no video converter for this format");
    BufferPtr rgb(gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&out), nullptr));
    GstVideoFrame in_frame, out_frame;
    if (!gst_video_frame_map(&in_frame, &frame.info, frame.video.get(), GST_MAP_READ)) {
      throw std::runtime_error("cannot map a sampled video frame");
    }
    if (!gst_video_frame_map(&out_frame, &out, rgb.get(), GST_MAP_WRITE)) {
      gst_video_frame_unmap(&in_frame);
      throw std::runtime_error("cannot map an RGB frame");
    }
    gst_video_converter_frame(converter_, &in_frame, &out_frame);
    gst_video_frame_unmap(&out_frame);
    gst_video_frame_unmap(&in_frame);
    frame.rgb = std::move(rgb);
    frame.rgb_info = out;
  }

 private:
  GstVideoConverter* converter_ = nullptr;
  GstVideoInfo in_;
  GstVideoInfo out_;
};

struct WorkerState {
  guint64 cache_epoch = G_MAXUINT64;
  FrameCache<slowfast::FrameFeatures> features;
  FrameCache<FramePtr> frames;  // RGB frames, only with feature-cache=false
  double vision_seconds = 0;    // encoding since the last answer
};

std::vector<slowfast::FrameFeatures> encode_frames(GstSlowfastMllm* self,
                                                   const std::vector<FramePtr>& jobs) {
  std::vector<slowfast::FrameView> views;
  std::vector<GstVideoFrame> mapped(jobs.size());
  size_t n_mapped = 0;
  views.reserve(jobs.size());
  try {
    for (const FramePtr& job : jobs) {
      GstVideoFrame* frame = &mapped[n_mapped];
      if (!gst_video_frame_map(frame, &job->rgb_info, job->rgb.get(), GST_MAP_READ)) {
        throw std::runtime_error("cannot map an RGB frame");
      }
      n_mapped++;
      slowfast::FrameView view;
      view.rgb = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(frame, 0));
      view.width = GST_VIDEO_FRAME_WIDTH(frame);
      view.height = GST_VIDEO_FRAME_HEIGHT(frame);
      view.stride = GST_VIDEO_FRAME_PLANE_STRIDE(frame, 0);
      views.push_back(view);
    }
    std::vector<slowfast::FrameFeatures> features = self->priv->model->encode_frames(views);
    for (size_t i = 0; i < n_mapped; i++) gst_video_frame_unmap(&mapped[i]);
    return features;
  } catch (...) {
    for (size_t i = 0; i < n_mapped; i++) gst_video_frame_unmap(&mapped[i]);
    throw;
  }
}

// Takes newly converted frames into the cache, keeping exactly what windows can still need.
void take_frames(GstSlowfastMllm* self, WorkerState& state, const std::vector<FramePtr>& batch) {
  const Settings& run = self->priv->run;
  std::vector<FramePtr> usable;
  for (const FramePtr& job : batch) {
    if (job->rgb && !needed_by_no_window(self, *job)) usable.push_back(job);
  }
  if (usable.empty()) return;

  if (run.feature_cache) {
    const auto start = slowfast::Clock::now();
    std::vector<slowfast::FrameFeatures> features = encode_frames(self, usable);
    state.vision_seconds += slowfast::seconds_since(start);
    for (size_t i = 0; i < usable.size(); i++) state.features.put(usable[i]->index, features[i]);
  } else {
    for (const FramePtr& job : usable) state.frames.put(job->index, job);
  }

  if (run.mode == GST_SLOWFAST_MODE_SLIDING) {
    const uint64_t newest = usable.back()->index;
    state.features.keep_window(newest, run.window_frames);
    state.frames.keep_window(newest, run.window_frames);
  } else {
    uint64_t seen = 0;
    for (const FramePtr& job : usable) seen = std::max(seen, job->seen);
    const auto keep = [&](uint64_t index) {
      return index + 1 == seen || reservoir_keeps(index, seen, run.reservoir_frames);
    };
    state.features.keep_if(keep);
    state.frames.keep_if(keep);
  }
}

// The features of the window's frames, oldest first.
std::vector<slowfast::FrameFeatures> window_features(GstSlowfastMllm* self, WorkerState& state,
                                                     const WindowJob& job) {
  if (self->priv->run.feature_cache) {
    auto gathered = state.features.gather(job.indices);
    if (!gathered) {
      throw std::runtime_error("a frame of the window is missing from the feature cache");
    }
    return std::move(*gathered);
  }
  // Debug path: every frame of the window is encoded again, as without a cache.
  std::vector<uint64_t> distinct(job.indices);
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  auto frames = state.frames.gather(distinct);
  if (!frames) throw std::runtime_error("a frame of the window is missing");
  const auto start = slowfast::Clock::now();
  std::vector<slowfast::FrameFeatures> encoded = encode_frames(self, *frames);
  state.vision_seconds += slowfast::seconds_since(start);
  FrameCache<slowfast::FrameFeatures> window_cache;
  for (size_t i = 0; i < distinct.size(); i++) window_cache.put(distinct[i], encoded[i]);
  return *window_cache.gather(job.indices);
}

// Alert mode: reads the answer as yes/no and posts slowfast-alert when the alert is raised or
// cleared (after the answer's own message).
void update_alert(GstSlowfastMllm* self, const WindowJob& job, const std::string& text) {
  using Change = AlertHysteresis::Change;
  GstSlowfastMllmPrivate* priv = self->priv;

  GST_OBJECT_LOCK(self);
  const Change change = priv->alert.update(read_verdict(text));
  const guint consecutive = priv->alert.run();
  GST_OBJECT_UNLOCK(self);
  if (change == Change::None) return;

  const gchar* state = change == Change::Raised ? "raised" : "cleared";
  GST_INFO_OBJECT(self, "alert %s after %u consecutive answers: %s", state, consecutive,
                  text.c_str());
  post_alert(self, job, state, text, consecutive);
  g_object_notify(G_OBJECT(self), "alert-raised");
}

void answer_window(GstSlowfastMllm* self, WorkerState& state, const WindowJob& job) {
  GstSlowfastMllmPrivate* priv = self->priv;
  const std::vector<slowfast::FrameFeatures> features = window_features(self, state, job);

  const guint64 epoch = job.epoch;
  slowfast::TokenCallback on_token = nullptr;
  if (job.stream_tokens) {
    on_token = [self, &job](const std::string& piece) { post_token(self, job, piece); };
  }
  const auto should_abort = [priv, epoch] { return priv->epoch.load() != epoch; };

  slowfast::Answer answer =
      priv->session->answer(features, job.prompt, job.generation, on_token, should_abort);
  if (answer.aborted || priv->epoch.load() != epoch) {
    GST_DEBUG_OBJECT(self, "generation aborted (flush or stop)");
    return;
  }

  answer.text = valid_utf8(answer.text);  // goes into buffers, meta and messages

  AnswerFigures figures;
  figures.latency_seconds = slowfast::seconds_since(job.due);
  figures.vision_seconds = state.vision_seconds + answer.vision_seconds;
  figures.generation_seconds = answer.prefill_seconds + answer.decode_seconds;
  figures.tokens = static_cast<guint>(answer.output_ids.size());
  state.vision_seconds = 0;

  GST_OBJECT_LOCK(self);
  priv->stats.answered++;
  priv->stats.last_latency = static_cast<GstClockTime>(figures.latency_seconds * GST_SECOND);
  priv->stats.latency_sum += figures.latency_seconds;
  priv->stats.generated_tokens += figures.tokens;
  priv->stats.generation_seconds += figures.generation_seconds;
  GST_OBJECT_UNLOCK(self);

  GST_INFO_OBJECT(
      self, "window %" GST_TIME_FORMAT " - %" GST_TIME_FORMAT " answered in %.3f s (%u tokens): %s",
      GST_TIME_ARGS(job.start), GST_TIME_ARGS(job.end), figures.latency_seconds, figures.tokens,
      answer.text.c_str());

  TextItem text;
  text.kind = TextItem::Kind::Answer;
  text.flushes = job.flushes;
  text.until = job.end;
  text.duration = job.duration;
  text.at_eos = job.at_eos;
  text.text = answer.text;
  queue_text(self, std::move(text));

  post_answer(self, job, answer.text, figures);
  update_alert(self, job, answer.text);

  std::lock_guard<std::mutex> lock(priv->answers_lock);
  if (priv->epoch.load() == epoch) priv->ready_answers.push_back({answer.text, job.start, job.end});
}

}  // namespace

void convert_loop(GstSlowfastMllm* self) {
  GstSlowfastMllmPrivate* priv = self->priv;
  RgbConverter converter;
  lower_thread_priority(self);
  while (std::optional<WorkItem> item = priv->convert_queue.pop()) {
    if (item->epoch != priv->epoch.load()) continue;
    if (item->kind == WorkItem::Kind::Frame) {
      FrameJob& frame = *item->frame;
      if (needed_by_no_window(self, frame)) continue;
      try {
        converter.convert(frame);
      } catch (const std::exception& e) {
        // No rgb: the worker skips the frame.
        GST_ELEMENT_WARNING(self, STREAM, FORMAT, ("Could not convert a sampled frame to RGB"),
                            ("%s", valid_utf8(e.what()).c_str()));
      }
      frame.video.reset();
    }
    priv->worker_queue.push(std::move(*item));
  }
}

void worker_loop(GstSlowfastMllm* self) {
  GstSlowfastMllmPrivate* priv = self->priv;
  WorkerState state;
  const auto both_frames = [](const WorkItem& first, const WorkItem& next) {
    return first.kind == WorkItem::Kind::Frame && next.kind == WorkItem::Kind::Frame &&
           first.epoch == next.epoch;
  };

  lower_thread_priority(self);
  while (true) {
    // Every converted frame at the head in one batch, or one window or EOS marker.
    std::vector<WorkItem> run =
        priv->worker_queue.pop_run(std::numeric_limits<size_t>::max(), both_frames);
    if (run.empty()) break;  // closed: stop
    const WorkItem& first = run.front();
    if (first.epoch != state.cache_epoch) {
      state.features.clear();
      state.frames.clear();
      state.vision_seconds = 0;
      state.cache_epoch = first.epoch;
    }
    const bool current = first.epoch == priv->epoch.load();

    try {
      switch (first.kind) {
        case WorkItem::Kind::Frame: {
          if (!current) break;
          std::vector<FramePtr> frames;
          for (const WorkItem& item : run) frames.push_back(item.frame);
          take_frames(self, state, frames);
          break;
        }
        case WorkItem::Kind::Window:
          // Not pending any more: dropped while it waited (its text hold is released already).
          if (!priv->pending.take(first.window)) break;
          if (current) answer_window(self, state, *first.window);
          break;
        case WorkItem::Kind::Eos:
          break;
      }
    } catch (const std::exception& e) {
      // One bad window is a warning; the stream goes on.
      GST_ELEMENT_WARNING(self, LIBRARY, FAILED, ("Could not answer a window"),
                          ("%s", valid_utf8(e.what()).c_str()));
      if (first.kind == WorkItem::Kind::Window) {
        TextItem release;
        release.kind = TextItem::Kind::Release;
        release.until = first.window->end;
        queue_text(self, std::move(release));
      }
    }

    if (first.kind == WorkItem::Kind::Eos) {
      std::lock_guard<std::mutex> lock(priv->progress_lock);
      priv->eos_done_epoch = first.epoch;
      priv->progress.notify_all();
    }
  }
}

}  // namespace gstslowfast
