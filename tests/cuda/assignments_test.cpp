// The graded tests of assignment 4.1 (book/assignments.txt, book/ch04-cuda.md): the
// grid-stride loop of linear_kernel in cuda/elementwise.cu, which runs every element-wise
// op, copy and fill whose operands coalesce to at most one dimension (Note [Strided
// kernels on the GPU]). Each case reaches one thing that loop must get right:
//   - every index below n, whatever n is next to the block size of 256;
//   - each operand at its own stride: 1 (contiguous), 0 (a scalar operand), 3 (a 1-D
//     strided view), and the 0-d tensor, whose layout has no dimension at all;
//   - more elements than the grid has threads (the launcher caps it at 65536 blocks);
//   - offsets past 2^31, which overflow 32-bit index arithmetic.
// Test suite "gpu": without a GPU these are reported as skipped, by ctest and by the
// grader (scripts/assignments.sh), never as passed. In the student tree the kernel body
// is empty, so the outputs are whatever the allocator's blocks held and these fail.
// Views are made with detail::make_view rather than slice, so that these tests do not
// depend on assignment 1.1.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kiln.h"
#include "parity.h"
#include "tensor/detail.h"

using namespace kiln;
using test::check_parity;
using test::gpu;

namespace {

Tensor randn_of(const Shape& s, DType dt, std::uint64_t seed) {
  Generator gen(seed);
  return Tensor::randn(s, {.dtype = kFloat32}, &gen).to(dt);
}

// A 1-D view of `base` (1-D) with `n` elements `stride` apart from `offset`.
Tensor strided_1d(const Tensor& base, std::int64_t n, std::int64_t stride, std::int64_t offset) {
  return detail::make_view(base, {n}, {stride}, offset);
}

}  // namespace

