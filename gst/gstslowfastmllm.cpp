/* slowfastmllm: turns video into text with the Slow-Fast video MLLM.
 *
 * Threads (docs/element.md, "Threading"):
 * - the streaming thread (chain, serialized events) samples frames by timestamp, queues them with
 *   a reference to the buffer, decides when a window is due and pushes the video on `src`
 *   untouched; it never converts pixels and never runs the model;
 * - the convert thread turns queued frames into RGB with GstVideoConverter and drops the
 *   reference to the upstream buffer at once, so upstream pools are never starved;
 * - the worker thread encodes each sampled frame once into per-frame features, keeps exactly the
 *   features the current window needs and answers windows, pushing text on `text_src`.
 * All three share one queue (frames, windows, EOS markers in stream order) under `lock`. */
#include "gstslowfastmllm.h"

#include <gst/video/video.h>

#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "alert.h"
#include "framewindow.h"
#include "gstslowfastmeta_impl.h"
#include "modelregistry.h"
#include "slowfast.h"

GST_DEBUG_CATEGORY_STATIC (gst_slowfast_mllm_debug);
#define GST_CAT_DEFAULT gst_slowfast_mllm_debug

#define VIDEO_FORMATS "{ RGB, BGR, RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, ARGB, ABGR, I420, YV12, " \
  "NV12, NV21, Y42B, Y444, YUY2, UYVY, GRAY8 }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (VIDEO_FORMATS)));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (VIDEO_FORMATS)));
static GstStaticPadTemplate text_src_template = GST_STATIC_PAD_TEMPLATE ("text_src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("text/x-raw, format=(string)utf8"));

/* ------------------------------------------------------------------------------------------ */
/* Enums */

typedef enum
{
  GST_SLOWFAST_MODE_SLIDING,
  GST_SLOWFAST_MODE_WHOLE_STREAM,
} GstSlowfastMode;

typedef enum
{
  GST_SLOWFAST_LEAKY_AUTO,
  GST_SLOWFAST_LEAKY_NO,
  GST_SLOWFAST_LEAKY_DOWNSTREAM,
} GstSlowfastLeaky;

#define GST_TYPE_SLOWFAST_MODE (gst_slowfast_mode_get_type ())
#define GST_TYPE_SLOWFAST_LEAKY (gst_slowfast_leaky_get_type ())
#define GST_TYPE_SLOWFAST_DEVICE (gst_slowfast_device_get_type ())
#define GST_TYPE_SLOWFAST_DTYPE (gst_slowfast_dtype_get_type ())

static GType
gst_slowfast_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_SLOWFAST_MODE_SLIDING, "A window every hop-frames sampled frames", "sliding"},
    {GST_SLOWFAST_MODE_WHOLE_STREAM,
        "One answer at EOS about window-frames frames spread uniformly over the whole stream",
        "whole-stream"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstSlowfastMode", values));
  return type;
}

static GType
gst_slowfast_leaky_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_SLOWFAST_LEAKY_AUTO,
        "Drop stale windows in live pipelines, wait for the model otherwise", "auto"},
    {GST_SLOWFAST_LEAKY_NO, "Never drop: the streaming thread waits for the model", "no"},
    {GST_SLOWFAST_LEAKY_DOWNSTREAM,
        "Always drop the oldest pending windows (the newest is kept)", "downstream"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstSlowfastLeaky", values));
  return type;
}

static GType
gst_slowfast_device_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {(gint) slowfast::Device::Auto, "CUDA when libtorch sees a GPU, else the CPU", "auto"},
    {(gint) slowfast::Device::Cpu, "CPU", "cpu"},
    {(gint) slowfast::Device::Cuda, "CUDA GPU", "cuda"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstSlowfastDevice", values));
  return type;
}

static GType
gst_slowfast_dtype_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {(gint) slowfast::DType::Auto,
        "bfloat16 on CUDA or a CPU with AVX512-BF16, else float32", "auto"},
    {(gint) slowfast::DType::Float32, "32-bit float", "float32"},
    {(gint) slowfast::DType::BFloat16, "bfloat16", "bfloat16"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstSlowfastDType", values));
  return type;
}

/* ------------------------------------------------------------------------------------------ */
/* Properties */

#define DEFAULT_MODEL_LOCATION NULL
#define DEFAULT_PROMPT "Please describe this video in detail."
#define DEFAULT_WINDOW_FRAMES 64
#define DEFAULT_SAMPLE_FPS 4.0
#define DEFAULT_HOP_FRAMES 16
#define DEFAULT_MODE GST_SLOWFAST_MODE_SLIDING
#define DEFAULT_MAX_NEW_TOKENS 1024
#define DEFAULT_TEMPERATURE 0.2f
#define DEFAULT_TOP_P 1.0f
#define DEFAULT_TOP_K 0
#define DEFAULT_REPETITION_PENALTY 1.0f
#define DEFAULT_SEED 0
#define DEFAULT_DEVICE slowfast::Device::Auto
#define DEFAULT_DTYPE slowfast::DType::Auto
#define DEFAULT_MAX_PENDING_WINDOWS 1
#define DEFAULT_LEAKY GST_SLOWFAST_LEAKY_AUTO
#define DEFAULT_LATENCY (-1)
#define DEFAULT_STREAM_TOKENS FALSE
#define DEFAULT_FEATURE_CACHE TRUE
#define DEFAULT_RESERVOIR_FRAMES 256
#define DEFAULT_SOURCE_ID NULL
#define DEFAULT_ALERT_RAISE_AFTER 0
#define DEFAULT_ALERT_CLEAR_AFTER 1

enum
{
  PROP_0,
  PROP_MODEL_LOCATION,
  PROP_PROMPT,
  PROP_WINDOW_FRAMES,
  PROP_SAMPLE_FPS,
  PROP_HOP_FRAMES,
  PROP_MODE,
  PROP_MAX_NEW_TOKENS,
  PROP_TEMPERATURE,
  PROP_TOP_P,
  PROP_TOP_K,
  PROP_REPETITION_PENALTY,
  PROP_SEED,
  PROP_DEVICE,
  PROP_DTYPE,
  PROP_MAX_PENDING_WINDOWS,
  PROP_LEAKY,
  PROP_LATENCY,
  PROP_STREAM_TOKENS,
  PROP_FEATURE_CACHE,
  PROP_RESERVOIR_FRAMES,
  PROP_SOURCE_ID,
  PROP_ALERT_RAISE_AFTER,
  PROP_ALERT_CLEAR_AFTER,
  PROP_ALERT_RAISED,
  PROP_MODEL_ID,
  PROP_WINDOWS_ANSWERED,
  PROP_WINDOWS_DROPPED,
  PROP_LAST_LATENCY,
  PROP_MEAN_LATENCY,
  PROP_TOKENS_PER_SECOND,
};

/* ------------------------------------------------------------------------------------------ */
/* C++ state */

namespace {

using gstslowfast::FrameCache;
using gstslowfast::FrameSampler;
using gstslowfast::SlidingWindow;
using gstslowfast::Window;

struct BufferUnref
{
  void operator() (GstBuffer * buffer) const
  {
    gst_buffer_unref (buffer);
  }
};
using BufferPtr = std::unique_ptr < GstBuffer, BufferUnref >;

struct Settings
{
  std::string model_location;
  std::string prompt = DEFAULT_PROMPT;
  guint window_frames = DEFAULT_WINDOW_FRAMES;
  gdouble sample_fps = DEFAULT_SAMPLE_FPS;
  guint hop_frames = DEFAULT_HOP_FRAMES;
  GstSlowfastMode mode = DEFAULT_MODE;
  slowfast::GenerationParams generation;
  slowfast::Device device = DEFAULT_DEVICE;
  slowfast::DType dtype = DEFAULT_DTYPE;
  guint max_pending_windows = DEFAULT_MAX_PENDING_WINDOWS;
  GstSlowfastLeaky leaky = DEFAULT_LEAKY;
  gint64 latency = DEFAULT_LATENCY;
  bool stream_tokens = DEFAULT_STREAM_TOKENS;
  bool feature_cache = DEFAULT_FEATURE_CACHE;
  guint reservoir_frames = DEFAULT_RESERVOIR_FRAMES;
  std::string source_id;        /* empty: the element's name */
  guint alert_raise_after = DEFAULT_ALERT_RAISE_AFTER;
  guint alert_clear_after = DEFAULT_ALERT_CLEAR_AFTER;

  Settings ()
  {
    generation.max_new_tokens = DEFAULT_MAX_NEW_TOKENS;
    generation.temperature = DEFAULT_TEMPERATURE;
    generation.top_p = DEFAULT_TOP_P;
    generation.top_k = DEFAULT_TOP_K;
    generation.repetition_penalty = DEFAULT_REPETITION_PENALTY;
    generation.seed = DEFAULT_SEED;
  }
};

struct Stats
{
  guint64 answered = 0;
  guint64 dropped = 0;
  GstClockTime last_latency = GST_CLOCK_TIME_NONE;
  double latency_sum = 0;       /* seconds */
  double generated_tokens = 0;
  double generation_seconds = 0;
};

/* A sampled frame on its way to the worker. */
struct FrameJob
{
  enum class State { Pending, Converting, Ready };

  guint64 epoch = 0;
  uint64_t index = 0;
  uint64_t seen = 0;            /* sampled frames so far, this one included (whole-stream) */
  bool tail = false;            /* whole-stream: the newest frame, sent at EOS */
  State state = State::Pending;
  BufferPtr video;              /* the upstream buffer until converted */
  GstVideoInfo info;
  BufferPtr rgb;                /* packed RGB after conversion */
  GstVideoInfo rgb_info;
};
using FramePtr = std::shared_ptr < FrameJob >;

/* A window to answer, with everything captured when it became due. */
struct WindowJob
{
  guint64 epoch = 0;
  Window window;
  std::vector < uint64_t > indices;     /* sampled-frame indices, oldest first */
  GstClockTime start = GST_CLOCK_TIME_NONE;
  GstClockTime end = GST_CLOCK_TIME_NONE;
  GstClockTime duration = GST_CLOCK_TIME_NONE;
  std::string prompt;
  slowfast::GenerationParams generation;
  bool stream_tokens = false;
  std::chrono::steady_clock::time_point due;
  GstClockTime stream_time = GST_CLOCK_TIME_NONE;       /* of `end`, in the video's segment */
  gint64 wall_clock = 0;        /* real time (µs since the epoch) when the window became due */
  std::string source_id;
};

struct Item
{
  enum class Kind { Frame, Window, Eos };
  Kind kind;
  FramePtr frame;
  std::shared_ptr < WindowJob > window;
  guint64 epoch = 0;
};

/* An answer waiting for the next video buffer to carry it as meta. */
struct ReadyAnswer
{
  std::string text;
  GstClockTime start, end;
};

/* Runtime configuration, fixed from READY->PAUSED to PAUSED->READY. */
struct RunConfig
{
  guint window_frames = DEFAULT_WINDOW_FRAMES;
  guint hop_frames = DEFAULT_HOP_FRAMES;
  gdouble sample_fps = DEFAULT_SAMPLE_FPS;
  GstSlowfastMode mode = DEFAULT_MODE;
  bool feature_cache = DEFAULT_FEATURE_CACHE;
  guint reservoir_frames = DEFAULT_RESERVOIR_FRAMES;
};

}                               /* namespace */

