// The checks catch the mistakes learners arrive with. A standard deviation and a variance
// are easy to swap in a sampler: σ_t = β_t instead of √β_t, or σ_t² z added instead of
// σ_t z. Each mistake is fed through the sampling checks as a step function
// (SamplingCheckOptions, diffusion/checks_sampling.h), and the check must FAIL;
// the same check with the real step and the same sample count passes, so the failure is
// the mistake's and not the configuration's.
#include <doctest/doctest.h>

#include <cmath>

#include "diffusion/checks_sampling.h"
#include "diffusion/posterior.h"
#include "diffusion/sampler.h"
#include "kiln.h"

using namespace kiln;
using namespace kiln::diffusion;

namespace {

// 5000 samples keep these runs short; the mistakes move the statistics by tens of SE.
constexpr std::int64_t kSamples = 5000;

// E24 with the variance where the standard deviation belongs: x_{t-1} = μ_θ + σ_t² z
// (equivalently σ_t = β_t instead of √β_t for the "large" choice).
Tensor ddpm_step_variance_as_std(const Schedule& s, const Tensor& x_t, const Tensor& t,
                                 const Tensor& eps, const Tensor& z, Sigma sigma, bool clip_x0) {
  const Tensor mean = ddpm_step(s, x_t, t, eps, Tensor(), sigma, clip_x0);
  if (!z.defined()) return mean;
  std::vector<double> wrong = reverse_variance(s, sigma);  // σ_t², used as if it were σ_t
  wrong[0] = wrong[1] = 0;                                 // still no noise at t = 1
  return mean + s.at(wrong, t, x_t) * z;
}

// E25 adding σ_t² ε_t instead of σ_t ε_t.
Tensor ddim_step_variance_as_std(const Tensor& x_t, const Tensor& eps, double alpha_bar_t,
                                 double alpha_bar_prev, double eta, const Tensor& noise,
                                 bool clip_x0) {
  const Tensor mean = ddim_step(x_t, eps, alpha_bar_t, alpha_bar_prev, eta, Tensor(), clip_x0);
  const double sigma = ddim_sigma(alpha_bar_t, alpha_bar_prev, eta);
  if (sigma == 0 || !noise.defined()) return mean;
  return mean + (sigma * sigma) * noise;
}

void expect_fail(const CheckResult& r) {
  MESSAGE(r.id << " with the mistake: error " << r.error << " > tolerance " << r.tolerance);
  INFO(r.id << ": error " << r.error << ", tolerance " << r.tolerance << "\n" << r.detail);
  CHECK_FALSE(r.passed);
}

void expect_pass(const CheckResult& r) {
  INFO(r.id << ": error " << r.error << ", tolerance " << r.tolerance << "\n" << r.detail);
  CHECK(r.passed);
}

}  // namespace

TEST_CASE("V11 V12 errata: a std used where a variance belongs in the DDPM sampler fails the checks") {
  const SamplingCheckOptions wrong{.ddpm_step = ddpm_step_variance_as_std, .samples = kSamples};
  expect_fail(check_v11(wrong));
  expect_fail(check_v12(wrong));
  expect_pass(check_v12({.samples = kSamples}));
}

TEST_CASE("V12 V17 errata: sigma^2 noise in the DDIM step fails the checks") {
  const SamplingCheckOptions wrong{.ddim_step = ddim_step_variance_as_std, .samples = kSamples};
  expect_fail(check_v12(wrong));
  expect_fail(check_v17(wrong));
  expect_pass(check_v17({.samples = kSamples}));
}

TEST_CASE("V11 errata control: the real samplers pass V11 with the reduced sample count") {
  expect_pass(check_v11({.samples = kSamples}));
}
