/* GstSlowfastMeta: registration, init/free/transform. */
#include "gstslowfastmeta_impl.h"

static gboolean gst_slowfast_meta_init(GstMeta* meta, gpointer params, GstBuffer* buffer) {
  GstSlowfastMeta* self = (GstSlowfastMeta*)meta;

  (void)params;
  (void)buffer;
  self->text = NULL;
  self->model_id = NULL;
  self->window_start = GST_CLOCK_TIME_NONE;
  self->window_end = GST_CLOCK_TIME_NONE;
  return TRUE;
}

static void gst_slowfast_meta_free(GstMeta* meta, GstBuffer* buffer) {
  GstSlowfastMeta* self = (GstSlowfastMeta*)meta;

  (void)buffer;
  g_free(self->text);
  g_free(self->model_id);
}

/* The answer describes the content, not the pixels: it survives copies and any transform
 * (scaling, conversion), as the empty tag list says. */
static gboolean gst_slowfast_meta_transform(GstBuffer* dest, GstMeta* meta, GstBuffer* buffer,
                                            GQuark type, gpointer data) {
  GstSlowfastMeta* self = (GstSlowfastMeta*)meta;

  (void)buffer;
  (void)type;
  (void)data;
  return gst_buffer_add_slowfast_meta(dest, self->text, self->window_start, self->window_end,
                                      self->model_id) != NULL;
}

GType gst_slowfast_meta_api_register(void) {
  static GType type = 0;
  static const gchar* tags[] = {NULL};

  if (g_once_init_enter(&type)) {
    GType registered = gst_meta_api_type_register(GST_SLOWFAST_META_API_NAME, tags);
    g_once_init_leave(&type, registered);
  }
  return type;
}

const GstMetaInfo* gst_slowfast_meta_get_info(void) {
  static const GstMetaInfo* info = NULL;

  if (g_once_init_enter((GstMetaInfo**)&info)) {
    const GstMetaInfo* registered = gst_meta_register(
        gst_slowfast_meta_api_register(), "GstSlowfastMeta", sizeof(GstSlowfastMeta),
        gst_slowfast_meta_init, gst_slowfast_meta_free, gst_slowfast_meta_transform);
    g_once_init_leave((GstMetaInfo**)&info, (GstMetaInfo*)registered);
  }
  return info;
}

GstSlowfastMeta* gst_buffer_add_slowfast_meta(GstBuffer* buffer, const gchar* text,
                                              GstClockTime window_start, GstClockTime window_end,
                                              const gchar* model_id) {
  GstSlowfastMeta* meta;

  g_return_val_if_fail(GST_IS_BUFFER(buffer), NULL);
  meta = (GstSlowfastMeta*)gst_buffer_add_meta(buffer, gst_slowfast_meta_get_info(), NULL);
  if (meta == NULL) return NULL;
  meta->text = g_strdup(text);
  meta->window_start = window_start;
  meta->window_end = window_end;
  meta->model_id = g_strdup(model_id);
  return meta;
}

void gst_slowfast_answer_meta_register(void) {
  static gsize registered = 0;
  static const gchar* tags[] = {NULL};

  if (g_once_init_enter(&registered)) {
    /* No transform function: the default copies the structure with the buffer. */
    gst_meta_register_custom(GST_SLOWFAST_ANSWER_META_NAME, tags, NULL, NULL, NULL);
    g_once_init_leave(&registered, 1);
  }
}

void gst_buffer_add_slowfast_answer(GstBuffer* buffer, const gchar* text, GstClockTime window_start,
                                    GstClockTime window_end, const gchar* model_id) {
  gst_buffer_add_slowfast_meta(buffer, text, window_start, window_end, model_id);
  GstCustomMeta* custom = gst_buffer_add_custom_meta(buffer, GST_SLOWFAST_ANSWER_META_NAME);
  if (custom == NULL) return;
  gst_structure_set(gst_custom_meta_get_structure(custom), "text", G_TYPE_STRING, text,
                    "window-start", G_TYPE_UINT64, window_start, "window-end", G_TYPE_UINT64,
                    window_end, "model-id", G_TYPE_STRING, model_id, NULL);
}
