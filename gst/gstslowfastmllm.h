/* slowfastmllm: answers a prompt about sliding windows of video frames with the Slow-Fast
 * video MLLM. Video passes through untouched on `src`; answers go out on `text_src`, as bus
 * messages and as GstSlowfastMeta on the video. See docs/element.md. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_SLOWFAST_MLLM (gst_slowfast_mllm_get_type())
G_DECLARE_FINAL_TYPE(GstSlowfastMllm, gst_slowfast_mllm, GST, SLOWFAST_MLLM, GstElement)

GST_ELEMENT_REGISTER_DECLARE(slowfastmllm);

G_END_DECLS