TEST_SUITE("gpu") {

TEST_CASE("[assignment 4.1] linear loop: contiguous ops cover every element, for lengths around a block") {
  for (const std::int64_t n : {1, 31, 255, 256, 257, 1000, 65537}) {
    for (const DType dt : {kFloat32, kFloat64}) {
      INFO("n ", n, " dtype ", std::string(dtype_name(dt)));
      const Tensor x = randn_of({n}, dt, 10 + n), y = randn_of({n}, dt, 20 + n);
      const Tensor gx = x.to(gpu()), gy = y.to(gpu());
      check_parity(gx.silu(), x.silu(), 1, "silu (unary)");
      check_parity(gx.exp(), x.exp(), 1, "exp (unary)");
      check_parity(-gx, -x, 0, "neg (unary, exact)");
      check_parity(gx + gy, x + y, 1, "add (binary)");
      check_parity(maximum(gx, gy), maximum(x, y), 0, "maximum (binary, exact)");
      check_parity(where(gx > gy, gx, gy * 2.0), where(x > y, x, y * 2.0), 1, "where (4 operands)");
      check_parity(gx.clamp(-0.5, 0.5), x.clamp(-0.5, 0.5), 0, "clamp");
      check_parity(gx.to(kInt64), x.to(kInt64), 0, "copy with a cast");
    }
    const Tensor i = Tensor::randint(-50, 50, {n}, {.dtype = kInt64});
    const Tensor gi = i.to(gpu());
    check_parity(gi * gi - gi.abs(), i * i - i.abs(), 0, "int64 ops");
  }
}

TEST_CASE("[assignment 4.1] linear loop: a scalar operand has stride 0, a 0-d tensor has no dimension") {
  const Tensor x = randn_of({1000}, kFloat32, 3);
  const Tensor gx = x.to(gpu());
  check_parity(gx * 3.0, x * 3.0, 1, "tensor * scalar");
  check_parity(2.0 - gx, 2.0 - x, 1, "scalar - tensor");
  check_parity((gx + 0.5) / 4.0, (x + 0.5) / 4.0, 1, "two scalar ops");
  // 0-d tensors: filled, copied and computed by the same loop, with n = 1 and ndim = 0.
  const Tensor s = Tensor::scalar(-1.25, {.dtype = kFloat32});
  const Tensor gs = Tensor::scalar(-1.25, {.dtype = kFloat32, .device = gpu()});
  CHECK(gs.dim() == 0);
  CHECK(gs.item() == -1.25);
  check_parity(gs.exp(), s.exp(), 1, "exp of a 0-d tensor");
  check_parity(gs * gs + gs, s * s + s, 1, "0-d binary ops");
  check_parity(gs.to(kFloat64), s.to(kFloat64), 0, "0-d copy with a cast");
}

TEST_CASE("[assignment 4.1] linear loop: a 1-D strided view is read and written at its own stride") {
  const Tensor base = randn_of({3000}, kFloat32, 4), x = randn_of({1000}, kFloat32, 5);
  const Tensor gbase = base.to(gpu()), gx = x.to(gpu());
  const Tensor v = strided_1d(base, 1000, 3, 1), gv = strided_1d(gbase, 1000, 3, 1);
  const Tensor w = strided_1d(base, 1000, 3, 2), gw = strided_1d(gbase, 1000, 3, 2);
  check_parity(gv, v, 0, "a stride-3 view copied out");
  check_parity(gv.sigmoid(), v.sigmoid(), 1, "sigmoid of a stride-3 view");
  check_parity(gv * gw, v * w, 1, "two stride-3 views");
  check_parity(gv + gx, v + x, 1, "a stride-3 view and a contiguous tensor");
  // Writing through a strided view: fill_ and copy_ must touch only its elements.
  Tensor dst = Tensor::zeros({3000}), gdst = Tensor::zeros({3000}, {.device = gpu()});
  strided_1d(dst, 1000, 3, 2).fill_(1.5);
  strided_1d(gdst, 1000, 3, 2).fill_(1.5);
  strided_1d(dst, 1000, 3, 0).copy_(x);
  strided_1d(gdst, 1000, 3, 0).copy_(gx);
  check_parity(gdst, dst, 0, "fill_ and copy_ into stride-3 views");
}

TEST_CASE("[assignment 4.1] linear loop: more elements than the grid has threads") {
  // The launcher starts at most 65536 blocks of 256 threads (blocks_for in
  // cuda/runtime.cuh): 2^24 threads, so each must loop over several elements.
  const std::int64_t n = (std::int64_t(1) << 24) + 4099;
  const Tensor x = Tensor::arange(static_cast<double>(n), {.dtype = kFloat32}) * 1e-3;
  const Tensor gx = x.to(gpu());
  check_parity(gx * 0.5 - 1.0, x * 0.5 - 1.0, 1, "binary ops over 2^24 + 4099 elements");
  check_parity(gx.sin(), x.sin(), 1, "sin over 2^24 + 4099 elements");
  check_parity(Tensor::full({n}, 2.5, {.device = gpu()}), Tensor::full({n}, 2.5), 0,
               "fill of 2^24 + 4099 elements");
}

TEST_CASE("[assignment 4.1] linear loop: offsets past 2^31 need 64-bit indices (8 GiB)") {
  const std::int64_t stride = (std::int64_t(1) << 31) + 16;
  {
    // Filling the 2^31 + 24 zeros already indexes past 2^31.
    Tensor big = Tensor::zeros({stride + 8}, {.dtype = kFloat32, .device = gpu()});
    Tensor v = strided_1d(big, 2, stride, 3);  // elements 3 and 2^31 + 19
    v.fill_(1.0);
    const std::vector<float> window = {0, 0, 0, 1, 0, 0, 0, 0};
    CHECK(strided_1d(big, 8, 1, 0).to_vector<float>() == window);
    CHECK(strided_1d(big, 8, 1, stride).to_vector<float>() == window);
    check_parity(v * 3.0, Tensor::full({2}, 3.0, {.dtype = kFloat32}), 0,
                 "a binary op reading past 2^31");
  }
  cuda::empty_cache();
}

}  // TEST_SUITE("gpu")
