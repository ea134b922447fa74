/* gst-slowfast: the slowfast plugin. */
#include <gst/gst.h>

#include "gstslowfastmeta_impl.h"
#include "gstslowfastmllm.h"
#include "gsttexttocea608.h"

static gboolean plugin_init(GstPlugin* plugin) {
  /* The meta's API type exists as soon as the plugin is loaded, so applications can look it up
   * by name (gstslowfastmeta.h) before the first buffer carries one. */
  gst_slowfast_meta_api_register();
  gst_slowfast_answer_meta_register();
  return GST_ELEMENT_REGISTER(slowfastmllm, plugin) && GST_ELEMENT_REGISTER(texttocea608, plugin);
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, slowfast,
                  "Slow-Fast video multimodal LLM: video to text", plugin_init, VERSION,
                  "Apache 2.0", GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
