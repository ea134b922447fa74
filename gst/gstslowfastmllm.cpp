/**
 * SECTION:element-slowfastmllm
 * @title: slowfastmllm
 *
 * Turns video into text with the Slow-Fast video MLLM: it keeps a sliding window of sampled
 * frames, asks the model a prompt about each window on a worker thread, and sends each answer as
 * a timed text buffer on `text_src`, a `slowfast-answer` bus message and a GstSlowfastMeta on a
 * video buffer. The video passes through untouched. docs/element.md is the full reference.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -e videotestsrc pattern=ball num-buffers=300 ! \
 *   slowfastmllm name=m model-location=model/demo ! queue ! fakesink \
 *   m.text_src ! queue ! fakesink
 * ]|
 *
 * This file holds the pads, chain, events, queries, states, model loading and properties; the
 * threads and the rest are in the files gstslowfastmllm_private.h lists.
 */
#include "gstslowfastmllm.h"

#include <algorithm>
#include <exception>
#include <filesystem>

#include "gstslowfastmeta_impl.h"
#include "gstslowfastmllm_private.h"
#include "messages.h"
#include "modelregistry.h"
#include "utf8.h"
#include "util/clock.h"

GST_DEBUG_CATEGORY(gst_slowfast_mllm_debug);
#define GST_CAT_DEFAULT gst_slowfast_mllm_debug

using namespace gstslowfast;

#define VIDEO_FORMATS                                                                          \
  "{ RGB, BGR, RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, ARGB, ABGR, I420, YV12, NV12, NV21, Y42B, " \
  "Y444, YUY2, UYVY, GRAY8 }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(VIDEO_FORMATS)));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(VIDEO_FORMATS)));
