// slowfastmllm's bus messages. Their names and fields are an API (docs/element.md, "Bus
// messages"): each structure is built here and nowhere else.
#pragma once

#include <string>

#include "gstslowfastmllm_private.h"

namespace gstslowfast {

// What an answer cost, for slowfast-answer.
struct AnswerFigures {
  double latency_seconds = 0;  // the window's last frame in -> answer
  guint tokens = 0;
  double vision_seconds = 0;
  double generation_seconds = 0;
};

// "2025-05-01T12:34:56.789Z": UTC with milliseconds, what the messages' wall-clock carries.
std::string iso8601_utc(gint64 real_time_us);

void post_answer(GstSlowfastMllm* self, const WindowJob& job, const std::string& text,
                 const AnswerFigures& figures);
// state: "raised" or "cleared"; consecutive: the run of answers that changed it.
void post_alert(GstSlowfastMllm* self, const WindowJob& job, const char* state,
                const std::string& text, guint consecutive);
void post_token(GstSlowfastMllm* self, const WindowJob& job, const std::string& piece);
// windows_dropped: the element's total so far.
void post_dropped(GstSlowfastMllm* self, const WindowJob& job, guint64 windows_dropped);
// GST_MESSAGE_PROGRESS about the model: code "model-load" or "model-share"; `percent` (>= 0)
// replaces the message's default (0, or 100 once complete).
void post_progress(GstSlowfastMllm* self, GstProgressType type, const gchar* code,
                   const std::string& text, int percent = -1);

}  // namespace gstslowfast