struct GstSlowfastMllmPrivate
{
  /* Settings: under the object lock. */
  Settings settings;
  Stats stats;
  /* Alert state: under the object lock; kept across flushes and state changes (the scene is the
   * same camera's), reset when the thresholds change. */
  gstslowfast::AlertHysteresis alert { DEFAULT_ALERT_RAISE_AFTER, DEFAULT_ALERT_CLEAR_AFTER };

  /* Model: set in READY->PAUSED, read by the worker while it runs. */
  std::shared_ptr < const slowfast::Model > model;
  std::unique_ptr < slowfast::Session > session;
  std::string loaded_location;
  slowfast::Device loaded_device = slowfast::Device::Auto;
  slowfast::DType loaded_dtype = slowfast::DType::Auto;
  RunConfig run;

  /* Streaming thread only (chain and serialized events). */
  FrameSampler sampler;
  SlidingWindow window { DEFAULT_WINDOW_FRAMES, DEFAULT_HOP_FRAMES };
  FrameCache < std::pair < GstClockTime, GstClockTime >> frame_times;  /* index -> (pts, end) */
  GstVideoInfo video_info;
  bool have_info = false;
  GstSegment segment;
  bool have_segment = false;
  std::string stream_id;        /* of the current upstream stream, empty before the first */
  GstClockTime next_pts = GST_CLOCK_TIME_NONE;
  GstClockTime last_duration = GST_CLOCK_TIME_NONE;
  bool live_known = false;
  bool live = false;
  /* whole-stream: the newest sampled frame when it was not sent, its time and the first one's */
  BufferPtr tail;
  GstVideoInfo tail_info;
  GstClockTime stream_start = GST_CLOCK_TIME_NONE;
  GstClockTime stream_end = GST_CLOCK_TIME_NONE;
  GstClockTime video_end = GST_CLOCK_TIME_NONE;  /* end of the last frame pushed on src */
  bool tail_sent = false;

  /* Shared by the three threads. */
  std::mutex lock;
  std::condition_variable cond;
  std::deque < Item > queue;
  guint pending_windows = 0;    /* windows queued, not yet taken by the worker */
  bool flushing = false;
  bool stop = true;
  bool worker_in_window = false;
  guint64 eos_done_epoch = G_MAXUINT64;
  std::vector < ReadyAnswer > ready_answers;
  std::atomic < guint64 > epoch { 0 };  /* bumped by flush, segment restart and stop */
  std::thread convert_thread;
  std::thread worker_thread;

  /* text_src: pushes from both threads are serialized by text_lock. */
  std::mutex text_lock;
  GstClockTime text_position = GST_CLOCK_TIME_NONE;       /* how far text_src has announced */
  GstClockTime last_text_pts = GST_CLOCK_TIME_NONE;
  std::multiset < GstClockTime > pending_ends;  /* ends of windows not answered yet */
  bool text_eos = false;

  guint32 last_seek_seqnum = GST_SEQNUM_INVALID;
};

struct _GstSlowfastMllm
{
  GstElement parent;
  GstPad *sinkpad;
  GstPad *srcpad;
  GstPad *text_srcpad;
  GstSlowfastMllmPrivate *priv;
};

#define gst_slowfast_mllm_parent_class parent_class
G_DEFINE_TYPE (GstSlowfastMllm, gst_slowfast_mllm, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (slowfastmllm, "slowfastmllm", GST_RANK_NONE,
    GST_TYPE_SLOWFAST_MLLM);

static void gst_slowfast_mllm_finalize (GObject * object);
static void gst_slowfast_mllm_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_slowfast_mllm_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
static GstStateChangeReturn gst_slowfast_mllm_change_state (GstElement * element,
    GstStateChange transition);

/* ------------------------------------------------------------------------------------------ */
/* Helpers */

static gdouble
seconds_since (std::chrono::steady_clock::time_point start)
{
  return std::chrono::duration < double >(std::chrono::steady_clock::now () - start).count ();
}

static void
post_element_message (GstSlowfastMllm * self, GstStructure * structure)
{
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), structure));
}

/* "2025-05-01T12:34:56.789Z": UTC with milliseconds, what the bus messages carry. */
static std::string
iso8601_utc (gint64 real_time_us)
{
  GDateTime *time = g_date_time_new_from_unix_utc (real_time_us / G_USEC_PER_SEC);
  if (time == NULL)
    return std::string ();
  gchar *seconds = g_date_time_format (time, "%Y-%m-%dT%H:%M:%S");
  gchar *text = g_strdup_printf ("%s.%03dZ", seconds,
      (int) (real_time_us % G_USEC_PER_SEC / 1000));
  std::string out (text);
  g_free (text);
  g_free (seconds);
  g_date_time_unref (time);
  return out;
}

static Settings
settings_snapshot (GstSlowfastMllm * self)
{
  GST_OBJECT_LOCK (self);
  Settings copy = self->priv->settings;
  GST_OBJECT_UNLOCK (self);
  return copy;
}

/* Time from one answer to the next: hop-frames sampling intervals. */
static GstClockTime
nominal_hop_duration (GstSlowfastMllm * self)
{
  GstSlowfastMllmPrivate *priv = self->priv;
  const RunConfig & run = priv->run;

  if (run.sample_fps > 0)
    return (GstClockTime) (run.hop_frames * (gdouble) GST_SECOND / run.sample_fps + 0.5);
  if (priv->have_info && GST_VIDEO_INFO_FPS_N (&priv->video_info) > 0)
    return gst_util_uint64_scale (run.hop_frames * GST_SECOND,
        GST_VIDEO_INFO_FPS_D (&priv->video_info), GST_VIDEO_INFO_FPS_N (&priv->video_info));
  if (GST_CLOCK_TIME_IS_VALID (priv->last_duration))
    return run.hop_frames * priv->last_duration;
  return GST_CLOCK_TIME_NONE;
}

/* The latency text_src adds to the video's: the `latency` property, or one hop, the time the
 * model has to answer a window before the next is due. */
static GstClockTime
text_latency (GstSlowfastMllm * self)
{
  gint64 latency;

  GST_OBJECT_LOCK (self);
  latency = self->priv->settings.latency;
  GST_OBJECT_UNLOCK (self);
  if (latency >= 0)
    return (GstClockTime) latency;
  GstClockTime hop = nominal_hop_duration (self);
  return GST_CLOCK_TIME_IS_VALID (hop) ? hop : 0;
}

/* Pushes an event on text_src; the caller holds text_lock. */
static void
push_text_event_locked (GstSlowfastMllm * self, GstEvent * event)
{
  if (!gst_pad_push_event (self->text_srcpad, event))
    GST_LOG_OBJECT (self, "text_src did not take the event (unlinked or flushing)");
}

/* The text stream advances to `until` (a video frame's end), unless an unanswered window ends
 * earlier: its text is still to come there. */
static void
advance_text (GstSlowfastMllm * self, GstClockTime from, GstClockTime until)
{
  GstSlowfastMllmPrivate *priv = self->priv;
  std::lock_guard < std::mutex > lock (priv->text_lock);

  if (priv->text_eos || !GST_CLOCK_TIME_IS_VALID (until))
    return;
  if (!priv->pending_ends.empty ())
    until = MIN (until, *priv->pending_ends.begin ());
  if (!GST_CLOCK_TIME_IS_VALID (priv->text_position))
    priv->text_position = from;
  if (!GST_CLOCK_TIME_IS_VALID (priv->text_position) || until <= priv->text_position)
    return;
  push_text_event_locked (self, gst_event_new_gap (priv->text_position,
          until - priv->text_position));
  priv->text_position = until;
}

static void
reset_text_state (GstSlowfastMllm * self)
{
  GstSlowfastMllmPrivate *priv = self->priv;
  std::lock_guard < std::mutex > lock (priv->text_lock);

  priv->text_position = GST_CLOCK_TIME_NONE;
  priv->last_text_pts = GST_CLOCK_TIME_NONE;
  priv->pending_ends.clear ();
  priv->text_eos = false;
}

static void
release_pending_end (GstSlowfastMllm * self, GstClockTime end)
{
  GstSlowfastMllmPrivate *priv = self->priv;
  std::lock_guard < std::mutex > lock (priv->text_lock);
  auto it = priv->pending_ends.find (end);

  if (it != priv->pending_ends.end ())
    priv->pending_ends.erase (it);
}

/* Forgets every sampled frame and window (flush, segment restart, start). */
static void
reset_stream_state (GstSlowfastMllm * self)
{
  GstSlowfastMllmPrivate *priv = self->priv;

  priv->sampler = FrameSampler (priv->run.sample_fps);
  priv->window = SlidingWindow (priv->run.window_frames, priv->run.hop_frames);
  priv->frame_times.clear ();
  priv->next_pts = GST_CLOCK_TIME_NONE;
  priv->tail.reset ();
  priv->tail_sent = false;
  priv->stream_start = GST_CLOCK_TIME_NONE;
  priv->stream_end = GST_CLOCK_TIME_NONE;
  priv->video_end = GST_CLOCK_TIME_NONE;
  priv->live_known = false;
}

/* Under lock: drops everything queued and makes running work stale. */
static void
clear_queue_locked (GstSlowfastMllmPrivate * priv)
{
  priv->queue.clear ();
  priv->pending_windows = 0;
  priv->ready_answers.clear ();
  priv->epoch++;
  priv->cond.notify_all ();
}

/* The model's threads yield the CPU to the video: a live sink thread must never be late because
 * inference took both cores. On Linux a thread's nice value is its own and is inherited by the
 * threads it creates (libtorch's intra-op pool is created by the worker on its first operation). */
static void
lower_thread_priority (GstSlowfastMllm * self)
{
#ifdef __linux__
  if (setpriority (PRIO_PROCESS, (id_t) syscall (SYS_gettid), 10) != 0)
    GST_DEBUG_OBJECT (self, "could not lower the priority of a model thread");
#else
  (void) self;
#endif
}

/* ------------------------------------------------------------------------------------------ */
/* Convert thread */

