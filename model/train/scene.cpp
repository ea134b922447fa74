#include "train/scene.h"

#include <algorithm>
#include <cmath>

namespace slowfast::demo {

const std::array<NamedColour, 4> kColours = {{
    {"red", {225, 35, 35}},
    {"green", {35, 195, 55}},
    {"blue", {45, 75, 235}},
    {"yellow", {235, 215, 35}},
}};
const std::array<const char*, 3> kShapeNames = {"circle", "square", "triangle"};
const std::array<const char*, 4> kDirectionNames = {"left", "right", "up", "down"};
const std::array<Pattern, 6> kPatterns = {Pattern::Smpte,    Pattern::Ball,     Pattern::Snow,
                                          Pattern::Circular, Pattern::Pinwheel, Pattern::ZonePlate};
const std::array<std::array<int, 2>, 5> kPatternFrameSizes = {
    {{320, 240}, {160, 120}, {640, 480}, {128, 128}, {176, 144}}};

const char* pattern_nick(Pattern pattern) {
  switch (pattern) {
    case Pattern::Smpte:
      return "smpte";
    case Pattern::Ball:
      return "ball";
    case Pattern::Snow:
      return "snow";
    case Pattern::Circular:
      return "circular";
    case Pattern::Pinwheel:
      return "pinwheel";
    case Pattern::ZonePlate:
      return "zone-plate";
  }
  return "ball";
}

std::pair<double, double> ShapeScene::dot_position(int frame) const {
  std::mt19937_64 rng(dot_seed + static_cast<uint64_t>(frame) * 0x9E3779B97F4A7C15ull);
  std::uniform_real_distribution<double> place(6, 128 - 6);
  const double x = place(rng);
  return {x, place(rng)};
}

void ShapeScene::set_direction(Direction next) {
  const auto horizontal = [](Direction d) { return d == Direction::Left || d == Direction::Right; };
  const auto positive = [](Direction d) { return d == Direction::Right || d == Direction::Down; };
  if (horizontal(direction) != horizontal(next)) std::swap(start_x, start_y);
  if (positive(direction) != positive(next)) {
    (horizontal(next) ? start_x : start_y) = 128 - (horizontal(next) ? start_x : start_y);
  }
  speed = positive(next) ? std::abs(speed) : -std::abs(speed);
  direction = next;
}

bool Scene::shape_visible(int index) const {
  return !is_pattern && index >= shape.first_visible && index <= shape.last_visible;
}

int Scene::shape_visible_frames() const {
  int visible = 0;
  for (int i = 0; i < frames; ++i) visible += shape_visible(i) ? 1 : 0;
  return visible;
}

bool describable(const Scene& scene) {
  if (scene.is_pattern) return true;
  const int visible = scene.shape_visible_frames();
  return visible == 0 || visible >= kMinDescribedFrames;
}

bool Scene::shape_present_at(int last_frame) const {
  int visible = 0;
  for (int i = last_frame - kPresentTailFrames + 1; i <= last_frame; ++i) {
    visible += shape_visible(i) ? 1 : 0;
  }
  return visible >= kPresentMinFrames;
}

bool Scene::shape_present_at_end() const {
  return shape_present_at(frames - 1);
}

void move_event_late(ShapeScene& shape, std::mt19937_64& rng) {
  if (shape.event == Event::Appears) {
    shape.first_visible = std::uniform_int_distribution<int>(41, 56)(rng);
  } else if (shape.event == Event::Disappears) {
    shape.last_visible = std::uniform_int_distribution<int>(45, 62)(rng);
  }
}

void make_stream_window(ShapeScene& shape, std::mt19937_64& rng) {
  const int first = std::uniform_int_distribution<int>(-60, kClipFrames + 6)(rng);
  const int last = first + std::uniform_int_distribution<int>(20, 56)(rng) - 1;
  shape.first_visible = first;
  shape.last_visible = last;
  const bool comes = first > 0, goes = last < kClipFrames - 1;
  if (last < 0 || first >= kClipFrames) {
    shape.event = Event::Absent;
  } else if (comes && goes) {
    shape.event = Event::Passes;
  } else if (comes) {
    shape.event = Event::Appears;
  } else if (goes) {
    shape.event = Event::Disappears;
  } else {
    shape.event = Event::None;
  }
}

namespace {

// Geometry is drawn in a 128 x 128 square, scaled to the central square of the frame: the
// engine's center crop keeps exactly that square, so every object stays in the model's view.
constexpr double kUnit = 128;

double uniform(std::mt19937_64& rng, double low, double high) {
  return std::uniform_real_distribution<double>(low, high)(rng);
}
int uniform_int(std::mt19937_64& rng, int low, int high) {  // inclusive
  return std::uniform_int_distribution<int>(low, high)(rng);
}

ShapeScene random_shapes(std::mt19937_64& rng) {
  ShapeScene s;
  s.shape = static_cast<ShapeKind>(uniform_int(rng, 0, 2));
  s.colour = uniform_int(rng, 0, 3);
  s.direction = static_cast<Direction>(uniform_int(rng, 0, 3));
  s.size = uniform(rng, 12, 24);
  s.speed = uniform(rng, 0.5, 1.3);
  const double margin = s.size + 2;
  const double travel = s.speed * (kClipFrames - 1);
  const double slack = std::max(0.0, kUnit - 2 * margin - travel);
  const double along = margin + uniform(rng, 0, slack);  // start on the motion axis
  const double across = uniform(rng, margin, kUnit - margin);
  const double sign = (s.direction == Direction::Right || s.direction == Direction::Down) ? 1 : -1;
  const double start = sign > 0 ? along : kUnit - along;
  if (s.direction == Direction::Left || s.direction == Direction::Right) {
    s.start_x = start;
    s.start_y = across;
  } else {
    s.start_x = across;
    s.start_y = start;
  }
  s.speed = std::min(s.speed, (kUnit - 2 * margin) / (kClipFrames - 1)) * sign;

  const double event = uniform(rng, 0, 1);
  if (event < 0.5) {
    s.event = Event::None;
  } else if (event < 0.75) {
    s.event = Event::Appears;
    s.first_visible = uniform_int(rng, 8, 40);
  } else {
    s.event = Event::Disappears;
    s.last_visible = uniform_int(rng, 20, 44);
  }

  s.dot_colour = uniform_int(rng, 0, 3);
  s.dot_size = uniform(rng, 4.0, 6.0);
  s.dot_seed = rng();
  for (auto& c : s.background) c = static_cast<uint8_t>(uniform_int(rng, 0, 50));
  return s;
}

// Fraction of the pixel (px, py) (unit coordinates of its 2x2 sub-samples) inside the shape.
template <typename Inside>
double coverage(double x0, double y0, double step, Inside inside) {
  int hits = 0;
  for (int sy = 0; sy < 2; ++sy) {
    for (int sx = 0; sx < 2; ++sx) {
      hits += inside(x0 + (sx + 0.5) * step / 2, y0 + (sy + 0.5) * step / 2) ? 1 : 0;
    }
  }
  return hits / 4.0;
}

bool inside_shape(ShapeKind kind, double cx, double cy, double size, double x, double y) {
  const double dx = x - cx, dy = y - cy;
  switch (kind) {
    case ShapeKind::Circle:
      return dx * dx + dy * dy <= size * size;
    case ShapeKind::Square:
      return std::abs(dx) <= size && std::abs(dy) <= size;
    case ShapeKind::Triangle: {
      // Apex up: (0, -size), base from (-size, size) to (size, size).
      if (dy > size || dy < -size) return false;
      const double half_width = (dy + size) / 2;
      return std::abs(dx) <= half_width;
    }
  }
  return false;
}

// Position along the motion axis: linear, reflected at the edges (only long scripted clips
// reach them; random scenes are laid out to stay inside).
double bounce(double position, double low, double high) {
  const double span = high - low;
  if (span <= 0) return low;
  double t = std::fmod(position - low, 2 * span);
  if (t < 0) t += 2 * span;
  return low + (t <= span ? t : 2 * span - t);
}

void paint(std::vector<uint8_t>& frame, int width, int x, int y, const std::array<uint8_t, 3>& rgb,
           double alpha) {
  if (alpha <= 0) return;
  uint8_t* p = &frame[(static_cast<size_t>(y) * width + x) * 3];
  for (int c = 0; c < 3; ++c) {
    p[c] = static_cast<uint8_t>(std::lround(p[c] * (1 - alpha) + rgb[c] * alpha));
  }
}

}  // namespace

std::pair<double, double> ShapeScene::centre(int frame) const {
  const bool horizontal = direction == Direction::Left || direction == Direction::Right;
  const double low = size + 2, high = kUnit - size - 2;
  return horizontal ? std::pair{bounce(start_x + speed * frame, low, high), start_y}
                    : std::pair{start_x, bounce(start_y + speed * frame, low, high)};
}

Scene random_scene(uint64_t seed, double pattern_share) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull);
  Scene scene;
  scene.is_pattern = uniform(rng, 0, 1) < pattern_share;
  if (scene.is_pattern) {
    const auto size = kPatternFrameSizes[uniform_int(rng, 0, kPatternFrameSizes.size() - 1)];
    scene.width = size[0];
    scene.height = size[1];
    scene.pattern.pattern = kPatterns[uniform_int(rng, 0, kPatterns.size() - 1)];
    scene.pattern.frame_step = uniform_int(rng, 1, 10);
    scene.pattern.first_frame = uniform_int(rng, 0, 300);
  } else {
    static constexpr std::array<std::array<int, 2>, 5> kSizes = {
        {{128, 128}, {160, 120}, {192, 192}, {176, 144}, {240, 180}}};
    const auto size = kSizes[uniform_int(rng, 0, kSizes.size() - 1)];
    scene.width = size[0];
    scene.height = size[1];
    scene.shape = random_shapes(rng);
  }
  return scene;
}

