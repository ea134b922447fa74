// slowfastmllm's state, shared by the files that make up the element (docs/architecture.md):
//   gstslowfastmllm.cpp  pads, chain, events, queries, states, model loading, properties, class
//   worker.cpp           the convert thread and the worker thread (encode frames, answer windows)
//   textsrc.cpp          text_src's task: the one thread that pushes on text_src
//   messages.cpp         the bus messages (their fields are an API: docs/element.md)
//   enums.cpp            the element's enum GTypes
// and the GObject-free units beside them: framewindow (sampling, windows, caches), textstream
// (text_src's timing rules), workqueue (stage queues, the pending-window policy), alert.
//
// Threads: the streaming thread samples frames and makes windows; the convert thread turns
// sampled frames into RGB; the worker encodes frames and answers windows; text_src's task pushes
// GAPs and answers. Each hand-over is one StageQueue, in stream order:
//   streaming -> convert_queue -> convert -> worker_queue -> worker
//   streaming, worker -> text_queue -> text_src task
// `epoch` marks everything queued before a flush, a new segment or a stop as stale.
#pragma once

#include <gst/gst.h>
#include <gst/video/video.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "alert.h"
#include "enums.h"
#include "framewindow.h"
#include "gstslowfastmllm.h"
#include "slowfast.h"
#include "textstream.h"
#include "workqueue.h"

GST_DEBUG_CATEGORY_EXTERN(gst_slowfast_mllm_debug);

namespace gstslowfast {

// Property defaults that are the element's own; generation defaults are the engine's
// (slowfast::GenerationParams, slowfast::kDefaultPrompt).
inline constexpr guint kDefaultWindowFrames = 64;
inline constexpr gdouble kDefaultSampleFps = 4.0;
inline constexpr guint kDefaultHopFrames = 16;
inline constexpr guint kDefaultFirstAnswerFrames = 16;
inline constexpr GstSlowfastMode kDefaultMode = GST_SLOWFAST_MODE_SLIDING;
inline constexpr guint kDefaultMaxPendingWindows = 1;
inline constexpr GstSlowfastLeaky kDefaultLeaky = GST_SLOWFAST_LEAKY_AUTO;
inline constexpr GstClockTime kDefaultLatency = GST_CLOCK_TIME_NONE;  // one hop
inline constexpr bool kDefaultStreamTokens = false;
inline constexpr bool kDefaultFeatureCache = true;
inline constexpr guint kDefaultReservoirFrames = 256;
inline constexpr guint kDefaultAlertRaiseAfter = 0;
inline constexpr guint kDefaultAlertClearAfter = 1;

struct BufferUnref {
  void operator()(GstBuffer* buffer) const { gst_buffer_unref(buffer); }
};
using BufferPtr = std::unique_ptr<GstBuffer, BufferUnref>;

struct EventUnref {
  void operator()(GstEvent* event) const { gst_event_unref(event); }
};
using EventPtr = std::unique_ptr<GstEvent, EventUnref>;

// The properties, under the object lock.
struct Settings {
  std::string model_location;
  std::string prompt = slowfast::kDefaultPrompt;
  guint window_frames = kDefaultWindowFrames;
  gdouble sample_fps = kDefaultSampleFps;
  guint hop_frames = kDefaultHopFrames;
  guint first_answer_frames = kDefaultFirstAnswerFrames;
  GstSlowfastMode mode = kDefaultMode;
  slowfast::GenerationParams generation;
  slowfast::Device device = slowfast::LoadOptions().device;
  slowfast::DType dtype = slowfast::LoadOptions().dtype;
  bool weights_in_memory = slowfast::LoadOptions().weights_in_memory;
  guint max_batch = static_cast<guint>(slowfast::LoadOptions().max_batch);
  guint max_pending_windows = kDefaultMaxPendingWindows;
  GstSlowfastLeaky leaky = kDefaultLeaky;
  GstClockTime latency = kDefaultLatency;
  bool stream_tokens = kDefaultStreamTokens;
  bool feature_cache = kDefaultFeatureCache;
  guint reservoir_frames = kDefaultReservoirFrames;
  std::string source_id;  // empty: the element's name
  guint alert_raise_after = kDefaultAlertRaiseAfter;
  guint alert_clear_after = kDefaultAlertClearAfter;
};

struct Stats {
  guint64 answered = 0;
  guint64 dropped = 0;
  GstClockTime last_latency = 0;  // 0 before the first answer
  double latency_sum = 0;         // seconds
  double generated_tokens = 0;
  double generation_seconds = 0;
};

// A sampled frame on its way to the worker.
struct FrameJob {
  guint64 epoch = 0;
  uint64_t index = 0;
  uint64_t seen = 0;  // sampled frames so far, this one included (whole-stream)
  BufferPtr video;    // the upstream buffer until converted
  GstVideoInfo info;
  BufferPtr rgb;  // packed RGB after conversion; none when conversion failed
  GstVideoInfo rgb_info;
};
using FramePtr = std::shared_ptr<FrameJob>;

// A window to answer, with everything captured when it became due.
struct WindowJob {
  guint64 epoch = 0;
  guint64 flushes = 0;  // GstSlowfastMllmPrivate::flushes when the window became due
  Window window;
  std::vector<uint64_t> indices;  // sampled-frame indices, oldest first
  GstClockTime start = GST_CLOCK_TIME_NONE;
  GstClockTime end = GST_CLOCK_TIME_NONE;
  GstClockTime duration = GST_CLOCK_TIME_NONE;
  bool at_eos = false;  // the last partial window or the whole stream, made at EOS
  std::string prompt;
  slowfast::GenerationParams generation;
  bool stream_tokens = false;
  std::chrono::steady_clock::time_point due;
  GstClockTime stream_time = GST_CLOCK_TIME_NONE;  // of `end`, in the video's segment
  // Real time (µs since the Unix epoch) of the window's end: its last frame's capture time, or
  // when that frame arrived; wall_clock_source says which ("ntp", "unix" or "arrival").
  gint64 wall_clock = 0;
  const char* wall_clock_source = "arrival";
  std::string source_id;
};
using WindowPtr = std::shared_ptr<WindowJob>;

// What flows from the streaming thread through the convert thread to the worker, in order.
struct WorkItem {
  enum class Kind { Frame, Window, Eos };
  Kind kind = Kind::Eos;
  guint64 epoch = 0;
  FramePtr frame;
  WindowPtr window;
};

// What text_src's task is asked to do, in order (TextTimeline decides the times).
struct TextItem {
  enum class Kind {
    Event,       // push `event` (stream-start, caps, segment, EOS)
    Advance,     // video covers [from, until): a GAP if the timeline allows
    Hold,        // a window ending at `until` waits for its answer
    Release,     // that window's answer will not come
    ReleaseAll,  // no window waits any more (the stream ended without EOS)
    Answer,      // the answer `text` of the window ending at `until`, lasting `duration`
    Reset,       // a new segment: nothing announced, nothing held
    End,         // the stream ends at `until` (known ahead for files, else at EOS)
  };
  Kind kind = Kind::Event;
  guint64 flushes = 0;  // an Answer made before a later flush or stop is stale
  EventPtr event;
  GstClockTime from = GST_CLOCK_TIME_NONE;
  GstClockTime until = GST_CLOCK_TIME_NONE;
  GstClockTime duration = GST_CLOCK_TIME_NONE;
  bool at_eos = false;  // an Answer of the window made at EOS
  std::string text;
};

// An answer waiting for the next video buffer to carry it as meta.
struct ReadyAnswer {
  std::string text;
  GstClockTime start, end;
};

}  // namespace gstslowfast

