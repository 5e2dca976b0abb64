// The host's float exp (Note [A vectorisable expf] in tensor/functors.h) against the
// correctly rounded value, over the whole float range, and the sigmoid built on it.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kiln.h"
#include "tensor/functors.h"

using namespace kiln;

namespace {

// Distance in units in the last place between two finite floats of the same sign.
std::int64_t ulp_distance(float a, float b) {
  return std::abs(static_cast<std::int64_t>(std::bit_cast<std::int32_t>(a)) -
                  static_cast<std::int64_t>(std::bit_cast<std::int32_t>(b)));
}

}  // namespace

TEST_CASE("float exp: within 2 ulp of the correctly rounded value everywhere") {
  // Every 61st float from -110 to 89 (about 27 million; the positive and negative halves
  // walked by their bit patterns), against exp in double rounded once to float.
  std::int64_t worst = 0, checked = 0;
  float worst_x = 0;
  for (const float end : {-110.0f, 89.0f}) {
    const std::uint32_t last = std::bit_cast<std::uint32_t>(end);
    const std::uint32_t first = std::bit_cast<std::uint32_t>(end < 0 ? -0.0f : 0.0f);
    for (std::uint32_t bits = first; bits <= last; bits += 61) {
      const float x = std::bit_cast<float>(bits);
      const float want = static_cast<float>(std::exp(static_cast<double>(x)));
      const float got = math::exp(x);
      ++checked;
      if (want < std::numeric_limits<float>::min()) {  // subnormal or 0: absolute error
        REQUIRE(std::abs(got - want) <= 2 * std::numeric_limits<float>::denorm_min());
        continue;
      }
      const std::int64_t d = want == got ? 0 : (std::isinf(want) != std::isinf(got) ? 1 << 30 : ulp_distance(got, want));
      if (d > worst) worst = d, worst_x = x;
    }
  }
  MESSAGE("float exp: " << checked << " inputs, worst " << worst << " ulp at x = " << worst_x);
  CHECK(worst <= 2);
}

TEST_CASE("float exp: the edges of the range and special values") {
  CHECK(math::exp(0.0f) == 1.0f);
  CHECK(math::exp(-0.0f) == 1.0f);
  CHECK(math::exp(1.0f) == doctest::Approx(2.718281828).epsilon(1e-7));
  CHECK(std::isinf(math::exp(88.73f)));  // e^88.73 > FLT_MAX
  CHECK(std::isinf(math::exp(1000.0f)));
  CHECK(std::isinf(math::exp(std::numeric_limits<float>::infinity())));
  CHECK(std::isfinite(math::exp(88.72f)));
  CHECK(math::exp(-std::numeric_limits<float>::infinity()) == 0.0f);
  CHECK(math::exp(-1000.0f) == 0.0f);
  CHECK(math::exp(-100.0f) > 0.0f);  // a subnormal, not flushed to 0
  CHECK(std::isnan(math::exp(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("sigmoid and silu in float: no overflow at the ends, and the values of the double formula") {
  for (const float x : {-200.0f, -90.0f, -20.0f, -1.5f, -1e-3f, 0.0f, 2e-3f, 0.7f, 15.0f, 90.0f, 200.0f}) {
    const double want = 1.0 / (1.0 + std::exp(-static_cast<double>(x)));
    const float got = fn::Sigmoid{}(x);
    CHECK(std::isfinite(got));
    CHECK(got == doctest::Approx(want).epsilon(3e-7));
    CHECK(fn::Silu{}(x) == doctest::Approx(x * want).epsilon(3e-7));
  }
  CHECK(std::isnan(fn::Sigmoid{}(std::numeric_limits<float>::quiet_NaN())));
}
