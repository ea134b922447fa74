/* texttocea608: see gsttexttocea608.h and docs/element.md. The caption logic (mapping, wrap,
 * modes, pacing) is gstslowfast::cea608::Encoder (cea608.h); this file turns timestamps into
 * frame numbers and frames into buffers. */
#include "gsttexttocea608.h"

#include <exception>
#include <mutex>
#include <string_view>

#include "cea608.h"
#include "utf8.h"

GST_DEBUG_CATEGORY_STATIC(gst_text_to_cea608_debug);
#define GST_CAT_DEFAULT gst_text_to_cea608_debug

namespace cea608 = gstslowfast::cea608;

namespace {

enum GstTextToCea608Mode {
  MODE_ROLL_UP2,
  MODE_ROLL_UP3,
  MODE_ROLL_UP4,
  MODE_POP_ON,
};

enum {
  PROP_0,
  PROP_MODE,
  PROP_ORIGIN_ROW,
  PROP_ORIGIN_COLUMN,
  PROP_WORDS_DROPPED,
  PROP_CAPTIONS_DROPPED,
};

constexpr GstTextToCea608Mode kDefaultMode = MODE_ROLL_UP2;
constexpr int kDefaultOriginRow = cea608::kRows;
constexpr int kDefaultOriginColumn = 0;
constexpr int kDefaultFpsN = 30000;
constexpr int kDefaultFpsD = 1001;

GType mode_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {MODE_ROLL_UP2, "Roll-up, 2 rows", "roll-up2"},
      {MODE_ROLL_UP3, "Roll-up, 3 rows", "roll-up3"},
      {MODE_ROLL_UP4, "Roll-up, 4 rows", "roll-up4"},
      {MODE_POP_ON, "Pop-on", "pop-on"},
      {0, nullptr, nullptr},
  };
  if (g_once_init_enter(&type)) {
    g_once_init_leave(&type, g_enum_register_static("GstTextToCea608Mode", values));
  }
  return type;
}

// Streaming state, guarded by `lock` (text buffers and GAPs may come from two threads when the
// element is linked to slowfastmllm without a queue).
struct State {
  std::mutex lock;
  cea608::Encoder encoder;
  GstSegment segment;
  bool negotiated = false;
  bool s334 = false;  // format=s334-1a: a line/field byte before each pair
  int fps_n = kDefaultFpsN;
  int fps_d = kDefaultFpsD;
  int64_t next_frame = -1;  // the next frame to send; -1 before the first segment
  GstClockTime position = GST_CLOCK_TIME_NONE;  // the text stream is known up to here
};

}  // namespace

struct _GstTextToCea608 {
  GstElement parent;
  GstPad* sinkpad;
  GstPad* srcpad;
  // Properties, under the object lock.
  GstTextToCea608Mode mode;
  gint origin_row;
  gint origin_column;
  guint64 words_dropped;
  guint64 captions_dropped;
  gint fps_n, fps_d;  // the negotiated rate, for the latency query
  State* state;
};

