// interpolate (autograd/ops/interpolate.h): nearest and bilinear (align_corners=False)
// values and gradients against plain loops written below from PyTorch's definition, in
// float64 and float32 (up- and downsampling, non-integer factors, N and C > 1); values
// computed by PyTorch; gradient checks; and the errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "autograd/ops/interpolate.h"
#include "kiln.h"

using namespace kiln;
using autograd::gradcheck;
using Mode = InterpolateMode;

namespace {

struct InterpCase {
  std::string name;
  Shape x;
  std::array<std::int64_t, 2> size{0, 0};  // {0, 0}: use scale
  double scale = 0;
};

std::vector<InterpCase> interp_cases() {
  return {
      {"x2 by factor", {2, 3, 4, 5}, {0, 0}, 2.0},
      {"x2 by size", {1, 2, 5, 4}, {10, 8}},
      {"odd upsampling", {2, 2, 3, 4}, {7, 9}},
      {"downsampling", {1, 3, 9, 8}, {4, 3}},
      {"mixed", {2, 1, 6, 3}, {4, 7}},
      {"factor 1.5", {1, 2, 5, 7}, {0, 0}, 1.5},
      {"factor 0.5", {2, 2, 8, 6}, {0, 0}, 0.5},
      {"same size", {1, 2, 4, 4}, {4, 4}},
      {"many planes", {4, 32, 8, 8}, {0, 0}, 2.0},
  };
}

// Resampling and its gradient by direct loops, in double. `scale` is input pixels per
// output pixel along each dim, as PyTorch computes it (1/factor, or in/out).
struct Reference {
  std::vector<double> out, gx;
};

Reference reference(Mode mode, const Shape& xs, std::int64_t Ho, std::int64_t Wo, double scale_h,
                    double scale_w, const std::vector<double>& x, const std::vector<double>& go) {
  const std::int64_t planes = xs[0] * xs[1], H = xs[2], W = xs[3];
  Reference r;
  r.gx.assign(x.size(), 0.0);
  for (std::int64_t p = 0; p < planes; ++p)
    for (std::int64_t oh = 0; oh < Ho; ++oh)
      for (std::int64_t ow = 0; ow < Wo; ++ow) {
        const double g = go[(p * Ho + oh) * Wo + ow];
        // The (up to four) input pixels and their weights.
        std::vector<std::pair<std::int64_t, double>> taps;
        if (mode == Mode::Nearest) {
          const auto ih = std::min<std::int64_t>(static_cast<std::int64_t>(std::floor(oh * scale_h)), H - 1);
          const auto iw = std::min<std::int64_t>(static_cast<std::int64_t>(std::floor(ow * scale_w)), W - 1);
          taps.push_back({ih * W + iw, 1.0});
        } else {
          const double sh = std::max((oh + 0.5) * scale_h - 0.5, 0.0);
          const double sw = std::max((ow + 0.5) * scale_w - 0.5, 0.0);
          const auto h0 = static_cast<std::int64_t>(sh), w0 = static_cast<std::int64_t>(sw);
          const std::int64_t h1 = std::min(h0 + 1, H - 1), w1 = std::min(w0 + 1, W - 1);
          const double lh = sh - h0, lw = sw - w0;
          taps.push_back({h0 * W + w0, (1 - lh) * (1 - lw)});
          taps.push_back({h0 * W + w1, (1 - lh) * lw});
          taps.push_back({h1 * W + w0, lh * (1 - lw)});
          taps.push_back({h1 * W + w1, lh * lw});
        }
        double v = 0;
        for (const auto& [at, weight] : taps) {
          v += weight * x[p * H * W + at];
          r.gx[p * H * W + at] += weight * g;
        }
        r.out.push_back(v);
      }
  return r;
}

void check_close(const char* what, const std::vector<double>& got, const std::vector<double>& want,
                 double tol) {
  REQUIRE(got.size() == want.size());
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::abs(got[i] - want[i]) <= tol * std::max(1.0, std::abs(want[i]))) continue;
    if (bad++ == 0) first = i;
  }
  INFO(std::string(what), ": ", bad, " of ", got.size(), " elements differ; first at ", first, ": got ",
       bad ? got[first] : 0.0, ", want ", bad ? want[first] : 0.0);
  CHECK(bad == 0);
}

Tensor resample(const InterpCase& c, const Tensor& x, Mode mode) {
  return c.scale > 0 ? interpolate(x, c.scale, mode) : interpolate(x, c.size, mode);
}