static void
convert_loop (GstSlowfastMllm * self)
{
  GstSlowfastMllmPrivate *priv = self->priv;
  GstVideoConverter *converter = NULL;
  GstVideoInfo converter_in;
  GstVideoInfo converter_out;

  lower_thread_priority (self);
  while (true) {
    FramePtr job;
    {
      std::unique_lock < std::mutex > lock (priv->lock);
      priv->cond.wait (lock,[&] {
            if (priv->stop)
              return true;
            for (const Item & item:priv->queue) {
              if (item.kind == Item::Kind::Frame
                  && item.frame->state == FrameJob::State::Pending) {
                job = item.frame;
                return true;
              }
            }
            return false;
          }
      );
      if (priv->stop)
        break;
      job->state = FrameJob::State::Converting;
    }

    try {
      GstVideoInfo out;
      GstVideoFrame in_frame, out_frame;
      gst_video_info_set_format (&out, GST_VIDEO_FORMAT_RGB,
          GST_VIDEO_INFO_WIDTH (&job->info), GST_VIDEO_INFO_HEIGHT (&job->info));
      /* Only the format changes: the converter requires the rest to match. */
      GST_VIDEO_INFO_FPS_N (&out) = GST_VIDEO_INFO_FPS_N (&job->info);
      GST_VIDEO_INFO_FPS_D (&out) = GST_VIDEO_INFO_FPS_D (&job->info);
      GST_VIDEO_INFO_PAR_N (&out) = GST_VIDEO_INFO_PAR_N (&job->info);
      GST_VIDEO_INFO_PAR_D (&out) = GST_VIDEO_INFO_PAR_D (&job->info);
      GST_VIDEO_INFO_INTERLACE_MODE (&out) = GST_VIDEO_INFO_INTERLACE_MODE (&job->info);
      if (converter == NULL || !gst_video_info_is_equal (&converter_in, &job->info)
          || !gst_video_info_is_equal (&converter_out, &out)) {
        if (converter)
          gst_video_converter_free (converter);
        converter = gst_video_converter_new (&job->info, &out, NULL);
        converter_in = job->info;
        converter_out = out;
      }
      BufferPtr rgb (gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&out), NULL));
      if (converter == NULL)
        throw std::runtime_error ("no video converter for this format");
      if (!gst_video_frame_map (&in_frame, &job->info, job->video.get (), GST_MAP_READ))
        throw std::runtime_error ("cannot map a sampled video frame");
      if (!gst_video_frame_map (&out_frame, &out, rgb.get (), GST_MAP_WRITE)) {
        gst_video_frame_unmap (&in_frame);
        throw std::runtime_error ("cannot map an RGB frame");
      }
      gst_video_converter_frame (converter, &in_frame, &out_frame);
      gst_video_frame_unmap (&out_frame);
      gst_video_frame_unmap (&in_frame);
      std::lock_guard < std::mutex > lock (priv->lock);
      job->rgb = std::move (rgb);
      job->rgb_info = out;
      job->video.reset ();
      job->state = FrameJob::State::Ready;
      priv->cond.notify_all ();
    } catch (const std::exception & e) {
      GST_ELEMENT_WARNING (self, STREAM, FORMAT, ("Could not convert a sampled frame to RGB"),
          ("%s", e.what ()));
      std::lock_guard < std::mutex > lock (priv->lock);
      job->video.reset ();
      job->state = FrameJob::State::Ready;     /* no rgb: the worker skips it */
      priv->cond.notify_all ();
    }
  }
  if (converter)
    gst_video_converter_free (converter);
}

/* ------------------------------------------------------------------------------------------ */
/* Worker thread */

struct WorkerState
{
  guint64 cache_epoch = G_MAXUINT64;
  FrameCache < slowfast::FrameFeatures > features;
  FrameCache < FramePtr > frames;       /* RGB frames, only with feature-cache=false */
  double vision_seconds = 0;    /* encoding since the last answer */
};

static std::vector < slowfast::FrameFeatures >
encode_frames (GstSlowfastMllm * self, const std::vector < FramePtr > &jobs)
{
  std::vector < slowfast::FrameView > views;
  std::vector < GstVideoFrame > mapped (jobs.size ());
  size_t n_mapped = 0;

  views.reserve (jobs.size ());
  try {
    for (const FramePtr & job:jobs) {
      GstVideoFrame *frame = &mapped[n_mapped];
      if (!gst_video_frame_map (frame, &job->rgb_info, job->rgb.get (), GST_MAP_READ))
        throw std::runtime_error ("cannot map an RGB frame");
      n_mapped++;
      slowfast::FrameView view;
      view.rgb = (const uint8_t *) GST_VIDEO_FRAME_PLANE_DATA (frame, 0);
      view.width = GST_VIDEO_FRAME_WIDTH (frame);
      view.height = GST_VIDEO_FRAME_HEIGHT (frame);
      view.stride = GST_VIDEO_FRAME_PLANE_STRIDE (frame, 0);
      views.push_back (view);
    }
    std::vector < slowfast::FrameFeatures > features = self->priv->model->encode_frames (views);
    for (size_t i = 0; i < n_mapped; i++)
      gst_video_frame_unmap (&mapped[i]);
    return features;
  } catch (...) {
    for (size_t i = 0; i < n_mapped; i++)
      gst_video_frame_unmap (&mapped[i]);
    throw;
  }
}

/* Takes newly converted frames into the cache, keeping exactly what windows still need. */
static void
worker_take_frames (GstSlowfastMllm * self, WorkerState & state,
    const std::vector < FramePtr > &batch)
{
  GstSlowfastMllmPrivate *priv = self->priv;
  const RunConfig & run = priv->run;
  std::vector < FramePtr > usable;

  for (const FramePtr & job:batch)
    if (job->rgb)
      usable.push_back (job);
  if (usable.empty ())
    return;

  if (run.feature_cache) {
    auto start = std::chrono::steady_clock::now ();
    std::vector < slowfast::FrameFeatures > features = encode_frames (self, usable);
    state.vision_seconds += seconds_since (start);
    for (size_t i = 0; i < usable.size (); i++)
      state.features.put (usable[i]->index, features[i]);
  } else {
    for (const FramePtr & job:usable)
      state.frames.put (job->index, job);
  }

  const FramePtr & newest = usable.back ();
  if (run.mode == GST_SLOWFAST_MODE_SLIDING) {
    uint64_t keep_from = newest->index + 1 >= run.window_frames ?
        newest->index + 1 - run.window_frames : 0;
    state.features.keep_from (keep_from);
    state.frames.keep_from (keep_from);
  } else {
    uint64_t seen = 0;
    for (const FramePtr & job:usable)
      seen = MAX (seen, job->seen);
    auto keep =[&](uint64_t index) {
      return index + 1 == seen
          || gstslowfast::reservoir_keeps (index, seen, run.reservoir_frames);
    };
    state.features.keep_if (keep);
    state.frames.keep_if (keep);
  }
}

/* Alert mode: reads the answer as yes/no and posts slowfast-alert when the alert is raised or
 * cleared (after the answer's own message). */
static void
update_alert (GstSlowfastMllm * self, const WindowJob & job, const std::string & text,
    const std::string & wall_clock)
{
  using Change = gstslowfast::AlertHysteresis::Change;
  GstSlowfastMllmPrivate *priv = self->priv;

  GST_OBJECT_LOCK (self);
  const Change change = priv->alert.update (gstslowfast::read_verdict (text));
  const guint consecutive = priv->alert.run ();
  GST_OBJECT_UNLOCK (self);
  if (change == Change::None)
    return;

  const gchar *state = change == Change::Raised ? "raised" : "cleared";
  GST_INFO_OBJECT (self, "alert %s after %u consecutive answers: %s", state, consecutive,
      text.c_str ());
  post_element_message (self, gst_structure_new ("slowfast-alert",
          "source-id", G_TYPE_STRING, job.source_id.c_str (),
          "state", G_TYPE_STRING, state,
          "text", G_TYPE_STRING, text.c_str (),
          "window-start", G_TYPE_UINT64, job.start,
          "window-end", G_TYPE_UINT64, job.end,
          "stream-time", G_TYPE_UINT64, job.stream_time,
          "wall-clock", G_TYPE_STRING, wall_clock.c_str (),
          "consecutive", G_TYPE_UINT, consecutive,
          "prompt", G_TYPE_STRING, job.prompt.c_str (), NULL));
  g_object_notify (G_OBJECT (self), "alert-raised");
}

