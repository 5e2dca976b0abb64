// Chapter 3: CPU kernels. Four rungs of the same float32 matrix multiply C = A B, each
// timed in GFLOP/s (2·m·n·k flops per product) on one thread:
//   1. naive       the textbook i-j-k triple loop (B read down a column: a cache miss each)
//   2. reordered   i-k-j: the inner loop walks rows of B and C with unit stride
//   3. blocked     i-k-j on tiles that fit in cache, so each tile of B is reused
//   4. packed SIMD kiln::cpu::gemm: packed panels, an AVX micro-kernel, cache blocking
// (kiln's gemm also runs on every core; bench/gemm measures that beside OpenBLAS.)
#include <omp.h>

#include <algorithm>
#include <random>
#include <vector>

#include "kiln.h"
#include "tensor/cpu/gemm.h"
#include "tutorials/tutorial.h"

using namespace kiln;
using Matrix = std::vector<float>;  // row-major n x n

// [region naive]
void gemm_naive(int n, const float* a, const float* b, float* c) {
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      float sum = 0;
      for (int p = 0; p < n; ++p) sum += a[i * n + p] * b[p * n + j];  // stride n in b
      c[i * n + j] = sum;
    }
}
// [endregion]

// [region reordered]
void gemm_reordered(int n, const float* a, const float* b, float* c) {
  std::fill(c, c + n * n, 0.0f);
  for (int i = 0; i < n; ++i)
    for (int p = 0; p < n; ++p) {
      const float aip = a[i * n + p];
      for (int j = 0; j < n; ++j) c[i * n + j] += aip * b[p * n + j];  // unit stride
    }
}
// [endregion]

// [region blocked]
void gemm_blocked(int n, const float* a, const float* b, float* c) {
  // A 128 x 256 block of B (128 KiB) stays in L2 while every row of A passes over it;
  // the inner loop is still the unit-stride i-k-j loop, now on rows 256 long.
  constexpr int kP = 128, kJ = 256;
  std::fill(c, c + n * n, 0.0f);
  for (int j0 = 0; j0 < n; j0 += kJ) {
    const int j1 = std::min(j0 + kJ, n);
    for (int p0 = 0; p0 < n; p0 += kP) {
      const int p1 = std::min(p0 + kP, n);
      for (int i = 0; i < n; ++i) {
        float* __restrict ci = c + i * n;
        for (int p = p0; p < p1; ++p) {
          const float aip = a[i * n + p];
          const float* __restrict bp = b + p * n;
          for (int j = j0; j < j1; ++j) ci[j] += aip * bp[j];
        }
      }
    }
  }
}
// [endregion]

int main(int argc, char** argv) {
  const auto args = tutorial::parse(argc, argv, "chapter 3: GEMM from the naive loop to packed SIMD");
  return tutorial::run([&] {
    const std::vector<int> sizes = args.quick ? std::vector<int>{64, 128} : std::vector<int>{128, 512, 1024};
    const int threads = omp_get_max_threads();
    struct Rung {
      std::string name;
      std::function<void(int, const float*, const float*, float*)> fn;
      int threads;
    };
    const std::vector<Rung> rungs = {
        {"1. naive i-j-k", gemm_naive, 1},
        {"2. reordered i-k-j", gemm_reordered, 1},
        {"3. blocked (128 x 256 blocks of B)", gemm_blocked, 1},
        {"4. packed SIMD (kiln::cpu::gemm)", nullptr, 1},
    };
    std::mt19937 rng(3);
    std::normal_distribution<float> dist;
    std::vector<data::Series> series(rungs.size());
    std::string table = "| rung |";
    for (int n : sizes) table += fmt::format(" n = {} |", n);
    table += "\n|---|";
    for (size_t i = 0; i < sizes.size(); ++i) table += "---|";
    table += "\n";
    std::vector<std::vector<double>> gflops(rungs.size());
    for (int n : sizes) {
      Matrix a(n * n), b(n * n), c(n * n), ref(n * n);
      for (auto& v : a) v = dist(rng);
      for (auto& v : b) v = dist(rng);
      cpu::gemm_reference<float>(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, ref.data(), n);
      for (size_t r = 0; r < rungs.size(); ++r) {
        omp_set_num_threads(rungs[r].threads);  // one thread: compare the algorithms
        auto once = [&] {
          if (rungs[r].fn) rungs[r].fn(n, a.data(), b.data(), c.data());
          else cpu::gemm<float>(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
        };
        const double secs = tutorial::seconds_per_call(once, args.quick ? 0.02 : 0.3);
        double err = 0;
        for (int i = 0; i < n * n; ++i) err = std::max(err, double(std::abs(c[i] - ref[i])));
        KILN_CHECK(err < 1e-3 * n, "{}: wrong result (max error {})", rungs[r].name, err);
        gflops[r].push_back(2.0 * n * n * n / secs / 1e9);
        fmt::print("n = {:4}  {:<36} {:8.2f} GFLOP/s\n", n, rungs[r].name, gflops[r].back());
      }
      omp_set_num_threads(threads);
    }
    for (size_t r = 0; r < rungs.size(); ++r) {
      table += "| " + rungs[r].name + " |";
      for (double g : gflops[r]) table += fmt::format(" {:.1f} |", g);
      table += "\n";
      series[r].name = rungs[r].name;
      series[r].x.assign(sizes.begin(), sizes.end());
      series[r].y = gflops[r];
    }
    args.write("ch03-gemm.md", table);
    data::save_line_plot(args.file("ch03-gemm.png"), series,
                         {.title = "float32 GEMM, GFLOP/s", .xlabel = "n (n x n times n x n)",
                          .ylabel = "GFLOP/s", .log_y = true});
  });
}