static GstStaticPadTemplate text_src_template = GST_STATIC_PAD_TEMPLATE(
    "text_src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS("text/x-raw, format=(string)utf8"));

enum {
  PROP_0,
  PROP_MODEL_LOCATION,
  PROP_PROMPT,
  PROP_WINDOW_FRAMES,
  PROP_SAMPLE_FPS,
  PROP_HOP_FRAMES,
  PROP_FIRST_ANSWER_FRAMES,
  PROP_MODE,
  PROP_MAX_NEW_TOKENS,
  PROP_TEMPERATURE,
  PROP_TOP_P,
  PROP_TOP_K,
  PROP_REPETITION_PENALTY,
  PROP_SEED,
  PROP_DEVICE,
  PROP_DTYPE,
  PROP_WEIGHTS_IN_MEMORY,
  PROP_MAX_BATCH,
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
  PROP_STATS,
};

#define gst_slowfast_mllm_parent_class parent_class
G_DEFINE_TYPE(GstSlowfastMllm, gst_slowfast_mllm, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE(slowfastmllm, "slowfastmllm", GST_RANK_NONE, GST_TYPE_SLOWFAST_MLLM);

static void gst_slowfast_mllm_finalize(GObject* object);
static void gst_slowfast_mllm_set_property(GObject* object, guint prop_id, const GValue* value,
                                           GParamSpec* pspec);
static GstClockTime mean_latency(const Stats& stats) {
  return stats.answered ? (GstClockTime)(stats.latency_sum / stats.answered * GST_SECOND) : 0;
}

static gdouble tokens_per_second(const Stats& stats) {
  return stats.generation_seconds > 0 ? stats.generated_tokens / stats.generation_seconds : 0.0;
}

static void gst_slowfast_mllm_get_property(GObject* object, guint prop_id, GValue* value,
                                           GParamSpec* pspec);
static GstStateChangeReturn gst_slowfast_mllm_change_state(GstElement* element,
                                                           GstStateChange transition);

/* ------------------------------------------------------------------------------------------ */
/* Helpers */

Settings gstslowfast::settings_snapshot(GstSlowfastMllm* self) {
  GST_OBJECT_LOCK(self);
  Settings copy = self->priv->settings;
  GST_OBJECT_UNLOCK(self);
  return copy;
}

/* ------------------------------------------------------------------------------------------ */
/* Streaming thread */

static GstFlowReturn gst_slowfast_mllm_chain(GstPad* pad, GstObject* parent, GstBuffer* buf) {
  (void)pad;
  GstSlowfastMllm* self = GST_SLOWFAST_MLLM(parent);
  GstSlowfastMllmPrivate* priv = self->priv;

  try {
    GstClockTime pts = GST_BUFFER_PTS(buf);
    GstClockTime duration = GST_BUFFER_DURATION(buf);

    if (!GST_CLOCK_TIME_IS_VALID(duration) && priv->have_info &&
        GST_VIDEO_INFO_FPS_N(&priv->video_info) > 0) {
      duration = gst_util_uint64_scale(GST_SECOND, GST_VIDEO_INFO_FPS_D(&priv->video_info),
                                       GST_VIDEO_INFO_FPS_N(&priv->video_info));
    }
    // Frames without a timestamp follow the previous one.
    if (!GST_CLOCK_TIME_IS_VALID(pts)) {
      pts = GST_CLOCK_TIME_IS_VALID(priv->next_pts) ? priv->next_pts : 0;
    }
    if (GST_CLOCK_TIME_IS_VALID(priv->last_pts) && pts < priv->last_pts && priv->model &&
        priv->have_info) {
      restart_at_backwards_timestamp(self, pts);
    }
    priv->last_pts = pts;
    if (GST_CLOCK_TIME_IS_VALID(duration)) priv->last_duration = duration;
    const GstClockTime end = GST_CLOCK_TIME_IS_VALID(duration) ? pts + duration : pts;
    priv->next_pts = end;

    if (priv->model && priv->have_info) {
      if (!priv->live_known) check_live(self);
      const GstFlowReturn ret = sample_frame(self, buf, pts, end);
      if (ret != GST_FLOW_OK) {
        gst_buffer_unref(buf);
        return ret;
      }
    }

    std::vector<ReadyAnswer> answers;
    {
      std::lock_guard<std::mutex> lock(priv->answers_lock);
      answers.swap(priv->ready_answers);
    }
    if (!answers.empty()) {
      const std::string model_id = priv->model ? priv->model->info().id : std::string();
      buf = gst_buffer_make_writable(buf);  // shares the memory: no pixel copy
      for (const ReadyAnswer& answer : answers) {
        gst_buffer_add_slowfast_answer(buf, answer.text.c_str(), answer.start, answer.end,
                                       model_id.c_str());
      }
    }
    // The sparse text stream follows the video (GAP events) so overlays and muxers never wait
    // for text that is not coming. Announced before the frame is pushed: a text sink prerolls
    // even when the video push blocks in a prerolling sink without a queue between.
    queue_text_at(self, TextItem::Kind::Advance, pts, end);
    GstBuffer* out = buf;
    buf = nullptr;
    const GstFlowReturn ret = gst_pad_push(self->srcpad, out);
    if (GST_CLOCK_TIME_IS_VALID(end)) priv->video_end = end;
    return ret;
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Could not process a video frame"),
                      ("%s", valid_utf8(e.what()).c_str()));
    if (buf) gst_buffer_unref(buf);
    return GST_FLOW_ERROR;
  }
}

static void push_text_stream_start(GstSlowfastMllm* self, GstEvent* upstream_start) {
  gchar* stream_id = gst_pad_create_stream_id(self->text_srcpad, GST_ELEMENT(self), "text");
  GstEvent* start = gst_event_new_stream_start(stream_id);
  GstCaps* caps = gst_static_pad_template_get_caps(&text_src_template);
  guint group_id;

  g_free(stream_id);
  if (gst_event_parse_group_id(upstream_start, &group_id)) gst_event_set_group_id(start, group_id);
  gst_event_set_stream_flags(start, GST_STREAM_FLAG_SPARSE);
  self->priv->text_ended = false;
  queue_text_event(self, start);
  queue_text_event(self, gst_event_new_caps(caps));
  gst_caps_unref(caps);
}

static void set_halted(GstSlowfastMllmPrivate* priv, std::atomic<bool>& flag, bool value) {
  std::lock_guard<std::mutex> lock(priv->progress_lock);
  flag = value;
  priv->progress.notify_all();
}

static gboolean gst_slowfast_mllm_sink_event(GstPad* pad, GstObject* parent, GstEvent* event) {
  GstSlowfastMllm* self = GST_SLOWFAST_MLLM(parent);
  GstSlowfastMllmPrivate* priv = self->priv;

  try {
    switch (GST_EVENT_TYPE(event)) {
      case GST_EVENT_STREAM_START: {
        const gchar* stream_id = nullptr;
        gst_event_parse_stream_start(event, &stream_id);
        const std::string id = stream_id ? stream_id : "";
        if (priv->stream_id.empty()) {
          push_text_stream_start(self, event);
        } else if (id != priv->stream_id) {
          // A new stream without EOS in between (concat, playlists). The text stream goes on:
          // the next segment retimes it. A new stream-start there would reach an overlay ahead
          // of the previous stream's last frames (they wait in a queue on the video branch),
          // reset its text segment and leave those frames waiting for text forever.
          const bool text_ended = priv->text_ended;
          end_previous_stream(self);
          if (text_ended) push_text_stream_start(self, event);  // after EOS only this revives it
        }
        priv->stream_id = id;
        break;
      }
      case GST_EVENT_CAPS: {
        GstCaps* caps;
        GstVideoInfo info;
        gst_event_parse_caps(event, &caps);
        if (!gst_video_info_from_caps(&info, caps)) {
          GST_ELEMENT_ERROR(self, STREAM, FORMAT, (NULL),
                            ("Cannot parse video caps %" GST_PTR_FORMAT, caps));
          gst_event_unref(event);
          return FALSE;
        }
        // Frames already queued carry their own format; new ones use the new caps.
        priv->video_info = info;
        priv->have_info = true;
        break;
      }
      case GST_EVENT_SEGMENT: {
        const GstSegment* segment;
        gst_event_parse_segment(event, &segment);
        if (segment->format != GST_FORMAT_TIME) {
          GST_ELEMENT_ERROR(
              self, STREAM, FORMAT, (NULL),
              ("Only TIME segments are supported, got %s", gst_format_get_name(segment->format)));
          gst_event_unref(event);
          return FALSE;
        }
        handle_segment(self, event, segment);
        break;
      }
      case GST_EVENT_GAP: {
        GstClockTime start, duration;
        gst_event_parse_gap(event, &start, &duration);
        if (GST_CLOCK_TIME_IS_VALID(duration)) {
          queue_text_at(self, TextItem::Kind::Advance, start, start + duration);
        }
        break;
      }
      case GST_EVENT_FLUSH_START:
        priv->flushes++;
        set_halted(priv, priv->flushing, true);
        priv->pending.interrupt();  // wakes a streaming thread waiting for room
        discard_queued_work(priv);  // aborts a running generation at its next step
        text_src_flush_start(self, gst_event_ref(event));
        break;
      case GST_EVENT_FLUSH_STOP:
        discard_queued_work(priv);
        priv->pending.resume();
        set_halted(priv, priv->flushing, false);
        reset_stream_state(self);
        priv->have_segment = false;  // the segment after a flush always restarts
        priv->text_ended = false;
        text_src_flush_stop(self, gst_event_ref(event));
        break;
      case GST_EVENT_EOS:
        finish_stream(self);
        queue_text_event(self, gst_event_new_eos());
        priv->text_ended = true;
        break;
      default:
        break;
    }
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED,
                      ("Could not handle a %s event", GST_EVENT_TYPE_NAME(event)),
                      ("%s", valid_utf8(e.what()).c_str()));
    gst_event_unref(event);
    return FALSE;
  }
  return gst_pad_event_default(pad, parent, event);
}

