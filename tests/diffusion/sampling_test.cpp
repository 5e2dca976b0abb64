// The samplers (E24-E26, E39) and the analytic oracle (E27): one test per verification
// of EQUATIONS.md §8 (V10, V11, V12, V17, V18, each running the check `kiln verify`
// prints), then value tests and float64 gradient checks of the pieces.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "diffusion/checks_sampling.h"
#include "diffusion/oracle.h"
#include "diffusion/posterior.h"
#include "diffusion/sampler.h"
#include "diffusion/schedule.h"
#include "kiln.h"

using namespace kiln;
using namespace kiln::diffusion;

namespace {

void require_passed(const CheckResult& r) {
  MESSAGE(r.id << ": error " << r.error << " <= tolerance " << r.tolerance);
  INFO(r.id << ": error " << r.error << ", tolerance " << r.tolerance << "\n" << r.detail);
  CHECK(r.passed);
}

GaussianMixture mixture_2d() {
  return GaussianMixture({0.3, 0.5, 0.2}, {{-1.5, 0.5}, {1.0, 1.0}, {0.5, -1.5}},
                         {{0.09, 0.25}, {0.25, 0.16}, {0.16, 0.36}});
}

double max_abs(const Tensor& x) { return x.abs().max().item(); }

}  // namespace

// ---- the verifications ------------------------------------------------------------------

TEST_CASE("V10 E27: mixture score matches autograd, eps* is E[eps|x_t] and minimises L_simple") {
  require_passed(check_v10());
}

TEST_CASE("V11 E24-E26: samplers with the analytic eps* reproduce the Gaussian mixture") {
  require_passed(check_v11());
}

TEST_CASE("V12 E25: DDIM eta=1 one-step mean/variance equal DDPM with beta~; eta=0 deterministic") {
  require_passed(check_v12());
}

TEST_CASE("V17 E25-E26: the DDIM kernel marginalises to q(x_prev | x_0) for any eta and steps") {
  require_passed(check_v17());
}

TEST_CASE("V18 E39: DDIM inversion then generation reconstructs x_0, better with more steps") {
  require_passed(check_v18());
}

TEST_CASE("sampling_checks lists V10, V11, V12, V14, V17, V18") {
  std::vector<std::string> ids;
  for (const Check& c : sampling_checks()) ids.push_back(c.id);
  CHECK(ids == std::vector<std::string>{"V10", "V11", "V12", "V14", "V17", "V18"});
  CHECK(normal_quantile(0.975) == doctest::Approx(1.959963984540054).epsilon(1e-12));
  CHECK(bonferroni_z(0.05, 1) == doctest::Approx(1.959963984540054).epsilon(1e-12));
}

// ---- E27: the oracle ----------------------------------------------------------------------

