// kiln::cpu::gemm: a hand-computed product, then the blocked, threaded gemm against the
// plain triple loop gemm_reference for float and double, all four transpose cases, odd
// sizes that leave partial tiles and cross the KC / MC / NC block edges, padded leading
// dimensions, alpha and beta (beta = 0 over NaN garbage), and the empty cases.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "tensor/cpu/gemm.h"
#include "tensor/error.h"

namespace {

using std::int64_t;

template <class T>
constexpr T kNaN = std::numeric_limits<T>::quiet_NaN();
// Written into the padding of C (columns ldc - n): gemm must leave it untouched.
template <class T>
constexpr T kSentinel = T(12345);

// A matrix stored row-major as rows x cols inside a buffer with row stride ld >= cols.
// The padding columns hold NaN, so reading them would poison the result.
template <class T>
struct Stored {
  int64_t rows, cols, ld;
  std::vector<T> data;
};

template <class T>
Stored<T> random_matrix(int64_t rows, int64_t cols, int64_t pad, std::mt19937& rng) {
  const int64_t ld = std::max<int64_t>(cols + pad, 1);
  Stored<T> s{rows, cols, ld, std::vector<T>(static_cast<size_t>(rows * ld), kNaN<T>)};
  std::uniform_real_distribution<T> uniform(T(-1), T(1));
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) s.data[static_cast<size_t>(i * ld + j)] = uniform(rng);
  }
  return s;
}

template <class T>
T max_abs(const Stored<T>& s) {
  T m = 0;
  for (int64_t i = 0; i < s.rows; ++i) {
    for (int64_t j = 0; j < s.cols; ++j) {
      m = std::max(m, std::abs(s.data[static_cast<size_t>(i * s.ld + j)]));
    }
  }
  return m;
}

struct Case {
  bool trans_a = false, trans_b = false;
  int64_t m = 1, n = 1, k = 1;
  int64_t pad_a = 0, pad_b = 0, pad_c = 0;  // ld = columns + pad
  double alpha = 1, beta = 0;
  bool nan_c = false;  // fill C with NaN (only meaningful with beta == 0)
};