// Both src pads forward seeks upstream; a pipeline seek reaches every sink, so the copy that
// arrives on the second pad (same seqnum) is not sent twice.
gboolean gstslowfast::forward_upstream_event(GstSlowfastMllm* self, GstEvent* event) {
  if (GST_EVENT_TYPE(event) == GST_EVENT_SEEK) {
    const guint32 seqnum = gst_event_get_seqnum(event);
    GST_OBJECT_LOCK(self);
    const bool seen = seqnum == self->priv->last_seek_seqnum;
    self->priv->last_seek_seqnum = seqnum;
    GST_OBJECT_UNLOCK(self);
    if (seen) {
      gst_event_unref(event);
      return TRUE;
    }
  }
  return gst_pad_push_event(self->sinkpad, event);
}

static gboolean gst_slowfast_mllm_src_event(GstPad* pad, GstObject* parent, GstEvent* event) {
  (void)pad;
  return forward_upstream_event(GST_SLOWFAST_MLLM(parent), event);
}

// Video flows sink <-> src only; text_src is a stream of our own, so queries and events proxied
// through internal links must never reach it.
static GstIterator* gst_slowfast_mllm_iterate_internal_links(GstPad* pad, GstObject* parent) {
  GstSlowfastMllm* self = GST_SLOWFAST_MLLM(parent);
  GstPad* other = nullptr;
  GValue value = G_VALUE_INIT;

  if (pad == self->sinkpad) {
    other = self->srcpad;
  } else if (pad == self->srcpad) {
    other = self->sinkpad;
  }
  if (other == nullptr) return gst_iterator_new_single(GST_TYPE_PAD, nullptr);
  g_value_init(&value, GST_TYPE_PAD);
  g_value_set_object(&value, other);
  GstIterator* it = gst_iterator_new_single(GST_TYPE_PAD, &value);
  g_value_unset(&value);
  return it;
}

/* ------------------------------------------------------------------------------------------ */
/* States */

// Loads (or shares) the model when none is loaded or the settings changed.
static gboolean ensure_model(GstSlowfastMllm* self) {
  GstSlowfastMllmPrivate* priv = self->priv;
  const Settings settings = settings_snapshot(self);

  if (settings.model_location.empty()) {
    // Said where the user sees it (gst-launch prints element warnings): a forgotten model is
    // the most common reason for empty captions.
    GST_ELEMENT_WARNING(self, RESOURCE, NOT_FOUND,
                        ("No model-location set: the video passes through and nothing is answered"),
                        ("set the model-location property to a checkpoint directory, e.g. the "
                         "built-in demo model model/demo"));
    priv->session.reset();
    priv->model.reset();
    return TRUE;
  }
  if (priv->model && priv->loaded_location == settings.model_location &&
      priv->loaded_device == settings.device && priv->loaded_dtype == settings.dtype &&
      priv->loaded_weights_in_memory == settings.weights_in_memory &&
      priv->loaded_max_batch == settings.max_batch) {
    return TRUE;
  }

  priv->session.reset();
  priv->model.reset();
  const std::string& location = settings.model_location;
  if (!std::filesystem::is_directory(location)) {
    post_progress(self, GST_PROGRESS_TYPE_ERROR, "model-load",
                  "Model directory '" + location + "' does not exist");
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
                      ("Model directory '%s' does not exist", valid_utf8(location).c_str()),
                      ("model-location must name a checkpoint directory (config.json, "
                       "*.safetensors, tokenizer.json)"));
    return FALSE;
  }
  try {
    const auto start = slowfast::Clock::now();
    slowfast::LoadOptions options;
    options.model_dir = location;
    options.device = settings.device;
    options.dtype = settings.dtype;
    options.weights_in_memory = settings.weights_in_memory;
    options.max_batch = static_cast<int>(settings.max_batch);
    // A full-scale load takes long enough that an application wants to show how far it is.
    std::string last_step;
    options.on_progress = [&](double fraction, const std::string& stage) {
      const int percent = static_cast<int>(fraction * 100 + 0.5);
      const std::string step = stage + " " + std::to_string(percent);
      if (step == last_step) return;  // one message per stage and percent
      last_step = step;
      post_progress(
          self, GST_PROGRESS_TYPE_CONTINUE, "model-load",
          "Loading model '" + location + "': " + stage + " " + std::to_string(percent) + "%",
          percent);
    };
    SharedModel shared = acquire_model(options, [&] {
      post_progress(self, GST_PROGRESS_TYPE_START, "model-load", "Loading model '" + location + "'",
                    0);
    });
    priv->model = shared.model;
    priv->session = std::make_unique<slowfast::Session>(priv->model);
    priv->loaded_location = location;
    priv->loaded_device = settings.device;
    priv->loaded_dtype = settings.dtype;
    priv->loaded_weights_in_memory = settings.weights_in_memory;
    priv->loaded_max_batch = settings.max_batch;
    const slowfast::ModelInfo& info = priv->model->info();
    gchar* text =
        shared.loaded_now
            ? g_strdup_printf("Loaded model '%s' (%s, %s, %s) in %.2f s", location.c_str(),
                              info.id.c_str(), info.device.c_str(), info.dtype.c_str(),
                              slowfast::seconds_since(start))
            : g_strdup_printf("Sharing model '%s' (%s, %s, %s) already loaded in this process",
                              location.c_str(), info.id.c_str(), info.device.c_str(),
                              info.dtype.c_str());
    // code "model-load" for a load from disk, "model-share" when another element's is reused
    post_progress(self, GST_PROGRESS_TYPE_COMPLETE,
                  shared.loaded_now ? "model-load" : "model-share", text, 100);
    GST_INFO_OBJECT(self, "%s", text);
    g_free(text);
    g_object_notify(G_OBJECT(self), "model-id");
    return TRUE;
  } catch (const std::exception& e) {
    priv->session.reset();
    priv->model.reset();
    post_progress(self, GST_PROGRESS_TYPE_ERROR, "model-load",
                  "Could not load model '" + location + "': " + e.what());
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ,
                      ("Could not load model '%s': %s", valid_utf8(location).c_str(),
                       valid_utf8(e.what()).c_str()),
                      (NULL));
    return FALSE;
  }
}

