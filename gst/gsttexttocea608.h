/* texttocea608: timed UTF-8 text (slowfastmllm's text_src) to CEA-608 closed captions (CC1), one
 * byte pair per video frame, for ccconverter, cccombiner and line21encoder. Named apart from
 * gst-plugins-rs's tttocea608 so both can be installed. See docs/element.md. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_TEXT_TO_CEA608 (gst_text_to_cea608_get_type())
G_DECLARE_FINAL_TYPE(GstTextToCea608, gst_text_to_cea608, GST, TEXT_TO_CEA608, GstElement)

GST_ELEMENT_REGISTER_DECLARE(texttocea608);

G_END_DECLS
