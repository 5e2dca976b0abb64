// Printing: every expected string below is what PyTorch prints for the same tensor
// (checked with torch 1.13), except that dtypes are named without the "torch." prefix
// and grad_fn names have no trailing version digit (MulBackward, not MulBackward0).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "tensor/backend.h"
#include "tensor/tensor.h"

using namespace kiln;

namespace {

// 0, 1, ..., n-1 of the given dtype as a tensor of the given shape.
Tensor iota(std::int64_t n, const Shape& shape, DType dtype = kFloat32) {
  std::vector<double> v(static_cast<size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<double>(i);
  return Tensor::from_vector(v, shape, {.dtype = dtype});
}

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace

TEST_CASE("print a 2-D float tensor with a common width") {
  Tensor t = Tensor::tensor({{1., -2.5}, {3., 4.}});
  CHECK(t.str() ==
        "tensor([[ 1.0000, -2.5000],\n"
        "        [ 3.0000,  4.0000]])");
  // operator<< and fmt print the same string.
  std::ostringstream os;
  os << t;
  CHECK(os.str() == t.str());
  CHECK(fmt::format("{}", t) == t.str());
}

TEST_CASE("print int64 without a dtype suffix") {
  CHECK(Tensor::from_vector<std::int64_t>({1, 2, 3}, {3}, {.dtype = kInt64}).str() ==
        "tensor([1, 2, 3])");
  CHECK(Tensor::from_vector<std::int64_t>({-7, 10, 100}, {3}, {.dtype = kInt64}).str() ==
        "tensor([ -7,  10, 100])");
  // Values beyond 2^53 print exactly (they are never routed through double).
  CHECK(Tensor::from_vector<std::int64_t>({9007199254740993}, {1}, {.dtype = kInt64}).str() ==
        "tensor([9007199254740993])");
}

TEST_CASE("print float64 with a dtype suffix") {
  CHECK(Tensor::tensor({0.5, 1.25}, {.dtype = kFloat64}).str() ==
        "tensor([0.5000, 1.2500], dtype=float64)");
}

TEST_CASE("print 0-d tensors without brackets") {
  CHECK(Tensor::scalar(3.14159265).str() == "tensor(3.1416)");
  CHECK(Tensor::scalar(7, {.dtype = kInt64}).str() == "tensor(7)");
  CHECK(Tensor::scalar(2).str() == "tensor(2.)");
}

TEST_CASE("print empty tensors with their shape and dtype") {
  CHECK(Tensor::zeros({0, 3}).str() == "tensor([], size=(0, 3))");
  CHECK(Tensor::zeros({0}).str() == "tensor([])");
  CHECK(Tensor::zeros({0}, {.dtype = kInt64}).str() == "tensor([], dtype=int64)");
  CHECK(Tensor::zeros({2, 0}, {.dtype = kFloat64}).str() ==
        "tensor([], size=(2, 0), dtype=float64)");
}

TEST_CASE("print whole-number floats with a trailing point") {
  CHECK(Tensor::tensor({1., 2., -3.}).str() == "tensor([ 1.,  2., -3.])");
  CHECK(Tensor::zeros({3}).str() == "tensor([0., 0., 0.])");
  CHECK(Tensor::tensor({-0., 1.}).str() == "tensor([-0., 1.])");
  CHECK(Tensor::tensor({0.1, 0.2, 1. / 3.}).str() == "tensor([0.1000, 0.2000, 0.3333])");
}

TEST_CASE("print switches to scientific notation for wide ranges") {
  CHECK(Tensor::tensor({1., 1e5}).str() == "tensor([1.0000e+00, 1.0000e+05])");  // ratio
  CHECK(Tensor::tensor({0.5, 1e5}).str() == "tensor([5.0000e-01, 1.0000e+05])");
  CHECK(Tensor::tensor({1e-5, 0.5}).str() == "tensor([1.0000e-05, 5.0000e-01])");  // tiny
  CHECK(Tensor::tensor({1e9, 2e9}).str() == "tensor([1.0000e+09, 2.0000e+09])");   // huge
  // Right at the limits fixed point is kept.
  CHECK(Tensor::tensor({1., 1000.}, {.dtype = kFloat64}).str() ==
        "tensor([   1., 1000.], dtype=float64)");
}

TEST_CASE("print nan and inf") {
  CHECK(Tensor::tensor({kNan, 1.5, -kInf, 0.}).str() ==
        "tensor([   nan, 1.5000,   -inf, 0.0000])");
  CHECK(Tensor::tensor({kNan, 1., kInf}).str() == "tensor([nan, 1., inf])");
  CHECK(Tensor::tensor({-kNan}).str() == "tensor([nan])");
}

TEST_CASE("print non-contiguous (permuted) tensors in logical order") {
  Tensor t = iota(6, {2, 3}).t();
  REQUIRE_FALSE(t.is_contiguous());
  CHECK(t.str() ==
        "tensor([[0., 3.],\n"
        "        [1., 4.],\n"
        "        [2., 5.]])");

  Tensor p = iota(24, {2, 3, 4}, kInt64).permute({2, 0, 1});
  REQUIRE_FALSE(p.is_contiguous());
  CHECK(p.str() ==
        "tensor([[[ 0,  4,  8],\n"
        "         [12, 16, 20]],\n"
        "\n"
        "        [[ 1,  5,  9],\n"
        "         [13, 17, 21]],\n"
        "\n"
        "        [[ 2,  6, 10],\n"
        "         [14, 18, 22]],\n"
        "\n"
        "        [[ 3,  7, 11],\n"
        "         [15, 19, 23]]])");
}

TEST_CASE("print a 3-D tensor with nested brackets") {
  std::vector<double> v;
  for (int i = 0; i < 8; ++i) v.push_back(i / 3.0);
  CHECK(Tensor::from_vector(v, {2, 2, 2}).str() ==
        "tensor([[[0.0000, 0.3333],\n"
        "         [0.6667, 1.0000]],\n"
        "\n"
        "        [[1.3333, 1.6667],\n"
        "         [2.0000, 2.3333]]])");
}

TEST_CASE("print summarises tensors of more than 1000 elements") {
  CHECK(iota(10000, {10000}, kInt64).str() == "tensor([   0,    1,    2,  ..., 9997, 9998, 9999])");
  // 1000 elements exactly: shown in full.
  CHECK(iota(1000, {1000}, kInt64).str().find("...") == std::string::npos);

  // Only the shown values set the width and the mode: here they span 0..1999, so
  // the ratio test picks scientific notation, and each row still wraps at 80 columns.
  CHECK(iota(2000, {40, 50}).str() ==
        "tensor([[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 4.7000e+01, 4.8000e+01,\n"
        "         4.9000e+01],\n"
        "        [5.0000e+01, 5.1000e+01, 5.2000e+01,  ..., 9.7000e+01, 9.8000e+01,\n"
        "         9.9000e+01],\n"
        "        [1.0000e+02, 1.0100e+02, 1.0200e+02,  ..., 1.4700e+02, 1.4800e+02,\n"
        "         1.4900e+02],\n"
        "        ...,\n"
        "        [1.8500e+03, 1.8510e+03, 1.8520e+03,  ..., 1.8970e+03, 1.8980e+03,\n"
        "         1.8990e+03],\n"
        "        [1.9000e+03, 1.9010e+03, 1.9020e+03,  ..., 1.9470e+03, 1.9480e+03,\n"
        "         1.9490e+03],\n"
        "        [1.9500e+03, 1.9510e+03, 1.9520e+03,  ..., 1.9970e+03, 1.9980e+03,\n"
        "         1.9990e+03]])");

  // A dimension of 6 or fewer is never cut, even when the tensor is summarised.
  CHECK(iota(2000, {2, 10, 100}, kInt64).str() ==
        "tensor([[[   0,    1,    2,  ...,   97,   98,   99],\n"
        "         [ 100,  101,  102,  ...,  197,  198,  199],\n"
        "         [ 200,  201,  202,  ...,  297,  298,  299],\n"
        "         ...,\n"
        "         [ 700,  701,  702,  ...,  797,  798,  799],\n"
        "         [ 800,  801,  802,  ...,  897,  898,  899],\n"
        "         [ 900,  901,  902,  ...,  997,  998,  999]],\n"
        "\n"
        "        [[1000, 1001, 1002,  ..., 1097, 1098, 1099],\n"
        "         [1100, 1101, 1102,  ..., 1197, 1198, 1199],\n"
        "         [1200, 1201, 1202,  ..., 1297, 1298, 1299],\n"
        "         ...,\n"
        "         [1700, 1701, 1702,  ..., 1797, 1798, 1799],\n"
        "         [1800, 1801, 1802,  ..., 1897, 1898, 1899],\n"
        "         [1900, 1901, 1902,  ..., 1997, 1998, 1999]]])");
}

TEST_CASE("print wraps long rows at 80 columns") {
  CHECK(iota(30, {30}).str() ==
        "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n"
        "        14., 15., 16., 17., 18., 19., 20., 21., 22., 23., 24., 25., 26., 27.,\n"
        "        28., 29.])");
  CHECK(iota(40, {40}, kInt64).str() ==
        "tensor([ 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15, 16, 17,\n"
        "        18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35,\n"
        "        36, 37, 38, 39])");
  std::vector<double> v;
  for (int i = 0; i < 40; ++i) v.push_back(i / 7.0);
  CHECK(Tensor::from_vector(v, {2, 20}).str() ==
        "tensor([[0.0000, 0.1429, 0.2857, 0.4286, 0.5714, 0.7143, 0.8571, 1.0000, 1.1429,\n"
        "         1.2857, 1.4286, 1.5714, 1.7143, 1.8571, 2.0000, 2.1429, 2.2857, 2.4286,\n"
        "         2.5714, 2.7143],\n"
        "        [2.8571, 3.0000, 3.1429, 3.2857, 3.4286, 3.5714, 3.7143, 3.8571, 4.0000,\n"
        "         4.1429, 4.2857, 4.4286, 4.5714, 4.7143, 4.8571, 5.0000, 5.1429, 5.2857,\n"
        "         5.4286, 5.5714]])");
}

TEST_CASE("print autograd state") {
  Tensor a = Tensor::tensor({1., 2.}, {.requires_grad = true});
  CHECK(a.str() == "tensor([1., 2.], requires_grad=True)");
  CHECK((a * 2.0).str() == "tensor([2., 4.], grad_fn=<MulBackward>)");
  CHECK(a.detach().str() == "tensor([1., 2.])");

  Tensor b = Tensor::tensor({{1., 2.}, {3., 4.}}, {.dtype = kFloat64, .requires_grad = true});
  CHECK(b.str() ==
        "tensor([[1., 2.],\n"
        "        [3., 4.]], dtype=float64, requires_grad=True)");

  // A suffix that would pass column 80 starts a new line under the opening bracket.
  Tensor c = iota(20, {20}, kFloat64).requires_grad_();
  CHECK(c.str() ==
        "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n"
        "        14., 15., 16., 17., 18., 19.], dtype=float64, requires_grad=True)");
  Tensor d = iota(14, {14}, kFloat64).requires_grad_();
  CHECK(d.str() ==
        "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.],\n"
        "       dtype=float64, requires_grad=True)");
}

TEST_CASE("print names a CUDA device") {
  if (!cuda::is_available()) {
    MESSAGE("no CUDA device; device='cuda:0' printing not exercised");
    return;
  }
  Tensor t = Tensor::tensor({1., 2.}).to(Device::cuda());
  CHECK(t.str() == "tensor([1., 2.], device='cuda:0')");
  CHECK(Tensor::tensor({0.5}, {.dtype = kFloat64, .device = Device::cuda()}).str() ==
        "tensor([0.5000], device='cuda:0', dtype=float64)");
}

TEST_CASE("print an undefined tensor") { CHECK(Tensor().str() == "tensor(undefined)"); }