TEST_CASE("E27 oracle: log q_t, score, eps* and E[x0|x_t] against direct formulas") {
  const GaussianMixture gm = mixture_2d();
  const double ab = 0.37;
  const Tensor x = Tensor::tensor({{0.3, -0.8}, {-1.1, 0.4}, {2.0, 1.5}}, {.dtype = kFloat64});
  const std::vector<double> lq = gm.log_q(x, ab).to_vector<double>();
  const Tensor score = gm.score(x, ab), eps = gm.eps_star(x, ab);
  const Tensor x0m = gm.x0_mean(x, Tensor::scalar(ab, {.dtype = kFloat64}));
  for (std::int64_t i = 0; i < 3; ++i) {
    // q_t(x) = Σ_k w_k Π_d N(x_d; √ᾱ μ_kd, ᾱσ²_kd + 1 - ᾱ), in plain doubles.
    double q = 0, grad[2] = {0, 0}, post[2] = {0, 0};
    std::vector<double> joint(3);
    for (size_t k = 0; k < 3; ++k) {
      double density = gm.weights[k];
      for (size_t d = 0; d < 2; ++d) {
        const double m = std::sqrt(ab) * gm.means[k][d], v = ab * gm.variances[k][d] + 1 - ab;
        const double xd = x.at({i, static_cast<std::int64_t>(d)});
        density *= std::exp(-0.5 * (xd - m) * (xd - m) / v) / std::sqrt(2 * std::numbers::pi * v);
      }
      joint[k] = density;
      q += density;
    }
    CHECK(lq[static_cast<size_t>(i)] == doctest::Approx(std::log(q)).epsilon(1e-13));
    for (size_t k = 0; k < 3; ++k)
      for (size_t d = 0; d < 2; ++d) {
        const double m = std::sqrt(ab) * gm.means[k][d], v = ab * gm.variances[k][d] + 1 - ab;
        const double xd = x.at({i, static_cast<std::int64_t>(d)});
        grad[d] += joint[k] / q * (m - xd) / v;
        post[d] += joint[k] / q * (gm.means[k][d] + std::sqrt(ab) * gm.variances[k][d] / v * (xd - m));
      }
    for (std::int64_t d = 0; d < 2; ++d) {
      CHECK(score.at({i, d}) == doctest::Approx(grad[d]).epsilon(1e-12));
      CHECK(eps.at({i, d}) == doctest::Approx(-std::sqrt(1 - ab) * grad[d]).epsilon(1e-12));
      CHECK(x0m.at({i, d}) == doctest::Approx(post[d]).epsilon(1e-12));
    }
  }
  // Per-sample levels give the same as one shared level; [B, ...] shapes round-trip.
  const Tensor per_sample = gm.eps_star(x, Tensor::full({3}, ab, {.dtype = kFloat64}));
  CHECK(max_abs(per_sample - eps) < 1e-15);
  CHECK(gm.eps_star(x.reshape({3, 2, 1}), ab).shape() == Shape{3, 2, 1});
  CHECK(max_abs(gm.responsibilities(x, Tensor::scalar(ab, {.dtype = kFloat64})).sum({1}) - 1.0) < 1e-15);
  CHECK_THROWS_AS(gm.log_q(Tensor::zeros({3, 3}, {.dtype = kFloat64}), ab), kiln::Error);
  CHECK_THROWS_AS(GaussianMixture({0.5, 0.4}, {{0.0}, {1.0}}, {{1.0}, {1.0}}), kiln::Error);
}

TEST_CASE("E27 oracle: sampling the mixture, its moments, and as_model in both times") {
  const GaussianMixture gm = mixture_2d();
  Generator gen(5);
  const Tensor x = gm.sample(40000, &gen);
  CHECK(x.shape() == Shape{40000, 2});
  const std::vector<double> mean = gm.mean(), var = gm.variance();
  for (std::int64_t d = 0; d < 2; ++d) {
    const Tensor col = x.select(1, d);
    // 5 standard errors of a 40000-sample mean / variance.
    CHECK(std::abs(col.mean().item() - mean[d]) < 5 * std::sqrt(var[d] / 40000));
    CHECK(std::abs(col.var().item() - var[d]) < 5 * var[d] * std::sqrt(3.0 / 40000));
    const double p = gm.cdf(d, 0.0);
    CHECK(std::abs((col < 0.0).mean().item() - p) < 5 * std::sqrt(p * (1 - p) / 40000));
  }
  Generator again(5);
  CHECK(max_abs(gm.sample(40000, &again) - x) == 0);  // reproducible
  CHECK(gm.sample(10, &gen, kFloat32).dtype() == kFloat32);

  // as_model: int64 timesteps of the schedule; float τ through the rates.
  const Schedule s = Schedule::linear(1000);
  const Tensor xt = x.narrow(0, 0, 4);
  const Tensor t = Tensor::tensor({1, 10, 500, 1000}, {.dtype = kInt64});
  const Tensor mixed = gm.as_model(s)(xt, t);
  for (std::int64_t i = 0; i < 4; ++i) {
    const double ab = s.alpha_bar[static_cast<size_t>(t.at({i}))];
    CHECK(max_abs(mixed.select(0, i) - gm.eps_star(xt.narrow(0, i, 1), ab).squeeze(0)) < 1e-15);
  }
  const RatesFn rates = [](const Tensor& tau) { return offset_cosine_rates(tau); };
  const Tensor tau = Tensor::full({4}, 0.3, {.dtype = kFloat64});
  const double signal = offset_cosine_rates(0.3).first;
  CHECK(max_abs(gm.as_model(rates)(xt, tau) - gm.eps_star(xt, signal * signal)) < 1e-15);
  CHECK_THROWS_AS(gm.as_model(s)(xt, tau), kiln::Error);  // float time for a discrete model
}

