/* Registration and creation of GstSlowfastMeta: inside the plugin only. */
#pragma once

#include "gstslowfastmeta.h"

G_BEGIN_DECLS

/* Registers the API type (idempotent); called from plugin_init. */
GType gst_slowfast_meta_api_register(void);
const GstMetaInfo* gst_slowfast_meta_get_info(void);

/* Registers the custom meta GST_SLOWFAST_ANSWER_META_NAME (idempotent); called from plugin_init. */
void gst_slowfast_answer_meta_register(void);

/* Adds the answer twice: as GstSlowfastMeta for C and as the custom meta for bindings. */
void gst_buffer_add_slowfast_answer(GstBuffer* buffer, const gchar* text, GstClockTime window_start,
                                    GstClockTime window_end, const gchar* model_id);

GstSlowfastMeta* gst_buffer_add_slowfast_meta(GstBuffer* buffer, const gchar* text,
                                              GstClockTime window_start, GstClockTime window_end,
                                              const gchar* model_id);

G_END_DECLS
