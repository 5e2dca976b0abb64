// CUDA Philox draws (contracts in cuda/random.h and tensor/random.h). Thread j computes
// block j of the stream (Note [Philox stream layout] in tensor/philox.h) with the same
// philox::*_block function as the CPU loop in tensor/random.cpp and keeps the values
// below n, so a draw is the same function of (seed, offset, n) on both devices.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "cuda/random.h"
#include "cuda/runtime.cuh"
#include "tensor/philox.h"

namespace kiln::cuda {
namespace {

using detail::blocks_for;
using detail::kThreads;
using detail::stream;

// ---- kernels --------------------------------------------------------------------------

// [region philox_kernel]
// out[per·j + k] for k < per and per·j + k < n  <-  fill(block offset + j)
//   out (n); one thread per Philox block
template <int per, class T, class Fill>
__global__ void philox_kernel(std::uint64_t seed, std::uint64_t offset, T* out, std::int64_t n,
                              Fill fill) {
  const std::int64_t blocks = (n + per - 1) / per;
  for (std::int64_t j = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; j < blocks;
       j += std::int64_t(gridDim.x) * blockDim.x)
    philox::draw_block<per>(seed, offset, j, out, n, fill);
}
// [endregion]

// ---- launchers ------------------------------------------------------------------------

template <class T>
constexpr int per_block() {
  return std::is_same_v<T, float> ? philox::kUniformF32PerBlock : philox::kUniformF64PerBlock;
}

template <int per, class T, class Fill>
void launch(const char* op, std::uint64_t seed, std::uint64_t offset, T* out, std::int64_t n,
            Fill fill) {
  KILN_CHECK(n >= 0, "{}: n must be >= 0, got {}", op, n);
  if (n == 0) return;
  KILN_CHECK(out != nullptr, "{}: out is null for n = {}", op, n);
  philox_kernel<per><<<blocks_for((n + per - 1) / per), kThreads, 0, stream()>>>(seed, offset,
                                                                                  out, n, fill);
  KILN_CUDA_CHECK_LAUNCH(op);
}

}  // namespace

template <class T>
void philox_uniform(std::uint64_t seed, std::uint64_t offset, T* out, std::int64_t n, T low,
                    T high) {
  KILN_CHECK(low <= high, "philox_uniform: low ({}) must be <= high ({})", low, high);
  KILN_CHECK(std::isfinite(high - low), "philox_uniform: range [{}, {}) is not finite", low, high);
  launch<per_block<T>()>("philox_uniform", seed, offset, out, n,
                         philox::UniformFill<T>{low, high});
}

template <class T>
void philox_normal(std::uint64_t seed, std::uint64_t offset, T* out, std::int64_t n, T mean,
                   T stddev) {
  KILN_CHECK(stddev >= 0, "philox_normal: stddev must be >= 0, got {}", stddev);
  KILN_CHECK(std::isfinite(mean) && std::isfinite(stddev),
             "philox_normal: mean ({}) and stddev ({}) must be finite", mean, stddev);
  launch<per_block<T>()>("philox_normal", seed, offset, out, n,
                         philox::NormalFill<T>{mean, stddev});
}

void philox_randint(std::uint64_t seed, std::uint64_t offset, std::int64_t* out, std::int64_t n,
                    std::int64_t low, std::int64_t high) {
  KILN_CHECK(low < high, "philox_randint: low ({}) must be < high ({})", low, high);
  const std::uint64_t range = static_cast<std::uint64_t>(high) - static_cast<std::uint64_t>(low);
  launch<philox::kRandintPerBlock>("philox_randint", seed, offset, out, n,
                                   philox::RandintFill{low, range});
}

template void philox_uniform<float>(std::uint64_t, std::uint64_t, float*, std::int64_t, float,
                                    float);
template void philox_uniform<double>(std::uint64_t, std::uint64_t, double*, std::int64_t, double,
                                     double);
template void philox_normal<float>(std::uint64_t, std::uint64_t, float*, std::int64_t, float,
                                   float);
template void philox_normal<double>(std::uint64_t, std::uint64_t, double*, std::int64_t, double,
                                    double);

}  // namespace kiln::cuda
