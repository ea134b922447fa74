// Bicubic resizing of 8-bit RGB images that reproduces Pillow's Image.resize(size, BICUBIC)
// bit for bit: the reference preprocessor (CLIPImageProcessor) resizes through Pillow, and a float
// antialiased bicubic (torch's) differs from it by about 1%.
//
// Pillow resamples separably: a horizontal pass, then a vertical one, each skipped when that axis
// keeps its size. Each pass uses an antialiasing bicubic kernel (a = -0.5) widened by the scale
// factor when shrinking, weights normalised to sum 1 and rounded to fixed point with 22
// fractional bits, and rounds/clips its result to uint8 (also between the passes).
#pragma once

#include <cstdint>
#include <vector>

#include "slowfast.h"

namespace slowfast {

// A rectangle of the resized image, in its pixel coordinates.
struct PixelRect {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
};

// One axis of a resampling pass: for every output pixel, the first input pixel it reads and its
// fixed-point weights (weights.size() == count * kernel_size, unused tail entries are zero).
struct ResampleAxis {
  int kernel_size = 0;
  std::vector<int> first;  // first input index per output pixel
  std::vector<int> taps;   // number of input pixels read per output pixel
  std::vector<int32_t> weights;
};

// Number of fractional bits of Pillow's fixed-point weights for 8-bit images.
constexpr int kResamplePrecisionBits = 32 - 8 - 2;

// Pillow's bicubic coefficients for output pixels [first_out, first_out + count) of a resize of
// one axis from in_size to out_size pixels.
ResampleAxis bicubic_axis(int in_size, int out_size, int first_out, int count);

// Writes the `region` of `source` resized to out_width x out_height (Pillow bicubic) into `out`
// as packed RGB rows (region.width * 3 bytes each). Computing only the region gives exactly the
// pixels a full resize followed by a crop would, at a fraction of the cost.
// Throws slowfast::Error for an empty or inconsistent frame, size or region.
void resize_bicubic_pil(const FrameView& source, int out_width, int out_height,
                        const PixelRect& region, uint8_t* out);

}  // namespace slowfast
