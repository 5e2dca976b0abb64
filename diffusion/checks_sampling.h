#pragma once
// The sampling checks of EQUATIONS.md §8 (V10, V11, V12, V14, V17, V18), one function
// each, with the knobs a test needs: the samplers' step functions can be swapped for a
// deliberately wrong one (tests/diffusion/sampler_errata_test.cpp), so the tests prove
// the checks catch the mistakes the seed documents make. sampling_checks() (verify.h)
// lists them with the defaults.
//
// Note [Monte-Carlo tolerances]
// A Monte-Carlo check estimates several expectations E[f(x)], each as the mean of f over
// N samples, and compares each with its exact value. The standard error of a mean is
// computed from the same samples, SE = sd(f)/√N, and the check reports
//     z = (estimate - exact)/SE
// for every statistic. With m statistics the tolerance on max |z| is the two-sided
// Bonferroni bound z* = Φ⁻¹(1 - α/(2m)) for a family-wise false-alarm rate α = 10⁻³:
// a correct sampler fails one run in a thousand at most (and with fixed seeds, never),
// while a wrong variance moves z by tens.
#include <cstdint>

#include "diffusion/sampler.h"
#include "diffusion/verify.h"

namespace kiln::diffusion {

struct SamplingCheckOptions {
  DdpmStepFn ddpm_step = {};      // empty: the real E24 step (ddpm_step)
  DdimStepFn ddim_step = {};      // empty: the real E25 step (ddim_step)
  std::int64_t samples = 20000;   // Monte-Carlo sample count of V10, V11, V12, V17
  std::uint64_t seed = 2020;      // every draw of a check comes from Generator(seed + k)
};

// V10  E27: the mixture's closed-form score against autograd's gradient of log q_t;
//      Tweedie (E10 with ε* = E[x_0|x_t]); ε* minimises L_simple.
CheckResult check_v10(const SamplingCheckOptions& options = {});
// V11  E24-E26: samplers driven by the analytic ε* reproduce the mixture.
CheckResult check_v11(const SamplingCheckOptions& options = {});
// V12  E25: DDIM with η = 1 has DDPM's (σ² = β̃) one-step mean and variance; η = 0 is
//      deterministic.
CheckResult check_v12(const SamplingCheckOptions& options = {});
// V14  E34-E36: the metrics on distributions with known answers.
CheckResult check_v14(const SamplingCheckOptions& options = {});
// V17  E25-E26: the DDIM kernel marginalises to q(x_{τ_{i-1}} | x_0) for any η and steps.
CheckResult check_v17(const SamplingCheckOptions& options = {});
// V18  E39: DDIM inversion then generation reconstructs x_0, better with more steps.
CheckResult check_v18(const SamplingCheckOptions& options = {});

// Φ⁻¹(p), the standard normal quantile (bisection on erfc, to ~1e-15).
double normal_quantile(double p);
// The two-sided Bonferroni bound of Note [Monte-Carlo tolerances].
double bonferroni_z(double alpha, std::int64_t statistics);

}  // namespace kiln::diffusion
