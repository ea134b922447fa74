#include "vision/resample.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace slowfast {
namespace {

constexpr int kChannels = 3;
// Pillow's bicubic kernel reaches two input pixels either side (times the shrink factor).
constexpr double kBicubicSupport = 2.0;
// Keys' cubic convolution parameter used by Pillow.
constexpr double kBicubicA = -0.5;

// Written with Pillow's operation order so the double-precision weights round identically.
double bicubic_kernel(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((kBicubicA + 2.0) * x - (kBicubicA + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * kBicubicA;
  return 0.0;
}

// The accumulator starts at one half so the final shift rounds to nearest.
constexpr int32_t kRoundingHalf = 1 << (kResamplePrecisionBits - 1);

inline uint8_t clip8(int32_t sum) {
  const int32_t value = sum >> kResamplePrecisionBits;  // arithmetic shift: floor
  return static_cast<uint8_t>(std::clamp(value, 0, 255));
}

void check_frame(const FrameView& source) {
  if (source.rgb == nullptr || source.width <= 0 || source.height <= 0) {
    throw Error("resize: empty frame (" + std::to_string(source.width) + "x" +
                std::to_string(source.height) + ")");
  }
  if (source.stride < source.width * kChannels) {
    throw Error("resize: frame stride " + std::to_string(source.stride) +
                " is smaller than width * 3 = " + std::to_string(source.width * kChannels));
  }
}

}  // namespace

ResampleAxis bicubic_axis(int in_size, int out_size, int first_out, int count) {
  if (in_size <= 0 || out_size <= 0 || first_out < 0 || count < 0 || first_out + count > out_size) {
    throw Error("resize: invalid axis (input " + std::to_string(in_size) + ", output " +
                std::to_string(out_size) + ", pixels " + std::to_string(first_out) + "+" +
                std::to_string(count) + ")");
  }
  const double scale = static_cast<double>(in_size) / out_size;
  // Shrinking widens the kernel by the scale factor: that is the antialiasing.
  const double filter_scale = std::max(scale, 1.0);
  const double support = kBicubicSupport * filter_scale;
  const double inv_filter_scale = 1.0 / filter_scale;

  ResampleAxis axis;
  axis.kernel_size = static_cast<int>(std::ceil(support)) * 2 + 1;
  axis.first.resize(count);
  axis.taps.resize(count);
  axis.weights.assign(static_cast<size_t>(count) * axis.kernel_size, 0);
  std::vector<double> weights(axis.kernel_size);
  for (int i = 0; i < count; ++i) {
    const int out = first_out + i;
    const double center = (out + 0.5) * scale;
    // Truncation toward zero, as Pillow's (int) casts, then clamped to the image.
    const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    const int hi = std::min(static_cast<int>(center + support + 0.5), in_size);
    const int taps = hi - lo;
    double sum = 0.0;
    for (int x = 0; x < taps; ++x) {
      weights[x] = bicubic_kernel((x + lo - center + 0.5) * inv_filter_scale);
      sum += weights[x];
    }
    int32_t* fixed = &axis.weights[static_cast<size_t>(i) * axis.kernel_size];
    for (int x = 0; x < taps; ++x) {
      const double w = sum != 0.0 ? weights[x] / sum : weights[x];
      const double scaled = w * (1 << kResamplePrecisionBits);
      fixed[x] = static_cast<int32_t>(w < 0 ? scaled - 0.5 : scaled + 0.5);
    }
    axis.first[i] = lo;
    axis.taps[i] = taps;
  }
  return axis;
}

void resize_bicubic_pil(const FrameView& source, int out_width, int out_height,
                        const PixelRect& region, uint8_t* out) {
  check_frame(source);
  if (out_width <= 0 || out_height <= 0 || region.x < 0 || region.y < 0 || region.width <= 0 ||
      region.height <= 0 || region.x + region.width > out_width ||
      region.y + region.height > out_height) {
    throw Error("resize: region " + std::to_string(region.width) + "x" +
                std::to_string(region.height) + "+" + std::to_string(region.x) + "+" +
                std::to_string(region.y) + " does not fit the output " + std::to_string(out_width) +
                "x" + std::to_string(out_height));
  }
  // Pillow skips the pass of an axis whose size does not change.
  const bool horizontal = out_width != source.width;
  const bool vertical = out_height != source.height;
  const int row_bytes = region.width * kChannels;

  // Source rows the vertical pass reads: only these go through the horizontal pass.
  ResampleAxis rows;
  int row_begin = region.y;
  int row_end = region.y + region.height;
  if (vertical) {
    rows = bicubic_axis(source.height, out_height, region.y, region.height);
    row_begin = source.height;
    row_end = 0;
    for (int i = 0; i < region.height; ++i) {
      row_begin = std::min(row_begin, rows.first[i]);
      row_end = std::max(row_end, rows.first[i] + rows.taps[i]);
    }
  }

  // Horizontal pass (or a plain copy of the region's columns) into uint8 rows, as Pillow's
  // intermediate image.
  std::vector<uint8_t> horizontal_rows(static_cast<size_t>(row_end - row_begin) * row_bytes);
  if (horizontal) {
    const ResampleAxis cols = bicubic_axis(source.width, out_width, region.x, region.width);
    for (int y = row_begin; y < row_end; ++y) {
      const uint8_t* in = source.rgb + static_cast<size_t>(y) * source.stride;
      uint8_t* line = &horizontal_rows[static_cast<size_t>(y - row_begin) * row_bytes];
      for (int i = 0; i < region.width; ++i) {
        const int32_t* k = &cols.weights[static_cast<size_t>(i) * cols.kernel_size];
        const uint8_t* px = in + static_cast<size_t>(cols.first[i]) * kChannels;
        int32_t r = kRoundingHalf, g = kRoundingHalf, b = kRoundingHalf;
        for (int x = 0; x < cols.taps[i]; ++x) {
          r += px[x * kChannels + 0] * k[x];
          g += px[x * kChannels + 1] * k[x];
          b += px[x * kChannels + 2] * k[x];
        }
        line[i * kChannels + 0] = clip8(r);
        line[i * kChannels + 1] = clip8(g);
        line[i * kChannels + 2] = clip8(b);
      }
    }
  } else {
    for (int y = row_begin; y < row_end; ++y) {
      const uint8_t* in = source.rgb + static_cast<size_t>(y) * source.stride +
                          static_cast<size_t>(region.x) * kChannels;
      std::copy(in, in + row_bytes,
                &horizontal_rows[static_cast<size_t>(y - row_begin) * row_bytes]);
    }
  }

  if (!vertical) {
    std::copy(horizontal_rows.begin(), horizontal_rows.end(), out);
    return;
  }
  // Vertical pass: taps outermost so the inner loop runs over contiguous bytes.
  std::vector<int32_t> sums(row_bytes);
  for (int i = 0; i < region.height; ++i) {
    std::fill(sums.begin(), sums.end(), kRoundingHalf);
    const int32_t* k = &rows.weights[static_cast<size_t>(i) * rows.kernel_size];
    for (int t = 0; t < rows.taps[i]; ++t) {
      const uint8_t* line =
          &horizontal_rows[static_cast<size_t>(rows.first[i] + t - row_begin) * row_bytes];
      const int32_t weight = k[t];
      for (int j = 0; j < row_bytes; ++j) sums[j] += line[j] * weight;
    }
    uint8_t* dst = out + static_cast<size_t>(i) * row_bytes;
    for (int j = 0; j < row_bytes; ++j) dst[j] = clip8(sums[j]);
  }
}

}  // namespace slowfast
