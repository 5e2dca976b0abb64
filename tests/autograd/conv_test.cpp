// conv2d (autograd/ops/conv.h): values and all three gradients against a plain
// seven-loop convolution written below, in float64 and float32, over a table of configs
// (stride, padding, dilation, groups, no bias, non-square, batches that take each
// threading path, inputs large enough to be cut into several col tiles); gradient
// checks; results independent of the thread count; and the errors.
#include <doctest/doctest.h>

#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "autograd/ops/conv.h"
#include "kiln.h"

using namespace kiln;
using autograd::gradcheck;

namespace {

struct ConvCase {
  std::string name;
  std::int64_t N, C_in, H, W, C_out, KH, KW;
  std::array<std::int64_t, 2> stride{1, 1}, padding{0, 0}, dilation{1, 1};
  std::int64_t groups = 1;
  bool bias = true;
};

std::vector<ConvCase> conv_cases() {
  return {
      {"3x3", 1, 3, 6, 6, 4, 3, 3},
      {"3x3 padding 1", 2, 3, 6, 6, 5, 3, 3, {1, 1}, {1, 1}},
      {"stride 2 padding 1", 2, 4, 9, 8, 3, 3, 3, {2, 2}, {1, 1}},
      {"dilation 2", 1, 2, 9, 9, 3, 3, 3, {1, 1}, {2, 2}, {2, 2}},
      {"groups 2", 2, 4, 7, 7, 6, 3, 3, {1, 1}, {1, 1}, {1, 1}, 2},
      {"groups 3 stride 2", 3, 6, 8, 8, 3, 3, 3, {2, 2}, {1, 1}, {1, 1}, 3},
      {"no bias", 2, 3, 5, 5, 2, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1, false},
      {"non-square", 2, 3, 5, 9, 4, 2, 3, {2, 1}, {0, 1}, {1, 2}},
      {"kernel fills the padded input", 1, 2, 3, 4, 2, 5, 6, {1, 1}, {1, 1}},
      {"1x1", 4, 6, 5, 5, 3, 1, 1},
      {"1x1 groups 2", 2, 4, 3, 5, 6, 1, 1, {1, 1}, {0, 0}, {1, 1}, 2},
      {"1x1 stride 2", 2, 3, 7, 7, 4, 1, 1, {2, 2}},
      {"1x1 padding 1", 1, 3, 4, 4, 2, 1, 1, {1, 1}, {1, 1}},
      {"stride 3 large padding", 2, 2, 8, 8, 3, 2, 2, {3, 3}, {2, 2}},
      {"batch 8 (split across threads)", 8, 3, 6, 6, 4, 3, 3, {1, 1}, {1, 1}},
      {"batch 9 (chunked weight grad)", 9, 2, 5, 5, 3, 3, 3, {2, 2}, {1, 1}},
      {"several col tiles", 2, 16, 40, 40, 8, 3, 3, {1, 1}, {1, 1}},
      {"ddpm downsample", 4, 32, 16, 16, 32, 3, 3, {2, 2}, {1, 1}},
  };
}

// The convolution and its three gradients by direct loops, in double: the definition,
// with no unfolding, no GEMM, no tiling. go is the gradient flowing into the output.
struct Reference {
  std::vector<double> out, gx, gw, gb;
};

Reference reference(const ConvCase& c, const std::vector<double>& x, const std::vector<double>& w,
                    const std::vector<double>& b, const std::vector<double>& go) {
  const std::int64_t Ho = (c.H + 2 * c.padding[0] - c.dilation[0] * (c.KH - 1) - 1) / c.stride[0] + 1;
  const std::int64_t Wo = (c.W + 2 * c.padding[1] - c.dilation[1] * (c.KW - 1) - 1) / c.stride[1] + 1;
  const std::int64_t cin_g = c.C_in / c.groups, cout_g = c.C_out / c.groups;
  Reference r;
  r.out.assign(static_cast<size_t>(c.N * c.C_out * Ho * Wo), 0.0);
  r.gx.assign(x.size(), 0.0);
  r.gw.assign(w.size(), 0.0);
  r.gb.assign(static_cast<size_t>(c.C_out), 0.0);
  for (std::int64_t n = 0; n < c.N; ++n)
    for (std::int64_t co = 0; co < c.C_out; ++co)
      for (std::int64_t oh = 0; oh < Ho; ++oh)
        for (std::int64_t ow = 0; ow < Wo; ++ow) {
          const std::int64_t o = ((n * c.C_out + co) * Ho + oh) * Wo + ow;
          double sum = c.bias ? b[co] : 0.0;
          r.gb[co] += go[o];
          const std::int64_t g = co / cout_g;
          for (std::int64_t ci = 0; ci < cin_g; ++ci)
            for (std::int64_t kh = 0; kh < c.KH; ++kh)
              for (std::int64_t kw = 0; kw < c.KW; ++kw) {
                const std::int64_t ih = oh * c.stride[0] - c.padding[0] + kh * c.dilation[0];
                const std::int64_t iw = ow * c.stride[1] - c.padding[1] + kw * c.dilation[1];
                if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W) continue;
                const std::int64_t xi = ((n * c.C_in + g * cin_g + ci) * c.H + ih) * c.W + iw;
                const std::int64_t wi = ((co * cin_g + ci) * c.KH + kh) * c.KW + kw;
                sum += w[wi] * x[xi];
                r.gx[xi] += w[wi] * go[o];
                r.gw[wi] += x[xi] * go[o];
              }
          r.out[o] = sum;
        }
  return r;
}

