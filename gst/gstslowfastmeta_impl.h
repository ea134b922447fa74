/* Registration and creation of GstSlowfastMeta: inside the plugin only. */
#pragma once

#include "gstslowfastmeta.h"

G_BEGIN_DECLS

/* Registers the API type (idempotent); called from plugin_init. */
GType gst_slowfast_meta_api_register(void);
const GstMetaInfo* gst_slowfast_meta_get_info(void);

GstSlowfastMeta* gst_buffer_add_slowfast_meta(GstBuffer* buffer, const gchar* text,
                                              GstClockTime window_start, GstClockTime window_end,
                                              const gchar* model_id);

G_END_DECLS