G_DEFINE_TYPE(GstTextToCea608, gst_text_to_cea608, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE(texttocea608, "texttocea608", GST_RANK_NONE, GST_TYPE_TEXT_TO_CEA608);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS("text/x-raw, format=(string)utf8"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS("closedcaption/x-cea-608, format=(string){ raw, s334-1a }, "
                    "framerate=(fraction)[ 1/1, 120/1 ]"));

static int64_t frame_at(const State& state, GstClockTime time) {
  return static_cast<int64_t>(
      gst_util_uint64_scale(time, state.fps_n, static_cast<guint64>(state.fps_d) * GST_SECOND));
}

static GstClockTime frame_time(const State& state, int64_t frame) {
  return gst_util_uint64_scale(static_cast<guint64>(frame),
                               static_cast<guint64>(state.fps_d) * GST_SECOND, state.fps_n);
}

static cea608::Options current_options(GstTextToCea608* self, const State& state) {
  cea608::Options options;
  GST_OBJECT_LOCK(self);
  switch (self->mode) {
    case MODE_ROLL_UP3:
      options.mode = cea608::Mode::kRollUp3;
      break;
    case MODE_ROLL_UP4:
      options.mode = cea608::Mode::kRollUp4;
      break;
    case MODE_POP_ON:
      options.mode = cea608::Mode::kPopOn;
      break;
    default:
      options.mode = cea608::Mode::kRollUp2;
      break;
  }
  options.origin_row = self->origin_row;
  options.origin_column = self->origin_column;
  GST_OBJECT_UNLOCK(self);
  options.fps = static_cast<double>(state.fps_n) / state.fps_d;
  return options;
}

// Picks the format and the frame rate downstream takes (29.97 when it takes any).
static bool negotiate(GstTextToCea608* self, State& state) {
  GstCaps* templ = gst_pad_get_pad_template_caps(self->srcpad);
  GstCaps* peer = gst_pad_peer_query_caps(self->srcpad, templ);
  gst_caps_unref(templ);
  if (gst_caps_is_empty(peer)) {
    gst_caps_unref(peer);
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, (nullptr),
                      ("downstream takes no closedcaption/x-cea-608"));
    return false;
  }
  // Raw pairs when downstream takes them (ccconverter, cccombiner, line21encoder do).
  GstCaps* raw = gst_caps_from_string("closedcaption/x-cea-608, format=(string)raw");
  GstCaps* preferred = gst_caps_intersect(peer, raw);
  gst_caps_unref(raw);
  if (gst_caps_is_empty(preferred)) {
    gst_caps_unref(preferred);
  } else {
    gst_caps_unref(peer);
    peer = preferred;
  }
  GstCaps* caps = gst_caps_truncate(peer);
  caps = gst_caps_make_writable(caps);
  GstStructure* s = gst_caps_get_structure(caps, 0);
  if (!gst_structure_has_field(s, "framerate")) {
    gst_structure_set(s, "framerate", GST_TYPE_FRACTION, kDefaultFpsN, kDefaultFpsD, nullptr);
  }
  gst_structure_fixate_field_nearest_fraction(s, "framerate", kDefaultFpsN, kDefaultFpsD);
  caps = gst_caps_fixate(caps);
  s = gst_caps_get_structure(caps, 0);
  int fps_n = 0, fps_d = 1;
  if (!gst_structure_get_fraction(s, "framerate", &fps_n, &fps_d) || fps_n <= 0 || fps_d <= 0) {
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, (nullptr),
                      ("no usable framerate in %" GST_PTR_FORMAT, caps));
    gst_caps_unref(caps);
    return false;
  }
  const gchar* format = gst_structure_get_string(s, "format");
  GST_INFO_OBJECT(self, "output caps %" GST_PTR_FORMAT, caps);
  const bool ok = gst_pad_set_caps(self->srcpad, caps);
  gst_caps_unref(caps);
  if (!ok) {
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, (nullptr), ("downstream refused the caps"));
    return false;
  }
  if (state.next_frame >= 0 && (fps_n != state.fps_n || fps_d != state.fps_d)) {
    // Keep the timeline: continue at the frame of the new rate that holds the old next frame.
    const GstClockTime at = frame_time(state, state.next_frame);
    state.fps_n = fps_n;
    state.fps_d = fps_d;
    state.next_frame = frame_at(state, at);
  }
  state.fps_n = fps_n;
  state.fps_d = fps_d;
  GST_OBJECT_LOCK(self);
  self->fps_n = fps_n;
  self->fps_d = fps_d;
  GST_OBJECT_UNLOCK(self);
  state.s334 = g_strcmp0(format, "s334-1a") == 0;
  state.negotiated = true;
  return true;
}

static void publish_stats(GstTextToCea608* self, const State& state) {
  GST_OBJECT_LOCK(self);
  self->words_dropped = state.encoder.words_dropped();
  self->captions_dropped = state.encoder.captions_dropped();
  GST_OBJECT_UNLOCK(self);
}

// Sends frames up to `limit` (exclusive); with `drain`, goes on until the encoder is idle.
static GstFlowReturn push_frames(GstTextToCea608* self, State& state, int64_t limit, bool drain) {
  if (!state.negotiated && !negotiate(self, state)) return GST_FLOW_NOT_NEGOTIATED;
  if (state.next_frame < 0) return GST_FLOW_OK;
  GstBufferList* list = gst_buffer_list_new();
  // The encoder always drains in bounded time; the cap only guards against a clock without end.
  const int64_t hard_limit = state.next_frame + 10 * 60 * 120;
  while (state.next_frame < limit ||
         (drain && !state.encoder.idle() && state.next_frame < hard_limit)) {
    const int64_t frame = state.next_frame++;
    const cea608::Pair pair = state.encoder.next(frame);
    const gsize size = state.s334 ? 3 : 2;
    GstBuffer* buffer = gst_buffer_new_allocate(nullptr, size, nullptr);
    guint8 data[3];
    gsize n = 0;
    // S334-1A: field 1 (bit 7), line offset 0 (line 21 is the receiver's default for CC1).
    if (state.s334) data[n++] = 0x80;
    data[n++] = pair.first;
    data[n++] = pair.second;
    gst_buffer_fill(buffer, 0, data, size);
    const GstClockTime pts = frame_time(state, frame);
    GST_BUFFER_PTS(buffer) = pts;
    GST_BUFFER_DURATION(buffer) = frame_time(state, frame + 1) - pts;
    gst_buffer_list_add(list, buffer);
  }
  publish_stats(self, state);
  if (gst_buffer_list_length(list) == 0) {
    gst_buffer_list_unref(list);
    return GST_FLOW_OK;
  }
  return gst_pad_push_list(self->srcpad, list);
}