TEST_CASE("E27 gradcheck: log q_t and the score wrt x_t (and abar), float64") {
  const GaussianMixture gm = mixture_2d();
  Generator gen(9);
  const Tensor x = Tensor::randn({4, 2}, {.dtype = kFloat64}, &gen).requires_grad_();
  const Tensor ab = Tensor::tensor({0.2, 0.5, 0.9, 0.99}, {.dtype = kFloat64}).requires_grad_();
  auto log_q = [&](const std::vector<Tensor>& in) { return gm.log_q(in[0], in[1]); };
  auto score = [&](const std::vector<Tensor>& in) { return gm.score(in[0], in[1]); };
  auto eps = [&](const std::vector<Tensor>& in) { return gm.eps_star(in[0], in[1]); };
  auto x0 = [&](const std::vector<Tensor>& in) { return gm.x0_mean(in[0], in[1]); };
  for (const auto& [name, f] : std::vector<std::pair<const char*, autograd::GradcheckFn>>{
           {"log_q", log_q}, {"score", score}, {"eps_star", eps}, {"x0_mean", x0}}) {
    const autograd::GradcheckResult r = autograd::gradcheck(f, {x, ab});
    INFO(name << ": " << r.message);
    CHECK(r.ok);
  }
}

// ---- E24: DDPM --------------------------------------------------------------------------

TEST_CASE("E24 DDPM step: mean is E12, noise scaled by sqrt(sigma^2), z = 0 at t = 1, clipping") {
  const Schedule s = Schedule::linear(1000);
  Generator gen(3);
  const Tensor x = Tensor::randn({5, 3}, {.dtype = kFloat64}, &gen);
  const Tensor eps = Tensor::randn({5, 3}, {.dtype = kFloat64}, &gen);
  const Tensor z = Tensor::randn({5, 3}, {.dtype = kFloat64}, &gen);
  const Tensor t = Tensor::tensor({1, 2, 10, 500, 1000}, {.dtype = kInt64});
  const Tensor mean = model_mean(s, x, t, eps);
  // (1/√α_t)(x_t - (1-α_t)/√(1-ᾱ_t) ε) written out for one row
  const double a = s.alpha[500], ab = s.alpha_bar[500];
  CHECK(mean.at({3, 1}) == doctest::Approx((x.at({3, 1}) - (1 - a) / std::sqrt(1 - ab) * eps.at({3, 1})) / std::sqrt(a)).epsilon(1e-14));
  CHECK(max_abs(ddpm_step(s, x, t, eps, Tensor(), Sigma::Large) - mean) == 0);
  const std::vector<double> beta_tilde = posterior_variance(s);
  for (Sigma sigma : {Sigma::Large, Sigma::Small}) {
    const Tensor y = ddpm_step(s, x, t, eps, z, sigma);
    for (std::int64_t i = 0; i < 5; ++i) {
      const auto ti = static_cast<size_t>(t.at({i}));
      const double sd = ti == 1 ? 0.0 : std::sqrt(sigma == Sigma::Large ? s.beta[ti] : beta_tilde[ti]);
      CHECK(max_abs(y.select(0, i) - mean.select(0, i) - sd * z.select(0, i)) < 1e-15);
    }
  }
  // Clipping: nothing to clip -> the same step to rounding; otherwise E9 at the clipped x̂_0.
  const Tensor small_x = x * 1e-3, small_eps = Tensor::zeros_like(x);
  const Tensor tt = Tensor::full({5}, 3, {.dtype = kInt64});
  CHECK(max_abs(ddpm_step(s, small_x, tt, small_eps, z, Sigma::Small, true) -
                ddpm_step(s, small_x, tt, small_eps, z, Sigma::Small, false)) < 1e-14);
  const Tensor clipped = ddpm_step(s, x * 50.0, t, eps, Tensor(), Sigma::Large, true);
  const Tensor x0c = clamp(predict_x0_from_eps(s, x * 50.0, t, eps), -1.0, 1.0);
  CHECK(max_abs(clipped - posterior_mean(s, x0c, x * 50.0, t)) < 1e-12);
  CHECK_THROWS_AS(ddpm_step(s, x, t, eps.narrow(0, 0, 2), z, Sigma::Large), kiln::Error);
}

