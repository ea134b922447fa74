/* gst-slowfast: the slowfast plugin. */
#include <gst/gst.h>

#include "gstslowfastmllm.h"

static gboolean
plugin_init (GstPlugin * plugin)
{
  return GST_ELEMENT_REGISTER (slowfastmllm, plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, slowfast,
    "Slow-Fast video multimodal LLM: video to text",
    plugin_init, VERSION, "Apache 2.0", GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