// The text stream is known up to `time`: send every frame whose captions are all known.
static GstFlowReturn advance(GstTextToCea608* self, State& state, GstClockTime time) {
  if (!GST_CLOCK_TIME_IS_VALID(time)) return GST_FLOW_OK;
  if (!GST_CLOCK_TIME_IS_VALID(state.position) || time > state.position) state.position = time;
  if (state.next_frame < 0) state.next_frame = frame_at(state, state.position);
  // A caption not yet received starts at frame_at(position) or later; it may need lookahead
  // frames of codes before its start.
  const int64_t limit = frame_at(state, state.position) - state.encoder.lookahead();
  return push_frames(self, state, limit, false);
}

static GstFlowReturn gst_text_to_cea608_chain(GstPad* pad, GstObject* parent, GstBuffer* buffer) {
  (void)pad;
  GstTextToCea608* self = GST_TEXT_TO_CEA608(parent);
  State& state = *self->state;
  GstFlowReturn ret = GST_FLOW_OK;
  try {
    std::lock_guard<std::mutex> guard(state.lock);
    if (!state.negotiated && !negotiate(self, state)) {
      gst_buffer_unref(buffer);
      return GST_FLOW_NOT_NEGOTIATED;
    }
    GstClockTime pts = GST_BUFFER_PTS(buffer);
    if (!GST_CLOCK_TIME_IS_VALID(pts)) pts = state.position;
    if (!GST_CLOCK_TIME_IS_VALID(pts)) pts = state.segment.start;
    // Text timestamps never go back in a sparse stream; a late one is shown as soon as it can.
    if (GST_CLOCK_TIME_IS_VALID(state.position) && pts < state.position) pts = state.position;
    ret = advance(self, state, pts);
    GstMapInfo map;
    if (ret == GST_FLOW_OK && gst_buffer_map(buffer, &map, GST_MAP_READ)) {
      const std::string_view text(reinterpret_cast<const char*>(map.data), map.size);
      const int64_t start = frame_at(state, pts);
      const GstClockTime duration = GST_BUFFER_DURATION(buffer);
      const int64_t end =
          GST_CLOCK_TIME_IS_VALID(duration) ? frame_at(state, pts + duration) : cea608::kNoFrame;
      GST_DEBUG_OBJECT(self,
                       "caption at %" GST_TIME_FORMAT " (frame %" G_GINT64_FORMAT
                       ", end %" G_GINT64_FORMAT "): %.*s",
                       GST_TIME_ARGS(pts), start, end, static_cast<int>(text.size()), text.data());
      state.encoder.set_options(current_options(self, state));
      state.encoder.add(start, end, text);
      gst_buffer_unmap(buffer, &map);
      ret = advance(self, state, pts);
    }
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, (nullptr),
                      ("%s", gstslowfast::valid_utf8(e.what()).c_str()));
    ret = GST_FLOW_ERROR;
  } catch (...) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, (nullptr), ("unknown error"));
    ret = GST_FLOW_ERROR;
  }
  gst_buffer_unref(buffer);
  return ret;
}

