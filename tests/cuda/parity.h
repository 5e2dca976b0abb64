#pragma once
// Comparing a GPU result with the CPU's, the llm.c way: on a mismatch, print the first
// few mismatching elements with both values, so a failing kernel says where it is wrong.
//
// [region tolerance_note]
// Note [CPU-GPU tolerances]
// The two devices evaluate the same formulas (tensor/functors.h, tensor/optim_step.h,
// tensor/philox.h) but not bit for bit: CUDA's expf, erff, powf, ... differ from glibc's
// by a few ulp, nvcc fuses a·b + c into one fma where GCC does not, and reductions add in
// a tree instead of a loop. So float32 results are compared with bounds that are stated
// here once and used by every test:
//   element-wise (k = 1)         |gpu - cpu| <= 1e-5 |cpu| + 1e-6
//   a sum of k terms behind each value (reductions, softmax, norms, GEMM, conv with
//   k = the reduction / dot-product length)
//                                |gpu - cpu| <= r (|cpu| + rms(cpu)),  r = 1e-5 + k 2^-23
//   (k 2^-23 is k float32 roundings of half an ulp each: the worst case of a sum whose
//   terms are of the size of the result; rms(cpu) scales the bound for values that are
//   small only because of cancellation.) GEMMs and convolutions accumulate in float32
//   on both devices, in different orders, so their k is the dot-product length.
//   Reductions, softmax and the norms accumulate float32 in double on both devices, so
//   only the final roundings and the element-wise ops around them differ: their k is
//   kSumInDouble, whatever the length of the sum.
// float64 is compared with the same formulas, 2^-23 replaced by 2^-52 and 1e-5 by 1e-12.
// Results that both devices compute exactly (copies, indexing, max, the Philox uniforms
// and integers) are compared for equality.
// [endregion]
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kiln.h"
#include "tolerance.h"  // tolerance(), rms_of(), kSumInDouble

namespace kiln::test {

inline Device gpu() { return Device::cuda(0); }

// Checks got (any device) against want (any device) elementwise; prints up to 5
// mismatches. k = 0 asks for exact equality (NaN equals NaN).
inline void check_parity(const Tensor& got, const Tensor& want, std::int64_t k,
                         const std::string& what) {
  REQUIRE_MESSAGE(got.defined() == want.defined(), what, ": one side is undefined");
  if (!got.defined()) return;
  REQUIRE_MESSAGE(got.shape() == want.shape(), what, ": shapes ", shape_str(got.shape()), " and ",
                  shape_str(want.shape()));
  CHECK_MESSAGE(got.dtype() == want.dtype(), what, ": dtypes differ");
  const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  const Tolerance tol = tolerance(want.dtype(), k, rms_of(w));
  int shown = 0;
  std::int64_t bad = 0;
  double worst = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const bool both_nan = std::isnan(g[i]) && std::isnan(w[i]);
    const double diff = std::abs(g[i] - w[i]);
    const bool ok = both_nan || (k == 0 ? g[i] == w[i] : diff <= tol.atol + tol.rtol * std::abs(w[i]));
    if (!ok) {
      ++bad;
      worst = std::max(worst, std::isnan(diff) ? INFINITY : diff);
      if (shown++ < 5)
        MESSAGE(what, ": element ", i, " gpu ", g[i], " cpu ", w[i], " |diff| ", diff);
    }
  }
  CHECK_MESSAGE(bad == 0, what, ": ", bad, " of ", g.size(), " elements differ (worst |diff| ",
                worst, ", bound ", tol.atol, " + ", tol.rtol, " |cpu|)");
}

}  // namespace kiln::test
