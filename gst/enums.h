// slowfastmllm's enum properties as GTypes (gst-inspect lists their values).
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

typedef enum {
  GST_SLOWFAST_MODE_SLIDING,
  GST_SLOWFAST_MODE_WHOLE_STREAM,
} GstSlowfastMode;

typedef enum {
  GST_SLOWFAST_LEAKY_AUTO,
  GST_SLOWFAST_LEAKY_NO,
  GST_SLOWFAST_LEAKY_DOWNSTREAM,
} GstSlowfastLeaky;

#define GST_TYPE_SLOWFAST_MODE (gst_slowfast_mode_get_type())
#define GST_TYPE_SLOWFAST_LEAKY (gst_slowfast_leaky_get_type())
// Values of slowfast::Device and slowfast::DType.
#define GST_TYPE_SLOWFAST_DEVICE (gst_slowfast_device_get_type())
#define GST_TYPE_SLOWFAST_DTYPE (gst_slowfast_dtype_get_type())

GType gst_slowfast_mode_get_type(void);
GType gst_slowfast_leaky_get_type(void);
GType gst_slowfast_device_get_type(void);
GType gst_slowfast_dtype_get_type(void);

G_END_DECLS