static gboolean handle_sink_event(GstTextToCea608* self, GstPad* pad, GstEvent* event) {
  State& state = *self->state;
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_CAPS: {
      // Our caps are our own: the text caps stop here.
      gst_event_unref(event);
      std::lock_guard<std::mutex> guard(state.lock);
      return state.negotiated || negotiate(self, state);
    }
    case GST_EVENT_SEGMENT: {
      std::lock_guard<std::mutex> guard(state.lock);
      gst_event_copy_segment(event, &state.segment);
      if (state.segment.format != GST_FORMAT_TIME) {
        GST_ELEMENT_ERROR(self, STREAM, FORMAT, (nullptr), ("text segment is not in time"));
        gst_event_unref(event);
        return FALSE;
      }
      if (state.next_frame < 0 && GST_CLOCK_TIME_IS_VALID(state.segment.start)) {
        if (!state.negotiated && !negotiate(self, state)) {
          gst_event_unref(event);
          return FALSE;
        }
        state.next_frame = frame_at(state, state.segment.start);
      }
      return gst_pad_push_event(self->srcpad, event);
    }
    case GST_EVENT_GAP: {
      // The caption stream is continuous (null pairs): a GAP only moves time on.
      GstClockTime ts = GST_CLOCK_TIME_NONE, duration = GST_CLOCK_TIME_NONE;
      gst_event_parse_gap(event, &ts, &duration);
      gst_event_unref(event);
      std::lock_guard<std::mutex> guard(state.lock);
      if (GST_CLOCK_TIME_IS_VALID(duration) && GST_CLOCK_TIME_IS_VALID(ts)) ts += duration;
      const GstFlowReturn ret = advance(self, state, ts);
      return ret == GST_FLOW_OK || ret == GST_FLOW_FLUSHING || ret == GST_FLOW_NOT_LINKED ||
             ret == GST_FLOW_EOS;
    }
    case GST_EVENT_EOS: {
      {
        std::lock_guard<std::mutex> guard(state.lock);
        if (state.next_frame >= 0 && GST_CLOCK_TIME_IS_VALID(state.position)) {
          // Every caption out to the end, and frames up to where the text ended.
          push_frames(self, state, frame_at(state, state.position), true);
        }
      }
      return gst_pad_push_event(self->srcpad, event);
    }
    case GST_EVENT_FLUSH_STOP: {
      {
        std::lock_guard<std::mutex> guard(state.lock);
        state.encoder.reset();
        state.next_frame = -1;
        state.position = GST_CLOCK_TIME_NONE;
      }
      return gst_pad_push_event(self->srcpad, event);
    }
    default:
      return gst_pad_event_default(pad, GST_OBJECT(self), event);
  }
}

static gboolean gst_text_to_cea608_sink_event(GstPad* pad, GstObject* parent, GstEvent* event) {
  GstTextToCea608* self = GST_TEXT_TO_CEA608(parent);
  try {
    return handle_sink_event(self, pad, event);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, (nullptr),
                      ("%s", gstslowfast::valid_utf8(e.what()).c_str()));
  } catch (...) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, (nullptr), ("unknown error"));
  }
  return FALSE;
}

static gboolean gst_text_to_cea608_src_query(GstPad* pad, GstObject* parent, GstQuery* query) {
  GstTextToCea608* self = GST_TEXT_TO_CEA608(parent);
  if (GST_QUERY_TYPE(query) != GST_QUERY_LATENCY) return gst_pad_query_default(pad, parent, query);
  if (!gst_pad_peer_query(self->sinkpad, query)) return FALSE;
  // Frames go out `lookahead` frames behind the text, so that codes can precede a caption.
  gboolean live = FALSE;
  GstClockTime min = 0, max = GST_CLOCK_TIME_NONE;
  gst_query_parse_latency(query, &live, &min, &max);
  // Not under the state lock: the streaming thread holds it while a push blocks (preroll).
  State rate;
  GST_OBJECT_LOCK(self);
  rate.fps_n = self->fps_n;
  rate.fps_d = self->fps_d;
  GST_OBJECT_UNLOCK(self);
  const cea608::Encoder probe(current_options(self, rate));
  const GstClockTime added = frame_time(rate, probe.lookahead() + 1);
  gst_query_set_latency(query, live, min + added,
                        GST_CLOCK_TIME_IS_VALID(max) ? max + added : GST_CLOCK_TIME_NONE);
  return TRUE;
}

static GstStateChangeReturn gst_text_to_cea608_change_state(GstElement* element,
                                                            GstStateChange transition) {
  GstTextToCea608* self = GST_TEXT_TO_CEA608(element);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    State& state = *self->state;
    std::lock_guard<std::mutex> guard(state.lock);
    state.encoder = cea608::Encoder(current_options(self, state));
    gst_segment_init(&state.segment, GST_FORMAT_TIME);
    state.negotiated = false;
    state.next_frame = -1;
    state.position = GST_CLOCK_TIME_NONE;
    publish_stats(self, state);
  }
  return GST_ELEMENT_CLASS(gst_text_to_cea608_parent_class)->change_state(element, transition);
}

