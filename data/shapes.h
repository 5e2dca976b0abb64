#pragma once
// "shapes": the built-in image set. Small RGB images of one filled circle, square or
// triangle each, generated from a seed (nothing to download), so a diffusion model or a
// small classifier trains on it in minutes on a CPU.
//
// Image i is drawn from its own random stream (Note [Per-item streams] in
// data/random_stream.h): a label, then
//   background   a random RGB colour,
//   foreground   a random RGB colour whose luminance differs from the background's by
//                at least 0.3 and whose RGB distance is at least 0.4 (so every shape is
//                clearly visible),
//   size         r uniform in [5, 10] px (at 32×32; scaled with the image size): the
//                circle's radius; the square's half-side is 0.9 r, the triangle's
//                circumradius 1.4 r (equilateral), so the three have similar areas,
//   rotation     uniform (squares and triangles),
//   position     uniform, the whole shape inside the image with a 1 px margin,
//   edges        anti-aliased (4×4 supersampling) for half of the images, hard for the
//                other half.
// The pixel value is background·(1 - coverage) + foreground·coverage.
#include <array>
#include <cstdint>

#include "data/dataset.h"

namespace kiln::data {

inline constexpr std::int64_t kShapeCircle = 0;
inline constexpr std::int64_t kShapeSquare = 1;
inline constexpr std::int64_t kShapeTriangle = 2;

// What was drawn in one image (for tests and for the curious).
struct ShapeSpec {
  std::int64_t label = 0;            // kShapeCircle, kShapeSquare or kShapeTriangle
  std::array<float, 3> background{};  // RGB in [0, 1]
  std::array<float, 3> foreground{};
  double cx = 0, cy = 0;             // centre in pixels (x right, y down; pixel k spans [k, k+1))
  double radius = 0;                 // r (see above)
  double angle = 0;                  // rotation in radians
  bool antialiased = false;
};

// The spec of image `index` of make_shapes(·, seed, size) (what it draws, without drawing).
ShapeSpec shape_spec(std::uint64_t seed, std::int64_t index, std::int64_t size = 32);
// Coverage of pixel (x, y) by the shape, in [0, 1].
double shape_coverage(const ShapeSpec& spec, std::int64_t x, std::int64_t y);

// n images: images float32 [n, 3, size, size] in [0, 1], labels int64 [n] in {0, 1, 2},
// classes {"circle", "square", "triangle"}. Deterministic in (n, seed, size); the first
// k images of a larger n are the same images.
Dataset make_shapes(std::int64_t n, std::uint64_t seed = 0, std::int64_t size = 32);

}  // namespace kiln::data
