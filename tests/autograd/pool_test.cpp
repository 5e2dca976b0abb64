// avg_pool2d and max_pool2d (autograd/ops/pool.h): values and gradients against plain
// window loops written below, in float64 and float32 (default stride, padding,
// non-square windows, N and C > 1); a few values computed by PyTorch; ties and NaN in
// max pooling; gradient checks; and the errors.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "autograd/ops/pool.h"
#include "kiln.h"

using namespace kiln;
using autograd::gradcheck;

namespace {

struct PoolCase {
  std::string name;
  Shape x;
  std::array<std::int64_t, 2> kernel, stride{0, 0}, padding{0, 0};
};

std::vector<PoolCase> pool_cases() {
  return {
      {"2x2 default stride", {2, 3, 8, 8}, {2, 2}},
      {"2x2 odd input", {1, 2, 7, 5}, {2, 2}},
      {"3x3 stride 2 padding 1", {2, 2, 9, 8}, {3, 3}, {2, 2}, {1, 1}},
      {"3x3 stride 1 padding 1", {1, 3, 5, 6}, {3, 3}, {1, 1}, {1, 1}},
      {"non-square", {2, 2, 7, 9}, {2, 3}, {1, 2}, {1, 1}},
      {"whole plane", {3, 2, 4, 4}, {4, 4}},
      {"many planes", {4, 16, 16, 16}, {2, 2}},
  };
}

// Pooling and its gradient by direct loops over every window, in double.
struct Reference {
  std::vector<double> out, gx;
};

Reference reference(bool is_max, const PoolCase& c, const std::vector<double>& x,
                    const std::vector<double>& go) {
  const std::int64_t N = c.x[0], C = c.x[1], H = c.x[2], W = c.x[3];
  const std::int64_t kh = c.kernel[0], kw = c.kernel[1];
  const std::int64_t sh = c.stride[0] ? c.stride[0] : kh, sw = c.stride[1] ? c.stride[1] : kw;
  const std::int64_t ph = c.padding[0], pw = c.padding[1];
  const std::int64_t Ho = (H + 2 * ph - kh) / sh + 1, Wo = (W + 2 * pw - kw) / sw + 1;
  Reference r;
  r.gx.assign(x.size(), 0.0);
  for (std::int64_t p = 0; p < N * C; ++p)
    for (std::int64_t oh = 0; oh < Ho; ++oh)
      for (std::int64_t ow = 0; ow < Wo; ++ow) {
        const double g = go[(p * Ho + oh) * Wo + ow];
        double sum = 0, best = -std::numeric_limits<double>::infinity();
        std::int64_t best_at = -1;
        for (std::int64_t i = 0; i < kh; ++i)
          for (std::int64_t j = 0; j < kw; ++j) {
            const std::int64_t ih = oh * sh - ph + i, iw = ow * sw - pw + j;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;  // padding: 0 / -inf
            const std::int64_t at = (p * H + ih) * W + iw;
            sum += x[at];
            if (x[at] > best) best = x[at], best_at = at;
            if (!is_max) r.gx[at] += g / static_cast<double>(kh * kw);
          }
        r.out.push_back(is_max ? best : sum / static_cast<double>(kh * kw));
        if (is_max) r.gx[best_at] += g;
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

Tensor pool(bool is_max, const PoolCase& c, const Tensor& x) {
  return is_max ? max_pool2d(x, c.kernel, c.stride, c.padding)
                : avg_pool2d(x, c.kernel, c.stride, c.padding);
}

void check_cases(bool is_max, DType dtype, double tol) {
  Generator gen(23);
  for (const auto& c : pool_cases()) {
    Tensor x = Tensor::randn(c.x, {.dtype = dtype}, &gen).requires_grad_();
    Tensor y = pool(is_max, c, x);
    Tensor go = Tensor::randn(y.shape(), {.dtype = dtype}, &gen);
    y.backward(go);
    const Reference r = reference(is_max, c, x.to_vector<double>(), go.to_vector<double>());
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

}  // namespace

TEST_CASE("avg_pool2d: values and gradient match direct loops") {
  check_cases(false, kFloat64, 1e-14);
  check_cases(false, kFloat32, 1e-6);
}

TEST_CASE("max_pool2d: values and gradient match direct loops") {
  check_cases(true, kFloat64, 0);
  check_cases(true, kFloat32, 1e-6);  // overlapping windows sum gradients in float
}

TEST_CASE("avg_pool2d: values computed by PyTorch") {
  // F.avg_pool2d(arange(1, 13).reshape(1, 1, 3, 4), 3, 2, 1): padding counts as zeros.
  const Tensor x = Tensor::arange(1, 13, 1, {.dtype = kFloat64}).reshape({1, 1, 3, 4});
  const Tensor y = avg_pool2d(x, {3, 3}, {2, 2}, {1, 1});
  CHECK(y.shape() == Shape{1, 1, 2, 2});
  const std::vector<double> want = {1.5555555555555556, 3.3333333333333335, 3.3333333333333335,
                                    6.0};
  check_close("output", y.to_vector<double>(), want, 1e-15);
}

TEST_CASE("max_pool2d: values computed by PyTorch, ties and NaN") {
  // F.max_pool2d(-arange(1, 13).reshape(1, 1, 3, 4), 3, 2, 1): padding never wins.
  const Tensor x = Tensor::arange(1, 13, 1, {.dtype = kFloat64}).reshape({1, 1, 3, 4});
  CHECK(max_pool2d(-x, {3, 3}, {2, 2}, {1, 1}).to_vector<double>() ==
        std::vector<double>{-1, -2, -5, -6});
  // Ties: the whole gradient goes to the first maximum of the window.
  Tensor t = Tensor::ones({1, 1, 2, 2}, {.dtype = kFloat64}).requires_grad_();
  max_pool2d(t, {2, 2}).sum().backward();
  CHECK(t.grad().to_vector<double>() == std::vector<double>{1, 0, 0, 0});
  // A NaN in the window wins, as in PyTorch.
  Tensor n = Tensor::tensor({{1.0, std::nan("")}, {3.0, 2.0}}).reshape({1, 1, 2, 2});
  CHECK(std::isnan(max_pool2d(n, {2, 2}).item()));
}

TEST_CASE("avg_pool2d: gradcheck") {
  Generator gen(3);
  for (const auto& c : pool_cases()) {
    if (c.name == "many planes") continue;  // large; the loops test covers it
    Tensor x = Tensor::randn(c.x, {.dtype = kFloat64}, &gen).requires_grad_();
    const auto result = gradcheck(
        [&c](const std::vector<Tensor>& in) { return avg_pool2d(in[0], c.kernel, c.stride, c.padding); },
        {x});
    INFO("case ", c.name, ": ", result.message);
    CHECK(result.ok);
  }
}

TEST_CASE("max_pool2d: gradcheck") {
  Generator gen(4);
  for (const auto& c : pool_cases()) {
    if (c.name == "many planes") continue;
    // Random values are distinct (far apart compared to the finite-difference step), so
    // the maximum of each window does not move when one input is nudged.
    Tensor x = Tensor::randn(c.x, {.dtype = kFloat64}, &gen).requires_grad_();
    const auto result = gradcheck(
        [&c](const std::vector<Tensor>& in) { return max_pool2d(in[0], c.kernel, c.stride, c.padding); },
        {x});
    INFO("case ", c.name, ": ", result.message);
    CHECK(result.ok);
  }
}

TEST_CASE("avg_pool2d / max_pool2d: non-contiguous input") {
  Generator gen(9);
  const Tensor x = Tensor::randn({2, 6, 6, 3}, {.dtype = kFloat64}, &gen).permute({0, 3, 1, 2});
  REQUIRE_FALSE(x.is_contiguous());
  CHECK(avg_pool2d(x, {2, 2}).to_vector<double>() ==
        avg_pool2d(x.contiguous(), {2, 2}).to_vector<double>());
  CHECK(max_pool2d(x, {3, 3}, {2, 2}, {1, 1}).to_vector<double>() ==
        max_pool2d(x.contiguous(), {3, 3}, {2, 2}, {1, 1}).to_vector<double>());
}

TEST_CASE("avg_pool2d / max_pool2d: errors name the op and the shapes") {
  const Tensor x = Tensor::zeros({1, 2, 4, 4});
  std::string m = message_of([&] { avg_pool2d(x, {2, 2}, {2, 2}, {2, 0}); });
  CHECK(m.find("avg_pool2d: padding [2, 0] must be between 0 and half the kernel [2, 2]") !=
        std::string::npos);
  m = message_of([&] { max_pool2d(x, {5, 2}); });
  CHECK(m.find("max_pool2d: kernel 5x2 is larger than the padded input 4x4") != std::string::npos);
  CHECK(m.find("[1, 2, 4, 4]") != std::string::npos);
  m = message_of([&] { max_pool2d(Tensor::zeros({2, 4, 4}), {2, 2}); });
  CHECK(m.find("max_pool2d: input must be 4-D [N, C, H, W], got [2, 4, 4]") != std::string::npos);
  m = message_of([&] { avg_pool2d(x, {0, 2}); });
  CHECK(m.find("avg_pool2d: kernel must be positive") != std::string::npos);
  m = message_of([&] { avg_pool2d(x, {2, 2}, {-1, 1}); });
  CHECK(m.find("avg_pool2d: stride must be positive") != std::string::npos);
  m = message_of([&] { avg_pool2d(Tensor::zeros({1, 1, 4, 4}, {.dtype = kInt64}), {2, 2}); });
  CHECK(m.find("avg_pool2d: expects a floating dtype") != std::string::npos);
}