struct GstSlowfastMllmPrivate {
  // Properties and statistics: under the object lock.
  gstslowfast::Settings settings;
  gstslowfast::Stats stats;
  // Alert state: under the object lock; kept across flushes and state changes (the scene is the
  // same camera's), reset when the thresholds change.
  gstslowfast::AlertHysteresis alert{gstslowfast::kDefaultAlertRaiseAfter,
                                     gstslowfast::kDefaultAlertClearAfter};

  // Model: set in READY->PAUSED, read by the worker while it runs.
  std::shared_ptr<const slowfast::Model> model;
  std::unique_ptr<slowfast::Session> session;
  std::string loaded_location;
  slowfast::Device loaded_device = slowfast::Device::Auto;
  slowfast::DType loaded_dtype = slowfast::DType::Auto;
  bool loaded_weights_in_memory = false;
  guint loaded_max_batch = 0;
  // The settings a run uses, fixed from READY->PAUSED to PAUSED->READY (the window, sampling,
  // mode and cache are read there only).
  gstslowfast::Settings run;

  // Streaming thread only (chain and serialized events).
  gstslowfast::FrameSampler sampler;
  gstslowfast::SlidingWindow window{gstslowfast::kDefaultWindowFrames,
                                    gstslowfast::kDefaultHopFrames};
  // Sampled-frame index -> (pts, end): the times of the frames a window can still hold.
  gstslowfast::FrameCache<std::pair<GstClockTime, GstClockTime>> frame_times;
  GstVideoInfo video_info;
  bool have_info = false;
  GstSegment segment;
  bool have_segment = false;
  std::string stream_id;  // of the current upstream stream, empty before the first
  GstClockTime next_pts = GST_CLOCK_TIME_NONE;
  GstClockTime last_pts = GST_CLOCK_TIME_NONE;  // of the previous frame in this segment
  GstClockTime last_duration = GST_CLOCK_TIME_NONE;
  bool live_known = false;
  bool live = false;
  bool text_ended = false;  // EOS was sent on text_src
  // The newest sampled frame's capture time (GstReferenceTimestampMeta), source null without.
  gint64 capture_us = 0;
  const char* capture_source = nullptr;
  // whole-stream: the newest sampled frame when it was not sent, its time and the first one's
  gstslowfast::BufferPtr tail;
  GstVideoInfo tail_info;
  GstClockTime stream_start = GST_CLOCK_TIME_NONE;
  GstClockTime stream_end = GST_CLOCK_TIME_NONE;
  GstClockTime video_end = GST_CLOCK_TIME_NONE;  // end of the last frame pushed on src
  bool tail_sent = false;
  guint64 stream_windows = 0;  // windows made due in this stream (alert mode's EOS warning)