TEST_CASE("E24 sample_ddpm: seeds reproduce, the model sees base timesteps, trajectories") {
  const Schedule base = Schedule::linear(100);
  const Schedule r = respace(base, space_timesteps(100, "ddim10"));
  std::vector<std::int64_t> seen;
  const EpsModel model = [&](const Tensor& x, const Tensor& t) {
    seen.push_back(static_cast<std::int64_t>(t.at({0})));
    CHECK(t.dtype() == kInt64);
    CHECK(t.shape() == Shape{x.size(0)});
    return 0.1 * x;
  };
  Generator g1(11), g2(11), g3(12);
  const Tensor x_T = Tensor::randn({6, 2, 2});
  const SampleResult a = sample_ddpm(r, model, x_T, {.gen = &g1, .trajectory = 2, .trajectory_every = 3});
  CHECK(seen == std::vector<std::int64_t>{100, 90, 80, 70, 60, 50, 40, 30, 20, 10});
  const SampleResult b = sample_ddpm(r, model, x_T, {.gen = &g2});
  const SampleResult c = sample_ddpm(r, model, x_T, {.gen = &g3});
  CHECK(a.x.dtype() == kFloat32);
  CHECK(a.x.shape() == x_T.shape());
  CHECK(max_abs(a.x - b.x) == 0);
  CHECK(max_abs(a.x - c.x) > 0);
  // Moments 0, 3, 6, 9 and the end; each [2, 2, 2]; times base timesteps, 0 at the end.
  REQUIRE(a.path.size() == 5);
  CHECK(a.path_x0.size() == 5);
  CHECK(a.path_time == std::vector<double>{100, 70, 40, 10, 0});
  CHECK(a.path.front().shape() == Shape{2, 2, 2});
  CHECK(max_abs(a.path.front() - x_T.narrow(0, 0, 2)) == 0);
  CHECK(max_abs(a.path.back() - a.x.narrow(0, 0, 2)) == 0);
  CHECK(a.x0_hat.shape() == x_T.shape());
  CHECK(b.path.empty());
  // x_0 = μ_θ(x_1, 1) = E10's x̂_0 at t = 1 (ᾱ_0 = 1): x and x0_hat agree.
  CHECK(max_abs(a.x - a.x0_hat) < 1e-5);
}

// ---- E25, E26: DDIM ------------------------------------------------------------------------

TEST_CASE("E25 DDIM step: sigma(eta), deterministic eta = 0, eta = 1 is the DDPM posterior") {
  const Schedule s = Schedule::linear(1000);
  const std::vector<double> beta_tilde = posterior_variance(s);
  for (std::int64_t t : {2, 50, 999}) {
    const double ab = s.alpha_bar[t], prev = s.alpha_bar[t - 1];
    CHECK(ddim_sigma(ab, prev, 1.0) * ddim_sigma(ab, prev, 1.0) == doctest::Approx(beta_tilde[t]).epsilon(1e-10));
    CHECK(ddim_sigma(ab, prev, 0.5) == doctest::Approx(0.5 * ddim_sigma(ab, prev, 1.0)).epsilon(1e-14));
    CHECK(ddim_sigma(ab, prev, 0.0) == 0);
  }
  Generator gen(4);
  const Tensor x = Tensor::randn({8}, {.dtype = kFloat64}, &gen);
  const Tensor eps = Tensor::randn({8}, {.dtype = kFloat64}, &gen);
  const Tensor n1 = Tensor::randn({8}, {.dtype = kFloat64}, &gen);
  const Tensor n2 = Tensor::randn({8}, {.dtype = kFloat64}, &gen);
  const double ab = s.alpha_bar[400], prev = s.alpha_bar[380];
  CHECK(max_abs(ddim_step(x, eps, ab, prev, 0.0, n1) - ddim_step(x, eps, ab, prev, 0.0, n2)) == 0);
  // The step written out: √ᾱ_prev x̂_0 + √(1-ᾱ_prev-σ²) ε + σ n.
  const double sigma = ddim_sigma(ab, prev, 0.7);
  const Tensor x0 = (x - std::sqrt(1 - ab) * eps) / std::sqrt(ab);
  const Tensor expect = std::sqrt(prev) * x0 + std::sqrt(1 - prev - sigma * sigma) * eps + sigma * n1;
  CHECK(max_abs(ddim_step(x, eps, ab, prev, 0.7, n1) - expect) < 1e-14);
  // Clipping: x̂_0 clipped into [-1, 1], the direction re-derived from it.
  const Tensor big = x * 40.0;
  const Tensor x0c = clamp((big - std::sqrt(1 - ab) * eps) / std::sqrt(ab), -1.0, 1.0);
  const Tensor dir = (big - std::sqrt(ab) * x0c) / std::sqrt(1 - ab);
  CHECK(max_abs(ddim_step(big, eps, ab, prev, 0.0, Tensor(), true) - (std::sqrt(prev) * x0c + std::sqrt(1 - prev) * dir)) < 1e-12);
  CHECK_THROWS_AS(ddim_step(x, eps, 0.0, prev, 0.0, Tensor()), kiln::Error);
  CHECK_THROWS_AS(ddim_sigma(0.5, 0.4, 1.0), kiln::Error);  // levels in the wrong order
}