// Runs gemm and gemm_reference on the same random operands and checks that they agree
// within the tolerance below, and that neither touched the padding of C.
//
// Tolerance. Each element is alpha * s + beta * c with s a k-term dot product. Summed
// in any order, s has a rounding error of at most about k * u * sum_p |a_ip * b_pj|, with
// u = eps / 2 (Higham, Accuracy and Stability of Numerical Algorithms, section 3.1).
// For these operands (independent, uniform on [-1, 1]) the partial sums and their
// rounding errors grow like random walks instead of that worst case, and the measured
// |gemm - reference| stays below 0.55 * k * eps * Ma * Mb (Ma = max |a|, Mb = max |b|;
// the sequential reference's own error dominates). We allow
//     2 * k * eps * |alpha| * Ma * Mb              for the two dot products, a 4x margin,
//   + 2 * eps * (|alpha| * Ma * Mb + |beta| * Mc)  for scaling by alpha and adding beta * c
// (Mc = max |c|). A single wrong or missing product, an error of order Ma * Mb, still
// exceeds this by orders of magnitude for every k used here.
template <class T>
void check_against_reference(const Case& cs, std::mt19937& rng) {
  CAPTURE(cs.trans_a);
  CAPTURE(cs.trans_b);
  CAPTURE(cs.m);
  CAPTURE(cs.n);
  CAPTURE(cs.k);
  CAPTURE(cs.alpha);
  CAPTURE(cs.beta);
  const T alpha = static_cast<T>(cs.alpha), beta = static_cast<T>(cs.beta);
  const Stored<T> a = cs.trans_a ? random_matrix<T>(cs.k, cs.m, cs.pad_a, rng)
                                 : random_matrix<T>(cs.m, cs.k, cs.pad_a, rng);
  const Stored<T> b = cs.trans_b ? random_matrix<T>(cs.n, cs.k, cs.pad_b, rng)
                                 : random_matrix<T>(cs.k, cs.n, cs.pad_b, rng);
  Stored<T> c0 = random_matrix<T>(cs.m, cs.n, cs.pad_c, rng);
  for (int64_t i = 0; i < cs.m; ++i) {
    for (int64_t j = 0; j < c0.ld; ++j) {
      T& x = c0.data[static_cast<size_t>(i * c0.ld + j)];
      if (j >= cs.n) x = kSentinel<T>;
      else if (cs.nan_c) x = kNaN<T>;
    }
  }

  Stored<T> ours = c0, ref = c0;
  kiln::cpu::gemm<T>(cs.trans_a, cs.trans_b, cs.m, cs.n, cs.k, alpha, a.data.data(), a.ld,
                     b.data.data(), b.ld, beta, ours.data.data(), ours.ld);
  kiln::cpu::gemm_reference<T>(cs.trans_a, cs.trans_b, cs.m, cs.n, cs.k, alpha,
                               a.data.data(), a.ld, b.data.data(), b.ld, beta,
                               ref.data.data(), ref.ld);

  const T eps = std::numeric_limits<T>::epsilon();
  const T mab = max_abs(a) * max_abs(b);
  const T mc = cs.nan_c ? T(0) : max_abs(c0);
  const T tol = 2 * static_cast<T>(cs.k) * eps * std::abs(alpha) * mab +
                2 * eps * (std::abs(alpha) * mab + std::abs(beta) * mc);

  T worst = 0;
  int64_t worst_i = 0, worst_j = 0;
  bool padding_intact = true, all_finite = true;
  for (int64_t i = 0; i < cs.m; ++i) {
    for (int64_t j = 0; j < ours.ld; ++j) {
      const size_t at = static_cast<size_t>(i * ours.ld + j);
      if (j >= cs.n) {
        padding_intact = padding_intact && ours.data[at] == kSentinel<T> &&
                         ref.data[at] == kSentinel<T>;
        continue;
      }
      all_finite = all_finite && std::isfinite(ours.data[at]) && std::isfinite(ref.data[at]);
      const T diff = std::abs(ours.data[at] - ref.data[at]);
      if (!(diff <= worst)) {  // also catches NaN
        worst = diff;
        worst_i = i;
        worst_j = j;
      }
    }
  }
  CHECK(padding_intact);
  CHECK(all_finite);
  INFO("worst element C[", worst_i, ", ", worst_j, "]: |gemm - reference| = ", worst,
       ", tolerance ", tol);
  CHECK(worst <= tol);
}

const bool kTransposes[4][2] = {{false, false}, {false, true}, {true, false}, {true, true}};

}  // namespace