Scene alert_scene(uint64_t seed) {
  Scene scene = random_scene(seed, 0.0);
  scene.frames = kAlertClipFrames;
  // Its own stream, not random_scene's: the scene's fields stay those of `seed`.
  std::mt19937_64 rng(seed ^ 0xA1E27A1E27A1E27Aull);
  ShapeScene& s = scene.shape;
  s.event = Event::None;  // descriptions are not asked about alert clips
  s.first_visible = uniform_int(rng, 40, 100);
  s.last_visible = s.first_visible + uniform_int(rng, 20, 56) - 1;
  return scene;
}

std::vector<uint8_t> render_shapes(const Scene& scene) {
  std::vector<int> all(scene.frames);
  for (int i = 0; i < scene.frames; ++i) all[i] = i;
  return render_shape_frames(scene, all);
}

std::vector<uint8_t> render_shape_frames(const Scene& scene, const std::vector<int>& indices) {
  const ShapeScene& s = scene.shape;
  const int width = scene.width, height = scene.height;
  const double scale = std::min(width, height) / kUnit;  // frame pixels per unit
  const double offset_x = (width - kUnit * scale) / 2, offset_y = (height - kUnit * scale) / 2;
  const size_t frame_bytes = static_cast<size_t>(width) * height * 3;
  std::vector<uint8_t> frames(frame_bytes * indices.size());
  std::vector<uint8_t> frame(frame_bytes);

  // Pixels near a point, as a range of unit coordinates -> the pixels to visit.
  const auto draw = [&](double cx, double cy, double extent, const std::array<uint8_t, 3>& rgb,
                        auto inside) {
    const int x_first = std::max(0, static_cast<int>((cx - extent - 1) * scale + offset_x));
    const int x_last = std::min(width - 1, static_cast<int>((cx + extent + 1) * scale + offset_x));
    const int y_first = std::max(0, static_cast<int>((cy - extent - 1) * scale + offset_y));
    const int y_last = std::min(height - 1, static_cast<int>((cy + extent + 1) * scale + offset_y));
    for (int y = y_first; y <= y_last; ++y) {
      for (int x = x_first; x <= x_last; ++x) {
        const double ux = (x - offset_x) / scale, uy = (y - offset_y) / scale;
        paint(frame, width, x, y, rgb, coverage(ux, uy, 1 / scale, inside));
      }
    }
  };

  for (size_t slot = 0; slot < indices.size(); ++slot) {
    const int index = indices[slot];
    for (size_t p = 0; p < frame_bytes; p += 3) {
      frame[p] = s.background[0];
      frame[p + 1] = s.background[1];
      frame[p + 2] = s.background[2];
    }
    if (scene.shape_visible(index)) {
      const auto [cx, cy] = s.centre(index);
      draw(cx, cy, s.size, kColours[s.colour].rgb,
           [&](double x, double y) { return inside_shape(s.shape, cx, cy, s.size, x, y); });
    }
    // The dot last, so the shape never hides it.
    const std::pair<double, double> dot = s.dot_position(index);
    const double dot_x = dot.first, dot_y = dot.second;
    draw(dot_x, dot_y, s.dot_size, kColours[s.dot_colour].rgb, [&](double x, double y) {
      return inside_shape(ShapeKind::Square, dot_x, dot_y, s.dot_size, x, y);
    });
    std::copy(frame.begin(), frame.end(), frames.begin() + slot * frame_bytes);
  }
  return frames;
}

}  // namespace slowfast::demo
