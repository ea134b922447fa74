#include "enums.h"

#include "slowfast.h"

namespace {

GType register_enum(gsize* once, const gchar* name, const GEnumValue* values) {
  if (g_once_init_enter(once)) g_once_init_leave(once, g_enum_register_static(name, values));
  return *once;
}

}  // namespace

GType gst_slowfast_mode_get_type(void) {
  static gsize type = 0;
  static const GEnumValue values[] = {
      {GST_SLOWFAST_MODE_SLIDING, "A window every hop-frames sampled frames", "sliding"},
      {GST_SLOWFAST_MODE_WHOLE_STREAM,
       "One answer at EOS about window-frames frames spread uniformly over the whole stream",
       "whole-stream"},
      {0, nullptr, nullptr},
  };
  return register_enum(&type, "GstSlowfastMode", values);
}

GType gst_slowfast_leaky_get_type(void) {
  static gsize type = 0;
  static const GEnumValue values[] = {
      {GST_SLOWFAST_LEAKY_AUTO,
       "Drop stale windows in live pipelines, wait for the model otherwise", "auto"},
      {GST_SLOWFAST_LEAKY_NO, "Never drop: the streaming thread waits for the model", "no"},
      {GST_SLOWFAST_LEAKY_DOWNSTREAM, "Always drop the oldest pending windows (the newest is kept)",
       "downstream"},
      {0, nullptr, nullptr},
  };
  return register_enum(&type, "GstSlowfastLeaky", values);
}

GType gst_slowfast_device_get_type(void) {
  static gsize type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(slowfast::Device::Auto), "CUDA when libtorch sees a GPU, else the CPU",
       "auto"},
      {static_cast<gint>(slowfast::Device::Cpu), "CPU", "cpu"},
      {static_cast<gint>(slowfast::Device::Cuda), "CUDA GPU", "cuda"},
      {0, nullptr, nullptr},
  };
  return register_enum(&type, "GstSlowfastDevice", values);
}

GType gst_slowfast_dtype_get_type(void) {
  static gsize type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(slowfast::DType::Auto),
       "bfloat16 on CUDA or a CPU with AVX512-BF16, else float32", "auto"},
      {static_cast<gint>(slowfast::DType::Float32), "32-bit float", "float32"},
      {static_cast<gint>(slowfast::DType::BFloat16), "bfloat16", "bfloat16"},
      {0, nullptr, nullptr},
  };
  return register_enum(&type, "GstSlowfastDType", values);
}