TEST_CASE("E25 gradcheck: DDIM step and DDPM step wrt x_t and eps, float64") {
  const Schedule s = Schedule::linear(1000);
  Generator gen(8);
  const Tensor x = Tensor::randn({3, 2}, {.dtype = kFloat64}, &gen).requires_grad_();
  const Tensor eps = Tensor::randn({3, 2}, {.dtype = kFloat64}, &gen).requires_grad_();
  const Tensor noise = Tensor::randn({3, 2}, {.dtype = kFloat64}, &gen);
  const Tensor t = Tensor::tensor({2, 300, 1000}, {.dtype = kInt64});
  const double ab = s.alpha_bar[300], prev = s.alpha_bar[250];
  const autograd::GradcheckResult ddim = autograd::gradcheck(
      [&](const std::vector<Tensor>& in) { return ddim_step(in[0], in[1], ab, prev, 0.6, noise); }, {x, eps});
  INFO(ddim.message);
  CHECK(ddim.ok);
  const autograd::GradcheckResult inv = autograd::gradcheck(
      [&](const std::vector<Tensor>& in) { return ddim_invert_step(in[0], in[1], prev, ab); }, {x, eps});
  CHECK(inv.ok);
  const autograd::GradcheckResult ddpm = autograd::gradcheck(
      [&](const std::vector<Tensor>& in) { return ddpm_step(s, in[0], t, in[1], noise, Sigma::Small); }, {x, eps});
  CHECK(ddpm.ok);
}

TEST_CASE("E26 strided sampling: DDIM over kept steps = DDIM on the respaced schedule") {
  const Schedule base = Schedule::linear(1000);
  const std::vector<std::int64_t> steps = {1, 5, 60, 200, 999, 1000};
  std::vector<std::int64_t> seen;
  const EpsModel model = [&](const Tensor& x, const Tensor& t) {
    seen.push_back(static_cast<std::int64_t>(t.at({0})));
    return (0.3 * x).tanh();
  };
  const Tensor x_T = Tensor::randn({4, 3}, {.dtype = kFloat64});
  const Tensor a = sample_strided(base, steps, model, x_T).x;
  CHECK(seen == std::vector<std::int64_t>{1000, 999, 200, 60, 5, 1});
  // By hand: E25 with η = 0 from ᾱ_{τ_i} to ᾱ_{τ_{i-1}}, ᾱ_0 = 1.
  Tensor x = x_T;
  for (size_t i = steps.size(); i >= 1; --i) {
    const double ab = base.alpha_bar[steps[i - 1]], prev = i >= 2 ? base.alpha_bar[steps[i - 2]] : 1.0;
    const Tensor eps = (0.3 * x).tanh();
    x = std::sqrt(prev) * (x - std::sqrt(1 - ab) * eps) / std::sqrt(ab) + std::sqrt(1 - prev) * eps;
  }
  CHECK(max_abs(a - x) < 1e-12);
  // η > 0 draws from the generator; η = 0 does not.
  Generator g(1);
  sample_strided(base, steps, model, x_T, {.eta = 0.0, .gen = &g});
  CHECK(g.offset() == 0);
  sample_strided(base, steps, model, x_T, {.eta = 1.0, .gen = &g});
  CHECK(g.offset() > 0);
}