static void gst_text_to_cea608_set_property(GObject* object, guint prop_id, const GValue* value,
                                            GParamSpec* pspec) {
  GstTextToCea608* self = GST_TEXT_TO_CEA608(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_MODE:
      self->mode = static_cast<GstTextToCea608Mode>(g_value_get_enum(value));
      break;
    case PROP_ORIGIN_ROW:
      self->origin_row = g_value_get_int(value);
      break;
    case PROP_ORIGIN_COLUMN:
      self->origin_column = g_value_get_int(value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_text_to_cea608_get_property(GObject* object, guint prop_id, GValue* value,
                                            GParamSpec* pspec) {
  GstTextToCea608* self = GST_TEXT_TO_CEA608(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_MODE:
      g_value_set_enum(value, self->mode);
      break;
    case PROP_ORIGIN_ROW:
      g_value_set_int(value, self->origin_row);
      break;
    case PROP_ORIGIN_COLUMN:
      g_value_set_int(value, self->origin_column);
      break;
    case PROP_WORDS_DROPPED:
      g_value_set_uint64(value, self->words_dropped);
      break;
    case PROP_CAPTIONS_DROPPED:
      g_value_set_uint64(value, self->captions_dropped);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_text_to_cea608_finalize(GObject* object) {
  GstTextToCea608* self = GST_TEXT_TO_CEA608(object);
  delete self->state;
  self->state = nullptr;
  G_OBJECT_CLASS(gst_text_to_cea608_parent_class)->finalize(object);
}

static void gst_text_to_cea608_class_init(GstTextToCea608Class* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(gst_text_to_cea608_debug, "texttocea608", 0,
                          "timed text to CEA-608 closed captions");

  gobject_class->set_property = gst_text_to_cea608_set_property;
  gobject_class->get_property = gst_text_to_cea608_get_property;
  gobject_class->finalize = gst_text_to_cea608_finalize;
  element_class->change_state = gst_text_to_cea608_change_state;

  const auto flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                              GST_PARAM_MUTABLE_PLAYING);
  const auto read_only = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property(
      gobject_class, PROP_MODE,
      g_param_spec_enum("mode", "Mode", "Caption style: roll-up with 2, 3 or 4 rows, or pop-on",
                        mode_get_type(), kDefaultMode, flags));
  g_object_class_install_property(
      gobject_class, PROP_ORIGIN_ROW,
      g_param_spec_int("origin-row", "Origin row",
                       "Roll-up: the base row (at least the roll-up depth); pop-on: the caption's "
                       "last row (1 = top, 15 = bottom)",
                       1, cea608::kRows, kDefaultOriginRow, flags));
  g_object_class_install_property(
      gobject_class, PROP_ORIGIN_COLUMN,
      g_param_spec_int("origin-column", "Origin column",
                       "Column the rows start at (0-31); rows wrap at 32 - origin-column", 0,
                       cea608::kColumns - 1, kDefaultOriginColumn, flags));
  g_object_class_install_property(
      gobject_class, PROP_WORDS_DROPPED,
      g_param_spec_uint64("words-dropped", "Words dropped",
                          "Words not sent because text came faster than 608 carries it", 0,
                          G_MAXUINT64, 0, read_only));
  g_object_class_install_property(
      gobject_class, PROP_CAPTIONS_DROPPED,
      g_param_spec_uint64("captions-dropped", "Captions dropped",
                          "Captions dropped whole because the next one was due first", 0,
                          G_MAXUINT64, 0, read_only));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "Text to CEA-608", "Generic/ClosedCaption",
      "Timed UTF-8 text to CEA-608 closed captions (CC1), roll-up or pop-on",
      SLOWFAST_PACKAGE_AUTHOR);
  gst_type_mark_as_plugin_api(mode_get_type(), static_cast<GstPluginAPIFlags>(0));
}

static void gst_text_to_cea608_init(GstTextToCea608* self) {
  self->state = new State();
  gst_segment_init(&self->state->segment, GST_FORMAT_TIME);
  self->mode = kDefaultMode;
  self->origin_row = kDefaultOriginRow;
  self->origin_column = kDefaultOriginColumn;
  self->words_dropped = 0;
  self->captions_dropped = 0;
  self->fps_n = kDefaultFpsN;
  self->fps_d = kDefaultFpsD;

  self->sinkpad = gst_pad_new_from_static_template(&sink_template, "sink");
  gst_pad_set_chain_function(self->sinkpad, GST_DEBUG_FUNCPTR(gst_text_to_cea608_chain));
  gst_pad_set_event_function(self->sinkpad, GST_DEBUG_FUNCPTR(gst_text_to_cea608_sink_event));
  gst_element_add_pad(GST_ELEMENT(self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template(&src_template, "src");
  gst_pad_set_query_function(self->srcpad, GST_DEBUG_FUNCPTR(gst_text_to_cea608_src_query));
  gst_pad_use_fixed_caps(self->srcpad);
  gst_element_add_pad(GST_ELEMENT(self), self->srcpad);
}