// Reports how many elements differ by more than atol + rtol·|want|, and the first one.
void check_close(const char* what, const std::vector<double>& got, const std::vector<double>& want,
                 double rtol, double atol) {
  REQUIRE(got.size() == want.size());
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::abs(got[i] - want[i]) <= atol + rtol * std::abs(want[i])) continue;
    if (bad++ == 0) first = i;
  }
  INFO(std::string(what), ": ", bad, " of ", got.size(), " elements differ; first at ", first, ": got ",
       bad ? got[first] : 0.0, ", want ", bad ? want[first] : 0.0);
  CHECK(bad == 0);
}

Shape weight_shape(const ConvCase& c) { return {c.C_out, c.C_in / c.groups, c.KH, c.KW}; }

Tensor run_conv(const ConvCase& c, const Tensor& x, const Tensor& w, const Tensor& b) {
  return conv2d(x, w, c.bias ? b : Tensor(), c.stride, c.padding, c.dilation, c.groups);
}

// Forward and backward of one case in `dtype` against the float64 reference.
void check_case(const ConvCase& c, DType dtype, double rtol, double atol) {
  Generator gen(17);
  const Options o{.dtype = dtype};
  Tensor x = Tensor::randn({c.N, c.C_in, c.H, c.W}, o, &gen).requires_grad_();
  Tensor w = Tensor::randn(weight_shape(c), o, &gen).requires_grad_();
  Tensor b = Tensor::randn({c.C_out}, o, &gen).requires_grad_();
  Tensor y = run_conv(c, x, w, b);
  Tensor go = Tensor::randn(y.shape(), o, &gen);
  y.backward(go);

  const Reference r = reference(c, x.to_vector<double>(), w.to_vector<double>(),
                                b.to_vector<double>(), go.to_vector<double>());
  INFO("case ", c.name, " (", dtype_name(dtype), ")");
  CHECK(y.dtype() == dtype);
  check_close("output", y.to_vector<double>(), r.out, rtol, atol);
  check_close("grad input", x.grad().to_vector<double>(), r.gx, rtol, atol);
  check_close("grad weight", w.grad().to_vector<double>(), r.gw, rtol, atol);
  if (c.bias) {
    check_close("grad bias", b.grad().to_vector<double>(), r.gb, rtol, atol);
  } else {
    CHECK_FALSE(b.grad().defined());
  }
}

Tensor leaf64(const Shape& shape, Generator& gen) {
  return Tensor::randn(shape, {.dtype = kFloat64}, &gen).requires_grad_();
}

}  // namespace

TEST_CASE("conv2d: forward and gradients match direct loops (float64)") {
  for (const auto& c : conv_cases()) check_case(c, kFloat64, 1e-12, 1e-12);
}

TEST_CASE("conv2d: forward and gradients match direct loops (float32)") {
  for (const auto& c : conv_cases()) check_case(c, kFloat32, 1e-4, 1e-4);
}

