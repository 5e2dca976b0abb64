#pragma once
// Philox-4x32-10, kiln's counter-based random number generator, and the conversions
// from its 32-bit words to uniform, normal and integer values.
//
// Header-only and usable from host and CUDA device code: the CPU draws in
// tensor/random.cpp and the CUDA draws call exactly these functions, so a seed gives
// the same numbers on both devices (see Note [Philox stream layout]).
//
// Why counter-based: a Philox "block" is a pure function of (counter, key). Element i of
// a draw depends only on the seed, the generator's offset and i, never on the values
// drawn before it, so any thread may compute any block without sharing state. A stateful
// generator (Mersenne Twister, ...) would force a sequential walk or per-thread streams
// whose result depends on the thread count.
//
// Note [Philox stream layout]
// ---------------------------
// A draw is a pure function of (seed, offset, n, kind). Blocks are numbered from the
// generator's offset; the offset counts Philox blocks, not values.
//
//   key     of every block    : (k0, k1) = (lo32(seed), hi32(seed))
//   counter of block j        : (lo32(offset + j), hi32(offset + j), 0, 0)
//   output  of block j        : (r0, r1, r2, r3) = Philox4x32-10(counter, key)
//   (offset + j wraps modulo 2^64; 2^64 blocks is out of reach in practice.)
//
// Which words of block j produce which output element, per draw kind:
//
//   kind             per block  element <- words
//   uniform float32      4      4j+w    <- u = (r_w >> 8) * 2^-24                 in [0, 1)
//   uniform float64      2      2j+i    <- u = (v_i >> 11) * 2^-53                in [0, 1)
//                                          where v_0 = r0 | r1 << 32, v_1 = r2 | r3 << 32
//   normal  float32      4      4j+0, 4j+1 <- Box-Muller(u1 from r0, u2 from r1)
//                               4j+2, 4j+3 <- Box-Muller(u1 from r2, u2 from r3)
//   normal  float64      2      2j+0, 2j+1 <- Box-Muller(u1 from v_0, u2 from v_1)
//   randint int64        2      2j+i    <- low + mulhi64(v_i, high - low)
//
// Uniform in [0, 1): the top 24 (float) or 53 (double) bits, scaled by 2^-24 or 2^-53.
//   These are exactly the numbers k * 2^-24 (k < 2^24), all exactly representable, so
//   the largest is 1 - 2^-24 and 1.0 is never produced. uniform(low, high) is then
//   fma(u, high - low, low), clamped below high: rounding can otherwise land on high
//   (1 + (1 - 2^-24) rounds to 2 in float), so a result >= high becomes
//   nextafter(high, low). The fma is written out so that CPU and GPU round the same
//   way (nvcc contracts a*b+c into an fma on its own, a host compiler may not).
// Uniform in (0, 1] for the logarithm of Box-Muller: ((x >> 8) + 1) * 2^-24 (and the
//   53-bit analogue). The smallest value is 2^-24 > 0, so log never sees 0; the largest
//   radius is sqrt(-2 ln 2^-24) ~ 5.8 (float32) and sqrt(-2 ln 2^-53) ~ 8.6 (float64).
// Box-Muller: r = sqrt(-2 ln u1), theta = 2 pi u2, (z0, z1) = (r cos theta, r sin theta),
//   then mean + std * z as an fma. Both outputs are used, so no value is wasted and each
//   block stays independent of its neighbours.
// randint: the 64-bit word v is reduced to [0, range) by the multiply-high method
//   (Lemire): floor(v * range / 2^64), the top 64 bits of the 128-bit product. It needs
//   no division and no rejection loop (so every block takes the same, fixed number of
//   words, which the layout above requires). Its bias: each of the `range` results is
//   hit by either floor(2^64 / range) or ceil(2^64 / range) of the 2^64 words, so
//   probabilities differ by at most a factor 1 + range / 2^64 -- below 2.4e-10 relative
//   for any range up to 2^32, far beneath what any test or training run can detect.
//
// After a draw of n elements the generator's offset advances by
// ceil(n / values_per_block) blocks. The unused words of a partial last block are
// dropped, so drawing n values then m values equals one draw of n + m values only when
// n is a multiple of values_per_block.
//
// Precision: float32 draws compute in float (logf, sqrtf, sinf, cosf), float64 draws in
// double, using only functions that exist in host libm and in CUDA device code. The
// Philox words, the uniforms and randint are bit-identical across devices; normals agree
// to the few-ulp accuracy of log/sin/cos on each device (sqrt is correctly rounded on
// both).
#include <cstdint>

#include <math.h>

#ifndef KILN_HD
#ifdef __CUDACC__
#define KILN_HD __host__ __device__
#else
#define KILN_HD
#endif
#endif

namespace kiln {

// Philox-4x32-10 exactly as Random123 (Salmon et al., "Parallel random numbers: as easy
// as 1, 2, 3", SC 2011): a 128-bit counter and a 64-bit key go through 10 rounds of
// multiply / xor, the key being bumped by a Weyl sequence between rounds.
struct Philox4x32 {
  struct Counter { std::uint32_t v[4]; };  // also the type of the output (uint4-like)
  struct Key { std::uint32_t v[2]; };