TEST_CASE_TEMPLATE("gemm matches a hand-computed 2x4 @ 4x3 product in all transpose cases", T,
                   float, double) {
  // A = [1 2 3 4; 5 6 7 8], B = [1 0 2; 0 1 0; 1 1 1; 2 0 -1]
  //   C[0,0] = 1*1 + 2*0 + 3*1 + 4*2 = 12    C[0,1] = 0+2+3+0 = 5    C[0,2] = 2+0+3-4 = 1
  //   C[1,0] = 5*1 + 6*0 + 7*1 + 8*2 = 28    C[1,1] = 0+6+7+0 = 13   C[1,2] = 10+0+7-8 = 9
  const std::vector<T> a = {1, 2, 3, 4, 5, 6, 7, 8};                // 2 x 4
  const std::vector<T> a_t = {1, 5, 2, 6, 3, 7, 4, 8};              // A^T stored 4 x 2
  const std::vector<T> b = {1, 0, 2, 0, 1, 0, 1, 1, 1, 2, 0, -1};  // 4 x 3
  const std::vector<T> b_t = {1, 0, 1, 2, 0, 1, 1, 0, 2, 0, 1, -1};  // B^T stored 3 x 4
  const std::vector<T> expected = {12, 5, 1, 28, 13, 9};
  // alpha = 2, beta = -1 over C = 1: 2 * C - 1. Every value is exact in floating point.
  const std::vector<T> expected_scaled = {23, 9, 1, 55, 25, 17};

  for (const auto& t : kTransposes) {
    CAPTURE(t[0]);
    CAPTURE(t[1]);
    const T* pa = t[0] ? a_t.data() : a.data();
    const T* pb = t[1] ? b_t.data() : b.data();
    const int64_t lda = t[0] ? 2 : 4, ldb = t[1] ? 4 : 3;

    std::vector<T> c(6, kNaN<T>);
    kiln::cpu::gemm<T>(t[0], t[1], 2, 3, 4, T(1), pa, lda, pb, ldb, T(0), c.data(), 3);
    CHECK(c == expected);
    std::vector<T> c_ref(6, kNaN<T>);
    kiln::cpu::gemm_reference<T>(t[0], t[1], 2, 3, 4, T(1), pa, lda, pb, ldb, T(0),
                                 c_ref.data(), 3);
    CHECK(c_ref == expected);

    std::vector<T> c2(6, T(1));
    kiln::cpu::gemm<T>(t[0], t[1], 2, 3, 4, T(2), pa, lda, pb, ldb, T(-1), c2.data(), 3);
    CHECK(c2 == expected_scaled);
  }
}

TEST_CASE_TEMPLATE("gemm matches gemm_reference on odd sizes in all transpose cases", T, float,
                   double) {
  std::mt19937 rng(1);
  // Every combination of small odd sizes: partial tiles on both edges, single rows,
  // single columns, k = 1.
  const int64_t small[] = {1, 2, 7, 17, 33, 65};
  for (const auto& t : kTransposes) {
    for (int64_t m : small) {
      for (int64_t n : small) {
        for (int64_t k : small) {
          check_against_reference<T>({.trans_a = t[0], .trans_b = t[1], .m = m, .n = n, .k = k},
                                     rng);
        }
      }
    }
  }
  // Larger sizes: many tiles per thread, k crossing the KC block (so later blocks
  // accumulate onto the first), m crossing MC, n crossing NC, sizes exactly at and one
  // past the block sizes of float and double (MR 12, NR 32 / 16, KC 256 / 128, MC 504,
  // NC 1024 with AVX-512), and short-wide / tall-narrow shapes that make the threads
  // split columns rather than rows.
  const int64_t large[][3] = {
      {129, 257, 65}, {257, 129, 257}, {65, 129, 600}, {130, 97, 1000}, {1500, 40, 30},
      {9, 4200, 21},  {12, 32, 256},   {24, 64, 128},  {13, 33, 257},   {11, 31, 129},
      {504, 16, 9},   {505, 17, 7},    {7, 1024, 5},   {5, 1025, 3},    {3000, 5, 40},
  };
  for (const auto& t : kTransposes) {
    for (const auto& s : large) {
      check_against_reference<T>(
          {.trans_a = t[0], .trans_b = t[1], .m = s[0], .n = s[1], .k = s[2]}, rng);
    }
  }
}

TEST_CASE_TEMPLATE("gemm with leading dimensions larger than the matrices", T, float, double) {
  // The padding of A and B is NaN and must not be read; the padding of C must survive.
  std::mt19937 rng(2);
  const int64_t sizes[][3] = {{1, 1, 1}, {7, 17, 5}, {65, 33, 129}, {129, 65, 300}};
  const int64_t pads[][3] = {{1, 3, 5}, {13, 0, 2}, {0, 31, 1}, {64, 64, 64}};
  for (const auto& t : kTransposes) {
    for (const auto& s : sizes) {
      for (const auto& p : pads) {
        check_against_reference<T>({.trans_a = t[0], .trans_b = t[1], .m = s[0], .n = s[1],
                                    .k = s[2], .pad_a = p[0], .pad_b = p[1], .pad_c = p[2]},
                                   rng);
      }
    }
  }
}