  // The stages' queues and the windows waiting for the model.
  gstslowfast::StageQueue<gstslowfast::WorkItem> convert_queue;
  gstslowfast::StageQueue<gstslowfast::WorkItem> worker_queue;
  gstslowfast::StageQueue<gstslowfast::TextItem> text_queue;
  gstslowfast::PendingWindows<gstslowfast::WindowPtr> pending;
  // text_src's timing: only its task touches it (and flush-stop, while the task is paused).
  gstslowfast::TextTimeline text_timeline;
  std::atomic<guint64> epoch{0};  // bumped by flush, segment restart and stop
  // Bumped by flush and stop only: text made before one is stale on text_src, while an answer
  // made before a new segment or stream still goes out.
  std::atomic<guint64> flushes{0};

  // The worker's progress through EOS markers, for drain(); flushing and stop wake it too.
  // Both flags are set under progress_lock, so a drain() waiting on `progress` sees them.
  std::mutex progress_lock;
  std::condition_variable progress;
  guint64 eos_done_epoch = G_MAXUINT64;
  std::atomic<bool> flushing{false};
  std::atomic<bool> stop{true};

  // Answers for the next video buffer's meta: the worker adds, the streaming thread takes.
  std::mutex answers_lock;
  std::vector<gstslowfast::ReadyAnswer> ready_answers;

  std::thread convert_thread;
  std::thread worker_thread;
  guint32 last_seek_seqnum = GST_SEQNUM_INVALID;
};

struct _GstSlowfastMllm {
  GstElement parent;
  GstPad* sinkpad;
  GstPad* srcpad;
  GstPad* text_srcpad;
  GstSlowfastMllmPrivate* priv;
};

namespace gstslowfast {

// gstslowfastmllm.cpp
Settings settings_snapshot(GstSlowfastMllm* self);
// A seek from either src pad goes upstream once (a pipeline seek reaches both).
gboolean forward_upstream_event(GstSlowfastMllm* self, GstEvent* event);

// windows.cpp: the streaming thread's side of the work.
// Time from one answer to the next: hop-frames sampling intervals (GST_CLOCK_TIME_NONE unknown).
GstClockTime nominal_hop_duration(GstSlowfastMllm* self);
// Forgets every sampled frame and window (flush, segment restart, start).
void reset_stream_state(GstSlowfastMllm* self);
// Makes everything queued and running stale, then drops what is queued: a running generation
// stops at its next step (flush, segment restart, stop).
void discard_queued_work(GstSlowfastMllmPrivate* priv);
// Flushing or stopping: nothing new is queued.
bool halted(GstSlowfastMllmPrivate* priv);
// A frame at [pts, end): sampled or not, and the window it completes handed to the worker.
GstFlowReturn sample_frame(GstSlowfastMllm* self, GstBuffer* buffer, GstClockTime pts,
                           GstClockTime end);
// Waits until the worker has handled everything queued so far, or until a flush or stop.
void drain(GstSlowfastMllm* self);
// EOS: answers the last partial window (sliding) or the whole stream, then drains.
void finish_stream(GstSlowfastMllm* self);
// A new segment or stream restarts windows; `answer_the_rest` answers a partial window first.
void restart_windows(GstSlowfastMllm* self, bool answer_the_rest);

// Is the pipeline upstream live? Asked once per segment with a latency query.
void check_live(GstSlowfastMllm* self);
// The stream ends without EOS (a new stream-start): answered or dropped as at a new segment.
void end_previous_stream(GstSlowfastMllm* self);
// A new SEGMENT: windows restart, text_src gets it (without its end).
void handle_segment(GstSlowfastMllm* self, GstEvent* event, const GstSegment* segment);
// A frame earlier than the previous one without a new segment (a source that restarted its
// clock): a warning, then windows restart there as for a new segment, so no window spans the
// jump and none ends before it starts.
void restart_at_backwards_timestamp(GstSlowfastMllm* self, GstClockTime pts);

// worker.cpp
void convert_loop(GstSlowfastMllm* self);
void worker_loop(GstSlowfastMllm* self);

// textsrc.cpp: text_src's task and what feeds it.
void text_src_setup(GstSlowfastMllm* self);  // pad functions, called from instance init
// The latency text_src adds to the video's.
GstClockTime text_latency(GstSlowfastMllm* self);
void queue_text(GstSlowfastMllm* self, TextItem item);
void queue_text_at(GstSlowfastMllm* self, TextItem::Kind kind,
                   GstClockTime from = GST_CLOCK_TIME_NONE,
                   GstClockTime until = GST_CLOCK_TIME_NONE);
void queue_text_event(GstSlowfastMllm* self, GstEvent* event);      // takes the event
void text_src_flush_start(GstSlowfastMllm* self, GstEvent* event);  // takes the event
void text_src_flush_stop(GstSlowfastMllm* self, GstEvent* event);   // takes the event

}  // namespace gstslowfast
