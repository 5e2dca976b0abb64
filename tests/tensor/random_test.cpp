// Tests of the Philox-4x32-10 generator and the CPU draws (tensor/philox.h,
// tensor/random.h). The layout tests pin down Note [Philox stream layout], which the
// CUDA backend must reproduce bit for bit.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <thread>
#include <vector>

#include "tensor/philox.h"
#include "tensor/random.h"

using namespace kiln;

namespace {

template <class T>
std::vector<T> uniform(std::uint64_t seed, std::uint64_t offset, std::int64_t n, T low = 0,
                       T high = 1) {
  std::vector<T> v(static_cast<std::size_t>(n));
  cpu::philox_uniform<T>(seed, offset, v.data(), n, low, high);
  return v;
}

template <class T>
std::vector<T> normal(std::uint64_t seed, std::uint64_t offset, std::int64_t n, T mean = 0,
                      T stddev = 1) {
  std::vector<T> v(static_cast<std::size_t>(n));
  cpu::philox_normal<T>(seed, offset, v.data(), n, mean, stddev);
  return v;
}

std::vector<std::int64_t> randint(std::uint64_t seed, std::uint64_t offset, std::int64_t n,
                                  std::int64_t low, std::int64_t high) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  cpu::philox_randint(seed, offset, v.data(), n, low, high);
  return v;
}

}  // namespace

