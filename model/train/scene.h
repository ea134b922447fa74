// Synthetic video clips for the demo model: coloured shapes that move, appear and disappear, with
// a small dot whose colour is the fine-detail question; and GStreamer videotestsrc patterns.
// A Scene is drawn from a seed; the same seed gives the same clip everywhere (trainer, evaluation,
// tests), and evaluation seeds come from a range the trainer never uses.
#pragma once

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace slowfast::demo {

enum class ShapeKind { Circle, Square, Triangle };
enum class Direction { Left, Right, Up, Down };
// Passes (comes and goes within the window) and Absent (out of view all along) occur only in
// windows cut from a stream (make_stream_window); random_scene draws the first three.
enum class Event { None, Appears, Disappears, Passes, Absent };
// videotestsrc patterns the model knows (by their GStreamer nick).
enum class Pattern { Smpte, Ball, Snow, Circular, Pinwheel, ZonePlate };

struct NamedColour {
  const char* name;
  std::array<uint8_t, 3> rgb;
};
// Shape and dot colours. White is left out on purpose: the videotestsrc ball is a white disc.
extern const std::array<NamedColour, 4> kColours;
extern const std::array<const char*, 3> kShapeNames;
extern const std::array<const char*, 4> kDirectionNames;
extern const std::array<Pattern, 6> kPatterns;
// The frame sizes (width, height) random_scene gives videotestsrc clips.
extern const std::array<std::array<int, 2>, 5> kPatternFrameSizes;
const char* pattern_nick(Pattern pattern);

// Frames in a clip: one sliding window of the element at its defaults.
constexpr int kClipFrames = 64;
// The yes/no question asks about the end of the window: the object counts as present when it is
// visible in at least kPresentMinFrames of the last kPresentTailFrames frames (a quarter of the
// window, i.e. one hop at the element's defaults), so alerts follow the stream within one hop.
constexpr int kPresentTailFrames = 16;
constexpr int kPresentMinFrames = 4;

struct ShapeScene {
  ShapeKind shape = ShapeKind::Circle;
  int colour = 0;  // index into kColours
  Direction direction = Direction::Right;
  Event event = Event::None;
  double size = 16;  // half extent in pixels when the clip's shorter side is 128
  double start_x = 0, start_y = 0, speed = 1;  // pixels per frame at 128
  int first_visible = 0, last_visible = kClipFrames - 1;
  // The dot jumps to a new place every frame (positions drawn from dot_seed), so it is fine
  // detail of each frame that averaging frames together (the fast tokens) smears away.
  int dot_colour = 0;   // index into kColours
  double dot_size = 3;  // half extent
  uint64_t dot_seed = 0;
  std::array<uint8_t, 3> background{0, 0, 0};

  // Centre of the dot in frame `frame` (unit coordinates).
  std::pair<double, double> dot_position(int frame) const;
  // Centre of the shape in frame `frame` (unit coordinates), whether or not it is visible.
  std::pair<double, double> centre(int frame) const;
  // Another direction for a scripted clip: the start is moved so that the shape still travels
  // its whole path inside the frame (a reversed direction starts from the other side).
  void set_direction(Direction next);
};

struct PatternScene {
  Pattern pattern = Pattern::Ball;
  int frame_step = 1;   // sampled frames are this many source frames apart
  int first_frame = 0;  // source frames skipped before the first sampled one
};

struct Scene {
  bool is_pattern = false;
  ShapeScene shape;
  PatternScene pattern;
  int width = 128, height = 128;
  int frames = kClipFrames;

  // Whether the main shape is visible in frame `index`, and in how many frames of the clip.
  bool shape_visible(int index) const;
  int shape_visible_frames() const;
  // The yes/no ground truth for "is there a <colour> <shape>" (see kPresentTailFrames) about
  // the window that ends with frame `last_frame`, and about the whole clip.
  bool shape_present_at(int last_frame) const;
  bool shape_present_at_end() const;
};

// A random scene. Seeds below kEvalSeedBase are for training, at or above it for evaluation.
constexpr uint64_t kEvalSeedBase = 1'000'000'000;
Scene random_scene(uint64_t seed, double pattern_share);

// Moves a shape scene's event into the window's last quarter: an appearance to frame 41 to 56
// (random_scene: 8 to 40), so the object is there at the end for 8 to 23 frames; a disappearance
// to frame 45 to 62 (random_scene: 20 to 44), so it is still there at the end (kPresentMinFrames
// of the last kPresentTailFrames) when it leaves at frame 51 or later. This is where an alert
// must raise or clear within one hop. Scenes without an event are left as they are.
void move_event_late(ShapeScene& shape, std::mt19937_64& rng);

// Scripted alert clips: a stream answered as the element answers it at its defaults, a window of
// kClipFrames frames every kPresentTailFrames (one hop), seven windows in all.
constexpr int kAlertClipFrames = kClipFrames + 6 * kPresentTailFrames;
constexpr uint64_t kAlertSeedBase = 3'000'000'000;
// The shape scene of `seed`, kAlertClipFrames long, its object in view once: from a frame in 40
// to 100 for 20 to 56 frames, so some window ends while it is there, its arrival and departure
// fall at every phase of the hop, and windows see it for none, a few or all of their last
// kPresentTailFrames frames.
Scene alert_scene(uint64_t seed);

// A description says how the shape moves, which a few frames do not show: it is asked about a
// clip only when the shape is in view for none or at least this many of its frames.
constexpr int kMinDescribedFrames = 8;
bool describable(const Scene& scene);

// Makes a shape scene a window cut from a stream in which its shape is in view once, for 20 to
// 56 frames as in alert_scene: the stay may begin or end anywhere in the window or around it, so
// the shape comes, goes, comes and goes, or is out of view all along. The event follows from
// where the stay falls; the shape, its path and the dot are the scene's own.
void make_stream_window(ShapeScene& shape, std::mt19937_64& rng);

// RGB frames, [frames][height][width][3] row-major. Pattern scenes are rendered by GStreamer's
// videotestsrc (render_pattern in testsrc.h); this draws shape scenes only.
std::vector<uint8_t> render_shapes(const Scene& scene);
// Only the frames at `indices` (each in [0, scene.frames)), in that order: the same pixels as
// the matching frames of render_shapes, for training steps that want a few frames of many scenes.
std::vector<uint8_t> render_shape_frames(const Scene& scene, const std::vector<int>& indices);

}  // namespace slowfast::demo