TEST_CASE_TEMPLATE("gemm alpha and beta, beta = 0 over NaN-filled C", T, float, double) {
  std::mt19937 rng(3);
  const double alphas[] = {1, -0.5, 2, 0.3};
  const double betas[] = {0, 1, 0.75, -2};
  const int64_t sizes[][3] = {{1, 1, 1}, {13, 35, 7}, {100, 70, 250}};
  for (const auto& t : kTransposes) {
    for (const auto& s : sizes) {
      for (double alpha : alphas) {
        for (double beta : betas) {
          check_against_reference<T>({.trans_a = t[0], .trans_b = t[1], .m = s[0], .n = s[1],
                                      .k = s[2], .pad_c = 3, .alpha = alpha, .beta = beta},
                                     rng);
        }
        // beta = 0 means C is write-only: NaN garbage in C must not reach the result.
        check_against_reference<T>({.trans_a = t[0], .trans_b = t[1], .m = s[0], .n = s[1],
                                    .k = s[2], .pad_c = 3, .alpha = alpha, .beta = 0,
                                    .nan_c = true},
                                   rng);
      }
    }
  }
}

TEST_CASE_TEMPLATE("gemm with k = 0, alpha = 0, or an empty C", T, float, double) {
  // k = 0: op(A) @ op(B) is a matrix of zeros, so C = beta * C and A, B are not read.
  std::vector<T> c = {1, 2, 3, 4, 5, 6};
  kiln::cpu::gemm<T>(false, false, 2, 3, 0, T(1), nullptr, 1, nullptr, 3, T(2), c.data(), 3);
  CHECK(c == std::vector<T>{2, 4, 6, 8, 10, 12});
  std::fill(c.begin(), c.end(), kNaN<T>);
  kiln::cpu::gemm<T>(true, true, 2, 3, 0, T(1), nullptr, 2, nullptr, 1, T(0), c.data(), 3);
  CHECK(c == std::vector<T>(6, T(0)));

  // alpha = 0: A and B are not read, even when they hold NaN.
  const std::vector<T> nan_a(8, kNaN<T>), nan_b(12, kNaN<T>);
  c = {1, 2, 3, 4, 5, 6};
  kiln::cpu::gemm<T>(false, false, 2, 3, 4, T(0), nan_a.data(), 4, nan_b.data(), 3, T(-1),
                     c.data(), 3);
  CHECK(c == std::vector<T>{-1, -2, -3, -4, -5, -6});

  // m = 0 or n = 0: nothing to write, nothing read.
  kiln::cpu::gemm<T>(false, false, 0, 3, 4, T(1), nullptr, 4, nullptr, 3, T(0), nullptr, 3);
  kiln::cpu::gemm<T>(false, false, 2, 0, 4, T(1), nullptr, 4, nullptr, 1, T(0), nullptr, 1);

  std::mt19937 rng(4);
  for (const auto& t : kTransposes) {
    check_against_reference<T>(
        {.trans_a = t[0], .trans_b = t[1], .m = 5, .n = 9, .k = 0, .beta = 0.5}, rng);
    check_against_reference<T>(
        {.trans_a = t[0], .trans_b = t[1], .m = 5, .n = 9, .k = 0, .beta = 0, .nan_c = true},
        rng);
  }
}

