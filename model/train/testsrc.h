// Clips of GStreamer's videotestsrc patterns, rendered by GStreamer itself so the demo model sees
// exactly what `videotestsrc pattern=... ! slowfastmllm` gives it.
#pragma once

#include <cstdint>
#include <vector>

#include "train/scene.h"

namespace slowfast::demo {

// RGB frames [frames][height][width][3] of a pattern scene: source frames first_frame,
// first_frame + frame_step, ... of `videotestsrc pattern=<nick>` at 30 fps. Throws slowfast::Error
// when the pipeline cannot run.
std::vector<uint8_t> render_pattern(const Scene& scene);

// Either renderer, by the scene's kind.
std::vector<uint8_t> render_scene(const Scene& scene);

}  // namespace slowfast::demo
