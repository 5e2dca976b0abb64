// The graded tests of the course assignments of the diffusion chapters (book/
// assignments.txt): q_sample (7.1, E7), the posterior (8.1, E9, with V3), the E18 weight
// (9.1), the DDPM step (11.1, E24) and the DDIM step (11.2, E25). Each compares the
// student's function with the equation evaluated by hand in float64 on a short schedule.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "diffusion/bound.h"
#include "diffusion/checks.h"
#include "diffusion/forward.h"
#include "diffusion/posterior.h"
#include "diffusion/sampler.h"
#include "diffusion/schedule.h"
#include "kiln.h"

using namespace kiln;
using namespace kiln::diffusion;

namespace {

constexpr Options kF64{.dtype = DType::Float64};

Tensor steps(const std::vector<std::int64_t>& ts) {
  return Tensor::from_vector(ts, {static_cast<std::int64_t>(ts.size())}, {.dtype = DType::Int64});
}

double max_abs_diff(const Tensor& a, const Tensor& b) { return amax(abs(a - b)).item(); }

// Per-sample coefficients [B, 1, ..., 1] (built by hand: no view op, so these tests do not
// depend on assignment 1.1).
Tensor column(const std::vector<double>& v, std::int64_t ndim) {
  Shape shape(static_cast<size_t>(ndim), 1);
  shape[0] = static_cast<std::int64_t>(v.size());
  return Tensor::from_vector(v, shape, kF64);
}

// A short linear schedule with large steps, so every coefficient is far from 0 and 1.
Schedule short_schedule() { return Schedule::linear(10, 0.05, 0.4); }

}  // namespace

TEST_CASE("E7 q_sample: x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps per sample [assignment 7.1]") {
  const Schedule s = short_schedule();
  Generator gen(71);
  const Tensor x0 = Tensor::randn({3, 2, 4}, kF64, &gen);
  const Tensor eps = Tensor::randn({3, 2, 4}, kF64, &gen);
  const std::vector<std::int64_t> ts = {1, 5, 10};
  const Tensor x_t = q_sample(s, x0, steps(ts), eps);
  REQUIRE(x_t.shape() == x0.shape());
  std::vector<double> a, c;
  for (std::int64_t t : ts) a.push_back(std::sqrt(s.alpha_bar[t])), c.push_back(std::sqrt(1 - s.alpha_bar[t]));
  CHECK(max_abs_diff(x_t, column(a, 3) * x0 + column(c, 3) * eps) < 1e-14);
}

TEST_CASE("E7 q_sample: float32 input keeps its dtype; the variance is 1 - abar_t, not its root [assignment 7.1]") {
  const Schedule s = short_schedule();
  Generator gen(72);
  const std::int64_t n = 20000;
  const Tensor x0 = Tensor::zeros({n, 1});
  const Tensor eps = Tensor::randn({n, 1}, {}, &gen);
  const Tensor t = Tensor::full({n}, 4.0, {.dtype = DType::Int64});
  const Tensor x_t = q_sample(s, x0, t, eps);
  CHECK(x_t.dtype() == DType::Float32);
  const double var = x_t.square().mean().item();
  // Monte Carlo: the standard error of the variance of n normals is var * sqrt(2/n) ≈ 1%.
  CHECK(std::abs(var - s.one_minus_alpha_bar[4]) < 0.05 * s.one_minus_alpha_bar[4]);
}

TEST_CASE("E9 posterior: variance and mean coefficients against the closed form [assignment 8.1]") {
  const Schedule s = short_schedule();
  const std::vector<double> var = posterior_variance(s), c0 = posterior_mean_coef_x0(s),
                            ct = posterior_mean_coef_xt(s);
  REQUIRE(var.size() == 11);
  REQUIRE(c0.size() == 11);
  REQUIRE(ct.size() == 11);
  CHECK(var[0] == 0.0);
  CHECK(var[1] == 0.0);  // t = 1: the posterior is the point mass at x_0
  for (std::int64_t t = 2; t <= 10; ++t) {
    const double ab = s.alpha_bar[t], ab_prev = s.alpha_bar[t - 1], beta = s.beta[t];
    CHECK(var[t] == doctest::Approx((1 - ab_prev) * beta / (1 - ab)).epsilon(1e-12));
    CHECK(c0[t] == doctest::Approx(std::sqrt(ab_prev) * beta / (1 - ab)).epsilon(1e-12));
    CHECK(ct[t] == doctest::Approx(std::sqrt(s.alpha[t]) * (1 - ab_prev) / (1 - ab)).epsilon(1e-12));
  }
  CHECK(c0[1] == doctest::Approx(1.0));  // at t = 1 the mean is x_0 itself
  CHECK(ct[1] == doctest::Approx(0.0));
}

TEST_CASE("V3 E9 posterior: Bayes' rule on a grid agrees with the closed form [assignment 8.1]") {
  const CheckResult r = checks::v3();
  INFO(r.detail);
  CHECK(r.passed);
}