static void
worker_answer (GstSlowfastMllm * self, WorkerState & state, const WindowJob & job)
{
  GstSlowfastMllmPrivate *priv = self->priv;
  std::vector < slowfast::FrameFeatures > features;

  if (!priv->run.feature_cache) {
    /* Debug path: every frame of the window is encoded again, as without a cache. */
    std::vector < uint64_t > distinct (job.indices);
    std::sort (distinct.begin (), distinct.end ());
    distinct.erase (std::unique (distinct.begin (), distinct.end ()), distinct.end ());
    auto frames = state.frames.gather (distinct);
    if (!frames)
      throw std::runtime_error ("a frame of the window is missing");
    auto start = std::chrono::steady_clock::now ();
    std::vector < slowfast::FrameFeatures > encoded = encode_frames (self, *frames);
    state.vision_seconds += seconds_since (start);
    FrameCache < slowfast::FrameFeatures > window_cache;
    for (size_t i = 0; i < distinct.size (); i++)
      window_cache.put (distinct[i], encoded[i]);
    features = *window_cache.gather (job.indices);
  } else {
    auto gathered = state.features.gather (job.indices);
    if (!gathered)
      throw std::runtime_error ("a frame of the window is missing from the feature cache");
    features = std::move (*gathered);
  }

  const guint64 epoch = job.epoch;
  slowfast::TokenCallback on_token = nullptr;
  if (job.stream_tokens) {
    on_token =[self, &job](const std::string & piece) {
      post_element_message (self, gst_structure_new ("slowfast-token",
              "text", G_TYPE_STRING, piece.c_str (),
              "window-start", G_TYPE_UINT64, job.start,
              "window-end", G_TYPE_UINT64, job.end, NULL));
    };
  }
  auto should_abort =[priv, epoch] {
    return priv->epoch.load () != epoch;
  };

  slowfast::Answer answer = priv->session->answer (features, job.prompt, job.generation,
      on_token, should_abort);
  if (answer.aborted || priv->epoch.load () != epoch) {
    GST_DEBUG_OBJECT (self, "generation aborted (flush or stop)");
    return;
  }

  const double latency = seconds_since (job.due);
  const double vision = state.vision_seconds + answer.vision_seconds;
  const double generation_seconds = answer.prefill_seconds + answer.decode_seconds;
  const guint tokens = (guint) answer.output_ids.size ();
  state.vision_seconds = 0;

  GST_OBJECT_LOCK (self);
  priv->stats.answered++;
  priv->stats.last_latency = (GstClockTime) (latency * GST_SECOND);
  priv->stats.latency_sum += latency;
  priv->stats.generated_tokens += tokens;
  priv->stats.generation_seconds += generation_seconds;
  GST_OBJECT_UNLOCK (self);

  GST_INFO_OBJECT (self, "window %" GST_TIME_FORMAT " - %" GST_TIME_FORMAT
      " answered in %.3f s (%u tokens): %s", GST_TIME_ARGS (job.start),
      GST_TIME_ARGS (job.end), latency, tokens, answer.text.c_str ());

  {
    std::lock_guard < std::mutex > lock (priv->text_lock);
    auto it = priv->pending_ends.find (job.end);
    if (it != priv->pending_ends.end ())
      priv->pending_ends.erase (it);
    if (!priv->text_eos && priv->epoch.load () == epoch) {
      GstBuffer *buffer = gst_buffer_new_memdup (answer.text.data (), answer.text.size ());
      GstClockTime pts = job.end;
      GstClockTime duration = job.duration;
      /* Text PTS never decrease. A caption may start before the previous one's nominal end
       * (an EOS window comes less than a hop after the last one): they overlap. */
      if (GST_CLOCK_TIME_IS_VALID (priv->last_text_pts) && GST_CLOCK_TIME_IS_VALID (pts)
          && pts < priv->last_text_pts)
        pts = priv->last_text_pts;
      GST_BUFFER_PTS (buffer) = pts;
      GST_BUFFER_DURATION (buffer) = duration;
      GstFlowReturn ret = gst_pad_push (self->text_srcpad, buffer);
      if (ret != GST_FLOW_OK)
        GST_DEBUG_OBJECT (self, "text push: %s", gst_flow_get_name (ret));
      if (GST_CLOCK_TIME_IS_VALID (pts)) {
        GstClockTime end = GST_CLOCK_TIME_IS_VALID (duration) ? pts + duration : pts;
        priv->last_text_pts = pts;
        if (!GST_CLOCK_TIME_IS_VALID (priv->text_position) || end > priv->text_position)
          priv->text_position = end;
      }
    }
  }

  const std::string wall_clock = iso8601_utc (job.wall_clock);
  post_element_message (self, gst_structure_new ("slowfast-answer",
          "text", G_TYPE_STRING, answer.text.c_str (),
          "window-start", G_TYPE_UINT64, job.start,
          "window-end", G_TYPE_UINT64, job.end,
          "stream-time", G_TYPE_UINT64, job.stream_time,
          "wall-clock", G_TYPE_STRING, wall_clock.c_str (),
          "source-id", G_TYPE_STRING, job.source_id.c_str (),
          "latency", G_TYPE_UINT64, (guint64) (latency * GST_SECOND),
          "tokens", G_TYPE_UINT, tokens,
          "prompt", G_TYPE_STRING, job.prompt.c_str (),
          "frames", G_TYPE_UINT, (guint) job.indices.size (),
          "vision-time", G_TYPE_UINT64, (guint64) (vision * GST_SECOND),
          "generation-time", G_TYPE_UINT64, (guint64) (generation_seconds * GST_SECOND),
          NULL));
  update_alert (self, job, answer.text, wall_clock);

  std::lock_guard < std::mutex > lock (priv->lock);
  if (priv->epoch.load () == epoch)
    priv->ready_answers.push_back ( {
        answer.text, job.start, job.end});
}

static void
worker_loop (GstSlowfastMllm * self)
{
  GstSlowfastMllmPrivate *priv = self->priv;
  WorkerState state;

  lower_thread_priority (self);
  while (true) {
    std::vector < FramePtr > batch;
    Item item { Item::Kind::Eos, nullptr, nullptr, 0 };
    bool have_item = false;
    {
      std::unique_lock < std::mutex > lock (priv->lock);
      priv->cond.wait (lock,[&] {
            return priv->stop || (!priv->queue.empty ()
                && (priv->queue.front ().kind != Item::Kind::Frame
                    || priv->queue.front ().frame->state == FrameJob::State::Ready));
          }
      );
      if (priv->stop)
        break;
      /* Every converted frame at the head, in one batch. */
      while (!priv->queue.empty () && priv->queue.front ().kind == Item::Kind::Frame
          && priv->queue.front ().frame->state == FrameJob::State::Ready) {
        batch.push_back (priv->queue.front ().frame);
        priv->queue.pop_front ();
      }
      if (batch.empty ()) {
        item = priv->queue.front ();
        priv->queue.pop_front ();
        have_item = true;
        if (item.kind == Item::Kind::Window) {
          priv->pending_windows--;
          priv->worker_in_window = true;
        }
      }
      priv->cond.notify_all ();
    }

    const guint64 epoch = batch.empty ()? item.epoch : batch.front ()->epoch;
    if (epoch != state.cache_epoch) {
      state.features.clear ();
      state.frames.clear ();
      state.vision_seconds = 0;
      state.cache_epoch = epoch;
    }

    try {
      if (!batch.empty ()) {
        if (batch.front ()->epoch == priv->epoch.load ())
          worker_take_frames (self, state, batch);
      } else if (have_item && item.kind == Item::Kind::Window) {
        if (item.epoch == priv->epoch.load ())
          worker_answer (self, state, *item.window);
      }
    } catch (const std::exception & e) {
      /* One bad window is a warning; the stream goes on. */
      GST_ELEMENT_WARNING (self, LIBRARY, FAILED, ("Could not answer a window"),
          ("%s", e.what ()));
      if (have_item && item.kind == Item::Kind::Window)
        release_pending_end (self, item.window->end);
    }

    std::lock_guard < std::mutex > lock (priv->lock);
    if (have_item && item.kind == Item::Kind::Window)
      priv->worker_in_window = false;
    if (have_item && item.kind == Item::Kind::Eos)
      priv->eos_done_epoch = item.epoch;
    priv->cond.notify_all ();
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Streaming thread */

/* Adds a window to the queue. Live (or leaky=downstream): never waits, drops the oldest pending
 * windows instead. Otherwise waits while max-pending-windows windows are queued. */
static GstFlowReturn
enqueue_window (GstSlowfastMllm * self, std::shared_ptr < WindowJob > job, bool is_final)
{
  GstSlowfastMllmPrivate *priv = self->priv;
  const Settings settings = settings_snapshot (self);
  const bool drop = !is_final && (settings.leaky == GST_SLOWFAST_LEAKY_DOWNSTREAM
      || (settings.leaky == GST_SLOWFAST_LEAKY_AUTO && priv->live));
  std::vector < std::shared_ptr < WindowJob >> dropped;

  {
    std::lock_guard < std::mutex > text_lock (priv->text_lock);
    priv->pending_ends.insert (job->end);
  }
  {
    std::unique_lock < std::mutex > lock (priv->lock);
    if (drop) {
      while (priv->pending_windows >= settings.max_pending_windows) {
        auto oldest = std::find_if (priv->queue.begin (), priv->queue.end (),
            [](const Item & item) {
              return item.kind == Item::Kind::Window;
            });
        if (oldest == priv->queue.end ())
          break;
        dropped.push_back (oldest->window);
        priv->queue.erase (oldest);
        priv->pending_windows--;
      }
    } else {
      priv->cond.wait (lock,[&] {
            return priv->flushing || priv->stop
                || priv->pending_windows < MAX (settings.max_pending_windows, 1u);
          }
      );
    }
    if (priv->flushing || priv->stop) {
      lock.unlock ();
      release_pending_end (self, job->end);
      return GST_FLOW_FLUSHING;
    }
    Item item { Item::Kind::Window, nullptr, job, job->epoch };
    priv->queue.push_back (item);
    priv->pending_windows++;
    if (drop) {
      /* Frames older than every queued window's first frame are needed by no window. */
      uint64_t needed_from = job->window.first;
      for (const Item & queued:priv->queue)
        if (queued.kind == Item::Kind::Window)
          needed_from = MIN (needed_from, queued.window->window.first);
      priv->queue.erase (std::remove_if (priv->queue.begin (), priv->queue.end (),
              [&](const Item & queued) {
                return queued.kind == Item::Kind::Frame && queued.frame->index < needed_from;
              }), priv->queue.end ());
    }
    priv->cond.notify_all ();
  }

  for (const auto & old:dropped) {
    guint64 total;
    release_pending_end (self, old->end);
    GST_OBJECT_LOCK (self);
    total = ++priv->stats.dropped;
    GST_OBJECT_UNLOCK (self);
    GST_DEBUG_OBJECT (self, "dropped window %" GST_TIME_FORMAT " - %" GST_TIME_FORMAT,
        GST_TIME_ARGS (old->start), GST_TIME_ARGS (old->end));
    post_element_message (self, gst_structure_new ("slowfast-dropped",
            "window-start", G_TYPE_UINT64, old->start,
            "window-end", G_TYPE_UINT64, old->end,
            "windows-dropped", G_TYPE_UINT64, total, NULL));
  }
  return GST_FLOW_OK;
}

static std::shared_ptr < WindowJob >
make_window_job (GstSlowfastMllm * self, const Window & window,
    std::vector < uint64_t > indices, GstClockTime start, GstClockTime end,
    GstClockTime duration)
{
  const Settings settings = settings_snapshot (self);
  auto job = std::make_shared < WindowJob > ();

  job->epoch = self->priv->epoch.load ();
  job->window = window;
  job->indices = std::move (indices);
  job->start = start;
  job->end = end;
  job->duration = duration;
  job->prompt = settings.prompt;
  job->generation = settings.generation;
  job->stream_tokens = settings.stream_tokens;
  job->due = std::chrono::steady_clock::now ();
  job->wall_clock = g_get_real_time ();
  if (self->priv->have_segment && GST_CLOCK_TIME_IS_VALID (end))
    job->stream_time = gst_segment_to_stream_time (&self->priv->segment, GST_FORMAT_TIME, end);
  if (settings.source_id.empty ()) {
    GST_OBJECT_LOCK (self);
    job->source_id = GST_OBJECT_NAME (self) ? GST_OBJECT_NAME (self) : "";
    GST_OBJECT_UNLOCK (self);
  } else {
    job->source_id = settings.source_id;
  }
  return job;
}

static void
enqueue_frame (GstSlowfastMllm * self, GstBuffer * buffer, const GstVideoInfo * info,
    uint64_t index, uint64_t seen, bool tail)
{
  GstSlowfastMllmPrivate *priv = self->priv;
  auto job = std::make_shared < FrameJob > ();

  job->epoch = priv->epoch.load ();
  job->index = index;
  job->seen = seen;
  job->tail = tail;
  job->video.reset (gst_buffer_ref (buffer));
  job->info = *info;
  std::lock_guard < std::mutex > lock (priv->lock);
  if (priv->flushing || priv->stop)
    return;
  priv->queue.push_back ({
      Item::Kind::Frame, job, nullptr, job->epoch});
  priv->cond.notify_all ();
}

/* Is the pipeline upstream live? Asked once per segment with a latency query. */
static void
check_live (GstSlowfastMllm * self)
{
  GstSlowfastMllmPrivate *priv = self->priv;
  GstQuery *query = gst_query_new_latency ();
  gboolean live = FALSE;

  if (gst_pad_peer_query (self->sinkpad, query))
    gst_query_parse_latency (query, &live, NULL, NULL);
  gst_query_unref (query);
  priv->live = live;
  priv->live_known = true;
  GST_DEBUG_OBJECT (self, "upstream is %s", live ? "live" : "not live");
}

static GstFlowReturn
sample_frame (GstSlowfastMllm * self, GstBuffer * buffer, GstClockTime pts, GstClockTime end)
{
  GstSlowfastMllmPrivate *priv = self->priv;
  const RunConfig & run = priv->run;

  if (!priv->sampler.accept (pts))
    return GST_FLOW_OK;

  const uint64_t index = priv->window.count ();
  if (run.mode == GST_SLOWFAST_MODE_WHOLE_STREAM) {
    const uint64_t seen = index + 1;
    priv->window.push ();       /* counts frames; whole-stream answers only at EOS */
    if (!GST_CLOCK_TIME_IS_VALID (priv->stream_start))
      priv->stream_start = pts;
    priv->stream_end = end;
    if (gstslowfast::reservoir_keeps (index, seen, run.reservoir_frames)) {
      enqueue_frame (self, buffer, &priv->video_info, index, seen, false);
      priv->tail.reset ();
      priv->tail_sent = true;
    } else {
      /* The newest frame is always a pick; it is sent at EOS if it is still the newest. */
      priv->tail.reset (gst_buffer_ref (buffer));
      priv->tail_info = priv->video_info;
      priv->tail_sent = false;
    }
    return GST_FLOW_OK;
  }

  enqueue_frame (self, buffer, &priv->video_info, index, index + 1, false);
  priv->frame_times.put (index, std::make_pair (pts, end));
  std::optional < Window > due = priv->window.push ();
  priv->frame_times.keep_from (index + 1 >= run.window_frames ?
      index + 1 - run.window_frames : 0);
  if (!due)
    return GST_FLOW_OK;
  const auto *first = priv->frame_times.find (due->first);
  auto job = make_window_job (self, *due, due->indices (),
      first ? first->first : pts, end, nominal_hop_duration (self));
  return enqueue_window (self, job, false);
}

static GstFlowReturn
gst_slowfast_mllm_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  GstSlowfastMllm *self = GST_SLOWFAST_MLLM (parent);
  GstSlowfastMllmPrivate *priv = self->priv;
  (void) pad;

  try {
    GstClockTime pts = GST_BUFFER_PTS (buf);
    GstClockTime duration = GST_BUFFER_DURATION (buf);

    if (!GST_CLOCK_TIME_IS_VALID (duration) && priv->have_info
        && GST_VIDEO_INFO_FPS_N (&priv->video_info) > 0)
      duration = gst_util_uint64_scale (GST_SECOND, GST_VIDEO_INFO_FPS_D (&priv->video_info),
          GST_VIDEO_INFO_FPS_N (&priv->video_info));
    /* Frames without a timestamp follow the previous one. */
    if (!GST_CLOCK_TIME_IS_VALID (pts))
      pts = GST_CLOCK_TIME_IS_VALID (priv->next_pts) ? priv->next_pts : 0;
    if (GST_CLOCK_TIME_IS_VALID (duration))
      priv->last_duration = duration;
    const GstClockTime end = GST_CLOCK_TIME_IS_VALID (duration) ? pts + duration : pts;
    priv->next_pts = end;

    if (priv->model && priv->have_info) {
      if (!priv->live_known)
        check_live (self);
      GstFlowReturn ret = sample_frame (self, buf, pts, end);
      if (ret != GST_FLOW_OK) {
        gst_buffer_unref (buf);
        return ret;
      }
    }

    std::vector < ReadyAnswer > answers;
    {
      std::lock_guard < std::mutex > lock (priv->lock);
      answers.swap (priv->ready_answers);
    }
    if (!answers.empty ()) {
      const std::string model_id = priv->model ? priv->model->info ().id : std::string ();
      buf = gst_buffer_make_writable (buf);    /* shares the memory: no pixel copy */
      for (const ReadyAnswer & answer:answers)
        gst_buffer_add_slowfast_meta (buf, answer.text.c_str (), answer.start, answer.end,
            model_id.c_str ());
    }
    GstBuffer *out = buf;
    buf = NULL;
    GstFlowReturn ret = gst_pad_push (self->srcpad, out);
    /* The sparse text stream follows the video (GAP events) so overlays and muxers never wait
     * for text that is not coming. After the video: a text sink prerolling on the GAP must not
     * keep the frame from prerolling its own sink. */
    advance_text (self, pts, end);
    if (GST_CLOCK_TIME_IS_VALID (end))
      priv->video_end = end;
    return ret;
  } catch (const std::exception & e) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not process a video frame"),
        ("%s", e.what ()));
    if (buf)
      gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
}

