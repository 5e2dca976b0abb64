// The graded tests of the course assignments on tensors and the CPU kernels (book/
// assignments.txt; scripts/assignments.sh grade runs every case named "[assignment N.M]").
// Each case exercises only its assignment's code, so a student's tree with other
// assignments still stubbed grades this one on its own (see the `requires` flags).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kiln.h"
#include "tensor/cpu/gemm.h"

using namespace kiln;

namespace {

Tensor arange_f64(std::int64_t n) {
  return Tensor::arange(0, static_cast<double>(n), 1, {.dtype = DType::Float64});
}

}  // namespace

TEST_CASE("slice: shape, strides and offset of the view [assignment 1.1]") {
  const Tensor x = arange_f64(24).reshape({4, 6});
  const Tensor y = x.slice(1, 1, 6, 2);  // columns 1, 3, 5
  CHECK(y.shape() == Shape{4, 3});
  CHECK(y.strides() == Shape{6, 2});
  CHECK(y.offset() == 1);
  for (std::int64_t i = 0; i < 4; ++i)
    for (std::int64_t j = 0; j < 3; ++j) CHECK(y.at({i, j}) == static_cast<double>(6 * i + 1 + 2 * j));
  const Tensor rows = x.slice(0, 1, 3);  // rows 1 and 2
  CHECK(rows.shape() == Shape{2, 6});
  CHECK(rows.offset() == 6);
  CHECK(x.slice(1, 2, 3).shape() == Shape{4, 1});
  CHECK(x.slice(1, 3, 3).shape() == Shape{4, 0});
  CHECK(x.slice(0, 0, 4, 3).shape() == Shape{2, 6});  // rows 0 and 3
}

TEST_CASE("slice: a view shares storage with its base [assignment 1.1]") {
  Tensor x = arange_f64(10);
  Tensor y = x.slice(0, 2, 8, 3);  // elements 2 and 5
  y.set_at({1}, -1.0);
  CHECK(x.at({5}) == -1.0);
}

TEST_CASE("slice: the backward scatters the gradient into zeros of the base's shape [assignment 1.1]") {
  Tensor x = arange_f64(12).reshape({3, 4}).detach().requires_grad_();
  Tensor y = x.slice(1, 1, 4, 2);  // columns 1 and 3
  const Tensor g = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {3, 2},
                                       {.dtype = DType::Float64});
  y.backward(g);
  const std::vector<double> expected = {0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6};
  CHECK(x.grad().to_vector<double>() == expected);
}

TEST_CASE("gemm micro-kernel: gemm matches the triple loop on full and partial tiles [assignment 3.1]") {
  std::mt19937 rng(7);
  std::normal_distribution<double> dist;
  for (auto [m, n, k] : {std::array<std::int64_t, 3>{1, 1, 1}, {13, 33, 7}, {64, 64, 64},
                         {37, 71, 300}}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        std::vector<double> a(m * k), b(k * n), c(m * n, 0.5), ref(m * n, 0.5);
        for (auto& v : a) v = dist(rng);
        for (auto& v : b) v = dist(rng);
        const std::int64_t lda = ta ? m : k, ldb = tb ? k : n;
        cpu::gemm<double>(ta, tb, m, n, k, 1.5, a.data(), lda, b.data(), ldb, 0.25, c.data(), n);
        cpu::gemm_reference<double>(ta, tb, m, n, k, 1.5, a.data(), lda, b.data(), ldb, 0.25,
                                    ref.data(), n);
        double worst = 0;
        for (std::int64_t i = 0; i < m * n; ++i) worst = std::max(worst, std::abs(c[i] - ref[i]));
        INFO("m=" << m << " n=" << n << " k=" << k << " ta=" << ta << " tb=" << tb);
        CHECK(worst < 1e-10 * static_cast<double>(k));
      }
    }
  }
}

TEST_CASE("gemm micro-kernel: float32, and beta = 0 never reads C [assignment 3.1]") {
  const std::int64_t m = 29, n = 45, k = 17;
  std::vector<float> a(m * k), b(k * n), c(m * n, std::nanf("")), ref(m * n, 0.0f);
  for (std::int64_t i = 0; i < m * k; ++i) a[i] = static_cast<float>((i * 7) % 11) - 5.0f;
  for (std::int64_t i = 0; i < k * n; ++i) b[i] = static_cast<float>((i * 5) % 13) - 6.0f;
  cpu::gemm<float>(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
  cpu::gemm_reference<float>(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f,
                             ref.data(), n);
  for (std::int64_t i = 0; i < m * n; ++i) REQUIRE(c[i] == ref[i]);  // small integers: exact
}
