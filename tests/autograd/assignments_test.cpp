// The graded tests of the course assignments on backward kernels (book/assignments.txt):
// softmax (2.1), conv2d's col2im (5.1) and GroupNorm (5.2), each against finite
// differences in float64 and against values worked out by hand.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "kiln.h"

using namespace kiln;
using autograd::gradcheck;

namespace {

constexpr Options kF64{.dtype = DType::Float64};

Tensor leaf(const Shape& shape, std::uint64_t seed) {
  Generator gen(seed);
  return Tensor::randn(shape, kF64, &gen).detach().requires_grad_();
}

}  // namespace

TEST_CASE("softmax backward: a hand-worked example [assignment 2.1]") {
  // y = softmax([0, ln 2, ln 3]) = [1/6, 2/6, 3/6]; for gy = [1, 0, 0]:
  // gx = y * (gy - Σ gy y) = y * (gy - 1/6) = [5/36, -2/36, -3/36].
  Tensor x = Tensor::from_vector(std::vector<double>{0, std::log(2.0), std::log(3.0)}, {3}, kF64)
                 .requires_grad_();
  x.softmax(0).backward(Tensor::from_vector(std::vector<double>{1, 0, 0}, {3}, kF64));
  const std::vector<double> gx = x.grad().to_vector<double>();
  CHECK(gx[0] == doctest::Approx(5.0 / 36));
  CHECK(gx[1] == doctest::Approx(-2.0 / 36));
  CHECK(gx[2] == doctest::Approx(-3.0 / 36));
}

TEST_CASE("softmax backward: gradcheck of softmax and log_softmax along every dim [assignment 2.1]") {
  const Tensor x = leaf({3, 4, 5}, 21);
  for (std::int64_t dim = 0; dim < 3; ++dim) {
    auto r1 = gradcheck([dim](const std::vector<Tensor>& in) { return in[0].softmax(dim); }, {x});
    CHECK_MESSAGE(r1.ok, "softmax dim " << dim << ": " << r1.message);
    auto r2 = gradcheck([dim](const std::vector<Tensor>& in) { return in[0].log_softmax(dim); }, {x});
    CHECK_MESSAGE(r2.ok, "log_softmax dim " << dim << ": " << r2.message);
  }
}

TEST_CASE("conv2d backward: gradcheck of the input gradient through col2im [assignment 5.1]") {
  // 3x3 kernels (col2im is used; a 1x1 stride-1 convolution skips it), with and without
  // padding, stride and dilation.
  struct Case {
    std::array<std::int64_t, 2> stride, padding, dilation;
  };
  for (const Case& c : {Case{{1, 1}, {1, 1}, {1, 1}}, Case{{2, 2}, {1, 1}, {1, 1}},
                        Case{{1, 2}, {0, 2}, {2, 1}}}) {
    const Tensor x = leaf({2, 3, 6, 7}, 31);
    const Tensor w = leaf({4, 3, 3, 3}, 32);
    auto r = gradcheck(
        [&](const std::vector<Tensor>& in) {
          return conv2d(in[0], w.detach(), Tensor(), c.stride, c.padding, c.dilation);
        },
        {x});
    CHECK_MESSAGE(r.ok, r.message);
  }
}

TEST_CASE("conv2d backward: a single pixel's gradient lands where im2col read it [assignment 5.1]") {
  // All-ones 3x3 kernel, padding 1: d(sum of outputs)/d(input pixel) counts the output
  // windows that cover the pixel: 4 at a corner, 6 on an edge, 9 inside.
  Tensor x = Tensor::zeros({1, 1, 4, 4}, kF64).requires_grad_();
  const Tensor w = Tensor::ones({1, 1, 3, 3}, kF64);
  conv2d(x, w, Tensor(), {1, 1}, {1, 1}).sum().backward();
  const Tensor g = x.grad();
  CHECK(g.at({0, 0, 0, 0}) == 4.0);
  CHECK(g.at({0, 0, 0, 1}) == 6.0);
  CHECK(g.at({0, 0, 1, 2}) == 9.0);
}

TEST_CASE("GroupNorm backward: gradcheck with and without affine, several groups [assignment 5.2]") {
  const Tensor x = leaf({2, 6, 3, 4}, 41);
  const Tensor w = leaf({6}, 42), b = leaf({6}, 43);
  for (std::int64_t groups : {1, 2, 3, 6}) {
    auto affine = gradcheck(
        [groups](const std::vector<Tensor>& in) { return group_norm(in[0], groups, in[1], in[2]); },
        {x, w, b});
    CHECK_MESSAGE(affine.ok, "groups " << groups << ": " << affine.message);
    auto plain = gradcheck(
        [groups](const std::vector<Tensor>& in) { return group_norm(in[0], groups); }, {x});
    CHECK_MESSAGE(plain.ok, "groups " << groups << " (no affine): " << plain.message);
  }
}

TEST_CASE("GroupNorm backward: the output is invariant to shifting a group, so its gradient sums to 0 [assignment 5.2]") {
  Tensor x = leaf({1, 4, 5, 5}, 51);
  Generator gen(52);
  const Tensor gy = Tensor::randn({1, 4, 5, 5}, kF64, &gen);
  group_norm(x, 2).backward(gy);
  const Tensor per_group = x.grad().reshape({2, 50}).sum({1});
  CHECK(std::abs(per_group.at({0})) < 1e-10);
  CHECK(std::abs(per_group.at({1})) < 1e-10);
}
