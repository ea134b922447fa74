/* GstSlowfastMeta: an answer of slowfastmllm, attached to the first video buffer the element
 * pushes after the answer is ready.
 *
 * Applications read it without linking anything: the helpers below find the meta by its API
 * type's name, which exists once the slowfast plugin is loaded.
 *
 *   const GstSlowfastMeta *meta = gst_buffer_get_slowfast_meta (buffer);
 *   if (meta)
 *     g_print ("%s (%" GST_TIME_FORMAT " - %" GST_TIME_FORMAT ")\n", meta->text,
 *         GST_TIME_ARGS (meta->window_start), GST_TIME_ARGS (meta->window_end));
 *
 * A buffer may carry several (two answers ready at once); iterate with
 * gst_buffer_iterate_meta_filtered (buffer, &state, gst_slowfast_meta_api_get_type ()).
 *
 * Every answer is also attached as a custom meta named GST_SLOWFAST_ANSWER_META_NAME whose
 * GstStructure holds the same fields ("text", "window-start", "window-end", "model-id"), so any
 * language binding reads it, e.g. in Python:
 *
 *   meta = buffer.get_custom_meta("SlowfastAnswerMeta")
 *   if meta:
 *       print(meta.get_structure().get_string("text"))
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_SLOWFAST_META_API_NAME "GstSlowfastMetaAPI"
/* The custom meta (gst_buffer_get_custom_meta) carrying the answer as a GstStructure. */
#define GST_SLOWFAST_ANSWER_META_NAME "SlowfastAnswerMeta"

typedef struct _GstSlowfastMeta GstSlowfastMeta;

struct _GstSlowfastMeta {
  GstMeta meta;

  gchar* text;               /* the answer, UTF-8 */
  GstClockTime window_start; /* PTS of the window's first frame */
  GstClockTime window_end;   /* end (PTS + duration) of the window's last frame */
  gchar* model_id;           /* the model's id (checkpoint directory name) */
};

/* The meta's API type, or 0 while the slowfast plugin is not loaded. */
static inline GType gst_slowfast_meta_api_get_type(void) {
  return g_type_from_name(GST_SLOWFAST_META_API_NAME);
}

static inline GstSlowfastMeta* gst_buffer_get_slowfast_meta(GstBuffer* buffer) {
  GType api = gst_slowfast_meta_api_get_type();

  return api ? (GstSlowfastMeta*)gst_buffer_get_meta(buffer, api) : NULL;
}

G_END_DECLS