TEST_CASE("E18 weight: lambda_t = beta_t^2 / (2 sigma_t^2 alpha_t (1 - abar_t)) with sigma_t^2 = beta_t [assignment 9.1]") {
  const Schedule s = short_schedule();
  const std::vector<double> w = vlb_weight(s, Sigma::Large);
  REQUIRE(w.size() == 11);
  CHECK(w[0] == 0.0);
  for (std::int64_t t = 1; t <= 10; ++t) {
    // With σ_t² = β_t the weight simplifies to β_t / (2 α_t (1 - ᾱ_t)).
    CHECK(w[t] == doctest::Approx(s.beta[t] / (2 * s.alpha[t] * s.one_minus_alpha_bar[t])).epsilon(1e-12));
  }
  const Schedule ho = Schedule::linear();
  const std::vector<double> w_ho = vlb_weight(ho, Sigma::Large);
  CHECK(w_ho[1] == doctest::Approx(0.5 / (1 - 1e-4)).epsilon(1e-9));  // ᾱ_1 = α_1 = 1 - β_1
  CHECK(w_ho[1000] < w_ho[1]);  // the weight falls with t: L_simple drops it (E19)
}

TEST_CASE("E24 DDPM step: the mean of E12 plus sigma_t z, and no noise at t = 1 [assignment 11.1]") {
  const Schedule s = short_schedule();
  Generator gen(111);
  const Tensor x_t = Tensor::randn({2, 3}, kF64, &gen);
  const Tensor eps = Tensor::randn({2, 3}, kF64, &gen);
  const Tensor z = Tensor::randn({2, 3}, kF64, &gen);
  const std::vector<std::int64_t> ts = {7, 1};
  const Tensor out = ddpm_step(s, x_t, steps(ts), eps, z, Sigma::Large);
  std::vector<double> inv_sqrt_a, eps_coef, sigma;
  for (std::int64_t t : ts) {
    inv_sqrt_a.push_back(1 / std::sqrt(s.alpha[t]));
    eps_coef.push_back((1 - s.alpha[t]) / std::sqrt(1 - s.alpha_bar[t]));
    sigma.push_back(t > 1 ? std::sqrt(s.beta[t]) : 0.0);
  }
  const Tensor expected = column(inv_sqrt_a, 2) * (x_t - column(eps_coef, 2) * eps) + column(sigma, 2) * z;
  CHECK(max_abs_diff(out, expected) < 1e-13);
  // Without z the step returns its mean.
  const Tensor mean = ddpm_step(s, x_t, steps(ts), eps, Tensor(), Sigma::Large);
  CHECK(max_abs_diff(mean, model_mean(s, x_t, steps(ts), eps)) < 1e-14);
}

TEST_CASE("E24 DDPM step: with the true noise, t = 1 recovers x_0 exactly [assignment 11.1]") {
  const Schedule s = short_schedule();
  Generator gen(112);
  const Tensor x0 = Tensor::randn({4, 5}, kF64, &gen);
  const Tensor eps = Tensor::randn({4, 5}, kF64, &gen);
  const Tensor t = Tensor::full({4}, 1.0, {.dtype = DType::Int64});
  const Tensor x1 = std::sqrt(s.alpha_bar[1]) * x0 + std::sqrt(1 - s.alpha_bar[1]) * eps;
  const Tensor z = Tensor::randn({4, 5}, kF64, &gen);
  CHECK(max_abs_diff(ddpm_step(s, x1, t, eps, z, Sigma::Large), x0) < 1e-12);
}

TEST_CASE("E25 DDIM step: eta = 0 is deterministic and exact for the true noise [assignment 11.2]") {
  Generator gen(121);
  const Tensor x0 = Tensor::randn({3, 4}, kF64, &gen);
  const Tensor eps = Tensor::randn({3, 4}, kF64, &gen);
  const double ab_t = 0.3, ab_prev = 0.7;
  const Tensor x_t = std::sqrt(ab_t) * x0 + std::sqrt(1 - ab_t) * eps;
  const Tensor noise = Tensor::randn({3, 4}, kF64, &gen);
  // η = 0: x_prev = √ᾱ_prev x̂_0 + √(1-ᾱ_prev) ε, and x̂_0 = x_0 for the true ε.
  const Tensor out = ddim_step(x_t, eps, ab_t, ab_prev, 0.0, noise);
  const Tensor expected = std::sqrt(ab_prev) * x0 + std::sqrt(1 - ab_prev) * eps;
  CHECK(max_abs_diff(out, expected) < 1e-13);
  CHECK(max_abs_diff(ddim_step(x_t, eps, ab_t, ab_prev, 0.0, Tensor()), out) == 0.0);
}

TEST_CASE("E25 DDIM step: eta > 0 splits the noise between the direction and sigma_t [assignment 11.2]") {
  Generator gen(122);
  const Tensor x_t = Tensor::randn({2, 6}, kF64, &gen);
  const Tensor eps = Tensor::randn({2, 6}, kF64, &gen);
  const Tensor noise = Tensor::randn({2, 6}, kF64, &gen);
  const double ab_t = 0.2, ab_prev = 0.5, eta = 0.7;
  const double sigma = eta * std::sqrt((1 - ab_prev) / (1 - ab_t)) * std::sqrt(1 - ab_t / ab_prev);
  const Tensor x0_hat = (x_t - std::sqrt(1 - ab_t) * eps) / std::sqrt(ab_t);
  const Tensor expected = std::sqrt(ab_prev) * x0_hat +
                          std::sqrt(1 - ab_prev - sigma * sigma) * eps + sigma * noise;
  CHECK(max_abs_diff(ddim_step(x_t, eps, ab_t, ab_prev, eta, noise), expected) < 1e-13);
}