static void start_threads(GstSlowfastMllm* self) {
  GstSlowfastMllmPrivate* priv = self->priv;
  const Settings settings = settings_snapshot(self);

  priv->run = settings;
  priv->run.reservoir_frames = std::max(settings.reservoir_frames, settings.window_frames);
  // An alert rests on full windows: a yes/no about a few seconds would raise and clear early.
  if (settings.alert_raise_after > 0 || settings.mode != GST_SLOWFAST_MODE_SLIDING) {
    priv->run.first_answer_frames = 0;
  }
  reset_stream_state(self);
  priv->have_segment = false;
  priv->stream_id.clear();
  priv->text_ended = false;
  GST_OBJECT_LOCK(self);
  priv->stats = Stats();
  GST_OBJECT_UNLOCK(self);
  discard_queued_work(priv);
  priv->convert_queue.open();
  priv->worker_queue.open();
  priv->pending.resume();
  set_halted(priv, priv->flushing, false);
  set_halted(priv, priv->stop, false);
  if (priv->model) {
    priv->convert_thread = std::thread(convert_loop, self);
    priv->worker_thread = std::thread(worker_loop, self);
  }
}

// Wakes every thread that waits (back-pressure, EOS drain, the model threads) and aborts a
// running generation at its next step.
static void signal_stop(GstSlowfastMllm* self) {
  GstSlowfastMllmPrivate* priv = self->priv;
  priv->flushes++;
  set_halted(priv, priv->stop, true);
  priv->pending.interrupt();
  discard_queued_work(priv);
  priv->convert_queue.close();
  priv->worker_queue.close();
}

static void join_threads(GstSlowfastMllm* self) {
  GstSlowfastMllmPrivate* priv = self->priv;

  if (priv->convert_thread.joinable()) priv->convert_thread.join();
  if (priv->worker_thread.joinable()) priv->worker_thread.join();
  discard_queued_work(priv);
  priv->tail.reset();
}

