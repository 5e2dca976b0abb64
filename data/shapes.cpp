#include "data/shapes.h"

#include <cmath>
#include <numbers>

#include "data/random_stream.h"

namespace kiln::data {

namespace {

constexpr std::uint64_t kShapesTag = 0x5348415045ull;  // "SHAPE"

double luminance(const std::array<float, 3>& c) {
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}
double distance(const std::array<float, 3>& a, const std::array<float, 3>& b) {
  double s = 0;
  for (int k = 0; k < 3; ++k) s += (a[k] - b[k]) * (a[k] - b[k]);
  return std::sqrt(s);
}

// Circumradius of the polygon, or the radius of the circle: the shape fits in a disc of
// this radius around its centre.
double bounding_radius(std::int64_t label, double r) {
  if (label == kShapeCircle) return r;
  if (label == kShapeSquare) return 0.9 * r * std::numbers::sqrt2;
  return 1.4 * r;
}

// The shape as a point-in-shape test, its vertices computed once.
struct Outline {
  const ShapeSpec& s;
  int m = 0;  // vertices (0 for the circle)
  double vx[4] = {}, vy[4] = {};

  explicit Outline(const ShapeSpec& spec) : s(spec) {
    if (s.label == kShapeCircle) return;
    // A regular polygon with m vertices on a circle of radius R, rotated by angle,
    // vertices counter-clockwise (in x-right, y-down pixel coordinates: clockwise on screen).
    m = s.label == kShapeSquare ? 4 : 3;
    const double R = bounding_radius(s.label, s.radius);
    for (int k = 0; k < m; ++k) {
      const double a = s.angle + 2 * std::numbers::pi * k / m;
      vx[k] = s.cx + R * std::cos(a);
      vy[k] = s.cy + R * std::sin(a);
    }
  }
  bool inside(double px, double py) const {
    if (m == 0) {
      const double dx = px - s.cx, dy = py - s.cy;
      return dx * dx + dy * dy <= s.radius * s.radius;
    }
    // Inside when on the inner side of every edge.
    for (int k = 0; k < m; ++k) {
      const int l = (k + 1) % m;
      if ((vx[l] - vx[k]) * (py - vy[k]) - (vy[l] - vy[k]) * (px - vx[k]) < 0) return false;
    }
    return true;
  }
  double coverage(std::int64_t x, std::int64_t y) const {
    if (!s.antialiased) return inside(x + 0.5, y + 0.5) ? 1.0 : 0.0;
    constexpr int k = 4;  // k × k samples per pixel
    int hits = 0;
    for (int i = 0; i < k; ++i)
      for (int j = 0; j < k; ++j) hits += inside(x + (j + 0.5) / k, y + (i + 0.5) / k);
    return static_cast<double>(hits) / (k * k);
  }
};

}  // namespace

ShapeSpec shape_spec(std::uint64_t seed, std::int64_t index, std::int64_t size) {
  KILN_CHECK(size >= 8, "make_shapes: image size {} is too small (at least 8)", size);
  KILN_CHECK(index >= 0, "make_shapes: negative index {}", index);
  detail::PhiloxStream rng(detail::mix_seed(seed, kShapesTag),
                           static_cast<std::uint64_t>(index) << 32);
  ShapeSpec s;
  s.label = static_cast<std::int64_t>(rng.below(3));
  s.antialiased = rng.below(2) == 1;
  for (auto& v : s.background) v = static_cast<float>(rng.uniform());
  // Rejection sampling for a foreground with enough contrast; a handful of tries
  // almost always suffices, and the fallback (black or white) always qualifies.
  bool found = false;
  for (int attempt = 0; attempt < 64 && !found; ++attempt) {
    for (auto& v : s.foreground) v = static_cast<float>(rng.uniform());
    found = std::abs(luminance(s.foreground) - luminance(s.background)) >= 0.3 &&
            distance(s.foreground, s.background) >= 0.4;
  }
  if (!found) s.foreground = luminance(s.background) < 0.5 ? std::array<float, 3>{1, 1, 1}
                                                           : std::array<float, 3>{0, 0, 0};
  const double scale = static_cast<double>(size) / 32.0;
  s.radius = rng.uniform(5.0, 10.0) * scale;
  s.angle = rng.uniform(0.0, 2 * std::numbers::pi);
  const double b = bounding_radius(s.label, s.radius) + 1.0;
  s.cx = rng.uniform(b, static_cast<double>(size) - b);
  s.cy = rng.uniform(b, static_cast<double>(size) - b);
  return s;
}

double shape_coverage(const ShapeSpec& s, std::int64_t x, std::int64_t y) {
  return Outline(s).coverage(x, y);
}

Dataset make_shapes(std::int64_t n, std::uint64_t seed, std::int64_t size) {
  KILN_CHECK(n >= 0, "make_shapes: negative number of images {}", n);
  KILN_CHECK(size >= 8 && size <= 4096, "make_shapes: image size {} is not in [8, 4096]", size);
  Dataset out;
  out.name = "shapes";
  out.classes = {"circle", "square", "triangle"};
  out.images = Tensor::empty({n, 3, size, size});
  out.labels = Tensor::empty({n}, {.dtype = kInt64});
  float* img = out.images.data_ptr<float>();
  std::int64_t* lab = out.labels.data_ptr<std::int64_t>();
  const std::int64_t plane = size * size;
#pragma omp parallel for schedule(dynamic, 16)
  for (std::int64_t i = 0; i < n; ++i) {
    const ShapeSpec s = shape_spec(seed, i, size);
    const Outline outline(s);
    lab[i] = s.label;
    float* dst = img + i * 3 * plane;
    for (std::int64_t y = 0; y < size; ++y) {
      for (std::int64_t x = 0; x < size; ++x) {
        const float c = static_cast<float>(outline.coverage(x, y));
        for (int ch = 0; ch < 3; ++ch)
          dst[ch * plane + y * size + x] = s.background[ch] * (1 - c) + s.foreground[ch] * c;
      }
    }
  }
  return out;
}

}  // namespace kiln::data
