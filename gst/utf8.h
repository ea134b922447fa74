// GLib requires UTF-8 in bus messages, string properties and text/x-raw buffers; an engine error
// can quote bytes of a broken file, an answer can end inside a character and a prompt comes from
// argv. Every such string passes through here on its way out.
#pragma once

#include <glib.h>

#include <string>

namespace gstslowfast {

// `text` with every invalid sequence replaced by U+FFFD (text that is valid comes back as is).
inline std::string valid_utf8(const std::string& text) {
  if (g_utf8_validate(text.data(), static_cast<gssize>(text.size()), nullptr)) return text;
  gchar* valid = g_utf8_make_valid(text.data(), static_cast<gssize>(text.size()));
  std::string out(valid);
  g_free(valid);
  return out;
}

}  // namespace gstslowfast
