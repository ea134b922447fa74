#include "train/testsrc.h"

#include <cstring>
#include <memory>
#include <string>

#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include "slowfast.h"

namespace slowfast::demo {
namespace {

struct GstObjectDeleter {
  void operator()(gpointer object) const { gst_object_unref(object); }
};
using ElementPtr = std::unique_ptr<GstElement, GstObjectDeleter>;

}  // namespace

std::vector<uint8_t> render_pattern(const Scene& scene) {
  if (!gst_is_initialized()) gst_init(nullptr, nullptr);
  const PatternScene& p = scene.pattern;
  const int source_frames = p.first_frame + p.frame_step * (scene.frames - 1) + 1;
  const std::string description = std::string("videotestsrc pattern=") + pattern_nick(p.pattern) +
                                  " num-buffers=" + std::to_string(source_frames) +
                                  " ! video/x-raw,format=RGB,width=" + std::to_string(scene.width) +
                                  ",height=" + std::to_string(scene.height) +
                                  ",framerate=30/1 ! appsink name=sink sync=false max-buffers=8";
  GError* error = nullptr;
  ElementPtr pipeline(gst_parse_launch(description.c_str(), &error));
  if (error != nullptr) {
    const std::string message = error->message;
    g_error_free(error);
    throw Error("videotestsrc pipeline '" + description + "': " + message);
  }
  ElementPtr sink(gst_bin_get_by_name(GST_BIN(pipeline.get()), "sink"));
  gst_element_set_state(pipeline.get(), GST_STATE_PLAYING);

  const size_t row_bytes = static_cast<size_t>(scene.width) * 3;
  std::vector<uint8_t> frames(row_bytes * scene.height * scene.frames);
  int taken = 0;
  for (int index = 0; index < source_frames; ++index) {
    GstSample* sample = gst_app_sink_pull_sample(GST_APP_SINK(sink.get()));
    if (sample == nullptr) break;
    const bool wanted = index >= p.first_frame && (index - p.first_frame) % p.frame_step == 0;
    if (wanted && taken < scene.frames) {
      GstVideoInfo info;
      GstVideoFrame frame;
      if (gst_video_info_from_caps(&info, gst_sample_get_caps(sample)) &&
          gst_video_frame_map(&frame, &info, gst_sample_get_buffer(sample), GST_MAP_READ)) {
        const auto* data = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, 0));
        const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0);
        uint8_t* out = &frames[row_bytes * scene.height * taken];
        for (int y = 0; y < scene.height; ++y) {
          std::memcpy(out + row_bytes * y, data + static_cast<size_t>(stride) * y, row_bytes);
        }
        gst_video_frame_unmap(&frame);
        ++taken;
      }
    }
    gst_sample_unref(sample);
  }
  gst_element_set_state(pipeline.get(), GST_STATE_NULL);
  if (taken != scene.frames) {
    throw Error("videotestsrc pattern " + std::string(pattern_nick(p.pattern)) + " gave " +
                std::to_string(taken) + " of " + std::to_string(scene.frames) + " frames");
  }
  return frames;
}

std::vector<uint8_t> render_scene(const Scene& scene) {
  return scene.is_pattern ? render_pattern(scene) : render_shapes(scene);
}

}  // namespace slowfast::demo