static GstStateChangeReturn gst_slowfast_mllm_change_state(GstElement* element,
                                                           GstStateChange transition) {
  GstSlowfastMllm* self = GST_SLOWFAST_MLLM(element);

  try {
    switch (transition) {
      case GST_STATE_CHANGE_READY_TO_PAUSED:
        if (!ensure_model(self)) return GST_STATE_CHANGE_FAILURE;
        start_threads(self);
        break;
      case GST_STATE_CHANGE_PAUSED_TO_READY:
        // Wakes the streaming thread (back-pressure, EOS drain) and aborts generation before
        // the pads are deactivated, which waits for the streaming thread and text_src's task.
        signal_stop(self);
        break;
      default:
        break;
    }

    const GstStateChangeReturn ret =
        GST_ELEMENT_CLASS(parent_class)->change_state(element, transition);
    if (ret == GST_STATE_CHANGE_FAILURE) return ret;

    switch (transition) {
      case GST_STATE_CHANGE_PAUSED_TO_READY:
        join_threads(self);
        break;
      case GST_STATE_CHANGE_READY_TO_NULL:
        self->priv->session.reset();
        self->priv->model.reset();
        break;
      default:
        break;
    }
    return ret;
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, CORE, STATE_CHANGE, (NULL), ("%s", valid_utf8(e.what()).c_str()));
    return GST_STATE_CHANGE_FAILURE;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Properties */

static void gst_slowfast_mllm_set_property(GObject* object, guint prop_id, const GValue* value,
                                           GParamSpec* pspec) {
  GstSlowfastMllm* self = GST_SLOWFAST_MLLM(object);
  Settings& s = self->priv->settings;

  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_MODEL_LOCATION: {
      const gchar* location = g_value_get_string(value);
      s.model_location = location ? location : "";
      break;
    }
    case PROP_PROMPT: {
      const gchar* prompt = g_value_get_string(value);
      s.prompt = prompt ? valid_utf8(prompt) : slowfast::kDefaultPrompt;
      break;
    }
    case PROP_WINDOW_FRAMES:
      s.window_frames = g_value_get_uint(value);
      break;
    case PROP_SAMPLE_FPS:
      s.sample_fps = g_value_get_double(value);
      break;
    case PROP_HOP_FRAMES:
      s.hop_frames = g_value_get_uint(value);
      break;
    case PROP_FIRST_ANSWER_FRAMES:
      s.first_answer_frames = g_value_get_uint(value);
      break;
    case PROP_MODE:
      s.mode = (GstSlowfastMode)g_value_get_enum(value);
      break;
    case PROP_MAX_NEW_TOKENS:
      s.generation.max_new_tokens = (int)g_value_get_uint(value);
      break;
    case PROP_TEMPERATURE:
      s.generation.temperature = g_value_get_float(value);
      break;
    case PROP_TOP_P:
      s.generation.top_p = g_value_get_float(value);
      break;
    case PROP_TOP_K:
      s.generation.top_k = (int)g_value_get_uint(value);
      break;
    case PROP_REPETITION_PENALTY:
      s.generation.repetition_penalty = g_value_get_float(value);
      break;
    case PROP_SEED:
      s.generation.seed = g_value_get_uint64(value);
      break;
    case PROP_DEVICE:
      s.device = (slowfast::Device)g_value_get_enum(value);
      break;
    case PROP_DTYPE:
      s.dtype = (slowfast::DType)g_value_get_enum(value);
      break;
    case PROP_WEIGHTS_IN_MEMORY:
      s.weights_in_memory = g_value_get_boolean(value);
      break;
    case PROP_MAX_BATCH:
      s.max_batch = g_value_get_uint(value);
      break;
    case PROP_MAX_PENDING_WINDOWS:
      s.max_pending_windows = g_value_get_uint(value);
      break;
    case PROP_LEAKY:
      s.leaky = (GstSlowfastLeaky)g_value_get_enum(value);
      break;
    case PROP_LATENCY:
      s.latency = g_value_get_uint64(value);
      break;
    case PROP_STREAM_TOKENS:
      s.stream_tokens = g_value_get_boolean(value);
      break;
    case PROP_FEATURE_CACHE:
      s.feature_cache = g_value_get_boolean(value);
      break;
    case PROP_RESERVOIR_FRAMES:
      s.reservoir_frames = g_value_get_uint(value);
      break;
    case PROP_SOURCE_ID: {
      const gchar* source_id = g_value_get_string(value);
      s.source_id = source_id ? valid_utf8(source_id) : "";
      break;
    }
    case PROP_ALERT_RAISE_AFTER:
    case PROP_ALERT_CLEAR_AFTER: {
      guint& threshold =
          prop_id == PROP_ALERT_RAISE_AFTER ? s.alert_raise_after : s.alert_clear_after;
      /* New thresholds start over; setting the same value keeps a raised alert. */
      if (threshold != g_value_get_uint(value)) {
        threshold = g_value_get_uint(value);
        self->priv->alert.configure(s.alert_raise_after, s.alert_clear_after);
      }
      break;
    }
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);

  /* Pending changes of the pipeline latency (the text latency is one hop by default). */
  if (prop_id == PROP_LATENCY)
    gst_element_post_message(GST_ELEMENT(self), gst_message_new_latency(GST_OBJECT(self)));
}

