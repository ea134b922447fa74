#include "messages.h"
#include "utf8.h"

namespace gstslowfast {
namespace {

void post_element_message(GstSlowfastMllm* self, GstStructure* structure) {
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), structure));
}

}  // namespace

std::string iso8601_utc(gint64 real_time_us) {
  GDateTime* time = g_date_time_new_from_unix_utc(real_time_us / G_USEC_PER_SEC);
  if (time == nullptr) return std::string();
  gchar* seconds = g_date_time_format(time, "%Y-%m-%dT%H:%M:%S");
  gchar* text =
      g_strdup_printf("%s.%03dZ", seconds, static_cast<int>(real_time_us % G_USEC_PER_SEC / 1000));
  std::string out(text);
  g_free(text);
  g_free(seconds);
  g_date_time_unref(time);
  return out;
}

void post_answer(GstSlowfastMllm* self, const WindowJob& job, const std::string& text,
                 const AnswerFigures& figures) {
  const std::string wall_clock = iso8601_utc(job.wall_clock);
  post_element_message(
      self,
      gst_structure_new(
          "slowfast-answer", "text", G_TYPE_STRING, valid_utf8(text).c_str(), "window-start",
          G_TYPE_UINT64, job.start, "window-end", G_TYPE_UINT64, job.end, "stream-time",
          G_TYPE_UINT64, job.stream_time, "wall-clock", G_TYPE_STRING, wall_clock.c_str(),
          "wall-clock-source", G_TYPE_STRING, job.wall_clock_source, "source-id", G_TYPE_STRING,
          valid_utf8(job.source_id).c_str(), "latency", G_TYPE_UINT64,
          static_cast<guint64>(figures.latency_seconds * GST_SECOND), "tokens", G_TYPE_UINT,
          figures.tokens, "prompt", G_TYPE_STRING, valid_utf8(job.prompt).c_str(), "frames",
          G_TYPE_UINT, static_cast<guint>(job.indices.size()), "vision-time", G_TYPE_UINT64,
          static_cast<guint64>(figures.vision_seconds * GST_SECOND), "generation-time",
          G_TYPE_UINT64, static_cast<guint64>(figures.generation_seconds * GST_SECOND), nullptr));
}

void post_alert(GstSlowfastMllm* self, const WindowJob& job, const char* state,
                const std::string& text, guint consecutive) {
  const std::string wall_clock = iso8601_utc(job.wall_clock);
  post_element_message(
      self, gst_structure_new("slowfast-alert", "source-id", G_TYPE_STRING,
                              valid_utf8(job.source_id).c_str(), "state", G_TYPE_STRING, state,
                              "text", G_TYPE_STRING, valid_utf8(text).c_str(), "window-start",
                              G_TYPE_UINT64, job.start, "window-end", G_TYPE_UINT64, job.end,
                              "stream-time", G_TYPE_UINT64, job.stream_time, "wall-clock",
                              G_TYPE_STRING, wall_clock.c_str(), "wall-clock-source", G_TYPE_STRING,
                              job.wall_clock_source, "consecutive", G_TYPE_UINT, consecutive,
                              "prompt", G_TYPE_STRING, valid_utf8(job.prompt).c_str(), nullptr));
}

void post_token(GstSlowfastMllm* self, const WindowJob& job, const std::string& piece) {
  post_element_message(
      self, gst_structure_new("slowfast-token", "text", G_TYPE_STRING, valid_utf8(piece).c_str(),
                              "window-start", G_TYPE_UINT64, job.start, "window-end", G_TYPE_UINT64,
                              job.end, nullptr));
}

void post_dropped(GstSlowfastMllm* self, const WindowJob& job, guint64 windows_dropped) {
  post_element_message(
      self, gst_structure_new("slowfast-dropped", "window-start", G_TYPE_UINT64, job.start,
                              "window-end", G_TYPE_UINT64, job.end, "windows-dropped",
                              G_TYPE_UINT64, windows_dropped, nullptr));
}

void post_progress(GstSlowfastMllm* self, GstProgressType type, const gchar* code,
                   const std::string& text, int percent) {
  GstMessage* message =
      gst_message_new_progress(GST_OBJECT(self), type, code, valid_utf8(text).c_str());
  // The message's own "percent" field, which gst_message_new_progress leaves at 0 or 100.
  if (percent >= 0) {
    gst_structure_set(gst_message_writable_structure(message), "percent", G_TYPE_INT, percent,
                      nullptr);
  }
  gst_element_post_message(GST_ELEMENT(self), message);
}

}  // namespace gstslowfast