/* Waits until the worker has handled everything queued so far (EOS), or until a flush or stop. */
static void
drain (GstSlowfastMllm * self)
{
  GstSlowfastMllmPrivate *priv = self->priv;
  std::unique_lock < std::mutex > lock (priv->lock);
  const guint64 epoch = priv->epoch.load ();

  if (priv->flushing || priv->stop || !priv->worker_thread.joinable ())
    return;
  priv->queue.push_back ({
      Item::Kind::Eos, nullptr, nullptr, epoch});
  priv->cond.notify_all ();
  priv->cond.wait (lock,[&] {
        return priv->flushing || priv->stop || priv->eos_done_epoch == epoch
            || priv->epoch.load () != epoch;
      }
  );
}

/* EOS: answers the last partial window (sliding) or the whole stream, then waits for it. */
static void
finish_stream (GstSlowfastMllm * self)
{
  GstSlowfastMllmPrivate *priv = self->priv;
  const RunConfig & run = priv->run;

  if (!priv->model)
    return;
  if (run.mode == GST_SLOWFAST_MODE_SLIDING) {
    if (std::optional < Window > last = priv->window.finish ()) {
      const auto *first = priv->frame_times.find (last->first);
      const auto *newest = priv->frame_times.find (last->last);
      if (first && newest)
        enqueue_window (self, make_window_job (self, *last, last->indices (), first->first,
                newest->second, GST_CLOCK_TIME_NONE), true);
    }
  } else if (priv->window.count () > 0) {
    const uint64_t n = priv->window.count ();
    if (!priv->tail_sent && priv->tail)
      enqueue_frame (self, priv->tail.get (), &priv->tail_info, n - 1, n, true);
    priv->tail.reset ();
    std::vector < uint64_t > picks = gstslowfast::reservoir_picks (n, run.window_frames,
        run.reservoir_frames);
    Window whole;
    whole.first = 0;
    whole.last = n - 1;
    whole.size = run.window_frames;
    enqueue_window (self, make_window_job (self, whole, picks, priv->stream_start,
            priv->stream_end, GST_CLOCK_TIME_NONE), true);
  }
  drain (self);
}

/* The stream ends without EOS (a new one starts): answered like EOS when not live (the last
 * partial window, or the whole-stream answer), pending windows dropped when live. The text
 * stream then covers every frame of it (a GAP after the last answer), and the next segment
 * always restarts windows and is sent on text_src. */
static void
end_previous_stream (GstSlowfastMllm * self)
{
  GstSlowfastMllmPrivate *priv = self->priv;

  if (priv->window.count () > 0) {
    if (priv->live) {
      std::lock_guard < std::mutex > lock (priv->lock);
      clear_queue_locked (priv);
    } else {
      finish_stream (self);
    }
    /* Frame indices restart: the worker's cached features of this stream are stale. */
    std::lock_guard < std::mutex > lock (priv->lock);
    priv->epoch++;
  }
  {
    std::lock_guard < std::mutex > lock (priv->text_lock);
    priv->pending_ends.clear ();        /* answered above, or dropped */
  }
  advance_text (self, priv->video_end, priv->video_end);
  reset_stream_state (self);
  reset_text_state (self);
  priv->have_segment = false;
}

static void
push_text_stream_start (GstSlowfastMllm * self, GstEvent * upstream_start)
{
  GstSlowfastMllmPrivate *priv = self->priv;
  gchar *stream_id = gst_pad_create_stream_id (self->text_srcpad, GST_ELEMENT (self), "text");
  GstEvent *start = gst_event_new_stream_start (stream_id);
  GstCaps *caps = gst_static_pad_template_get_caps (&text_src_template);
  guint group_id;

  g_free (stream_id);
  if (gst_event_parse_group_id (upstream_start, &group_id))
    gst_event_set_group_id (start, group_id);
  gst_event_set_stream_flags (start, GST_STREAM_FLAG_SPARSE);
  std::lock_guard < std::mutex > lock (priv->text_lock);
  priv->text_eos = false;
  push_text_event_locked (self, start);
  push_text_event_locked (self, gst_event_new_caps (caps));
  gst_caps_unref (caps);
}

