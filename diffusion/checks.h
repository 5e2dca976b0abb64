#pragma once
// The process checks of diffusion/checks_process.cpp (V1-V9, V15, V16, V19, V21, V22),
// parameterised so that tests can feed the source documents' errata through them and
// watch them fail (tests/diffusion/errata_test.cpp). `process_checks()` in verify.h runs
// each with its defaults.
#include <cstdint>
#include <functional>
#include <string>

#include "diffusion/schedule.h"
#include "diffusion/verify.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace kiln::diffusion::checks {

// V1 on one schedule: table shapes and the t = 0 convention, β ∈ (0, 0.999], α = 1 - β,
// ᾱ the product of E2 (from t = 1), 1 - ᾱ consistent, ᾱ and SNR (E8) strictly decreasing;
// with `prior_negligible`, also E22: L_T ≤ 1e-4 nats per dimension for every x_0 in [-1, 1].
CheckResult v1_schedule(const Schedule& s, const std::string& name, bool prior_negligible);
// V1: the above for E1 (Ho et al.'s and a short one) and E3, E3's clip, E3a and E3b.
CheckResult v1();

// V2: E4 iterated by Monte Carlo against E7's mean and variance, E7's own draws, E5, E6.
struct V2Options {
  bool wrong_variance = false;  // the erratum: E7 with variance √(1-ᾱ_t) instead of 1-ᾱ_t
};
CheckResult v2(const V2Options& options = {});

CheckResult v3();   // E9 against Bayes' rule on a 1-D grid
CheckResult v4();   // E10-E12: E7 substituted into E9 gives E11, to rounding
CheckResult v5();   // E16 against Monte Carlo
CheckResult v6();   // E17-E18: the exact KL minus its θ-free part is λ_t ||ε - ε_θ||²
CheckResult v7();   // E14-E15: the bound's terms against sampled trajectories
CheckResult v8();   // E14 tightness for N(0,1) data; a Gaussian mixture's gap shrinks with T
CheckResult v9();   // E20-E21: the 256 bins sum to 1; uniform noise costs ≈ 8 bits/dim
CheckResult v15();  // E10-E12, E37: conversions round-trip
CheckResult v16();  // E38: respacing

// V19: T·E_{t~U}[λ_t MSE_t] estimates Σ_t L_{t-1} without bias (and with importance
// weights; and λ_t ≡ 1 gives L_simple). `sample_t(B, T, gen)` draws the uniform t's
// (int64 [B]); empty means the library's E23 sampler (sample_timesteps in loss.h).
using TimestepSampler = std::function<Tensor(std::int64_t B, std::int64_t T, Generator* gen)>;
CheckResult v19(const TimestepSampler& sample_t = {});

CheckResult v21();  // float32 tables: cast once from float64
CheckResult v22();  // E20: exact CDF, gradients through the floors, the edge bins

}  // namespace kiln::diffusion::checks
