// The source documents' errata (EQUATIONS.md; shared/seeds/) fed through the checks that
// must catch them: each mistake, written as a learner would copy it, makes its
// verification FAIL, while the correct code passes the same check (process_test.cpp).
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "diffusion/checks.h"
#include "diffusion/checks_sampling.h"
#include "diffusion/posterior.h"
#include "diffusion/sampler.h"
#include "diffusion/schedule.h"
#include "kiln.h"

using namespace kiln;
using namespace kiln::diffusion;

namespace {

void expect_failure(const CheckResult& r, const std::string& must_name) {
  INFO(r.id << ": error " << r.error << ", tolerance " << r.tolerance << "\n" << r.detail);
  CHECK_FALSE(r.passed);
  // The failing sub-check is the one that names the mistake.
  CHECK(r.detail.find(must_name) != std::string::npos);
  CHECK(r.detail.find("FAILED") != std::string::npos);
}

}  // namespace

TEST_CASE("E7 V2 erratum: q(x_t | x_0) with variance √(1-ᾱ_t) fails V2") {
  // The seed writes q(x_t|x_0) = N(√ᾱ_t x_0, √(1-ᾱ_t) I): a standard deviation where the
  // variance belongs. The E4 chain's variance is 1-ᾱ_t; V2 sees the difference at small t.
  const CheckResult wrong = checks::v2({.wrong_variance = true});
  expect_failure(wrong, "E4 iterated variance vs E7 variance");
}

TEST_CASE("E2 V1 erratum: ᾱ_t as a product starting at α_0 fails V1") {
  // The seed's ᾱ_t = α_0 α_1 ... α_t, with α_0 = 1 - β_1 (the first β of a zero-based
  // table): an extra factor in every entry, and ᾱ_0 ≠ 1.
  const Schedule right = Schedule::linear();
  Schedule wrong = right;
  const double alpha_0 = 1 - right.beta[1];
  double prod = 1;
  for (std::int64_t t = 0; t <= wrong.T; ++t) {
    prod *= t == 0 ? alpha_0 : wrong.alpha[t];
    wrong.alpha_bar[t] = prod;
    wrong.one_minus_alpha_bar[t] = 1 - prod;
  }
  expect_failure(checks::v1_schedule(wrong, "seed's ᾱ from α_0", true), "E2 ᾱ_t = ∏");
  CHECK(checks::v1_schedule(wrong, "seed's ᾱ from α_0", true).detail.find("t = 0 convention") != std::string::npos);
  CHECK(checks::v1_schedule(right, "linear", true).passed);
}

TEST_CASE("E1 E22 V1 erratum: β_T = 0.002 leaves ᾱ_T far from 4e-5 and L_T not negligible") {
  const Schedule wrong = Schedule::linear(1000, 1e-4, 0.002);
  CHECK(wrong.alpha_bar[1000] > 0.3);  // instead of ≈ 4.0e-5
  expect_failure(checks::v1_schedule(wrong, "seed's β_T = 0.002", true), "E22 L_T per dim");
}

TEST_CASE("E23 V19 erratum: t from randint(1, T) never trains step T and biases the bound") {
  // torch.randint(1, T) draws from 1..T-1: T · E_t[λ_t MSE_t] then misses L_{T-1}.
  const checks::TimestepSampler randint_1_T = [](std::int64_t B, std::int64_t T, Generator* gen) {
    return Tensor::randint(1, T, {B}, {.dtype = DType::Int64}, gen);
  };
  expect_failure(checks::v19(randint_1_T), "T·E_t~U[λ_t MSE_t]");
}

// The samplers' errata, through the sampling checks' swappable step functions
// (diffusion/checks_sampling.h): a standard deviation used where a variance belongs. The
// DDPM form of it (noise √σ_t z) and σ_t² noise in DDIM are in sampler_errata_test.cpp;
// this is the DDIM direction term's form.
TEST_CASE("E25 V12 erratum: DDIM's direction term with σ_t where σ_t² belongs") {
  // x_{t-1} = √ᾱ_{t-1} x̂_0 + √(1-ᾱ_{t-1} - σ_t) ε_θ + σ_t ε_t: with η = 1 the step's mean
  // no longer matches DDPM's with σ² = β̃.
  const DdimStepFn wrong = [](const Tensor& x_t, const Tensor& eps, double ab_t, double ab_prev, double eta,
                              const Tensor& noise, bool) {
    const double sigma = ddim_sigma(ab_t, ab_prev, eta);
    const Tensor x0_hat = (x_t - std::sqrt(1 - ab_t) * eps) / std::sqrt(ab_t);
    Tensor out = std::sqrt(ab_prev) * x0_hat + std::sqrt(std::max(1 - ab_prev - sigma, 0.0)) * eps;
    if (sigma > 0 && noise.defined()) out = out + sigma * noise;
    return out;
  };
  SamplingCheckOptions options;
  options.ddim_step = wrong;
  options.samples = 4000;
  const CheckResult r = check_v12(options);
  INFO(r.detail);
  CHECK_FALSE(r.passed);
}