static gboolean
gst_slowfast_mllm_sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstSlowfastMllm *self = GST_SLOWFAST_MLLM (parent);
  GstSlowfastMllmPrivate *priv = self->priv;

  try {
    switch (GST_EVENT_TYPE (event)) {
      case GST_EVENT_STREAM_START:{
        const gchar *stream_id = NULL;
        gst_event_parse_stream_start (event, &stream_id);
        const std::string id = stream_id ? stream_id : "";
        if (priv->stream_id.empty ()) {
          push_text_stream_start (self, event);
        } else if (id != priv->stream_id) {
          /* A new stream without EOS in between (concat, playlists). The text stream goes
           * on: the next segment retimes it. A new stream-start there would reach an
           * overlay ahead of the previous stream's last frames (they wait in a queue on the
           * video branch), reset its text segment and leave those frames waiting for text
           * forever. */
          bool text_ended;
          {
            std::lock_guard < std::mutex > lock (priv->text_lock);
            text_ended = priv->text_eos;
          }
          end_previous_stream (self);
          if (text_ended)       /* after EOS only a stream-start revives the pad */
            push_text_stream_start (self, event);
        }
        priv->stream_id = id;
        break;
      }
      case GST_EVENT_CAPS:{
        GstCaps *caps;
        GstVideoInfo info;
        gst_event_parse_caps (event, &caps);
        if (!gst_video_info_from_caps (&info, caps)) {
          GST_ELEMENT_ERROR (self, STREAM, FORMAT, (NULL),
              ("Cannot parse video caps %" GST_PTR_FORMAT, caps));
          gst_event_unref (event);
          return FALSE;
        }
        /* Frames already queued carry their own format; new ones use the new caps. */
        priv->video_info = info;
        priv->have_info = true;
        break;
      }
      case GST_EVENT_SEGMENT:{
        const GstSegment *segment;
        gst_event_parse_segment (event, &segment);
        if (segment->format != GST_FORMAT_TIME) {
          GST_ELEMENT_ERROR (self, STREAM, FORMAT, (NULL),
              ("Only TIME segments are supported, got %s",
                  gst_format_get_name (segment->format)));
          gst_event_unref (event);
          return FALSE;
        }
        /* A new segment restarts windows. Answers still due for the old one go out first,
         * in its segment (live: they are dropped instead of delaying the stream). The same
         * segment sent again (some elements repeat it with new caps) changes nothing. */
        if (priv->have_segment && gst_segment_is_equal (&priv->segment, segment))
          break;
        priv->segment = *segment;
        priv->have_segment = true;
        if (priv->window.count () > 0) {
          if (priv->live) {
            std::lock_guard < std::mutex > lock (priv->lock);
            clear_queue_locked (priv);
          } else {
            drain (self);
          }
          std::lock_guard < std::mutex > lock (priv->lock);
          priv->epoch++;
        }
        reset_stream_state (self);
        reset_text_state (self);
        {
          /* The text stream gets the segment without its end: the answer for the last
           * window at EOS starts at that end and would be clipped by downstream sinks. */
          GstSegment text_segment = *segment;
          text_segment.stop = GST_CLOCK_TIME_NONE;
          GstEvent *text_event = gst_event_new_segment (&text_segment);
          gst_event_set_seqnum (text_event, gst_event_get_seqnum (event));
          std::lock_guard < std::mutex > lock (priv->text_lock);
          push_text_event_locked (self, text_event);
        }
        break;
      }
      case GST_EVENT_GAP:{
        GstClockTime start, duration;
        gst_event_parse_gap (event, &start, &duration);
        if (GST_CLOCK_TIME_IS_VALID (duration))
          advance_text (self, start, start + duration);
        break;
      }
      case GST_EVENT_FLUSH_START:{
        {
          std::lock_guard < std::mutex > lock (priv->lock);
          priv->flushing = true;
          clear_queue_locked (priv);    /* aborts a running generation at its next step */
        }
        gst_pad_push_event (self->text_srcpad, gst_event_ref (event));
        break;
      }
      case GST_EVENT_FLUSH_STOP:{
        {
          std::lock_guard < std::mutex > lock (priv->lock);
          clear_queue_locked (priv);
          priv->flushing = false;
        }
        reset_stream_state (self);
        reset_text_state (self);
        priv->have_segment = false;     /* the segment after a flush always restarts */
        std::lock_guard < std::mutex > lock (priv->text_lock);
        push_text_event_locked (self, gst_event_ref (event));
        break;
      }
      case GST_EVENT_EOS:{
        finish_stream (self);
        std::lock_guard < std::mutex > lock (priv->text_lock);
        push_text_event_locked (self, gst_event_new_eos ());
        priv->text_eos = true;
        break;
      }
      default:
        break;
    }
  } catch (const std::exception & e) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not handle a %s event",
            GST_EVENT_TYPE_NAME (event)), ("%s", e.what ()));
    gst_event_unref (event);
    return FALSE;
  }
  return gst_pad_event_default (pad, parent, event);
}

/* Both src pads forward seeks upstream; a pipeline seek reaches every sink, so the copy that
 * arrives on the second pad (same seqnum) is not sent twice. */
static gboolean
forward_upstream_event (GstSlowfastMllm * self, GstEvent * event)
{
  if (GST_EVENT_TYPE (event) == GST_EVENT_SEEK) {
    guint32 seqnum = gst_event_get_seqnum (event);
    GST_OBJECT_LOCK (self);
    bool seen = seqnum == self->priv->last_seek_seqnum;
    self->priv->last_seek_seqnum = seqnum;
    GST_OBJECT_UNLOCK (self);
    if (seen) {
      gst_event_unref (event);
      return TRUE;
    }
  }
  return gst_pad_push_event (self->sinkpad, event);
}

static gboolean
gst_slowfast_mllm_src_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstSlowfastMllm *self = GST_SLOWFAST_MLLM (parent);
  (void) pad;

  return forward_upstream_event (self, event);
}

/* text_src: seeks go upstream; QoS, navigation and the like concern the text branch only. */
static gboolean
gst_slowfast_mllm_text_src_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstSlowfastMllm *self = GST_SLOWFAST_MLLM (parent);
  (void) pad;

  if (GST_EVENT_TYPE (event) == GST_EVENT_SEEK)
    return forward_upstream_event (self, event);
  gst_event_unref (event);
  return TRUE;
}

static gboolean
gst_slowfast_mllm_text_src_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstSlowfastMllm *self = GST_SLOWFAST_MLLM (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_LATENCY:{
      /* Text for a window comes after the window's last frame, by up to one hop in a
       * pipeline that keeps up (slower windows are dropped in live pipelines). */
      gboolean live;
      GstClockTime min, max;
      if (!gst_pad_peer_query (self->sinkpad, query))
        return FALSE;
      gst_query_parse_latency (query, &live, &min, &max);
      GstClockTime ours = text_latency (self);
      min += ours;
      if (GST_CLOCK_TIME_IS_VALID (max))
        max += ours;
      gst_query_set_latency (query, live, min, max);
      GST_DEBUG_OBJECT (self, "text latency: live %d, min %" GST_TIME_FORMAT ", max %"
          GST_TIME_FORMAT, live, GST_TIME_ARGS (min), GST_TIME_ARGS (max));
      return TRUE;
    }
    case GST_QUERY_CAPS:{
      GstCaps *filter, *caps = gst_pad_get_pad_template_caps (pad);
      gst_query_parse_caps (query, &filter);
      if (filter) {
        GstCaps *filtered = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
        gst_caps_unref (caps);
        caps = filtered;
      }
      gst_query_set_caps_result (query, caps);
      gst_caps_unref (caps);
      return TRUE;
    }
    case GST_QUERY_POSITION:
    case GST_QUERY_DURATION:
    case GST_QUERY_SEEKING:
    case GST_QUERY_SEGMENT:
    case GST_QUERY_CONVERT:
      return gst_pad_peer_query (self->sinkpad, query);
    default:
      return gst_pad_query_default (pad, parent, query);
  }
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

/* ------------------------------------------------------------------------------------------ */
/* States */

static void
post_progress (GstSlowfastMllm * self, GstProgressType type, const gchar * code,
    const std::string & text)
{
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_progress (GST_OBJECT (self), type, code, text.c_str ()));
}

/* Loads (or shares) the model when none is loaded or the settings changed. */
static gboolean
ensure_model (GstSlowfastMllm * self)
{
  GstSlowfastMllmPrivate *priv = self->priv;
  const Settings settings = settings_snapshot (self);

  if (settings.model_location.empty ()) {
    GST_WARNING_OBJECT (self, "no model-location: video passes through, no answers");
    priv->session.reset ();
    priv->model.reset ();
    return TRUE;
  }
  if (priv->model && priv->loaded_location == settings.model_location
      && priv->loaded_device == settings.device && priv->loaded_dtype == settings.dtype)
    return TRUE;

  priv->session.reset ();
  priv->model.reset ();
  const std::string &location = settings.model_location;
  if (!std::filesystem::is_directory (location)) {
    post_progress (self, GST_PROGRESS_TYPE_ERROR, "model-load",
        "Model directory '" + location + "' does not exist");
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("Model directory '%s' does not exist", location.c_str ()),
        ("model-location must name a checkpoint directory (config.json, *.safetensors, "
            "tokenizer.json)"));
    return FALSE;
  }
  try {
    auto start = std::chrono::steady_clock::now ();
    slowfast::LoadOptions options;
    options.model_dir = location;
    options.device = settings.device;
    options.dtype = settings.dtype;
    gstslowfast::SharedModel shared = gstslowfast::acquire_model (options,[&] {
          post_progress (self, GST_PROGRESS_TYPE_START, "model-load",
              "Loading model '" + location + "'");
        }
    );
    priv->model = shared.model;
    priv->session = std::make_unique < slowfast::Session > (priv->model);
    priv->loaded_location = location;
    priv->loaded_device = settings.device;
    priv->loaded_dtype = settings.dtype;
    const slowfast::ModelInfo & info = priv->model->info ();
    gchar *text = shared.loaded_now ?
        g_strdup_printf ("Loaded model '%s' (%s, %s, %s) in %.2f s", location.c_str (),
        info.id.c_str (), info.device.c_str (), info.dtype.c_str (), seconds_since (start)) :
        g_strdup_printf ("Sharing model '%s' (%s, %s, %s) already loaded in this process",
        location.c_str (), info.id.c_str (), info.device.c_str (), info.dtype.c_str ());
    /* code "model-load" for a load from disk, "model-share" when another element's is reused */
    post_progress (self, GST_PROGRESS_TYPE_COMPLETE,
        shared.loaded_now ? "model-load" : "model-share", text);
    GST_INFO_OBJECT (self, "%s", text);
    g_free (text);
    g_object_notify (G_OBJECT (self), "model-id");
    return TRUE;
  } catch (const std::exception & e) {
    priv->session.reset ();
    priv->model.reset ();
    post_progress (self, GST_PROGRESS_TYPE_ERROR, "model-load",
        "Could not load model '" + location + "': " + e.what ());
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("Could not load model '%s': %s", location.c_str (), e.what ()), (NULL));
    return FALSE;
  }
}

static void
start_threads (GstSlowfastMllm * self)
{
  GstSlowfastMllmPrivate *priv = self->priv;
  const Settings settings = settings_snapshot (self);

  priv->run.window_frames = settings.window_frames;
  priv->run.hop_frames = settings.hop_frames;
  priv->run.sample_fps = settings.sample_fps;
  priv->run.mode = settings.mode;
  priv->run.feature_cache = settings.feature_cache;
  priv->run.reservoir_frames = MAX (settings.reservoir_frames, settings.window_frames);
  reset_stream_state (self);
  reset_text_state (self);
  priv->have_segment = false;
  priv->stream_id.clear ();
  GST_OBJECT_LOCK (self);
  priv->stats = Stats ();
  GST_OBJECT_UNLOCK (self);
  {
    std::lock_guard < std::mutex > lock (priv->lock);
    priv->queue.clear ();
    priv->pending_windows = 0;
    priv->ready_answers.clear ();
    priv->flushing = false;
    priv->stop = false;
    priv->worker_in_window = false;
    priv->epoch++;
  }
  if (priv->model) {
    priv->convert_thread = std::thread (convert_loop, self);
    priv->worker_thread = std::thread (worker_loop, self);
  }
}

static void
signal_stop (GstSlowfastMllm * self)
{
  GstSlowfastMllmPrivate *priv = self->priv;
  std::lock_guard < std::mutex > lock (priv->lock);

  priv->stop = true;
  clear_queue_locked (priv);    /* aborts a running generation at its next step */
}