void check_cases(Mode mode, DType dtype, double tol) {
  Generator gen(31);
  for (const auto& c : interp_cases()) {
    Tensor x = Tensor::randn(c.x, {.dtype = dtype}, &gen).requires_grad_();
    Tensor y = resample(c, x, mode);
    const std::int64_t Ho = y.shape()[2], Wo = y.shape()[3];
    if (c.scale > 0) {
      CHECK(Ho == static_cast<std::int64_t>(std::floor(c.x[2] * c.scale)));
      CHECK(Wo == static_cast<std::int64_t>(std::floor(c.x[3] * c.scale)));
    } else {
      CHECK(Ho == c.size[0]);
      CHECK(Wo == c.size[1]);
    }
    const double scale_h = c.scale > 0 ? 1 / c.scale : static_cast<double>(c.x[2]) / Ho;
    const double scale_w = c.scale > 0 ? 1 / c.scale : static_cast<double>(c.x[3]) / Wo;
    Tensor go = Tensor::randn(y.shape(), {.dtype = dtype}, &gen);
    y.backward(go);
    const Reference r = reference(mode, c.x, Ho, Wo, scale_h, scale_w, x.to_vector<double>(),
                                  go.to_vector<double>());
    INFO("case ", c.name, " (", dtype_name(dtype), ")");
    CHECK(y.dtype() == dtype);
    check_close("output", y.to_vector<double>(), r.out, tol);
    check_close("grad input", x.grad().to_vector<double>(), r.gx, tol);
  }
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// arange(1, 13) as [1, 1, 3, 4], the input of the PyTorch values below.
Tensor ramp() { return Tensor::arange(1, 13, 1, {.dtype = kFloat64}).reshape({1, 1, 3, 4}); }

}  // namespace

TEST_CASE("interpolate: nearest matches direct loops") {
  check_cases(Mode::Nearest, kFloat64, 0);
  check_cases(Mode::Nearest, kFloat32, 1e-6);  // gradients are sums in float
}

TEST_CASE("interpolate: bilinear matches direct loops") {
  check_cases(Mode::Bilinear, kFloat64, 1e-14);
  check_cases(Mode::Bilinear, kFloat32, 1e-5);
}

TEST_CASE("interpolate: nearest x2 repeats each pixel in a 2x2 block") {
  Generator gen(2);
  const Tensor x = Tensor::randn({2, 3, 4, 5}, {.dtype = kFloat64}, &gen);
  const Tensor y = interpolate(x, 2.0, Mode::Nearest);
  REQUIRE(y.shape() == Shape{2, 3, 8, 10});
  for (std::int64_t i = 0; i < 8; ++i)
    for (std::int64_t j = 0; j < 10; ++j) CHECK(y.at({1, 2, i, j}) == x.at({1, 2, i / 2, j / 2}));
  // Its gradient sums each 2x2 block.
  Tensor xl = x.detach().requires_grad_();
  interpolate(xl, {8, 10}, Mode::Nearest).sum().backward();
  CHECK(xl.grad().to_vector<double>() == std::vector<double>(x.numel(), 4.0));
}

TEST_CASE("interpolate: values computed by PyTorch") {
  const Tensor x = ramp();
  // F.interpolate(x, size=(5, 7), mode="bilinear", align_corners=False)
  const std::vector<double> up57 = {
      1.0, 1.3571428571428572, 1.9285714285714284, 2.5, 3.071428571428571, 3.642857142857143, 4.0,
      2.6, 2.957142857142857, 3.5285714285714285, 4.1, 4.671428571428571, 5.242857142857143, 5.6,
      5.0, 5.357142857142857, 5.928571428571429, 6.5, 7.071428571428571, 7.642857142857142, 8.0,
      7.3999999999999995, 7.757142857142856, 8.328571428571427, 8.899999999999999,
      9.471428571428572, 10.042857142857143, 10.4, 9.0, 9.357142857142858, 9.928571428571427,
      10.499999999999998, 11.071428571428571, 11.642857142857144, 12.0};
  check_close("bilinear (5, 7)", interpolate(x, {5, 7}, Mode::Bilinear).to_vector<double>(), up57,
              1e-14);
  // ... its gradient for grad_output = arange(35).reshape(1, 1, 5, 7)
  Tensor xl = x.detach().requires_grad_();
  interpolate(xl, {5, 7}, Mode::Bilinear)
      .backward(Tensor::arange(0, 35, 1, {.dtype = kFloat64}).reshape({1, 1, 5, 7}));
  const std::vector<double> grad57 = {8.457142857142859,  13.442857142857143, 18.700000000000006,
                                      22.400000000000002, 44.61428571428572,  51.68571428571429,
                                      57.600000000000016, 60.3,               70.85714285714288,
                                      78.44285714285712,  83.70000000000002,  84.79999999999998};
  check_close("bilinear (5, 7) grad", xl.grad().to_vector<double>(), grad57, 1e-13);
  // Downsampling: size=(2, 3).
  check_close("bilinear (2, 3)", interpolate(x, {2, 3}, Mode::Bilinear).to_vector<double>(),
              {2.1666666666666665, 3.5, 4.833333333333333, 8.166666666666666, 9.5,
               10.833333333333332},
              1e-14);
  // scale_factor=1.5 (3x4 -> 4x6) maps with 1/1.5, not with 3/4: rows differ from size=(4, 6).
  check_close("bilinear x1.5", interpolate(x, 1.5, Mode::Bilinear).to_vector<double>(),
              {1.0, 1.5, 2.1666666666666665, 2.8333333333333335, 3.5, 4.0, 2.9999999999999996,
               3.4999999999999996, 4.166666666666666, 4.833333333333333, 5.5, 6.0,
               5.666666666666666, 6.166666666666665, 6.833333333333332, 7.499999999999999,
               8.166666666666666, 8.666666666666666, 8.333333333333332, 8.833333333333332, 9.5,
               10.166666666666666, 10.833333333333332, 11.333333333333332},
              1e-14);
  check_close("bilinear (4, 6)", interpolate(x, {4, 6}, Mode::Bilinear).to_vector<double>(),
              {1.0, 1.5, 2.1666666666666665, 2.8333333333333335, 3.5, 4.0, 3.5, 3.9999999999999996,
               4.666666666666667, 5.333333333333333, 6.0, 6.5, 6.5, 7.0, 7.666666666666667,
               8.333333333333332, 9.0, 9.5, 9.0, 9.5, 10.166666666666664, 10.833333333333334, 11.5,
               12.0},
              1e-14);
  // Nearest.
  const std::vector<double> near46 = {1, 1, 2, 3, 3, 4, 1, 1, 2, 3,  3,  4,
                                      5, 5, 6, 7, 7, 8, 9, 9, 10, 11, 11, 12};
  CHECK(interpolate(x, 1.5, Mode::Nearest).to_vector<double>() == near46);
  CHECK(interpolate(x, {4, 6}, Mode::Nearest).to_vector<double>() == near46);
  CHECK(interpolate(x, {2, 3}, Mode::Nearest).to_vector<double>() ==
        std::vector<double>{1, 2, 3, 5, 6, 7});
}