  static constexpr std::uint32_t kMul0 = 0xD2511F53u;
  static constexpr std::uint32_t kMul1 = 0xCD9E8D57u;
  static constexpr std::uint32_t kWeyl0 = 0x9E3779B9u;  // golden ratio: 2^32 / phi
  static constexpr std::uint32_t kWeyl1 = 0xBB67AE85u;  // sqrt(3) - 1, times 2^32
  static constexpr int kRounds = 10;

  // One round: two 32x32 -> 64 bit products mixed with the other two words and the key.
  static KILN_HD Counter round(Counter c, Key k) {
    std::uint64_t p0 = std::uint64_t(kMul0) * c.v[0];
    std::uint64_t p1 = std::uint64_t(kMul1) * c.v[2];
    Counter out;
    out.v[0] = std::uint32_t(p1 >> 32) ^ c.v[1] ^ k.v[0];
    out.v[1] = std::uint32_t(p1);
    out.v[2] = std::uint32_t(p0 >> 32) ^ c.v[3] ^ k.v[1];
    out.v[3] = std::uint32_t(p0);
    return out;
  }

  static KILN_HD Counter result(Counter ctr, Key key) {
    for (int i = 0; i < kRounds; ++i) {
      if (i > 0) {  // the key is bumped before every round but the first
        key.v[0] += kWeyl0;
        key.v[1] += kWeyl1;
      }
      ctr = round(ctr, key);
    }
    return ctr;
  }
};

namespace philox {

// Values one block (4 x 32 bits) yields per draw kind; see Note [Philox stream layout].
inline constexpr int kUniformF32PerBlock = 4;
inline constexpr int kUniformF64PerBlock = 2;
inline constexpr int kNormalF32PerBlock = 4;
inline constexpr int kNormalF64PerBlock = 2;
inline constexpr int kRandintPerBlock = 2;

// The words of block `block` of the stream `seed` (block = generator offset + j).
KILN_HD inline Philox4x32::Counter stream_block(std::uint64_t seed, std::uint64_t block) {
  Philox4x32::Counter ctr = {{std::uint32_t(block), std::uint32_t(block >> 32), 0u, 0u}};
  Philox4x32::Key key = {{std::uint32_t(seed), std::uint32_t(seed >> 32)}};
  return Philox4x32::result(ctr, key);
}

KILN_HD inline std::uint64_t join_u64(std::uint32_t lo, std::uint32_t hi) {
  return std::uint64_t(lo) | (std::uint64_t(hi) << 32);
}

// uint32 -> float in [0, 1): multiples of 2^-24, never 1.
KILN_HD inline float uniform_float_co(std::uint32_t x) {
  return float(x >> 8) * 5.9604644775390625e-8f;  // 2^-24
}
// uint32 -> float in (0, 1]: never 0 (the Box-Muller log argument).
KILN_HD inline float uniform_float_oc(std::uint32_t x) {
  return float((x >> 8) + 1u) * 5.9604644775390625e-8f;
}
// uint64 -> double in [0, 1): multiples of 2^-53, never 1.
KILN_HD inline double uniform_double_co(std::uint64_t v) {
  return double(v >> 11) * 1.1102230246251565e-16;  // 2^-53
}
// uint64 -> double in (0, 1]: never 0.
KILN_HD inline double uniform_double_oc(std::uint64_t v) {
  return double((v >> 11) + 1u) * 1.1102230246251565e-16;
}

// u in [0, 1) -> [low, high), clamped so rounding never returns high (if low < high).
KILN_HD inline float scale_uniform(float u, float low, float high) {
  float x = ::fmaf(u, high - low, low);
  return x >= high ? ::nextafterf(high, low) : x;
}
KILN_HD inline double scale_uniform(double u, double low, double high) {
  double x = ::fma(u, high - low, low);
  return x >= high ? ::nextafter(high, low) : x;
}

// Box-Muller: u1 in (0, 1], u2 in [0, 1) -> two independent standard normals.
KILN_HD inline void box_muller(float u1, float u2, float& z0, float& z1) {
  float r = ::sqrtf(-2.0f * ::logf(u1));
  float theta = 6.28318530717958647692f * u2;
  z0 = r * ::cosf(theta);
  z1 = r * ::sinf(theta);
}
KILN_HD inline void box_muller(double u1, double u2, double& z0, double& z1) {
  double r = ::sqrt(-2.0 * ::log(u1));
  double theta = 6.28318530717958647692 * u2;
  z0 = r * ::cos(theta);
  z1 = r * ::sin(theta);
}

// The high 64 bits of the 128-bit product a * b, from four 32x32 products so that it
// needs no compiler extension (__int128) and reads the same on host and device.
KILN_HD inline std::uint64_t mulhi64(std::uint64_t a, std::uint64_t b) {
  std::uint64_t a_lo = std::uint32_t(a), a_hi = a >> 32;
  std::uint64_t b_lo = std::uint32_t(b), b_hi = b >> 32;
  std::uint64_t lo_lo = a_lo * b_lo;
  std::uint64_t hi_lo = a_hi * b_lo;
  std::uint64_t lo_hi = a_lo * b_hi;
  std::uint64_t hi_hi = a_hi * b_hi;
  // The middle column: carries out of the low 64 bits (each term < 2^32 * 3, no overflow).
  std::uint64_t mid = (lo_lo >> 32) + std::uint32_t(hi_lo) + std::uint32_t(lo_hi);
  return hi_hi + (hi_lo >> 32) + (lo_hi >> 32) + (mid >> 32);
}

// uint64 -> integer in [0, range), range >= 1: floor(v * range / 2^64).
KILN_HD inline std::uint64_t below(std::uint64_t v, std::uint64_t range) {
  return mulhi64(v, range);
}

// ---- One block's values for each draw kind: the body of the CPU loop and of the GPU
// thread. `out` receives all values of the block; the caller keeps those below n.

KILN_HD inline void uniform_block(const Philox4x32::Counter& r, float low, float high,
                                  float out[kUniformF32PerBlock]) {
  for (int w = 0; w < 4; ++w) out[w] = scale_uniform(uniform_float_co(r.v[w]), low, high);
}
KILN_HD inline void uniform_block(const Philox4x32::Counter& r, double low, double high,
                                  double out[kUniformF64PerBlock]) {
  for (int i = 0; i < 2; ++i) {
    out[i] = scale_uniform(uniform_double_co(join_u64(r.v[2 * i], r.v[2 * i + 1])), low, high);
  }
}

KILN_HD inline void normal_block(const Philox4x32::Counter& r, float mean, float stddev,
                                 float out[kNormalF32PerBlock]) {
  for (int p = 0; p < 2; ++p) {
    float z0, z1;
    box_muller(uniform_float_oc(r.v[2 * p]), uniform_float_co(r.v[2 * p + 1]), z0, z1);
    out[2 * p] = ::fmaf(stddev, z0, mean);
    out[2 * p + 1] = ::fmaf(stddev, z1, mean);
  }
}
KILN_HD inline void normal_block(const Philox4x32::Counter& r, double mean, double stddev,
                                 double out[kNormalF64PerBlock]) {
  double z0, z1;
  box_muller(uniform_double_oc(join_u64(r.v[0], r.v[1])),
             uniform_double_co(join_u64(r.v[2], r.v[3])), z0, z1);
  out[0] = ::fma(stddev, z0, mean);
  out[1] = ::fma(stddev, z1, mean);
}

// Integers in [low, low + range); range = high - low computed in uint64, so that even
// [INT64_MIN, INT64_MAX) works. The sum wraps in uint64 and lands back in int64 range.
KILN_HD inline void randint_block(const Philox4x32::Counter& r, std::int64_t low,
                                  std::uint64_t range, std::int64_t out[kRandintPerBlock]) {
  for (int i = 0; i < 2; ++i) {
    std::uint64_t k = below(join_u64(r.v[2 * i], r.v[2 * i + 1]), range);
    out[i] = std::int64_t(std::uint64_t(low) + k);
  }
}

// ---- The draws' fill functions (one block of words -> its values) and the work of one
// block of a draw: the body of the CPU loop (tensor/random.cpp) and of a GPU thread
// (cuda/random.cu). tests/cuda/host_test.cpp runs draw_block on the host, block by block
// in reverse order, against the CPU draws.

template <class T>
struct UniformFill {
  T low, high;
  KILN_HD void operator()(const Philox4x32::Counter& r, T* vals) const {
    uniform_block(r, low, high, vals);
  }
};

template <class T>
struct NormalFill {
  T mean, stddev;
  KILN_HD void operator()(const Philox4x32::Counter& r, T* vals) const {
    normal_block(r, mean, stddev, vals);
  }
};

struct RandintFill {
  std::int64_t low;
  std::uint64_t range;  // high - low, computed in uint64
  KILN_HD void operator()(const Philox4x32::Counter& r, std::int64_t* vals) const {
    randint_block(r, low, range, vals);
  }
};

// [region draw_block]
// Block j of the draw of n values starting at the stream's block `offset`: fills
// out[per·j, per·j + per), keeping only the values below n.
template <int per, class T, class Fill>
KILN_HD inline void draw_block(std::uint64_t seed, std::uint64_t offset, std::int64_t j, T* out,
                               std::int64_t n, const Fill& fill) {
  T vals[per];
  fill(stream_block(seed, offset + static_cast<std::uint64_t>(j)), vals);
  const std::int64_t first = j * per;
  const std::int64_t count = n - first < per ? n - first : per;
  for (std::int64_t k = 0; k < count; ++k) out[first + k] = vals[k];
}
// [endregion]

}  // namespace philox
}  // namespace kiln
