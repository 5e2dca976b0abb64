// The built-in "shapes" set and the 2-D point sets: deterministic from a seed, the
// documented shapes, dtypes and ranges, and images that show what their label says.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "data/points.h"
#include "data/shapes.h"
#include "kiln.h"

using namespace kiln;
using namespace kiln::data;

namespace {

bool equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         a.to_vector<double>() == b.to_vector<double>();
}

double luminance(const float* rgb, std::int64_t plane, std::int64_t p) {
  return 0.2126 * rgb[p] + 0.7152 * rgb[plane + p] + 0.0722 * rgb[2 * plane + p];
}

}  // namespace

TEST_CASE("shapes: shape, dtype, range, labels and classes") {
  const Dataset d = make_shapes(300, 1);
  CHECK(d.name == "shapes");
  CHECK(d.images.shape() == Shape{300, 3, 32, 32});
  CHECK(d.images.dtype() == kFloat32);
  CHECK(d.labels.shape() == Shape{300});
  CHECK(d.labels.dtype() == kInt64);
  CHECK(d.classes == std::vector<std::string>{"circle", "square", "triangle"});
  CHECK(d.images.min().item() >= 0.0);
  CHECK(d.images.max().item() <= 1.0);
  int count[3] = {0, 0, 0};
  for (std::int64_t l : d.labels.to_vector<std::int64_t>()) {
    REQUIRE((l >= 0 && l <= 2));
    ++count[l];
  }
  for (int c : count) CHECK(c > 70);  // about 100 each
  CHECK(make_shapes(0, 1).images.shape() == Shape{0, 3, 32, 32});
  CHECK(make_shapes(4, 1, 64).images.shape() == Shape{4, 3, 64, 64});
  CHECK_THROWS_WITH_AS(make_shapes(-1, 0), doctest::Contains("negative"), Error);
  CHECK_THROWS_WITH_AS(make_shapes(2, 0, 4), doctest::Contains("image size 4"), Error);
}

TEST_CASE("shapes: deterministic from the seed; a prefix of a larger set") {
  const Dataset a = make_shapes(40, 7), b = make_shapes(40, 7);
  CHECK(equal(a.images, b.images));
  CHECK(equal(a.labels, b.labels));
  const Dataset prefix = make_shapes(10, 7);
  CHECK(equal(prefix.images, a.images.narrow(0, 0, 10)));
  CHECK(equal(prefix.labels, a.labels.narrow(0, 0, 10)));
  const Dataset other = make_shapes(40, 8);
  CHECK_FALSE(equal(other.images, a.images));
  // Images differ from each other (colours, positions).
  CHECK_FALSE(equal(a.images.select(0, 0), a.images.select(0, 1)));
}

TEST_CASE("shapes: every image shows its shape in a contrasting colour") {
  const std::int64_t n = 120, size = 32, plane = size * size;
  const Dataset d = make_shapes(n, 3);
  const float* img = d.images.data_ptr<float>();
  const auto labels = d.labels.to_vector<std::int64_t>();
  int antialiased = 0;
  double area_sum[3] = {0, 0, 0};
  int area_count[3] = {0, 0, 0};
  for (std::int64_t i = 0; i < n; ++i) {
    const ShapeSpec s = shape_spec(3, i);
    REQUIRE(s.label == labels[i]);
    antialiased += s.antialiased;
    const float* x = img + i * 3 * plane;
    // Mean luminance inside (full coverage) and outside (none) of the shape.
    double in = 0, out = 0, area = 0;
    int nin = 0, nout = 0;
    for (std::int64_t y = 0; y < size; ++y)
      for (std::int64_t px = 0; px < size; ++px) {
        const double c = shape_coverage(s, px, y);
        area += c;
        const double lum = luminance(x, plane, y * size + px);
        if (c == 1) in += lum, ++nin;
        if (c == 0) out += lum, ++nout;
        // The pixel is exactly the documented mix of the two colours.
        for (int ch = 0; ch < 3; ++ch)
          REQUIRE(x[ch * plane + y * size + px] ==
                  doctest::Approx(s.background[ch] * (1 - c) + s.foreground[ch] * c).epsilon(1e-5));
        // The whole shape lies inside the image, clear of the border.
        if (y == 0 || px == 0 || y == size - 1 || px == size - 1) REQUIRE(c == 0);
      }
    REQUIRE(nin > 20);    // a visible shape ...
    REQUIRE(nout > 300);  // ... on a visible background
    CHECK(std::abs(in / nin - out / nout) >= 0.29);
    area_sum[s.label] += area;
    ++area_count[s.label];
  }
  CHECK(antialiased > 30);
  CHECK(antialiased < 90);
  // The three shapes have comparable areas (so size alone does not give the label away).
  for (int k = 0; k < 3; ++k) {
    REQUIRE(area_count[k] > 0);
    const double mean = area_sum[k] / area_count[k];
    CHECK(mean > 80);
    CHECK(mean < 400);
  }
}

TEST_CASE("shapes: geometry of each kind (circle round, square four corners, triangle three)") {
  // Coverage against the analytic areas for large, hard-edged shapes.
  for (std::int64_t i = 0; i < 60; ++i) {
    ShapeSpec s = shape_spec(11, i, 32);
    s.antialiased = true;
    double area = 0;
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) area += shape_coverage(s, x, y);
    const double r = s.radius;
    const double expected = s.label == kShapeCircle ? std::numbers::pi * r * r
                            : s.label == kShapeSquare ? 4 * (0.9 * r) * (0.9 * r)
                                                      : 3 * std::sqrt(3.0) / 4 * (1.4 * r) * (1.4 * r);
    CHECK(area == doctest::Approx(expected).epsilon(0.06));
  }
}