TEST_CASE("interpolate: gradcheck") {
  Generator gen(7);
  struct G {
    std::string name;
    Shape x;
    std::array<std::int64_t, 2> size{0, 0};
    double scale = 0;
    Mode mode;
  };
  const G cases[] = {
      {"bilinear x2", {2, 2, 3, 4}, {0, 0}, 2.0, Mode::Bilinear},
      {"bilinear odd", {1, 2, 4, 3}, {7, 5}, 0, Mode::Bilinear},
      {"bilinear down", {1, 1, 7, 6}, {3, 4}, 0, Mode::Bilinear},
      {"nearest x2", {2, 2, 3, 4}, {0, 0}, 2.0, Mode::Nearest},
      {"nearest odd", {1, 2, 5, 4}, {3, 7}, 0, Mode::Nearest},
  };
  for (const auto& c : cases) {
    Tensor x = Tensor::randn(c.x, {.dtype = kFloat64}, &gen).requires_grad_();
    const auto result = gradcheck(
        [&c](const std::vector<Tensor>& in) {
          return c.scale > 0 ? interpolate(in[0], c.scale, c.mode) : interpolate(in[0], c.size, c.mode);
        },
        {x});
    INFO("case ", c.name, ": ", result.message);
    CHECK(result.ok);
  }
}

TEST_CASE("interpolate: non-contiguous input") {
  Generator gen(9);
  const Tensor x = Tensor::randn({2, 5, 4, 3}, {.dtype = kFloat64}, &gen).permute({0, 3, 1, 2});
  REQUIRE_FALSE(x.is_contiguous());
  for (Mode mode : {Mode::Nearest, Mode::Bilinear}) {
    CHECK(interpolate(x, {7, 9}, mode).to_vector<double>() ==
          interpolate(x.contiguous(), {7, 9}, mode).to_vector<double>());
  }
}

TEST_CASE("interpolate: errors name the op and the shapes") {
  std::string m = message_of([] { interpolate(Tensor::zeros({2, 4, 4}), 2.0, Mode::Nearest); });
  CHECK(m.find("interpolate: input must be 4-D [N, C, H, W], got [2, 4, 4]") != std::string::npos);
  m = message_of([] { interpolate(Tensor::zeros({1, 1, 4, 4}), {0, 3}, Mode::Bilinear); });
  CHECK(m.find("interpolate (bilinear): output size must be positive, got [0, 3]") !=
        std::string::npos);
  m = message_of([] { interpolate(Tensor::zeros({1, 1, 4, 4}), -2.0, Mode::Nearest); });
  CHECK(m.find("interpolate (nearest): scale_factor must be positive") != std::string::npos);
  m = message_of([] { interpolate(Tensor::zeros({1, 1, 4, 4}), 0.1, Mode::Nearest); });
  CHECK(m.find("empty output 0x0") != std::string::npos);
  m = message_of([] {
    interpolate(Tensor::zeros({1, 1, 4, 4}, {.dtype = kInt64}), 2.0, Mode::Nearest);
  });
  CHECK(m.find("interpolate: expects a floating dtype") != std::string::npos);
}
