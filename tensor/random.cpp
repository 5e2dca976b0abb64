#include "tensor/random.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

namespace kiln {

// ---- Generator

Generator::Generator(std::uint64_t seed) : seed_(seed), offset_(0) {}

void Generator::manual_seed(std::uint64_t seed) {
  std::lock_guard<std::mutex> lock(mutex_);
  seed_ = seed;
  offset_ = 0;
}

std::uint64_t Generator::seed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return seed_;
}

std::uint64_t Generator::offset() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return offset_;
}

void Generator::set_offset(std::uint64_t offset) {
  std::lock_guard<std::mutex> lock(mutex_);
  offset_ = offset;
}

std::uint64_t Generator::advance(std::uint64_t blocks) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Wrapping around would silently replay the start of the stream.
  KILN_CHECK(blocks <= std::numeric_limits<std::uint64_t>::max() - offset_,
             "Generator::advance: {} blocks past offset {} overflow the 2^64-block stream",
             blocks, offset_);
  std::uint64_t start = offset_;
  offset_ += blocks;
  return start;
}

Generator::State Generator::state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {seed_, offset_};
}

void Generator::set_state(State state) {
  std::lock_guard<std::mutex> lock(mutex_);
  seed_ = state.seed;
  offset_ = state.offset;
}

Generator& default_generator() {
  static Generator gen(0);
  return gen;
}

void manual_seed(std::uint64_t seed) { default_generator().manual_seed(seed); }

namespace cpu {

std::uint64_t philox_blocks_for(std::int64_t n, int values_per_block) {
  KILN_CHECK(n >= 0, "philox_blocks_for: n must be >= 0, got {}", n);
  KILN_CHECK(values_per_block > 0, "philox_blocks_for: values_per_block must be > 0, got {}",
             values_per_block);
  auto n_u = static_cast<std::uint64_t>(n);
  auto per = static_cast<std::uint64_t>(values_per_block);
  return n_u / per + (n_u % per != 0);
}

namespace {

// The loop every draw shares: block j of the stream fills elements
// [per * j, per * j + per) of out, of which the last block keeps only those below n
// (philox::draw_block, the same body a CUDA thread runs for its block; `fill` is one of
// the philox::*Fill functions).
//
// Blocks are independent, so OpenMP splits them freely and the result does not depend
// on the thread count. Small draws (a few thousand values) stay on one thread: starting
// the team costs more than computing them.
// [region cpu_fill_blocks]
template <int per, class T, class Fill>
void fill_blocks(std::uint64_t seed, std::uint64_t offset, T* out, std::int64_t n,
                 Fill fill) {
  const std::int64_t blocks = static_cast<std::int64_t>(philox_blocks_for(n, per));
#pragma omp parallel for schedule(static) if (blocks >= 4096)
  for (std::int64_t j = 0; j < blocks; ++j) philox::draw_block<per>(seed, offset, j, out, n, fill);
}
// [endregion]

template <class T>
constexpr int real_per_block() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "philox draws of reals are float or double");
  return std::is_same_v<T, float> ? philox::kUniformF32PerBlock : philox::kUniformF64PerBlock;
}

void check_out(const char* op, const void* out, std::int64_t n) {
  KILN_CHECK(n >= 0, "{}: n must be >= 0, got {}", op, n);
  KILN_CHECK(n == 0 || out != nullptr, "{}: out is null for n = {}", op, n);
}

}  // namespace

template <class T>
void philox_uniform(std::uint64_t seed, std::uint64_t offset, T* out, std::int64_t n,
                    T low, T high) {
  check_out("philox_uniform", out, n);
  KILN_CHECK(low <= high, "philox_uniform: low ({}) must be <= high ({})", low, high);
  // high - low must be finite, or every value would be inf or nan.
  KILN_CHECK(std::isfinite(high - low), "philox_uniform: range [{}, {}) is not finite",
             low, high);
  fill_blocks<real_per_block<T>()>(seed, offset, out, n, philox::UniformFill<T>{low, high});
}

template <class T>
void philox_normal(std::uint64_t seed, std::uint64_t offset, T* out, std::int64_t n,
                   T mean, T stddev) {
  check_out("philox_normal", out, n);
  KILN_CHECK(stddev >= 0, "philox_normal: stddev must be >= 0, got {}", stddev);
  KILN_CHECK(std::isfinite(mean) && std::isfinite(stddev),
             "philox_normal: mean ({}) and stddev ({}) must be finite", mean, stddev);
  static_assert(philox::kNormalF32PerBlock == philox::kUniformF32PerBlock &&
                philox::kNormalF64PerBlock == philox::kUniformF64PerBlock);
  fill_blocks<real_per_block<T>()>(seed, offset, out, n, philox::NormalFill<T>{mean, stddev});
}

void philox_randint(std::uint64_t seed, std::uint64_t offset, std::int64_t* out,
                    std::int64_t n, std::int64_t low, std::int64_t high) {
  check_out("philox_randint", out, n);
  KILN_CHECK(low < high, "philox_randint: low ({}) must be < high ({})", low, high);
  // In uint64 the difference is exact even when it exceeds INT64_MAX.
  const std::uint64_t range = static_cast<std::uint64_t>(high) - static_cast<std::uint64_t>(low);
  fill_blocks<philox::kRandintPerBlock>(seed, offset, out, n, philox::RandintFill{low, range});
}

template void philox_uniform<float>(std::uint64_t, std::uint64_t, float*, std::int64_t, float,
                                    float);
template void philox_uniform<double>(std::uint64_t, std::uint64_t, double*, std::int64_t,
                                      double, double);
template void philox_normal<float>(std::uint64_t, std::uint64_t, float*, std::int64_t, float,
                                   float);
template void philox_normal<double>(std::uint64_t, std::uint64_t, double*, std::int64_t,
                                    double, double);

}  // namespace cpu
}  // namespace kiln
