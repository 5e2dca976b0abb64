// bench_gemm: float32 GFLOP/s of kiln::cpu::gemm on square matrices with 1 and 2
// threads, beside OpenBLAS in the same run when built with KILN_BENCH_OPENBLAS.
//
//   bench_gemm [--quick] [--json PATH]
//     --quick      sizes 256 and 512 only
//     --json PATH  where the results go (default: bench_gemm.json in this directory)
//
// Each measurement is one warm-up call and then several timed calls (enough for about
// half a second, at least 5); the table shows the best, which is the least disturbed by
// whatever else the machine runs, and the JSON holds the median too. A sanity column
// compares our C with OpenBLAS's.
//
// OpenBLAS chooses its kernels at load time for the CPU models it knows. A release
// older than the CPU (0.3.21 on a recent Xeon) falls back to its generic SSE3
// "Prescott" kernels, several times slower than its AVX-512 ones, which would make the
// comparison meaningless; the program then runs itself again with OPENBLAS_CORETYPE
// set to the newest kernel family the CPU supports, and says so. Setting
// OPENBLAS_CORETYPE yourself turns this off.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/common.h"
#include "tensor/cpu/gemm.h"

#if defined(KILN_BENCH_OPENBLAS)
#include <cblas.h>
#endif

namespace {

using kiln::bench::Timing;
using kiln::bench::time_calls;

// Spinning worker threads of the previous library (OpenMP's or OpenBLAS's) go to sleep
// after a short while; wait for that so they do not compete with the next measurement.
void let_threads_settle() { std::this_thread::sleep_for(std::chrono::milliseconds(300)); }

double gflops(std::int64_t n, double seconds) {
  return 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n) /
         seconds * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
#if defined(KILN_BENCH_OPENBLAS) && defined(__x86_64__)
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr &&
      std::strcmp(openblas_get_corename(), "Prescott") == 0) {
    const char* core = __builtin_cpu_supports("avx512f") ? "SkylakeX"
                       : __builtin_cpu_supports("avx2")  ? "Haswell"
                                                         : nullptr;
    if (core != nullptr) {
      std::printf("OpenBLAS fell back to its generic Prescott kernels on this CPU; "
                  "rerunning with OPENBLAS_CORETYPE=%s\n", core);
      std::fflush(stdout);
      setenv("OPENBLAS_CORETYPE", core, 1);
      execv("/proc/self/exe", argv);  // returns only on failure: then go on as we are
    }
  }
#endif
  bool quick = false;
  std::string json_path = "bench_gemm.json";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
      json_path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--json PATH]\n", argv[0]);
      return 2;
    }
  }

  const std::vector<std::int64_t> sizes =
      quick ? std::vector<std::int64_t>{256, 512}
            : std::vector<std::int64_t>{256, 512, 1024, 1536, 2048};
  const std::vector<int> thread_counts = {1, 2};

#if defined(KILN_BENCH_OPENBLAS)
  const bool have_openblas = true;
  const std::string openblas_core = openblas_get_corename();
  std::printf("OpenBLAS: %s (core %s)\n", openblas_get_config(), openblas_core.c_str());
#else
  const bool have_openblas = false;
  const std::string openblas_core;
  std::printf("OpenBLAS: not linked (build without KILN_BENCH_OPENBLAS)\n");
#endif
  std::printf("float32 C = A @ B, square, row-major; GFLOP/s = 2 n^3 / best time\n\n");
  std::printf("%6s %7s %12s %12s %8s %12s\n", "n", "threads", "kiln", "OpenBLAS", "ratio",
              "max|diff|");

  nlohmann::json results = nlohmann::json::array();
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);

  for (int threads : thread_counts) {
    for (std::int64_t n : sizes) {
      const std::size_t count = static_cast<std::size_t>(n * n);
      std::vector<float> a(count), b(count), c(count, 0.0f), c_ref(count, 0.0f);
      for (float& x : a) x = uniform(rng);
      for (float& x : b) x = uniform(rng);

      omp_set_num_threads(threads);
      const Timing ours = time_calls([&] {
        kiln::cpu::gemm<float>(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f,
                               c.data(), n);
      });
      let_threads_settle();

      Timing theirs;
      double max_diff = std::nan("");
#if defined(KILN_BENCH_OPENBLAS)
      openblas_set_num_threads(threads);
      const int ni = static_cast<int>(n);
      theirs = time_calls([&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, ni, ni, 1.0f, a.data(), ni,
                    b.data(), ni, 0.0f, c_ref.data(), ni);
      });
      let_threads_settle();
      max_diff = 0;
      for (std::size_t i = 0; i < count; ++i) {
        max_diff = std::max(max_diff, static_cast<double>(std::fabs(c[i] - c_ref[i])));
      }
#endif

      const double ours_gf = gflops(n, ours.best_s);
      nlohmann::json row = {
          {"n", n},
          {"threads", threads},
          {"kiln", {{"gflops_best", ours_gf},
                    {"gflops_median", gflops(n, ours.median_s)},
                    {"seconds_best", ours.best_s},
                    {"reps", ours.reps}}},
      };
      if (have_openblas) {
        const double theirs_gf = gflops(n, theirs.best_s);
        row["openblas"] = {{"gflops_best", theirs_gf},
                           {"gflops_median", gflops(n, theirs.median_s)},
                           {"seconds_best", theirs.best_s},
                           {"reps", theirs.reps}};
        row["ratio"] = ours_gf / theirs_gf;
        row["max_abs_diff"] = max_diff;
        std::printf("%6lld %7d %12.1f %12.1f %7.0f%% %12.2e\n", static_cast<long long>(n),
                    threads, ours_gf, theirs_gf, 100.0 * ours_gf / theirs_gf, max_diff);
      } else {
        std::printf("%6lld %7d %12.1f %12s %8s %12s\n", static_cast<long long>(n), threads,
                    ours_gf, "-", "-", "-");
      }
      std::fflush(stdout);
      results.push_back(row);
    }
  }

  const nlohmann::json out = {
      {"benchmark", "gemm"},
      {"dtype", "float32"},
      {"layout", "row-major, no transpose, alpha=1, beta=0"},
      {"metric", "GFLOP/s = 2 n^3 / seconds"},
      {"max_threads", omp_get_max_threads()},
      {"openblas", have_openblas},
      {"openblas_core", openblas_core},
      {"results", results},
  };
  return kiln::bench::write_json(json_path, out, "bench_gemm");
}