static void gst_slowfast_mllm_get_property(GObject* object, guint prop_id, GValue* value,
                                           GParamSpec* pspec) {
  GstSlowfastMllm* self = GST_SLOWFAST_MLLM(object);
  GstSlowfastMllmPrivate* priv = self->priv;
  const Settings& s = priv->settings;
  const Stats& stats = priv->stats;

  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_MODEL_LOCATION:
      g_value_set_string(value, s.model_location.empty() ? nullptr : s.model_location.c_str());
      break;
    case PROP_PROMPT:
      g_value_set_string(value, s.prompt.c_str());
      break;
    case PROP_WINDOW_FRAMES:
      g_value_set_uint(value, s.window_frames);
      break;
    case PROP_SAMPLE_FPS:
      g_value_set_double(value, s.sample_fps);
      break;
    case PROP_HOP_FRAMES:
      g_value_set_uint(value, s.hop_frames);
      break;
    case PROP_FIRST_ANSWER_FRAMES:
      g_value_set_uint(value, s.first_answer_frames);
      break;
    case PROP_MODE:
      g_value_set_enum(value, s.mode);
      break;
    case PROP_MAX_NEW_TOKENS:
      g_value_set_uint(value, (guint)s.generation.max_new_tokens);
      break;
    case PROP_TEMPERATURE:
      g_value_set_float(value, s.generation.temperature);
      break;
    case PROP_TOP_P:
      g_value_set_float(value, s.generation.top_p);
      break;
    case PROP_TOP_K:
      g_value_set_uint(value, (guint)s.generation.top_k);
      break;
    case PROP_REPETITION_PENALTY:
      g_value_set_float(value, s.generation.repetition_penalty);
      break;
    case PROP_SEED:
      g_value_set_uint64(value, s.generation.seed);
      break;
    case PROP_DEVICE:
      g_value_set_enum(value, (gint)s.device);
      break;
    case PROP_DTYPE:
      g_value_set_enum(value, (gint)s.dtype);
      break;
    case PROP_WEIGHTS_IN_MEMORY:
      g_value_set_boolean(value, s.weights_in_memory);
      break;
    case PROP_MAX_BATCH:
      g_value_set_uint(value, s.max_batch);
      break;
    case PROP_MAX_PENDING_WINDOWS:
      g_value_set_uint(value, s.max_pending_windows);
      break;
    case PROP_LEAKY:
      g_value_set_enum(value, s.leaky);
      break;
    case PROP_LATENCY:
      g_value_set_uint64(value, s.latency);
      break;
    case PROP_STREAM_TOKENS:
      g_value_set_boolean(value, s.stream_tokens);
      break;
    case PROP_FEATURE_CACHE:
      g_value_set_boolean(value, s.feature_cache);
      break;
    case PROP_RESERVOIR_FRAMES:
      g_value_set_uint(value, s.reservoir_frames);
      break;
    case PROP_SOURCE_ID:
      g_value_set_string(value, s.source_id.empty() ? nullptr : s.source_id.c_str());
      break;
    case PROP_ALERT_RAISE_AFTER:
      g_value_set_uint(value, s.alert_raise_after);
      break;
    case PROP_ALERT_CLEAR_AFTER:
      g_value_set_uint(value, s.alert_clear_after);
      break;
    case PROP_ALERT_RAISED:
      g_value_set_boolean(value, priv->alert.raised());
      break;
    case PROP_MODEL_ID:
      /* The model is replaced only in READY->PAUSED, on the thread setting states. */
      g_value_set_string(value, priv->model ? priv->model->info().id.c_str() : nullptr);
      break;
    case PROP_WINDOWS_ANSWERED:
      g_value_set_uint64(value, stats.answered);
      break;
    case PROP_WINDOWS_DROPPED:
      g_value_set_uint64(value, stats.dropped);
      break;
    case PROP_LAST_LATENCY:
      g_value_set_uint64(value, stats.last_latency);
      break;
    case PROP_MEAN_LATENCY:
      g_value_set_uint64(value, mean_latency(stats));
      break;
    case PROP_TOKENS_PER_SECOND:
      g_value_set_double(value, tokens_per_second(stats));
      break;
    case PROP_STATS:
      g_value_take_boxed(
          value, gst_structure_new("slowfast-stats", "windows-answered", G_TYPE_UINT64,
                                   stats.answered, "windows-dropped", G_TYPE_UINT64, stats.dropped,
                                   "last-latency", G_TYPE_UINT64, stats.last_latency,
                                   "mean-latency", G_TYPE_UINT64, mean_latency(stats),
                                   "tokens-per-second", G_TYPE_DOUBLE, tokens_per_second(stats),
                                   "alert-raised", G_TYPE_BOOLEAN, priv->alert.raised(), nullptr));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

/* ------------------------------------------------------------------------------------------ */
/* Class */

static void route_engine_log(slowfast::LogLevel level, const std::string& message) {
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
  GST_CAT_LEVEL_LOG(gst_slowfast_mllm_debug, gst_level, NULL, "engine: %s", message.c_str());
}

static void gst_slowfast_mllm_class_init(GstSlowfastMllmClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  const GParamFlags rw = (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const GParamFlags ready = (GParamFlags)(rw | GST_PARAM_MUTABLE_READY);
  const GParamFlags playing = (GParamFlags)(rw | GST_PARAM_MUTABLE_PLAYING);
  const GParamFlags ro = (GParamFlags)(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  // The engine's defaults are the properties' defaults.
  const slowfast::GenerationParams generation;
  const slowfast::LoadOptions load;

  GST_DEBUG_CATEGORY_INIT(gst_slowfast_mllm_debug, "slowfastmllm", 0, "Slow-Fast video MLLM");
  slowfast::set_log_callback(route_engine_log);

  gobject_class->finalize = gst_slowfast_mllm_finalize;
  gobject_class->set_property = gst_slowfast_mllm_set_property;
  gobject_class->get_property = gst_slowfast_mllm_get_property;

  g_object_class_install_property(
      gobject_class, PROP_MODEL_LOCATION,
      g_param_spec_string(
          "model-location", "Model location",
          "Checkpoint directory (config.json, *.safetensors, tokenizer.json). Unset: video "
          "passes through and nothing is answered",
          nullptr, ready));
  g_object_class_install_property(
      gobject_class, PROP_PROMPT,
      g_param_spec_string(
          "prompt", "Prompt",
          "The question asked about every window; a change applies from the next window",
          slowfast::kDefaultPrompt, playing));
  g_object_class_install_property(
      gobject_class, PROP_WINDOW_FRAMES,
      g_param_spec_uint(
          "window-frames", "Window frames",
          "Sampled frames per window (the model was trained on 64); whole-stream: frames "
          "picked over the whole stream",
          2, 1024, kDefaultWindowFrames, ready));
  g_object_class_install_property(
      gobject_class, PROP_SAMPLE_FPS,
      g_param_spec_double("sample-fps", "Sample FPS",
                          "Frames per second taken into windows, by timestamp (0 = every frame)",
                          0.0, 1000.0, kDefaultSampleFps, ready));
  g_object_class_install_property(
      gobject_class, PROP_HOP_FRAMES,
      g_param_spec_uint("hop-frames", "Hop frames",
                        "Sampled frames between two answers (sliding mode)", 1, 1024,
                        kDefaultHopFrames, ready));
  g_object_class_install_property(
      gobject_class, PROP_FIRST_ANSWER_FRAMES,
      g_param_spec_uint("first-answer-frames", "First answer frames",
                        "Early answers before the first full window: one every this many sampled "
                        "frames, about the frames so far (0 = none; sliding mode, not in alert "
                        "mode, where an alert rests on full windows)",
                        0, 1024, kDefaultFirstAnswerFrames, ready));
  g_object_class_install_property(
      gobject_class, PROP_MODE,
      g_param_spec_enum("mode", "Mode",
                        "Sliding windows, or one answer about the whole "
                        "stream at EOS",
                        GST_TYPE_SLOWFAST_MODE, kDefaultMode, ready));
  g_object_class_install_property(
      gobject_class, PROP_MAX_NEW_TOKENS,
      g_param_spec_uint("max-new-tokens", "Max new tokens", "Longest answer in tokens", 1, 32768,
                        (guint)generation.max_new_tokens, playing));
  g_object_class_install_property(
      gobject_class, PROP_TEMPERATURE,
      g_param_spec_float("temperature", "Temperature", "Sampling temperature (0 = greedy)", 0.0f,
                         10.0f, generation.temperature, playing));
  g_object_class_install_property(
      gobject_class, PROP_TOP_P,
      g_param_spec_float("top-p", "Top p", "Nucleus sampling mass (1 = off)", 0.0f, 1.0f,
                         generation.top_p, playing));
  g_object_class_install_property(
      gobject_class, PROP_TOP_K,
      g_param_spec_uint("top-k", "Top k", "Sample among the k likeliest tokens (0 = off)", 0,
                        G_MAXINT, (guint)generation.top_k, playing));
  g_object_class_install_property(
      gobject_class, PROP_REPETITION_PENALTY,
      g_param_spec_float("repetition-penalty", "Repetition penalty",
                         "Penalty on tokens already generated (1 = off)", 0.01f, 10.0f,
                         generation.repetition_penalty, playing));
  g_object_class_install_property(
      gobject_class, PROP_SEED,
      g_param_spec_uint64("seed", "Seed", "Sampling seed; every window starts from it", 0,
                          G_MAXUINT64, generation.seed, playing));
  g_object_class_install_property(
      gobject_class, PROP_DEVICE,
      g_param_spec_enum("device", "Device", "Where the model runs", GST_TYPE_SLOWFAST_DEVICE,
                        (gint)load.device, ready));
  g_object_class_install_property(
      gobject_class, PROP_DTYPE,
      g_param_spec_enum("dtype", "Data type", "Compute precision", GST_TYPE_SLOWFAST_DTYPE,
                        (gint)load.dtype, ready));
  g_object_class_install_property(
      gobject_class, PROP_WEIGHTS_IN_MEMORY,
      g_param_spec_boolean(
          "weights-in-memory", "Weights in memory",
          "CPU: copy the weights into process memory (huge pages where available) instead of "
          "sharing the checkpoint's page cache: faster decoding where large file mappings "
          "stream slowly, at the cost of a copy at load and no sharing between processes",
          load.weights_in_memory, ready));
  g_object_class_install_property(
      gobject_class, PROP_MAX_BATCH,
      g_param_spec_uint(
          "max-batch", "Max batch",
          "Answers the shared model decodes together at most, across every element on it "
          "(one decode step reads each weight once for all of them). On a CPU up to 8 cost "
          "little more than one; a GPU gains from more. Elements that differ in it load the "
          "model separately",
          1, 256, static_cast<guint>(load.max_batch), ready));
  g_object_class_install_property(
      gobject_class, PROP_MAX_PENDING_WINDOWS,
      g_param_spec_uint(
          "max-pending-windows", "Max pending windows",
          "Windows waiting for the model besides the one being answered; beyond it the "
          "streaming thread waits, or (leaky) the oldest is dropped",
          1, 64, kDefaultMaxPendingWindows, playing));
  g_object_class_install_property(
      gobject_class, PROP_LEAKY,
      g_param_spec_enum("leaky", "Leaky", "What happens when the model falls behind",
                        GST_TYPE_SLOWFAST_LEAKY, kDefaultLeaky, playing));
  g_object_class_install_property(
      gobject_class, PROP_LATENCY,
      g_param_spec_uint64("latency", "Latency",
                          "Latency in ns that text_src adds in live pipelines "
                          "(GST_CLOCK_TIME_NONE = one hop: hop-frames / sample-fps)",
                          0, G_MAXUINT64, kDefaultLatency, playing));
  g_object_class_install_property(
      gobject_class, PROP_STREAM_TOKENS,
      g_param_spec_boolean(
          "stream-tokens", "Stream tokens",
          "Post a slowfast-token element message for each piece of text as it is generated",
          kDefaultStreamTokens, playing));
  g_object_class_install_property(
      gobject_class, PROP_FEATURE_CACHE,
      g_param_spec_boolean(
          "feature-cache", "Feature cache",
          "Encode each sampled frame once and reuse its features in every window (debug: "
          "false encodes all frames of every window again)",
          kDefaultFeatureCache, ready));
  g_object_class_install_property(
      gobject_class, PROP_RESERVOIR_FRAMES,
      g_param_spec_uint(
          "reservoir-frames", "Reservoir frames",
          "Whole-stream mode: frames kept while the length is unknown; the picks equal the "
          "reference's linspace exactly for streams of at most this many sampled frames",
          2, 65536, kDefaultReservoirFrames, ready));
  g_object_class_install_property(
      gobject_class, PROP_SOURCE_ID,
      g_param_spec_string(
          "source-id", "Source id",
          "Names the video source (camera) in slowfast-answer and slowfast-alert messages "
          "(nullptr = the element's name)",
          nullptr, playing));
  g_object_class_install_property(
      gobject_class, PROP_ALERT_RAISE_AFTER,
      g_param_spec_uint(
          "alert-raise-after", "Alert raise after",
          "Alert mode: each answer is read as yes/no (its first word); post a slowfast-alert "
          "'raised' after this many consecutive yes (0 = alerts off)",
          0, G_MAXUINT, kDefaultAlertRaiseAfter, playing));
  g_object_class_install_property(
      gobject_class, PROP_ALERT_CLEAR_AFTER,
      g_param_spec_uint(
          "alert-clear-after", "Alert clear after",
          "Alert mode: post a slowfast-alert 'cleared' after this many consecutive no once "
          "raised",
          1, G_MAXUINT, kDefaultAlertClearAfter, playing));
  g_object_class_install_property(
      gobject_class, PROP_ALERT_RAISED,
      g_param_spec_boolean("alert-raised", "Alert raised",
                           "Alert mode: whether the alert is raised now", FALSE, ro));
  g_object_class_install_property(
      gobject_class, PROP_MODEL_ID,
      g_param_spec_string("model-id", "Model id", "Id of the loaded model", nullptr, ro));
  g_object_class_install_property(
      gobject_class, PROP_WINDOWS_ANSWERED,
      g_param_spec_uint64("windows-answered", "Windows answered",
                          "Windows answered since READY->PAUSED", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_WINDOWS_DROPPED,
      g_param_spec_uint64("windows-dropped", "Windows dropped",
                          "Windows dropped because the model fell behind", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_LAST_LATENCY,
      g_param_spec_uint64("last-latency", "Last latency",
                          "Time in ns from a window's last frame to its answer, last window (0 "
                          "before the first answer)",
                          0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_MEAN_LATENCY,
      g_param_spec_uint64("mean-latency", "Mean latency",
                          "Time in ns from a window's last frame to its answer, mean (0 before "
                          "the first answer)",
                          0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_TOKENS_PER_SECOND,
      g_param_spec_double("tokens-per-second", "Tokens per second",
                          "Generated tokens per second of generation (prefill and decode)", 0,
                          G_MAXDOUBLE, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics",
                         "All statistics at once, read atomically: a slowfast-stats structure "
                         "with windows-answered, windows-dropped, last-latency, mean-latency, "
                         "tokens-per-second and alert-raised",
                         GST_TYPE_STRUCTURE, ro));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_add_static_pad_template(element_class, &text_src_template);
  gst_element_class_set_static_metadata(
      element_class, "Slow-Fast video MLLM", "Filter/Analyzer/Video",
      "Answers a prompt about a sliding window of video frames with the Slow-Fast video LLM",
      SLOWFAST_PACKAGE_AUTHOR);
  element_class->change_state = GST_DEBUG_FUNCPTR(gst_slowfast_mllm_change_state);

  gst_type_mark_as_plugin_api(GST_TYPE_SLOWFAST_MODE, (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(GST_TYPE_SLOWFAST_LEAKY, (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(GST_TYPE_SLOWFAST_DEVICE, (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(GST_TYPE_SLOWFAST_DTYPE, (GstPluginAPIFlags)0);
}

static void gst_slowfast_mllm_init(GstSlowfastMllm* self) {
  self->priv = new GstSlowfastMllmPrivate();
  gst_video_info_init(&self->priv->video_info);

  self->sinkpad = gst_pad_new_from_static_template(&sink_template, "sink");
  gst_pad_set_chain_function(self->sinkpad, GST_DEBUG_FUNCPTR(gst_slowfast_mllm_chain));
  gst_pad_set_event_function(self->sinkpad, GST_DEBUG_FUNCPTR(gst_slowfast_mllm_sink_event));
  gst_pad_set_iterate_internal_links_function(
      self->sinkpad, GST_DEBUG_FUNCPTR(gst_slowfast_mllm_iterate_internal_links));
  GST_PAD_SET_PROXY_CAPS(self->sinkpad);
  GST_PAD_SET_PROXY_ALLOCATION(self->sinkpad);
  gst_element_add_pad(GST_ELEMENT(self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template(&src_template, "src");
  gst_pad_set_event_function(self->srcpad, GST_DEBUG_FUNCPTR(gst_slowfast_mllm_src_event));
  gst_pad_set_iterate_internal_links_function(
      self->srcpad, GST_DEBUG_FUNCPTR(gst_slowfast_mllm_iterate_internal_links));
  GST_PAD_SET_PROXY_CAPS(self->srcpad);
  gst_element_add_pad(GST_ELEMENT(self), self->srcpad);

  self->text_srcpad = gst_pad_new_from_static_template(&text_src_template, "text_src");
  text_src_setup(self);
  gst_pad_set_iterate_internal_links_function(
      self->text_srcpad, GST_DEBUG_FUNCPTR(gst_slowfast_mllm_iterate_internal_links));
  gst_element_add_pad(GST_ELEMENT(self), self->text_srcpad);
}

static void gst_slowfast_mllm_finalize(GObject* object) {
  GstSlowfastMllm* self = GST_SLOWFAST_MLLM(object);

  // Threads end in PAUSED->READY; an element disposed without reaching READY still must not
  // leave one running.
  signal_stop(self);
  join_threads(self);
  delete self->priv;
  self->priv = nullptr;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}