TEST_CASE("points: every set has the documented shape, range and determinism") {
  for (const std::string& name : point_set_names()) {
    CAPTURE(name);
    const PointSet set = point_set_from_name(name);
    CHECK(point_set_name(set) == name);
    const Tensor p = make_points(set, 2000, 5);
    CHECK(p.shape() == Shape{2000, 2});
    CHECK(p.dtype() == kFloat32);
    const auto v = p.to_vector<double>();
    double lo = 1e9, hi = -1e9;
    for (double x : v) {
      REQUIRE(std::isfinite(x));
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
    CHECK(lo >= -1.3);
    CHECK(hi <= 1.3);
    CHECK(hi - lo > 1.0);  // spread out, not collapsed
    CHECK(equal(p, make_points(set, 2000, 5)));
    CHECK(equal(make_points(set, 100, 5), p.narrow(0, 0, 100)));
    CHECK_FALSE(equal(make_points(set, 100, 6), p.narrow(0, 0, 100)));
    // Every sample has positive density under the set's own density.
    const auto logp = point_log_density(set, p).to_vector<double>();
    for (double l : logp) REQUIRE(std::isfinite(l));
  }
  CHECK_THROWS_WITH_AS(point_set_from_name("spiral"), doctest::Contains("swiss-roll"), Error);
}

TEST_CASE("points: gaussians8 moments, checkerboard squares, labels") {
  const Dataset g = make_points_dataset(PointSet::Gaussians8, 20000, 1);
  const Tensor mean = g.images.mean({0});
  CHECK(std::abs(mean.at({0})) < 0.02);
  CHECK(std::abs(mean.at({1})) < 0.02);
  const double expected_std = std::sqrt(kGaussians8Radius * kGaussians8Radius / 2 +
                                        kGaussians8Std * kGaussians8Std);
  CHECK(g.images.std({0}).at({0}) == doctest::Approx(expected_std).epsilon(0.02));
  // Each point lies near the centre of its labelled Gaussian.
  const auto p = g.images.to_vector<double>();
  const auto l = g.labels.to_vector<std::int64_t>();
  for (size_t i = 0; i < 200; ++i) {
    const double a = 2 * std::numbers::pi * l[i] / 8;
    CHECK(std::hypot(p[2 * i] - 0.8 * std::cos(a), p[2 * i + 1] - 0.8 * std::sin(a)) < 0.5);
  }
  const Dataset c = make_points_dataset(PointSet::Checkerboard, 4000, 2);
  const auto q = c.images.to_vector<double>();
  for (size_t i = 0; i < q.size(); i += 2) {
    const auto col = static_cast<int>(std::floor((q[i] + 1) / 0.5));
    const auto row = static_cast<int>(std::floor((q[i + 1] + 1) / 0.5));
    REQUIRE((col + row) % 2 == 0);
  }
  CHECK(point_log_density(PointSet::Checkerboard, Tensor::tensor({{-0.9, -0.9}, {-0.4, -0.9}}))
            .to_vector<double>() == std::vector<double>{std::log(0.5), -INFINITY});
  CHECK_FALSE(make_points_dataset(PointSet::SwissRoll, 10, 0).has_labels());
  CHECK(make_points_dataset(PointSet::Moons, 10, 0).classes.size() == 2);
}

TEST_CASE("points: each density integrates to 1 and agrees with its sampler") {
  for (const std::string& name : point_set_names()) {
    CAPTURE(name);
    const PointSet set = point_set_from_name(name);
    // Riemann sum on a grid over [-1.25, 1.25]² (holds all the mass but ~1e-6).
    const double h = 0.025;
    const int k = 100;
    std::vector<double> grid;
    for (int i = 0; i < k; ++i)
      for (int j = 0; j < k; ++j) {
        grid.push_back(-1.25 + (i + 0.5) * h);
        grid.push_back(-1.25 + (j + 0.5) * h);
      }
    const auto logp =
        point_log_density(set, Tensor::from_vector(grid, {k * k, 2}, {.dtype = kFloat64}))
            .to_vector<double>();
    double total = 0;
    for (double l : logp) total += std::exp(l) * h * h;
    CHECK(total == doctest::Approx(1.0).epsilon(0.01));

    // The fraction of samples in a box around a typical point matches the density's mass
    // there (so sampler and density describe the same distribution).
    const std::int64_t n = 20000;
    const auto s = make_points(set, n, 9).to_vector<double>();
    // A box of 12 × 12 grid cells, its edges on the grid lines, around the first sample.
    const double cx = -1.25 + std::round((s[0] + 1.25) / h) * h;
    const double cy = -1.25 + std::round((s[1] + 1.25) / h) * h;
    const double half = 6 * h;
    std::int64_t inside = 0;
    for (std::int64_t i = 0; i < n; ++i)
      inside += std::abs(s[2 * i] - cx) < half && std::abs(s[2 * i + 1] - cy) < half;
    double mass = 0;
    for (size_t i = 0; i < logp.size(); ++i)
      if (std::abs(grid[2 * i] - cx) < half && std::abs(grid[2 * i + 1] - cy) < half)
        mass += std::exp(logp[i]) * h * h;
    const double frac = static_cast<double>(inside) / n;
    CAPTURE(frac);
    CAPTURE(mass);
    // Sampling noise (binomial, 4 standard deviations) plus the Riemann sum's error.
    CHECK(std::abs(frac - mass) < 0.03 * mass + 4 * std::sqrt(mass / n));
  }
}