TEST_CASE("conv2d: output shape") {
  Tensor x = Tensor::zeros({2, 3, 32, 32});
  CHECK(conv2d(x, Tensor::zeros({8, 3, 3, 3}), {}, {1, 1}, {1, 1}).shape() == Shape{2, 8, 32, 32});
  CHECK(conv2d(x, Tensor::zeros({8, 3, 3, 3}), {}, {2, 2}, {1, 1}).shape() == Shape{2, 8, 16, 16});
  CHECK(conv2d(x, Tensor::zeros({8, 3, 3, 3})).shape() == Shape{2, 8, 30, 30});
  CHECK(conv2d(x, Tensor::zeros({8, 3, 3, 3}), {}, {1, 1}, {0, 0}, {2, 2}).shape() ==
        Shape{2, 8, 28, 28});
  CHECK(conv2d(x, Tensor::zeros({9, 1, 1, 5}), {}, {1, 2}, {0, 0}, {1, 1}, 3).shape() ==
        Shape{2, 9, 32, 14});
  // An empty batch gives an empty output and zero gradients.
  Tensor e = Tensor::zeros({0, 3, 8, 8}).requires_grad_();
  Tensor w = Tensor::ones({4, 3, 3, 3}).requires_grad_();
  Tensor b = Tensor::ones({4}).requires_grad_();
  Tensor y = conv2d(e, w, b);
  CHECK(y.shape() == Shape{0, 4, 6, 6});
  y.sum().backward();
  CHECK(w.grad().abs().sum().item() == 0.0);
  CHECK(b.grad().abs().sum().item() == 0.0);
}

TEST_CASE("conv2d: non-contiguous inputs") {
  Generator gen(5);
  // A permuted input and a sliced weight give the same values as their contiguous copies.
  Tensor x = Tensor::randn({2, 7, 7, 3}, {.dtype = kFloat64}, &gen).permute({0, 3, 1, 2});
  Tensor w = Tensor::randn({4, 3, 3, 6}, {.dtype = kFloat64}, &gen).slice(3, 0, 6, 2);
  Tensor b = Tensor::randn({8}, {.dtype = kFloat64}, &gen).slice(0, 0, 8, 2);
  REQUIRE_FALSE(x.is_contiguous());
  REQUIRE_FALSE(w.is_contiguous());
  const Tensor y = conv2d(x, w, b, {1, 1}, {1, 1});
  const Tensor want = conv2d(x.contiguous(), w.contiguous(), b.contiguous(), {1, 1}, {1, 1});
  CHECK(y.to_vector<double>() == want.to_vector<double>());
}

TEST_CASE("conv2d: only the required gradients are computed") {
  Generator gen(6);
  Tensor x = Tensor::randn({2, 3, 6, 6}, {.dtype = kFloat64}, &gen);  // no grad
  Tensor w = leaf64({4, 3, 3, 3}, gen);
  Tensor b = Tensor::randn({4}, {.dtype = kFloat64}, &gen);  // no grad
  Tensor y = conv2d(x, w, b);
  CHECK(y.requires_grad());
  y.sum().backward();
  CHECK_FALSE(x.grad().defined());
  CHECK_FALSE(b.grad().defined());
  CHECK(w.grad().shape() == w.shape());
  // Nothing requires grad: no graph.
  CHECK_FALSE(conv2d(x, w.detach(), b).requires_grad());
  NoGradGuard guard;
  CHECK_FALSE(conv2d(x, w, b).requires_grad());
}

TEST_CASE("conv2d: results do not depend on the thread count") {
  Generator gen(8);
  const ConvCase cases[] = {{"3x3", 6, 8, 12, 12, 8, 3, 3, {1, 1}, {1, 1}},
                            {"1x1", 5, 8, 6, 6, 16, 1, 1}};
  for (const auto& c : cases) {
    Tensor x = Tensor::randn({c.N, c.C_in, c.H, c.W}, {}, &gen);
    Tensor w = Tensor::randn(weight_shape(c), {}, &gen);
    Tensor b = Tensor::randn({c.C_out}, {}, &gen);
    Tensor go;
    std::vector<std::vector<float>> results[2];
    const int saved = omp_get_max_threads();
    for (int t = 0; t < 2; ++t) {
      omp_set_num_threads(t == 0 ? 1 : 2);
      Tensor xl = x.detach().requires_grad_(), wl = w.detach().requires_grad_();
      Tensor bl = b.detach().requires_grad_();
      Tensor y = run_conv(c, xl, wl, bl);
      if (!go.defined()) go = Tensor::randn(y.shape(), {}, &gen);
      y.backward(go);
      results[t] = {y.to_vector<float>(), xl.grad().to_vector<float>(),
                    wl.grad().to_vector<float>(), bl.grad().to_vector<float>()};
    }
    omp_set_num_threads(saved);
    INFO("case ", c.name);
    CHECK(results[0] == results[1]);
  }
}