static void
join_threads (GstSlowfastMllm * self)
{
  GstSlowfastMllmPrivate *priv = self->priv;

  if (priv->convert_thread.joinable ())
    priv->convert_thread.join ();
  if (priv->worker_thread.joinable ())
    priv->worker_thread.join ();
  std::lock_guard < std::mutex > lock (priv->lock);
  priv->queue.clear ();
  priv->ready_answers.clear ();
  priv->tail.reset ();
}

static GstStateChangeReturn
gst_slowfast_mllm_change_state (GstElement * element, GstStateChange transition)
{
  GstSlowfastMllm *self = GST_SLOWFAST_MLLM (element);
  GstStateChangeReturn ret;

  try {
    switch (transition) {
      case GST_STATE_CHANGE_READY_TO_PAUSED:
        if (!ensure_model (self))
          return GST_STATE_CHANGE_FAILURE;
        start_threads (self);
        break;
      case GST_STATE_CHANGE_PAUSED_TO_READY:
        /* Wakes the streaming thread (back-pressure, EOS drain) and aborts generation before
         * the pads are deactivated, which waits for the streaming thread. */
        signal_stop (self);
        break;
      default:
        break;
    }

    ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
    if (ret == GST_STATE_CHANGE_FAILURE)
      return ret;

    switch (transition) {
      case GST_STATE_CHANGE_PAUSED_TO_READY:
        join_threads (self);
        break;
      case GST_STATE_CHANGE_READY_TO_NULL:
        self->priv->session.reset ();
        self->priv->model.reset ();
        break;
      default:
        break;
    }
  } catch (const std::exception & e) {
    GST_ELEMENT_ERROR (self, CORE, STATE_CHANGE, (NULL), ("%s", e.what ()));
    return GST_STATE_CHANGE_FAILURE;
  }
  return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* Properties */

static void
gst_slowfast_mllm_set_property (GObject * object, guint prop_id, const GValue * value,
    GParamSpec * pspec)
{
  GstSlowfastMllm *self = GST_SLOWFAST_MLLM (object);
  Settings & s = self->priv->settings;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL_LOCATION:{
      const gchar *location = g_value_get_string (value);
      s.model_location = location ? location : "";
      break;
    }
    case PROP_PROMPT:{
      const gchar *prompt = g_value_get_string (value);
      s.prompt = prompt ? prompt : DEFAULT_PROMPT;
      break;
    }
    case PROP_WINDOW_FRAMES:
      s.window_frames = g_value_get_uint (value);
      break;
    case PROP_SAMPLE_FPS:
      s.sample_fps = g_value_get_double (value);
      break;
    case PROP_HOP_FRAMES:
      s.hop_frames = g_value_get_uint (value);
      break;
    case PROP_MODE:
      s.mode = (GstSlowfastMode) g_value_get_enum (value);
      break;
    case PROP_MAX_NEW_TOKENS:
      s.generation.max_new_tokens = (int) g_value_get_uint (value);
      break;
    case PROP_TEMPERATURE:
      s.generation.temperature = g_value_get_float (value);
      break;
    case PROP_TOP_P:
      s.generation.top_p = g_value_get_float (value);
      break;
    case PROP_TOP_K:
      s.generation.top_k = (int) g_value_get_uint (value);
      break;
    case PROP_REPETITION_PENALTY:
      s.generation.repetition_penalty = g_value_get_float (value);
      break;
    case PROP_SEED:
      s.generation.seed = g_value_get_uint64 (value);
      break;
    case PROP_DEVICE:
      s.device = (slowfast::Device) g_value_get_enum (value);
      break;
    case PROP_DTYPE:
      s.dtype = (slowfast::DType) g_value_get_enum (value);
      break;
    case PROP_MAX_PENDING_WINDOWS:
      s.max_pending_windows = g_value_get_uint (value);
      break;
    case PROP_LEAKY:
      s.leaky = (GstSlowfastLeaky) g_value_get_enum (value);
      break;
    case PROP_LATENCY:
      s.latency = g_value_get_int64 (value);
      break;
    case PROP_STREAM_TOKENS:
      s.stream_tokens = g_value_get_boolean (value);
      break;
    case PROP_FEATURE_CACHE:
      s.feature_cache = g_value_get_boolean (value);
      break;
    case PROP_RESERVOIR_FRAMES:
      s.reservoir_frames = g_value_get_uint (value);
      break;
    case PROP_SOURCE_ID:{
      const gchar *source_id = g_value_get_string (value);
      s.source_id = source_id ? source_id : "";
      break;
    }
    case PROP_ALERT_RAISE_AFTER:
    case PROP_ALERT_CLEAR_AFTER:{
      guint & threshold = prop_id == PROP_ALERT_RAISE_AFTER ?
          s.alert_raise_after : s.alert_clear_after;
      /* New thresholds start over; setting the same value keeps a raised alert. */
      if (threshold != g_value_get_uint (value)) {
        threshold = g_value_get_uint (value);
        self->priv->alert.configure (s.alert_raise_after, s.alert_clear_after);
      }
      break;
    }
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);

  /* Pending changes of the pipeline latency (the text latency is one hop by default). */
  if (prop_id == PROP_LATENCY)
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_latency (GST_OBJECT (self)));
}

static void
gst_slowfast_mllm_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstSlowfastMllm *self = GST_SLOWFAST_MLLM (object);
  GstSlowfastMllmPrivate *priv = self->priv;
  const Settings & s = priv->settings;
  const Stats & stats = priv->stats;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL_LOCATION:
      g_value_set_string (value, s.model_location.empty ()? NULL : s.model_location.c_str ());
      break;
    case PROP_PROMPT:
      g_value_set_string (value, s.prompt.c_str ());
      break;
    case PROP_WINDOW_FRAMES:
      g_value_set_uint (value, s.window_frames);
      break;
    case PROP_SAMPLE_FPS:
      g_value_set_double (value, s.sample_fps);
      break;
    case PROP_HOP_FRAMES:
      g_value_set_uint (value, s.hop_frames);
      break;
    case PROP_MODE:
      g_value_set_enum (value, s.mode);
      break;
    case PROP_MAX_NEW_TOKENS:
      g_value_set_uint (value, (guint) s.generation.max_new_tokens);
      break;
    case PROP_TEMPERATURE:
      g_value_set_float (value, s.generation.temperature);
      break;
    case PROP_TOP_P:
      g_value_set_float (value, s.generation.top_p);
      break;
    case PROP_TOP_K:
      g_value_set_uint (value, (guint) s.generation.top_k);
      break;
    case PROP_REPETITION_PENALTY:
      g_value_set_float (value, s.generation.repetition_penalty);
      break;
    case PROP_SEED:
      g_value_set_uint64 (value, s.generation.seed);
      break;
    case PROP_DEVICE:
      g_value_set_enum (value, (gint) s.device);
      break;
    case PROP_DTYPE:
      g_value_set_enum (value, (gint) s.dtype);
      break;
    case PROP_MAX_PENDING_WINDOWS:
      g_value_set_uint (value, s.max_pending_windows);
      break;
    case PROP_LEAKY:
      g_value_set_enum (value, s.leaky);
      break;
    case PROP_LATENCY:
      g_value_set_int64 (value, s.latency);
      break;
    case PROP_STREAM_TOKENS:
      g_value_set_boolean (value, s.stream_tokens);
      break;
    case PROP_FEATURE_CACHE:
      g_value_set_boolean (value, s.feature_cache);
      break;
    case PROP_RESERVOIR_FRAMES:
      g_value_set_uint (value, s.reservoir_frames);
      break;
    case PROP_SOURCE_ID:
      g_value_set_string (value, s.source_id.empty ()? NULL : s.source_id.c_str ());
      break;
    case PROP_ALERT_RAISE_AFTER:
      g_value_set_uint (value, s.alert_raise_after);
      break;
    case PROP_ALERT_CLEAR_AFTER:
      g_value_set_uint (value, s.alert_clear_after);
      break;
    case PROP_ALERT_RAISED:
      g_value_set_boolean (value, priv->alert.raised ());
      break;
    case PROP_MODEL_ID:
      /* The model is replaced only in READY->PAUSED, on the thread setting states. */
      g_value_set_string (value, priv->model ? priv->model->info ().id.c_str () : NULL);
      break;
    case PROP_WINDOWS_ANSWERED:
      g_value_set_uint64 (value, stats.answered);
      break;
    case PROP_WINDOWS_DROPPED:
      g_value_set_uint64 (value, stats.dropped);
      break;
    case PROP_LAST_LATENCY:
      g_value_set_uint64 (value, stats.last_latency);
      break;
    case PROP_MEAN_LATENCY:
      g_value_set_uint64 (value, stats.answered ?
          (guint64) (stats.latency_sum / stats.answered * GST_SECOND) : GST_CLOCK_TIME_NONE);
      break;
    case PROP_TOKENS_PER_SECOND:
      g_value_set_double (value, stats.generation_seconds > 0 ?
          stats.generated_tokens / stats.generation_seconds : 0.0);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ------------------------------------------------------------------------------------------ */
/* Class */

static void
route_engine_log (slowfast::LogLevel level, const std::string & message)
{
  GstDebugLevel gst_level = GST_LEVEL_DEBUG;
  switch (level) {
    case slowfast::LogLevel::Debug:
      gst_level = GST_LEVEL_DEBUG;
      break;
    case slowfast::LogLevel::Info:
      gst_level = GST_LEVEL_INFO;
      break;
    case slowfast::LogLevel::Warning:
      gst_level = GST_LEVEL_WARNING;
      break;
    case slowfast::LogLevel::Error:
      gst_level = GST_LEVEL_ERROR;
      break;
  }
  GST_CAT_LEVEL_LOG (gst_slowfast_mllm_debug, gst_level, NULL, "engine: %s", message.c_str ());
}

