// decode_video_frames in a build without GStreamer (-Dgstreamer=disabled, the engine-only build
// for machines that have only a libtorch): --video says what to do instead.
#include "cli/video_decode.h"

#include "slowfast.h"

namespace slowfast::cli {

torch::Tensor decode_video_frames(const std::string& path, int64_t /*count*/) {
  throw Error("--video " + path +
              ": this slowfast-cli was built without GStreamer (-Dgstreamer=disabled), so it "
              "cannot decode video files; pass decoded frames with --frames FILE.npy");
}

}  // namespace slowfast::cli