TEST_CASE("conv2d: gradcheck") {
  using V = const std::vector<Tensor>&;
  struct GradCase {
    std::string name;
    Shape x, w;
    std::array<std::int64_t, 2> stride{1, 1}, padding{0, 0}, dilation{1, 1};
    std::int64_t groups = 1;
    bool bias = true;
  };
  const GradCase cases[] = {
      {"plain", {2, 2, 5, 5}, {3, 2, 3, 3}},
      {"stride 2 padding 1", {2, 2, 6, 5}, {3, 2, 3, 3}, {2, 2}, {1, 1}},
      {"dilation 2", {1, 2, 7, 7}, {2, 2, 3, 3}, {1, 1}, {1, 1}, {2, 2}},
      {"groups 2", {2, 4, 5, 5}, {4, 2, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 2},
      {"all at once, no bias", {2, 4, 7, 6}, {2, 2, 2, 3}, {2, 1}, {1, 2}, {2, 1}, 2, false},
      {"1x1", {2, 3, 4, 4}, {5, 3, 1, 1}},
  };
  Generator gen(11);
  for (const auto& c : cases) {
    std::vector<Tensor> inputs = {leaf64(c.x, gen), leaf64(c.w, gen)};
    if (c.bias) inputs.push_back(leaf64({c.w[0]}, gen));
    auto f = [&c](V in) {
      return conv2d(in[0], in[1], c.bias ? in[2] : Tensor(), c.stride, c.padding, c.dilation,
                    c.groups);
    };
    const auto result = gradcheck(f, inputs);
    INFO("case ", c.name, ": ", result.message);
    CHECK(result.ok);
  }
}

TEST_CASE("conv2d: errors name the op and the shapes") {
  auto message = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  const Tensor x = Tensor::zeros({2, 3, 8, 8});
  // Channel mismatch.
  std::string m = message([&] { conv2d(x, Tensor::zeros({4, 2, 3, 3})); });
  CHECK(m.find("conv2d") != std::string::npos);
  CHECK(m.find("[2, 3, 8, 8]") != std::string::npos);
  CHECK(m.find("[4, 2, 3, 3]") != std::string::npos);
  CHECK(m.find("channels") != std::string::npos);
  // groups must divide both channel counts.
  m = message([&] { conv2d(x, Tensor::zeros({4, 1, 3, 3}), {}, {1, 1}, {0, 0}, {1, 1}, 2); });
  CHECK(m.find("groups = 2 does not divide the 3 input channels") != std::string::npos);
  m = message([&] {
    conv2d(Tensor::zeros({1, 4, 8, 8}), Tensor::zeros({3, 2, 3, 3}), {}, {1, 1}, {0, 0}, {1, 1}, 2);
  });
  CHECK(m.find("groups = 2 does not divide the 3 output channels") != std::string::npos);
  // The kernel must fit in the padded input.
  m = message([&] { conv2d(Tensor::zeros({1, 3, 4, 4}), Tensor::zeros({2, 3, 5, 5})); });
  CHECK(m.find("larger than the padded input 4x4") != std::string::npos);
  m = message([&] {
    conv2d(Tensor::zeros({1, 3, 4, 4}), Tensor::zeros({2, 3, 3, 3}), {}, {1, 1}, {0, 0}, {2, 2});
  });
  CHECK(m.find("kernel 5x5") != std::string::npos);
  // Shapes, bias, hyper-parameters, dtypes.
  CHECK(message([&] { conv2d(Tensor::zeros({3, 8, 8}), Tensor::zeros({4, 3, 3, 3})); })
            .find("input must be 4-D") != std::string::npos);
  CHECK(message([&] { conv2d(x, Tensor::zeros({4, 3, 3})); }).find("weight must be 4-D") !=
        std::string::npos);
  CHECK(message([&] { conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor::zeros({3})); })
            .find("bias must be [C_out] = [4]") != std::string::npos);
  CHECK(message([&] { conv2d(x, Tensor::zeros({4, 3, 3, 3}), {}, {0, 1}); })
            .find("stride must be positive") != std::string::npos);
  CHECK(message([&] { conv2d(x, Tensor::zeros({4, 3, 3, 3}), {}, {1, 1}, {-1, 0}); })
            .find("padding must be non-negative") != std::string::npos);
  CHECK(message([&] { conv2d(x, Tensor::zeros({4, 3, 3, 3}), {}, {1, 1}, {0, 0}, {1, 1}, 0); })
            .find("groups must be positive") != std::string::npos);
  CHECK(message([&] { conv2d(x, Tensor::zeros({4, 3, 3, 3}, {.dtype = kFloat64})); })
            .find("dtypes float32 and float64 differ") != std::string::npos);
  CHECK(message([&] {
          conv2d(Tensor::zeros({2, 3, 8, 8}, {.dtype = kInt64}),
                 Tensor::zeros({4, 3, 3, 3}, {.dtype = kInt64}));
        }).find("conv2d: expects a floating dtype") != std::string::npos);
}
