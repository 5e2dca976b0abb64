// The main of test_cuda, which holds two kinds of test cases:
//   host   (every case outside the "gpu" test suite) the CUDA backend's pieces that run
//          without a GPU: the caching allocator's bookkeeping, the Philox block function
//          as host code, the errors for CUDA tensors on a machine without one, and the
//          nn op table checked on the CPU. They run and pass everywhere.
//   gpu    (TEST_SUITE("gpu")) everything that needs a GPU: each CUDA kernel and op
//          against the CPU, float64 gradchecks on the GPU, a few ddpm-small training
//          steps on both devices.
// ctest runs them as two tests (tests/CMakeLists.txt):
//   cuda_host   test_cuda --kiln-suite=host
//   cuda        test_cuda --kiln-suite=gpu
// Without a usable GPU the second prints why and how many cases it did not run and
// exits with kSkipped, which ctest's SKIP_RETURN_CODE reports as "Skipped" -- never as
// passed. Without --kiln-suite both kinds run (the gpu cases only where a GPU is).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tensor/backend.h"

namespace {

constexpr int kSkipped = 77;  // tests/CMakeLists.txt: SKIP_RETURN_CODE
constexpr const char* kGpuSuite = "gpu";

int count_gpu_cases() {
  int n = 0;
  for (const auto& tc : doctest::detail::getRegisteredTests())
    if (std::strcmp(tc.m_test_suite, kGpuSuite) == 0) ++n;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  std::string suite = "all";
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--kiln-suite=", 13) == 0) suite = argv[i] + 13;
    else args.push_back(argv[i]);
  }
  if (suite != "all" && suite != "host" && suite != "gpu") {
    std::fprintf(stderr, "test_cuda: --kiln-suite must be host, gpu or all, got '%s'\n",
                 suite.c_str());
    return 2;
  }
  doctest::Context context;
  context.applyCommandLine(static_cast<int>(args.size()), args.data());
  // [region skip_without_gpu]
  const bool gpu = kiln::cuda::is_available();
  const bool skip_gpu = !gpu && suite != "host";
  if (skip_gpu) {
    std::printf("test_cuda: SKIPPED - no CUDA GPU/driver on this machine (%d GPU cases not run): "
                "%s\n",
                count_gpu_cases(), kiln::cuda::unavailable_reason().c_str());
    std::fflush(stdout);
    if (suite == "gpu") return kSkipped;
  } else if (gpu && suite != "host") {
    std::printf("test_cuda: running on cuda:0 (%s)\n", kiln::cuda::device_name(0).c_str());
  }
  if (suite == "host" || skip_gpu) context.addFilter("test-suite-exclude", kGpuSuite);
  if (suite == "gpu") context.addFilter("test-suite", kGpuSuite);
  return context.run();
  // [endregion]
}