static void
gst_slowfast_mllm_class_init (GstSlowfastMllmClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  const GParamFlags rw = (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const GParamFlags ready = (GParamFlags) (rw | GST_PARAM_MUTABLE_READY);
  const GParamFlags playing = (GParamFlags) (rw | GST_PARAM_MUTABLE_PLAYING);
  const GParamFlags ro = (GParamFlags) (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  GST_DEBUG_CATEGORY_INIT (gst_slowfast_mllm_debug, "slowfastmllm", 0,
      "Slow-Fast video MLLM");
  slowfast::set_log_callback (route_engine_log);

  gobject_class->finalize = gst_slowfast_mllm_finalize;
  gobject_class->set_property = gst_slowfast_mllm_set_property;
  gobject_class->get_property = gst_slowfast_mllm_get_property;

  g_object_class_install_property (gobject_class, PROP_MODEL_LOCATION,
      g_param_spec_string ("model-location", "Model location",
          "Checkpoint directory (config.json, *.safetensors, tokenizer.json). Unset: video "
          "passes through and nothing is answered", DEFAULT_MODEL_LOCATION, ready));
  g_object_class_install_property (gobject_class, PROP_PROMPT,
      g_param_spec_string ("prompt", "Prompt",
          "The question asked about every window; a change applies from the next window",
          DEFAULT_PROMPT, playing));
  g_object_class_install_property (gobject_class, PROP_WINDOW_FRAMES,
      g_param_spec_uint ("window-frames", "Window frames",
          "Sampled frames per window (the model was trained on 64); whole-stream: frames "
          "picked over the whole stream", 2, 1024, DEFAULT_WINDOW_FRAMES, ready));
  g_object_class_install_property (gobject_class, PROP_SAMPLE_FPS,
      g_param_spec_double ("sample-fps", "Sample FPS",
          "Frames per second taken into windows, by timestamp (0 = every frame)",
          0.0, 1000.0, DEFAULT_SAMPLE_FPS, ready));
  g_object_class_install_property (gobject_class, PROP_HOP_FRAMES,
      g_param_spec_uint ("hop-frames", "Hop frames",
          "Sampled frames between two answers (sliding mode)", 1, 1024,
          DEFAULT_HOP_FRAMES, ready));
  g_object_class_install_property (gobject_class, PROP_MODE,
      g_param_spec_enum ("mode", "Mode", "Sliding windows, or one answer about the whole "
          "stream at EOS", GST_TYPE_SLOWFAST_MODE, DEFAULT_MODE, ready));
  g_object_class_install_property (gobject_class, PROP_MAX_NEW_TOKENS,
      g_param_spec_uint ("max-new-tokens", "Max new tokens",
          "Longest answer in tokens", 1, 32768, DEFAULT_MAX_NEW_TOKENS, playing));
  g_object_class_install_property (gobject_class, PROP_TEMPERATURE,
      g_param_spec_float ("temperature", "Temperature",
          "Sampling temperature (0 = greedy)", 0.0f, 10.0f, DEFAULT_TEMPERATURE, playing));
  g_object_class_install_property (gobject_class, PROP_TOP_P,
      g_param_spec_float ("top-p", "Top p", "Nucleus sampling mass (1 = off)", 0.0f, 1.0f,
          DEFAULT_TOP_P, playing));
  g_object_class_install_property (gobject_class, PROP_TOP_K,
      g_param_spec_uint ("top-k", "Top k", "Sample among the k likeliest tokens (0 = off)",
          0, G_MAXINT, DEFAULT_TOP_K, playing));
  g_object_class_install_property (gobject_class, PROP_REPETITION_PENALTY,
      g_param_spec_float ("repetition-penalty", "Repetition penalty",
          "Penalty on tokens already generated (1 = off)", 0.01f, 10.0f,
          DEFAULT_REPETITION_PENALTY, playing));
  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint64 ("seed", "Seed", "Sampling seed; every window starts from it",
          0, G_MAXUINT64, DEFAULT_SEED, playing));
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_enum ("device", "Device", "Where the model runs",
          GST_TYPE_SLOWFAST_DEVICE, (gint) DEFAULT_DEVICE, ready));
  g_object_class_install_property (gobject_class, PROP_DTYPE,
      g_param_spec_enum ("dtype", "Data type", "Compute precision",
          GST_TYPE_SLOWFAST_DTYPE, (gint) DEFAULT_DTYPE, ready));
  g_object_class_install_property (gobject_class, PROP_MAX_PENDING_WINDOWS,
      g_param_spec_uint ("max-pending-windows", "Max pending windows",
          "Windows waiting for the model besides the one being answered; beyond it the "
          "streaming thread waits, or (leaky) the oldest is dropped", 1, 64,
          DEFAULT_MAX_PENDING_WINDOWS, playing));
  g_object_class_install_property (gobject_class, PROP_LEAKY,
      g_param_spec_enum ("leaky", "Leaky", "What happens when the model falls behind",
          GST_TYPE_SLOWFAST_LEAKY, DEFAULT_LEAKY, playing));
  g_object_class_install_property (gobject_class, PROP_LATENCY,
      g_param_spec_int64 ("latency", "Latency",
          "Latency in ns that text_src adds in live pipelines (-1 = one hop: "
          "hop-frames / sample-fps)", -1, G_MAXINT64, DEFAULT_LATENCY, playing));
  g_object_class_install_property (gobject_class, PROP_STREAM_TOKENS,
      g_param_spec_boolean ("stream-tokens", "Stream tokens",
          "Post a slowfast-token element message for each piece of text as it is generated",
          DEFAULT_STREAM_TOKENS, playing));
  g_object_class_install_property (gobject_class, PROP_FEATURE_CACHE,
      g_param_spec_boolean ("feature-cache", "Feature cache",
          "Encode each sampled frame once and reuse its features in every window (debug: "
          "false encodes all frames of every window again)", DEFAULT_FEATURE_CACHE, ready));
  g_object_class_install_property (gobject_class, PROP_RESERVOIR_FRAMES,
      g_param_spec_uint ("reservoir-frames", "Reservoir frames",
          "Whole-stream mode: frames kept while the length is unknown; the picks equal the "
          "reference's linspace exactly for streams of at most this many sampled frames",
          2, 65536, DEFAULT_RESERVOIR_FRAMES, ready));
  g_object_class_install_property (gobject_class, PROP_SOURCE_ID,
      g_param_spec_string ("source-id", "Source id",
          "Names the video source (camera) in slowfast-answer and slowfast-alert messages "
          "(NULL = the element's name)", DEFAULT_SOURCE_ID, playing));
  g_object_class_install_property (gobject_class, PROP_ALERT_RAISE_AFTER,
      g_param_spec_uint ("alert-raise-after", "Alert raise after",
          "Alert mode: each answer is read as yes/no (its first word); post a slowfast-alert "
          "'raised' after this many consecutive yes (0 = alerts off)", 0, G_MAXUINT,
          DEFAULT_ALERT_RAISE_AFTER, playing));
  g_object_class_install_property (gobject_class, PROP_ALERT_CLEAR_AFTER,
      g_param_spec_uint ("alert-clear-after", "Alert clear after",
          "Alert mode: post a slowfast-alert 'cleared' after this many consecutive no once "
          "raised", 1, G_MAXUINT, DEFAULT_ALERT_CLEAR_AFTER, playing));
  g_object_class_install_property (gobject_class, PROP_ALERT_RAISED,
      g_param_spec_boolean ("alert-raised", "Alert raised",
          "Alert mode: whether the alert is raised now", FALSE, ro));
  g_object_class_install_property (gobject_class, PROP_MODEL_ID,
      g_param_spec_string ("model-id", "Model id", "Id of the loaded model", NULL, ro));
  g_object_class_install_property (gobject_class, PROP_WINDOWS_ANSWERED,
      g_param_spec_uint64 ("windows-answered", "Windows answered",
          "Windows answered since READY->PAUSED", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (gobject_class, PROP_WINDOWS_DROPPED,
      g_param_spec_uint64 ("windows-dropped", "Windows dropped",
          "Windows dropped because the model fell behind", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (gobject_class, PROP_LAST_LATENCY,
      g_param_spec_uint64 ("last-latency", "Last latency",
          "Time in ns from a window's last frame to its answer, last window", 0, G_MAXUINT64,
          GST_CLOCK_TIME_NONE, ro));
  g_object_class_install_property (gobject_class, PROP_MEAN_LATENCY,
      g_param_spec_uint64 ("mean-latency", "Mean latency",
          "Time in ns from a window's last frame to its answer, mean", 0, G_MAXUINT64,
          GST_CLOCK_TIME_NONE, ro));
  g_object_class_install_property (gobject_class, PROP_TOKENS_PER_SECOND,
      g_param_spec_double ("tokens-per-second", "Tokens per second",
          "Generated tokens per second of generation (prefill and decode)", 0, G_MAXDOUBLE, 0,
          ro));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_add_static_pad_template (element_class, &text_src_template);
  gst_element_class_set_static_metadata (element_class,
      "Slow-Fast video MLLM", "Filter/Analyzer/Video/Text",
      "Answers a prompt about a sliding window of video frames with the Slow-Fast video LLM",
      "gst-slowfast developers");
  element_class->change_state = GST_DEBUG_FUNCPTR (gst_slowfast_mllm_change_state);

  gst_type_mark_as_plugin_api (GST_TYPE_SLOWFAST_MODE, (GstPluginAPIFlags) 0);
  gst_type_mark_as_plugin_api (GST_TYPE_SLOWFAST_LEAKY, (GstPluginAPIFlags) 0);
  gst_type_mark_as_plugin_api (GST_TYPE_SLOWFAST_DEVICE, (GstPluginAPIFlags) 0);
  gst_type_mark_as_plugin_api (GST_TYPE_SLOWFAST_DTYPE, (GstPluginAPIFlags) 0);
}

static void
gst_slowfast_mllm_init (GstSlowfastMllm * self)
{
  self->priv = new GstSlowfastMllmPrivate ();
  gst_video_info_init (&self->priv->video_info);

  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_slowfast_mllm_chain));
  gst_pad_set_event_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_slowfast_mllm_sink_event));
  gst_pad_set_iterate_internal_links_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_slowfast_mllm_iterate_internal_links));
  GST_PAD_SET_PROXY_CAPS (self->sinkpad);
  GST_PAD_SET_PROXY_ALLOCATION (self->sinkpad);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_event_function (self->srcpad, GST_DEBUG_FUNCPTR (gst_slowfast_mllm_src_event));
  gst_pad_set_iterate_internal_links_function (self->srcpad,
      GST_DEBUG_FUNCPTR (gst_slowfast_mllm_iterate_internal_links));
  GST_PAD_SET_PROXY_CAPS (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  self->text_srcpad = gst_pad_new_from_static_template (&text_src_template, "text_src");
  gst_pad_set_event_function (self->text_srcpad,
      GST_DEBUG_FUNCPTR (gst_slowfast_mllm_text_src_event));
  gst_pad_set_query_function (self->text_srcpad,
      GST_DEBUG_FUNCPTR (gst_slowfast_mllm_text_src_query));
  gst_pad_set_iterate_internal_links_function (self->text_srcpad,
      GST_DEBUG_FUNCPTR (gst_slowfast_mllm_iterate_internal_links));
  gst_pad_use_fixed_caps (self->text_srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->text_srcpad);
}

static void
gst_slowfast_mllm_finalize (GObject * object)
{
  GstSlowfastMllm *self = GST_SLOWFAST_MLLM (object);

  /* Threads end in PAUSED->READY; an element disposed without reaching READY still must not
   * leave one running. */
  signal_stop (self);
  join_threads (self);
  delete self->priv;
  self->priv = NULL;
  G_OBJECT_CLASS (parent_class)->finalize (object);
}
