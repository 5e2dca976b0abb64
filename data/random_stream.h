#pragma once
// A sequential reader over one Philox stream, for code that draws a few numbers at a
// time in a data-dependent order (rejection sampling, Fisher-Yates). Internal to data/.
//
// Note [Per-item streams]
// Each generated item i (an image of "shapes", a point of a 2-D set) reads its own
// stream: key = mix(seed, tag), blocks starting at i << 32. Item i therefore depends only
// on (seed, i): make_shapes(10, s) is the first 10 images of make_shapes(1000, s), items
// can be generated in parallel in any order, and the result does not depend on the
// thread count. The tag keeps the streams of different uses of one seed apart.
#include <cmath>
#include <cstdint>

#include "tensor/philox.h"

namespace kiln::data::detail {

// splitmix64's finaliser: a bijective mix, so different (seed, tag) give different keys.
inline std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t tag) {
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ull * (tag + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

class PhiloxStream {
 public:
  PhiloxStream(std::uint64_t key, std::uint64_t first_block) : key_(key), block_(first_block) {}

  std::uint32_t next_u32() {
    if (used_ == 4) {
      words_ = philox::stream_block(key_, block_++);
      used_ = 0;
    }
    return words_.v[used_++];
  }
  std::uint64_t next_u64() {
    const std::uint64_t lo = next_u32();
    return lo | (std::uint64_t(next_u32()) << 32);
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return philox::uniform_double_co(next_u64()); }
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  // Integer in [0, n), n >= 1.
  std::uint64_t below(std::uint64_t n) { return philox::below(next_u64(), n); }
  // Standard normal (Box-Muller; one of the pair is dropped, simplicity over speed).
  double normal() {
    const double u1 = philox::uniform_double_oc(next_u64());
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  std::uint64_t key_, block_;
  Philox4x32::Counter words_{};
  int used_ = 4;
};

}  // namespace kiln::data::detail
