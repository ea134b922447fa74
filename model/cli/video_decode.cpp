#include "cli/video_decode.h"

#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>

#include "slowfast.h"
#include "util/linspace.h"

namespace slowfast::cli {
namespace {

struct GstDeleter {
  void operator()(GstElement* element) const {
    gst_element_set_state(element, GST_STATE_NULL);
    gst_object_unref(element);
  }
};

// Runs `filesrc ! decodebin ! videoconvert ! RGB appsink` over the file and calls `on_frame`
// with each decoded frame in order.
void for_each_frame(const std::string& path,
                    const std::function<void(int64_t index, GstSample* sample)>& on_frame) {
  GError* error = nullptr;
  gchar* location = g_strescape(path.c_str(), nullptr);
  const std::string description = std::string("filesrc location=\"") + location +
                                  "\" ! decodebin ! videoconvert ! video/x-raw,format=RGB ! "
                                  "appsink name=sink sync=false max-buffers=4";
  g_free(location);
  std::unique_ptr<GstElement, GstDeleter> pipeline(gst_parse_launch(description.c_str(), &error));
  if (error) {
    std::string message = error->message;
    g_error_free(error);
    throw Error("cannot decode video '" + path + "': " + message);
  }
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline.get()), "sink");
  gst_element_set_state(pipeline.get(), GST_STATE_PLAYING);
  int64_t index = 0;
  while (GstSample* sample = gst_app_sink_pull_sample(GST_APP_SINK(sink))) {
    try {
      on_frame(index++, sample);
    } catch (...) {
      gst_sample_unref(sample);
      gst_object_unref(sink);
      throw;
    }
    gst_sample_unref(sample);
  }
  gst_object_unref(sink);
  // The appsink stops on EOS or error; only an error message on the bus is a failure.
  GstBus* bus = gst_element_get_bus(pipeline.get());
  GstMessage* message = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  gst_object_unref(bus);
  if (message) {
    GError* err = nullptr;
    gst_message_parse_error(message, &err, nullptr);
    std::string text = err ? err->message : "unknown error";
    if (err) g_error_free(err);
    gst_message_unref(message);
    throw Error("cannot decode video '" + path + "': " + text);
  }
}

}  // namespace

torch::Tensor decode_video_frames(const std::string& path, int64_t count) {
  if (!gst_is_initialized()) gst_init(nullptr, nullptr);
  int64_t n = 0;
  for_each_frame(path, [&](int64_t, GstSample*) { ++n; });
  if (n == 0) throw Error("video '" + path + "' has no decodable video frames");
  const std::vector<uint64_t> wanted =
      linspace_indices(static_cast<uint64_t>(n), static_cast<uint64_t>(count));

  std::vector<torch::Tensor> frames(wanted.size());
  for_each_frame(path, [&](int64_t index, GstSample* sample) {
    bool needed = false;
    for (uint64_t w : wanted) needed = needed || w == static_cast<uint64_t>(index);
    if (!needed) return;
    GstVideoInfo info;
    if (!gst_video_info_from_caps(&info, gst_sample_get_caps(sample))) {
      throw Error("video '" + path + "': decoder produced caps without video info");
    }
    GstVideoFrame frame;
    if (!gst_video_frame_map(&frame, &info, gst_sample_get_buffer(sample), GST_MAP_READ)) {
      throw Error("video '" + path + "': cannot map decoded frame " + std::to_string(index));
    }
    const int width = GST_VIDEO_FRAME_WIDTH(&frame);
    const int height = GST_VIDEO_FRAME_HEIGHT(&frame);
    const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0);
    const auto* data = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, 0));
    torch::Tensor rgb = torch::empty({height, width, 3}, torch::kUInt8);
    for (int y = 0; y < height; ++y) {
      std::memcpy(rgb.data_ptr<uint8_t>() + static_cast<int64_t>(y) * width * 3,
                  data + static_cast<int64_t>(y) * stride, static_cast<size_t>(width) * 3);
    }
    gst_video_frame_unmap(&frame);
    for (size_t i = 0; i < wanted.size(); ++i) {
      if (wanted[i] == static_cast<uint64_t>(index)) frames[i] = rgb;
    }
  });
  for (const auto& frame : frames) {
    if (!frame.defined()) throw Error("video '" + path + "' changed length between passes");
    if (frame.sizes() != frames[0].sizes()) {
      throw Error("video '" + path + "' changes resolution mid-stream; --video needs one size");
    }
  }
  return torch::stack(frames);
}

}  // namespace slowfast::cli