TEST_CASE("philox known-answer vectors of Random123") {
  // From Random123's tests/kat_vectors (D. E. Shaw Research, github.com/DEShawResearch/
  // random123, the three "philox4x32 10" lines), columns: counter[4] key[2] -> output[4].
  // Cross-checked against several independent copies of that file.
  struct Kat {
    std::uint32_t ctr[4], key[2], out[4];
  };
  const Kat kats[] = {
      {{0x00000000, 0x00000000, 0x00000000, 0x00000000},
       {0x00000000, 0x00000000},
       {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat& k : kats) {
    Philox4x32::Counter ctr = {{k.ctr[0], k.ctr[1], k.ctr[2], k.ctr[3]}};
    Philox4x32::Key key = {{k.key[0], k.key[1]}};
    Philox4x32::Counter r = Philox4x32::result(ctr, key);
    for (int w = 0; w < 4; ++w) CHECK(r.v[w] == k.out[w]);
  }
}

TEST_CASE("philox stream_block builds counter (lo, hi, 0, 0) and key (lo, hi) of the seed") {
  const std::uint64_t seed = 0x299f31d0a4093822ull, block = 0x85a308d3243f6a88ull;
  Philox4x32::Counter r = philox::stream_block(seed, block);
  Philox4x32::Counter expect = Philox4x32::result(
      {{0x243f6a88, 0x85a308d3, 0, 0}}, {{0xa4093822, 0x299f31d0}});
  for (int w = 0; w < 4; ++w) CHECK(r.v[w] == expect.v[w]);
  // Seed 0, block 0 is the first known-answer vector.
  Philox4x32::Counter zero = philox::stream_block(0, 0);
  CHECK(zero.v[0] == 0x6627e8d5u);
  CHECK(zero.v[3] == 0x9b00dbd8u);
}

TEST_CASE("philox float32 uniform is element-wise the documented formula") {
  // Element 4j + w = (r_w >> 8) * 2^-24 of block offset + j: the exact layout.
  const std::uint64_t seed = 42, offset = 7;
  auto u = uniform<float>(seed, offset, 10);
  for (int i = 0; i < 10; ++i) {
    Philox4x32::Counter r = philox::stream_block(seed, offset + i / 4);
    CHECK(u[i] == std::ldexp(float(r.v[i % 4] >> 8), -24));
  }
  auto d = uniform<double>(seed, offset, 5);
  for (int i = 0; i < 5; ++i) {
    Philox4x32::Counter r = philox::stream_block(seed, offset + i / 2);
    std::uint64_t v = std::uint64_t(r.v[2 * (i % 2)]) | std::uint64_t(r.v[2 * (i % 2) + 1]) << 32;
    CHECK(d[i] == std::ldexp(double(v >> 11), -53));
  }
}

TEST_CASE("philox conversions never reach the excluded endpoint") {
  const std::uint32_t all = 0xffffffffu;
  CHECK(philox::uniform_float_co(all) < 1.0f);
  CHECK(philox::uniform_float_co(all) == 1.0f - std::ldexp(1.0f, -24));
  CHECK(philox::uniform_float_co(0) == 0.0f);
  CHECK(philox::uniform_float_oc(0) > 0.0f);
  CHECK(philox::uniform_float_oc(all) == 1.0f);
  CHECK(philox::uniform_double_co(~0ull) < 1.0);
  CHECK(philox::uniform_double_oc(0) > 0.0);
  CHECK(philox::uniform_double_oc(~0ull) == 1.0);
  // 1 + (1 - 2^-24) rounds to 2 in float: the clamp must keep it below high.
  Philox4x32::Counter ones = {{all, all, all, all}};
  float f[4];
  philox::uniform_block(ones, 1.0f, 2.0f, f);
  for (float x : f) CHECK(x < 2.0f);
  double d[2];
  philox::uniform_block(ones, 1.0, 2.0, d);
  for (double x : d) CHECK(x < 2.0);
  // Box-Muller at the extreme u1 = 2^-24 stays finite.
  Philox4x32::Counter zeros = {{0, 0, 0, 0}};
  float z[4];
  philox::normal_block(zeros, 0.0f, 1.0f, z);
  for (float x : z) CHECK(std::isfinite(x));
  CHECK(z[0] == doctest::Approx(std::sqrt(-2.0 * std::log(std::ldexp(1.0, -24)))).epsilon(1e-6));
}

TEST_CASE("philox mulhi64 equals the high half of the 128-bit product") {
  const std::uint64_t edge[] = {0, 1, 2, 0xffffffffull, 0x100000000ull, ~0ull, ~0ull - 1,
                                0x8000000000000000ull};
  for (std::uint64_t a : edge) {
    for (std::uint64_t b : edge) {
      auto want = static_cast<std::uint64_t>((static_cast<unsigned __int128>(a) * b) >> 64);
      CHECK(philox::mulhi64(a, b) == want);
    }
  }
  for (std::uint64_t i = 0; i < 1000; ++i) {
    Philox4x32::Counter r = philox::stream_block(3, i);
    std::uint64_t a = philox::join_u64(r.v[0], r.v[1]), b = philox::join_u64(r.v[2], r.v[3]);
    auto want = static_cast<std::uint64_t>((static_cast<unsigned __int128>(a) * b) >> 64);
    CHECK(philox::mulhi64(a, b) == want);
  }
}

TEST_CASE("philox same (seed, offset) gives identical draws; different seeds differ") {
  CHECK(uniform<float>(5, 3, 1001) == uniform<float>(5, 3, 1001));
  CHECK(normal<double>(5, 3, 1001) == normal<double>(5, 3, 1001));
  CHECK(randint(5, 3, 1001, -7, 100) == randint(5, 3, 1001, -7, 100));

  auto count_equal = [](const std::vector<float>& a, const std::vector<float>& b) {
    int same = 0;
    for (std::size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
    return same;
  };
  auto base = uniform<float>(1, 0, 4000);
  // Each of 4000 pairs collides with probability 2^-24; a handful would already be suspect.
  CHECK(count_equal(base, uniform<float>(2, 0, 4000)) <= 2);
  // The high 32 bits of the seed are key word k1: they must matter too.
  CHECK(count_equal(base, uniform<float>(1 + (1ull << 32), 0, 4000)) <= 2);
  CHECK(count_equal(base, uniform<float>(1, 1000, 4000)) <= 2);
}

TEST_CASE("philox stream layout: offset o + 1 is the draw at o shifted by one block") {
  const std::uint64_t seed = 2024, o = 11;
  SUBCASE("uniform float32, 4 per block") {
    auto a = uniform<float>(seed, o, 103), b = uniform<float>(seed, o + 1, 99);
    for (int i = 4; i < 103; ++i) CHECK(a[i] == b[i - 4]);
  }
  SUBCASE("uniform float64, 2 per block") {
    auto a = uniform<double>(seed, o, 101), b = uniform<double>(seed, o + 1, 99);
    for (int i = 2; i < 101; ++i) CHECK(a[i] == b[i - 2]);
  }
  SUBCASE("normal float32, 4 per block") {
    auto a = normal<float>(seed, o, 103), b = normal<float>(seed, o + 1, 99);
    for (int i = 4; i < 103; ++i) CHECK(a[i] == b[i - 4]);
  }
  SUBCASE("normal float64, 2 per block") {
    auto a = normal<double>(seed, o, 101), b = normal<double>(seed, o + 1, 99);
    for (int i = 2; i < 101; ++i) CHECK(a[i] == b[i - 2]);
  }
  SUBCASE("randint int64, 2 per block") {
    auto a = randint(seed, o, 101, -50, 50), b = randint(seed, o + 1, 99, -50, 50);
    for (int i = 2; i < 101; ++i) CHECK(a[i] == b[i - 2]);
  }
  SUBCASE("each element is independent of n: a prefix of a longer draw") {
    auto a = normal<float>(seed, o, 7), b = normal<float>(seed, o, 1 << 16);
    for (int i = 0; i < 7; ++i) CHECK(a[i] == b[i]);
  }
  SUBCASE("a large (multi-threaded) draw equals block-by-block single draws") {
    const std::int64_t n = 1 << 18;
    auto big = uniform<float>(seed, o, n);
    for (std::int64_t j : {std::int64_t{0}, std::int64_t{1}, std::int64_t{4095}, std::int64_t{4096},
                           std::int64_t{30000}, n / 4 - 1}) {
      auto one = uniform<float>(seed, o + std::uint64_t(j), 4);
      for (int w = 0; w < 4; ++w) CHECK(big[std::size_t(4 * j + w)] == one[std::size_t(w)]);
    }
  }
}

TEST_CASE("philox blocks_for and splitting a draw") {
  CHECK(cpu::philox_blocks_for(0, 4) == 0);
  CHECK(cpu::philox_blocks_for(1, 4) == 1);
  CHECK(cpu::philox_blocks_for(4, 4) == 1);
  CHECK(cpu::philox_blocks_for(5, 4) == 2);
  CHECK(cpu::philox_blocks_for(5, 2) == 3);
  CHECK_THROWS_AS(cpu::philox_blocks_for(-1, 4), Error);
  CHECK_THROWS_AS(cpu::philox_blocks_for(4, 0), Error);

  // Drawing n then m through a generator equals one draw of n + m values only when n is
  // a multiple of values_per_block: otherwise the rest of the n-th draw's last block is
  // dropped and the second draw starts at the next whole block.
  auto draw = [](Generator& g, std::int64_t n) {
    std::uint64_t off = g.advance(cpu::philox_blocks_for(n, philox::kUniformF32PerBlock));
    return uniform<float>(g.seed(), off, n);
  };
  auto split_equals_joined = [&](std::int64_t n, std::int64_t m) {
    Generator g(77);
    auto first = draw(g, n);
    auto second = draw(g, m);
    first.insert(first.end(), second.begin(), second.end());
    Generator h(77);
    return first == draw(h, n + m);
  };
  CHECK(split_equals_joined(8, 13));
  CHECK(split_equals_joined(4, 1));
  CHECK_FALSE(split_equals_joined(5, 13));
  CHECK_FALSE(split_equals_joined(7, 1));
}

TEST_CASE("random uniform stays in [low, high) and has mean (low + high) / 2") {
  const std::int64_t n = 1000000;
  auto f = uniform<float>(9, 0, n, -2.0f, 3.0f);
  double sum = 0;
  std::int64_t outside = 0;  // counted, not asserted per element: one line if it fails
  for (float x : f) {
    outside += !(x >= -2.0f && x < 3.0f);
    sum += x;
  }
  CHECK(outside == 0);
  // Standard error of the mean: (high - low) / sqrt(12 n); allow 5 of them.
  CHECK(std::abs(sum / n - 0.5) < 5 * 5.0 / std::sqrt(12.0 * n));

  // [1, 2) is where float rounding could produce high without the clamp.
  for (float x : uniform<float>(10, 0, n, 1.0f, 2.0f)) outside += !(x >= 1.0f && x < 2.0f);
  for (double x : uniform<double>(11, 0, n, -1.0, 1.0)) outside += !(x >= -1.0 && x < 1.0);
  CHECK(outside == 0);
  // low == high is allowed and gives low, as in PyTorch's uniform_.
  for (float x : uniform<float>(1, 0, 9, 4.0f, 4.0f)) CHECK(x == 4.0f);
  std::vector<float> out(4);
  CHECK_THROWS_AS(cpu::philox_uniform<float>(0, 0, out.data(), 4, 1.0f, 0.0f), Error);
  CHECK_THROWS_AS(
      cpu::philox_uniform<float>(0, 0, out.data(), 4, -3e38f, 3e38f), Error);  // range overflows
}

TEST_CASE("random normal has mean 0 and variance 1 within a few standard errors") {
  // For n samples of N(0, 1): the sample mean has standard error 1 / sqrt(n) and the
  // sample variance 2 / n variance, so we require |mean| < 5 / sqrt(n) and
  // |var - 1| < 5 sqrt(2 / n) (five standard errors).
  const std::int64_t n = 1000000;
  auto check_moments = [&](const auto& v) {
    double sum = 0, sum2 = 0;
    std::int64_t not_finite = 0;
    for (auto x : v) {
      not_finite += !std::isfinite(x);
      sum += x;
    }
    REQUIRE(not_finite == 0);
    const double mean = sum / n;
    for (auto x : v) sum2 += (x - mean) * (x - mean);
    const double var = sum2 / (n - 1);
    CHECK(std::abs(mean) < 5.0 / std::sqrt(double(n)));
    CHECK(std::abs(var - 1.0) < 5.0 * std::sqrt(2.0 / n));
  };
  SUBCASE("float32") { check_moments(normal<float>(123, 0, n)); }
  SUBCASE("float64") { check_moments(normal<double>(123, 0, n)); }
  SUBCASE("mean and stddev shift and scale") {
    auto a = normal<double>(5, 2, 1000), b = normal<double>(5, 2, 1000, 3.0, 0.5);
    for (int i = 0; i < 1000; ++i) CHECK(b[i] == doctest::Approx(3.0 + 0.5 * a[i]).epsilon(1e-14));
  }
  std::vector<float> out(4);
  CHECK_THROWS_AS(cpu::philox_normal<float>(0, 0, out.data(), 4, 0.0f, -1.0f), Error);
}

TEST_CASE("random randint stays in [low, high) and is roughly uniform") {
  // 10 bins, 1e6 draws: Pearson's chi-square has 9 degrees of freedom, and
  // P(chi2_9 > 45) ~ 9e-7, so a fair generator passes with near certainty.
  const std::int64_t n = 1000000, low = -5, high = 5;
  auto v = randint(31, 0, n, low, high);
  std::vector<std::int64_t> counts(high - low, 0);
  std::int64_t outside = 0;
  for (auto x : v) {
    if (x >= low && x < high) {
      ++counts[std::size_t(x - low)];
    } else {
      ++outside;
    }
  }
  CHECK(outside == 0);
  const double expect = double(n) / double(high - low);
  double chi2 = 0;
  for (auto c : counts) chi2 += (c - expect) * (c - expect) / expect;
  CHECK(chi2 < 45.0);

  // The widest range: high - low = 2^64 - 1 does not fit in int64 but works in uint64.
  const std::int64_t lo = std::numeric_limits<std::int64_t>::min();
  const std::int64_t hi = std::numeric_limits<std::int64_t>::max();
  int negative = 0;
  for (auto x : randint(1, 0, 1000, lo, hi)) {
    CHECK(x < hi);
    negative += x < 0;
  }
  CHECK(negative > 400);  // about half; binomial(1000, 1/2) sd ~ 16
  CHECK(negative < 600);
  for (auto x : randint(2, 0, 100, 7, 8)) CHECK(x == 7);
  std::vector<std::int64_t> out(4);
  CHECK_THROWS_AS(cpu::philox_randint(0, 0, out.data(), 4, 3, 3), Error);
}

TEST_CASE("random Generator seed, offset, advance and state") {
  Generator g(5);
  CHECK(g.seed() == 5);
  CHECK(g.offset() == 0);
  CHECK(g.advance(3) == 0);
  CHECK(g.advance(2) == 3);
  CHECK(g.offset() == 5);
  g.set_offset(100);
  CHECK(g.offset() == 100);
  g.manual_seed(9);
  CHECK(g.seed() == 9);
  CHECK(g.offset() == 0);
  g.set_offset(~0ull - 1);
  CHECK_THROWS_AS(g.advance(2), Error);  // would wrap around the stream
  CHECK(g.advance(1) == ~0ull - 1);
}

TEST_CASE("random Generator state save and restore reproduces the draws") {
  Generator g(1234);
  auto draw = [&](std::int64_t n) {
    std::uint64_t off = g.advance(cpu::philox_blocks_for(n, philox::kNormalF32PerBlock));
    return normal<float>(g.seed(), off, n);
  };
  draw(10);
  Generator::State saved = g.state();
  auto a1 = draw(33);
  auto a2 = draw(5);
  g.set_state(saved);
  CHECK(draw(33) == a1);
  CHECK(draw(5) == a2);
  CHECK(g.state().seed == 1234);
}

TEST_CASE("random Generator advance is thread-safe: reserved ranges are disjoint") {
  Generator g(0);
  const int threads = 8, per_thread = 1000;
  std::vector<std::vector<std::uint64_t>> starts(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) starts[t].push_back(g.advance(3));
    });
  }
  for (auto& th : pool) th.join();
  std::set<std::uint64_t> all;
  for (auto& s : starts) all.insert(s.begin(), s.end());
  CHECK(all.size() == std::size_t(threads * per_thread));  // no start handed out twice
  CHECK(g.offset() == std::uint64_t(3 * threads * per_thread));
  for (std::uint64_t s : all) CHECK(s % 3 == 0);  // and none overlap another's blocks
}

TEST_CASE("random default generator and manual_seed") {
  Generator& gen = default_generator();
  const Generator::State before = gen.state();  // other tests may use the global one
  manual_seed(77);
  CHECK(default_generator().seed() == 77);
  CHECK(default_generator().offset() == 0);
  CHECK(&default_generator() == &gen);
  gen.set_state(before);
}
