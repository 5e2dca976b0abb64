#pragma once
// The bounds of Note [CPU-GPU tolerances] (tests/cuda/parity.h) as plain functions, with
// no doctest: the CUDA tests compare with them (parity.h) and the chapter 4 tutorial
// prints them beside the differences it measures, so the book states the same bounds
// the tests enforce.
#include <cmath>
#include <cstdint>
#include <vector>

#include "tensor/dtype.h"

namespace kiln::test {

// The k of Note [CPU-GPU tolerances] for sums that both devices accumulate in double.
inline constexpr std::int64_t kSumInDouble = 16;

struct Tolerance {
  double rtol, atol;
};

// The bound of Note [CPU-GPU tolerances] for a value behind k-term sums in dtype dt:
// |gpu - cpu| <= atol + rtol |cpu|.
inline Tolerance tolerance(DType dt, std::int64_t k, double rms) {
  const bool f32 = dt == kFloat32;
  const double unit = f32 ? std::ldexp(1.0, -23) : std::ldexp(1.0, -52);
  const double base = f32 ? 1e-5 : 1e-12;
  if (k <= 1) return {base, f32 ? 1e-6 : 1e-13};
  const double r = base + static_cast<double>(k) * unit;
  return {r, r * rms};
}

inline double rms_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return v.empty() ? 0.0 : std::sqrt(s / static_cast<double>(v.size()));
}

}  // namespace kiln::test
