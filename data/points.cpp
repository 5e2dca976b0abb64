#include "data/points.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "data/random_stream.h"

namespace kiln::data {

namespace {

constexpr double kPi = std::numbers::pi;
constexpr std::int64_t kQuadratureNodes = 4096;

// The noiseless curves.
void swiss_roll_curve(double u, double& x, double& y) {
  const double t = 1.5 * kPi * (1 + 2 * u);
  x = t * std::cos(t) / (4.5 * kPi);
  y = t * std::sin(t) / (4.5 * kPi);
}
void moon_curve(int moon, double theta, double& x, double& y) {
  double mx, my;
  if (moon == 0) {
    mx = std::cos(theta);
    my = std::sin(theta);
  } else {
    mx = 1 - std::cos(theta);
    my = 0.5 - std::sin(theta);
  }
  x = (mx - 0.5) / 1.5;
  y = (my - 0.25) / 1.5;
}

// One point (and its label) of the set from its own stream.
void draw_point(PointSet set, detail::PhiloxStream& rng, double& x, double& y,
                std::int64_t& label) {
  switch (set) {
    case PointSet::SwissRoll: {
      swiss_roll_curve(rng.uniform(), x, y);
      x += kSwissRollNoise * rng.normal();
      y += kSwissRollNoise * rng.normal();
      label = 0;
      return;
    }
    case PointSet::Moons: {
      const int moon = static_cast<int>(rng.below(2));
      moon_curve(moon, rng.uniform(0.0, kPi), x, y);
      x += kMoonsNoise * rng.normal();
      y += kMoonsNoise * rng.normal();
      label = moon;
      return;
    }
    case PointSet::Gaussians8: {
      const std::int64_t k = static_cast<std::int64_t>(rng.below(8));
      x = kGaussians8Radius * std::cos(2 * kPi * k / 8) + kGaussians8Std * rng.normal();
      y = kGaussians8Radius * std::sin(2 * kPi * k / 8) + kGaussians8Std * rng.normal();
      label = k;
      return;
    }
    case PointSet::Checkerboard: {
      // Column uniform in 0..3, then one of its two dark rows (c + r even).
      const std::int64_t c = static_cast<std::int64_t>(rng.below(4));
      const std::int64_t r = 2 * static_cast<std::int64_t>(rng.below(2)) + (c % 2);
      x = -1 + 0.5 * c + 0.5 * rng.uniform();
      y = -1 + 0.5 * r + 0.5 * rng.uniform();
      label = (r * 4 + c) / 2;  // dark squares numbered 0..7 row by row
      return;
    }
  }
  fail("make_points: unknown point set");
}

std::uint64_t tag_of(PointSet set) { return 0x504f494e54ull + static_cast<std::uint64_t>(set); }

// log( (1/K) Σ_k N(p; c_k, σ² I) ) over the curve nodes c_k, by log-sum-exp.
double log_mean_kernel(const std::vector<double>& cx, const std::vector<double>& cy,
                       double sigma, double px, double py) {
  double m = -std::numeric_limits<double>::infinity();
  const double inv = 1 / (2 * sigma * sigma);
  for (size_t k = 0; k < cx.size(); ++k) {
    const double dx = px - cx[k], dy = py - cy[k];
    m = std::max(m, -(dx * dx + dy * dy) * inv);
  }
  double s = 0;
  for (size_t k = 0; k < cx.size(); ++k) {
    const double dx = px - cx[k], dy = py - cy[k];
    s += std::exp(-(dx * dx + dy * dy) * inv - m);
  }
  return m + std::log(s / static_cast<double>(cx.size())) -
         std::log(2 * kPi * sigma * sigma);
}

}  // namespace

PointSet point_set_from_name(std::string_view name) {
  if (name == "swiss-roll") return PointSet::SwissRoll;
  if (name == "moons") return PointSet::Moons;
  if (name == "gaussians8") return PointSet::Gaussians8;
  if (name == "checkerboard") return PointSet::Checkerboard;
  fail("point set '{}' is unknown (known: {})", name, fmt::join(point_set_names(), ", "));
}

std::string point_set_name(PointSet set) {
  switch (set) {
    case PointSet::SwissRoll: return "swiss-roll";
    case PointSet::Moons: return "moons";
    case PointSet::Gaussians8: return "gaussians8";
    case PointSet::Checkerboard: return "checkerboard";
  }
  return "unknown";
}

std::vector<std::string> point_set_names() {
  return {"swiss-roll", "moons", "gaussians8", "checkerboard"};
}

Dataset make_points_dataset(PointSet set, std::int64_t n, std::uint64_t seed) {
  KILN_CHECK(n >= 0, "make_points: negative number of points {}", n);
  Dataset out;
  out.name = point_set_name(set);
  out.images = Tensor::empty({n, 2});
  Tensor labels = Tensor::empty({n}, {.dtype = kInt64});
  float* p = out.images.data_ptr<float>();
  std::int64_t* l = labels.data_ptr<std::int64_t>();
  const std::uint64_t key = detail::mix_seed(seed, tag_of(set));
#pragma omp parallel for schedule(static) if (n > 4096)
  for (std::int64_t i = 0; i < n; ++i) {
    detail::PhiloxStream rng(key, static_cast<std::uint64_t>(i) << 32);
    double x, y;
    draw_point(set, rng, x, y, l[i]);
    p[2 * i] = static_cast<float>(x);
    p[2 * i + 1] = static_cast<float>(y);
  }
  switch (set) {
    case PointSet::SwissRoll: break;  // no labels
    case PointSet::Moons: out.classes = {"upper", "lower"}; out.labels = labels; break;
    case PointSet::Gaussians8:
      for (int k = 0; k < 8; ++k) out.classes.push_back(fmt::format("gaussian {}", k));
      out.labels = labels;
      break;
    case PointSet::Checkerboard:
      for (int k = 0; k < 8; ++k) out.classes.push_back(fmt::format("square {}", k));
      out.labels = labels;
      break;
  }
  return out;
}

Tensor make_points(PointSet set, std::int64_t n, std::uint64_t seed) {
  return make_points_dataset(set, n, seed).images;
}

Tensor point_log_density(PointSet set, const Tensor& points) {
  KILN_CHECK(points.defined() && points.dim() == 2 && points.size(1) == 2,
             "point_log_density: points must be [M, 2], got {}",
             points.defined() ? shape_str(points.shape()) : std::string("undefined"));
  const std::vector<double> p = points.to_vector<double>();
  const std::int64_t m = points.size(0);
  std::vector<double> out(static_cast<size_t>(m));
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();

  std::vector<double> cx, cy;  // quadrature nodes on the curve(s)
  if (set == PointSet::SwissRoll || set == PointSet::Moons) {
    const int curves = set == PointSet::Moons ? 2 : 1;
    for (int c = 0; c < curves; ++c) {
      for (std::int64_t k = 0; k < kQuadratureNodes; ++k) {
        const double u = (k + 0.5) / kQuadratureNodes;  // midpoint rule
        double x, y;
        if (set == PointSet::SwissRoll) swiss_roll_curve(u, x, y);
        else moon_curve(c, kPi * u, x, y);
        cx.push_back(x);
        cy.push_back(y);
      }
    }
  }
#pragma omp parallel for schedule(static) if (m > 64)
  for (std::int64_t i = 0; i < m; ++i) {
    const double x = p[2 * i], y = p[2 * i + 1];
    double v = kNegInf;
    switch (set) {
      case PointSet::SwissRoll: v = log_mean_kernel(cx, cy, kSwissRollNoise, x, y); break;
      // Both moons have probability 1/2 and equally many nodes: the mean over all nodes.
      case PointSet::Moons: v = log_mean_kernel(cx, cy, kMoonsNoise, x, y); break;
      case PointSet::Gaussians8: {
        double terms[8], mx = kNegInf;
        const double s2 = kGaussians8Std * kGaussians8Std;
        for (int k = 0; k < 8; ++k) {
          const double dx = x - kGaussians8Radius * std::cos(2 * kPi * k / 8);
          const double dy = y - kGaussians8Radius * std::sin(2 * kPi * k / 8);
          terms[k] = -(dx * dx + dy * dy) / (2 * s2);
          mx = std::max(mx, terms[k]);
        }
        double s = 0;
        for (double t : terms) s += std::exp(t - mx);
        v = mx + std::log(s / 8) - std::log(2 * kPi * s2);
        break;
      }
      case PointSet::Checkerboard: {
        if (x >= -1 && x < 1 && y >= -1 && y < 1) {
          const auto c = static_cast<std::int64_t>(std::floor((x + 1) / 0.5));
          const auto r = static_cast<std::int64_t>(std::floor((y + 1) / 0.5));
          if ((c + r) % 2 == 0) v = std::log(0.5);
        }
        break;
      }
    }
    out[static_cast<size_t>(i)] = v;
  }
  return Tensor::from_vector(out, {m}, {.dtype = kFloat64});
}

}  // namespace kiln::data
