#pragma once
// Random numbers: the Generator (a seed and an offset into its Philox stream) and the
// CPU draws. The stream itself, and which block gives which value, is described in
// Note [Philox stream layout] (tensor/philox.h).
//
// How a factory uses this (Tensor::rand, say, on float32):
//   std::uint64_t blocks = cpu::philox_blocks_for(n, philox::kUniformF32PerBlock);
//   std::uint64_t offset = gen.advance(blocks);       // reserve, under the mutex
//   cpu::philox_uniform(gen.seed(), offset, out, n, 0.0f, 1.0f);  // no lock needed
// The draw only reads (seed, offset), so the CUDA backend computes the same values from
// the same two numbers, and two threads sharing a generator get disjoint blocks.
#include <cstdint>
#include <mutex>

#include "tensor/error.h"
#include "tensor/philox.h"

namespace kiln {

class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0);

  // Starts the stream of `seed` from its beginning (offset 0).
  void manual_seed(std::uint64_t seed);

  std::uint64_t seed() const;
  std::uint64_t offset() const;  // in Philox blocks, not values
  void set_offset(std::uint64_t offset);

  // Reserves `blocks` Philox blocks and returns the offset they start at (thread-safe: a mutex).
  std::uint64_t advance(std::uint64_t blocks);

  // Everything needed to replay the stream from here: save with state(), restore with
  // set_state(), and the next draws repeat exactly.
  struct State {
    std::uint64_t seed, offset;
  };
  State state() const;
  void set_state(State state);

 private:
  mutable std::mutex mutex_;
  std::uint64_t seed_ = 0;
  std::uint64_t offset_ = 0;
};

// The global generator that factories use when given none; seed 0 at start.
Generator& default_generator();
// Seeds the global generator (and resets its offset to 0).
void manual_seed(std::uint64_t seed);

namespace cpu {

// Fill out[0..n) with draws of the stream (seed, offset) as laid out in
// Note [Philox stream layout]; OpenMP over blocks.
// uniform: values in [low, high) (requires low <= high; low == high gives low).
template <class T>  // float, double
void philox_uniform(std::uint64_t seed, std::uint64_t offset, T* out, std::int64_t n,
                    T low, T high);
// normal: mean + stddev * z, z standard normal by Box-Muller (requires stddev >= 0).
template <class T>  // float, double
void philox_normal(std::uint64_t seed, std::uint64_t offset, T* out, std::int64_t n,
                   T mean, T stddev);
// randint: integers in [low, high) (requires low < high).
void philox_randint(std::uint64_t seed, std::uint64_t offset, std::int64_t* out,
                    std::int64_t n, std::int64_t low, std::int64_t high);

// Blocks a draw of n values of this kind consumes: ceil(n / values_per_block).
std::uint64_t philox_blocks_for(std::int64_t n, int values_per_block);

}  // namespace cpu
}  // namespace kiln