TEST_CASE("gemm gives identical results with 1 and 2 threads") {
  // Threads split C into disjoint tiles and every element is summed in the same order
  // whichever thread computes it, so the results are bitwise equal. The shapes make
  // the two threads split rows, columns (short and wide), and rows again (tall).
  std::mt19937 rng(5);
  const int64_t shapes[][3] = {{301, 263, 517}, {5, 3000, 300}, {3000, 5, 300}};
  const int saved = omp_get_max_threads();
  for (const auto& s : shapes) {
    const int64_t m = s[0], n = s[1], k = s[2];
    CAPTURE(m);
    CAPTURE(n);
    const Stored<float> a = random_matrix<float>(m, k, 0, rng);
    const Stored<float> b = random_matrix<float>(k, n, 0, rng);
    std::vector<float> c1(static_cast<size_t>(m * n)), c2(c1.size());
    omp_set_num_threads(1);
    kiln::cpu::gemm<float>(false, false, m, n, k, 1.0f, a.data.data(), k, b.data.data(), n,
                           0.0f, c1.data(), n);
    omp_set_num_threads(2);
    kiln::cpu::gemm<float>(false, false, m, n, k, 1.0f, a.data.data(), k, b.data.data(), n,
                           0.0f, c2.data(), n);
    CHECK(c1 == c2);
  }
  omp_set_num_threads(saved);
}

TEST_CASE("gemm called from inside a parallel region") {
  // Each thread of an outer region runs its own gemm; gemm then stays on that thread.
  std::mt19937 rng(6);
  const int64_t m = 70, n = 90, k = 110;
  const Stored<double> a = random_matrix<double>(m, k, 0, rng);
  const Stored<double> b = random_matrix<double>(k, n, 0, rng);
  std::vector<double> ref(static_cast<size_t>(m * n));
  kiln::cpu::gemm_reference<double>(false, false, m, n, k, 1.0, a.data.data(), k,
                                    b.data.data(), n, 0.0, ref.data(), n);
  const int threads = 2;
  std::vector<std::vector<double>> out(threads, std::vector<double>(ref.size(), kNaN<double>));
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    kiln::cpu::gemm<double>(false, false, m, n, k, 1.0, a.data.data(), k, b.data.data(), n,
                            0.0, out[static_cast<size_t>(t)].data(), n);
  }
  // The tolerance of check_against_reference with alpha = 1, beta = 0 and |a|, |b| <= 1.
  const double tol = 2.0 * static_cast<double>(k + 1) * std::numeric_limits<double>::epsilon();
  for (int t = 0; t < threads; ++t) {
    double worst = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      worst = std::max(worst, std::abs(out[static_cast<size_t>(t)][i] - ref[i]));
    }
    CAPTURE(t);
    CHECK(worst <= tol);
  }
}

TEST_CASE("gemm rejects leading dimensions smaller than the matrices") {
  std::vector<float> buf(64, 0.0f);
  using kiln::cpu::gemm;
  CHECK_THROWS_WITH_AS(gemm<float>(false, false, 2, 3, 4, 1.0f, buf.data(), 3, buf.data(), 3,
                                   0.0f, buf.data(), 3),
                       doctest::Contains("lda=3"), kiln::Error);
  CHECK_THROWS_WITH_AS(gemm<float>(true, false, 5, 3, 4, 1.0f, buf.data(), 4, buf.data(), 3,
                                   0.0f, buf.data(), 3),
                       doctest::Contains("lda=4"), kiln::Error);
  CHECK_THROWS_WITH_AS(gemm<float>(false, true, 2, 3, 4, 1.0f, buf.data(), 4, buf.data(), 3,
                                   0.0f, buf.data(), 3),
                       doctest::Contains("ldb=3"), kiln::Error);
  CHECK_THROWS_WITH_AS(gemm<float>(false, false, 2, 3, 4, 1.0f, buf.data(), 4, buf.data(), 3,
                                   0.0f, buf.data(), 2),
                       doctest::Contains("ldc=2"), kiln::Error);
  CHECK_THROWS_WITH_AS(gemm<float>(false, false, -1, 3, 4, 1.0f, buf.data(), 4, buf.data(), 3,
                                   0.0f, buf.data(), 3),
                       doctest::Contains("negative"), kiln::Error);
}