TEST_CASE("E26 continuous time: the Keras chapter's reverse_diffusion loop, step for step") {
  const RatesFn rates = [](const Tensor& tau) { return offset_cosine_rates(tau); };
  const GaussianMixture gm = mixture_2d();
  const EpsModel model = gm.as_model(rates);
  const std::int64_t S = 20;
  Generator gen(21);
  const Tensor noise = Tensor::randn({16, 2}, {.dtype = kFloat64}, &gen);
  const SampleResult r = sample_continuous(rates, S, model, noise, {.trajectory = 1});
  // The chapter's loop (Example 8-11): τ = 1 - step/S; pred = (x - n ε̂)/s; x = s' pred + n' ε̂.
  Tensor x = noise, pred;
  const double step_size = 1.0 / static_cast<double>(S);
  for (std::int64_t step = 0; step < S; ++step) {
    const double tau = 1.0 - static_cast<double>(step) * step_size;
    const auto [signal, noise_rate] = offset_cosine_rates(tau);
    const Tensor eps = model(x, Tensor::full({16}, tau, {.dtype = kFloat64}));
    pred = (x - noise_rate * eps) / signal;
    const auto [next_signal, next_noise] = offset_cosine_rates(tau - step_size);
    x = next_signal * pred + next_noise * eps;
  }
  CHECK(max_abs(r.x0_hat - pred) < 1e-10);  // the chapter's return value
  CHECK(max_abs(r.x - x) < 1e-10);          // where the chain ends, τ = 0
  CHECK(r.path_time.front() == 1.0);
  CHECK(r.path_time.back() == 0.0);
  CHECK(r.path.size() == static_cast<size_t>(S + 1));
  // A network taking the noise variance: the wrapper hands it noise(τ)².
  double seen = -1;
  const EpsModel wrapped = time_as_noise_variance(
      [&](const Tensor& xx, const Tensor& v) { seen = v.at({0}); return Tensor::zeros_like(xx); }, rates);
  wrapped(noise, Tensor::full({16}, 0.25, {.dtype = kFloat64}));
  CHECK(seen == doctest::Approx(std::pow(offset_cosine_rates(0.25).second, 2)).epsilon(1e-14));
}

// ---- E39: inversion -------------------------------------------------------------------------

TEST_CASE("E39 DDIM inversion: exact round trip when eps does not depend on x; model times") {
  const Schedule base = Schedule::linear(1000);
  const Schedule r = respace(base, space_timesteps(1000, "ddim25"));
  // With ε_θ independent of x_t the E39 step is the exact inverse of the E25 step (same ε
  // at the same time), so inversion then generation is the identity up to rounding.
  std::vector<std::int64_t> seen;
  const EpsModel model = [&](const Tensor& x, const Tensor& t) {
    seen.push_back(static_cast<std::int64_t>(t.at({0})));
    return Tensor::full_like(x, 0.05 * static_cast<double>(t.at({0})) / 1000.0);
  };
  Generator gen(2);
  const Tensor x0 = Tensor::randn({10, 3}, {.dtype = kFloat64}, &gen);
  const SampleResult inv = ddim_invert(r, model, x0, {.trajectory = 3});
  REQUIRE(seen.size() == 25);
  CHECK(seen.front() == r.timestep_map[1]);  // the step from x_0 is evaluated at t_1, never 0
  CHECK(seen.back() == 1000);
  CHECK(inv.path.size() == 26);
  CHECK(inv.path_x0.empty());
  const Tensor back = sample_ddim(r, model, inv.x).x;
  CHECK(max_abs(back - x0) < 1e-10);
  // One step up then one down with the same ε.
  const Tensor eps = Tensor::randn({10, 3}, {.dtype = kFloat64}, &gen);
  const double lo = base.alpha_bar[100], hi = base.alpha_bar[40];
  const Tensor up = ddim_invert_step(x0, eps, hi, lo);
  CHECK(max_abs(ddim_step(up, eps, lo, hi, 0.0, Tensor()) - x0) < 1e-13);
}

TEST_CASE("E24 E25 samplers check their inputs") {
  const Schedule s = Schedule::linear(10);
  const EpsModel bad = [](const Tensor& x, const Tensor&) { return x.narrow(0, 0, 1); };
  const Tensor x = Tensor::randn({3, 2});
  CHECK_THROWS_AS(sample_ddpm(s, bad, x), kiln::Error);
  CHECK_THROWS_AS(sample_ddim(s, bad, x), kiln::Error);
  const EpsModel good = [](const Tensor& xx, const Tensor&) { return xx * 0.0; };
  CHECK_THROWS_AS(sample_ddim(s, good, x, {.trajectory = -1}), kiln::Error);
  CHECK_THROWS_AS(sample_continuous([](const Tensor& tau) { return cosine_rates(tau); }, 0, good, x), kiln::Error);
  // E3a reaches signal cos(π/2) ≈ 6e-17 at τ = 1, where E10 cannot recover x̂_0.
  CHECK_THROWS_AS(sample_continuous([](const Tensor& tau) { return cosine_rates(tau); }, 10, good, x), kiln::Error);
}
