// The process side of the diffusion module: schedules (E1-E3b, E8, E38), the forward
// process (E4-E7), the posterior (E9-E13, E27, E37), the bound (E14-E22, E33) and the
// losses (E19, E23, E40, E41). One test case per verification V1-V9, V15, V16, V19,
// V21, V22 (each asserts its check passes within its stated tolerance), and float64
// gradient checks of every differentiable equation.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <numbers>
#include <vector>

#include "diffusion/bound.h"
#include "diffusion/checks.h"
#include "diffusion/forward.h"
#include "diffusion/loss.h"
#include "diffusion/posterior.h"
#include "diffusion/schedule.h"
#include "kiln.h"

using namespace kiln;
using namespace kiln::diffusion;
using autograd::gradcheck;

namespace {

constexpr Options kF64{.dtype = DType::Float64};

Tensor leaf(const Shape& shape, Generator& gen, double scale = 1.0, double shift = 0.0) {
  return (Tensor::randn(shape, kF64, &gen) * scale + shift).detach().requires_grad_();
}

double max_abs_of(const Tensor& x) { return amax(abs(x)).item(); }

Tensor int_steps(const std::vector<std::int64_t>& ts) {
  return Tensor::from_vector(ts, {static_cast<std::int64_t>(ts.size())}, {.dtype = DType::Int64});
}

void expect_gradcheck(const autograd::GradcheckFn& f, const std::vector<Tensor>& inputs,
                      double atol = 1e-6, double rtol = 1e-5) {
  const auto r = gradcheck(f, inputs, 1e-6, atol, rtol);
  INFO(r.message);
  CHECK(r.ok);
}

void expect_check(const CheckResult& r) {
  INFO(r.id << ": error " << r.error << ", tolerance " << r.tolerance << "\n" << r.detail);
  CHECK(r.passed);
  CHECK(r.error <= r.tolerance);
}

// A tiny network from raw tensors: ε_θ(x, t) = tanh(x W1 + b1 + (t/T) c) W2 + b2, x [B, 2].
struct TinyMlp {
  Tensor w1, b1, w2, b2, c;
  std::int64_t T;
  explicit TinyMlp(std::int64_t T_, std::uint64_t seed = 11) : T(T_) {
    Generator gen(seed);
    w1 = leaf({2, 8}, gen, 0.5);
    b1 = leaf({8}, gen, 0.1);
    w2 = leaf({8, 2}, gen, 0.5);
    b2 = leaf({2}, gen, 0.1);
    c = Tensor::randn({8}, kF64, &gen);
  }
  std::vector<Tensor> params() const { return {w1, b1, w2, b2}; }
  Tensor forward(const std::vector<Tensor>& p, const Tensor& x, const Tensor& t) const {
    const Tensor tf = t.to(x.dtype()).reshape({-1, 1}) / static_cast<double>(T);
    return tanh(x.matmul(p[0]) + p[1] + tf * c).matmul(p[2]) + p[3];
  }
};

}  // namespace

// ---- schedules ----------------------------------------------------------------------

TEST_CASE("E1 E2 linear schedule: Ho et al.'s table, t = 0 convention, float64 product") {
  const Schedule s = Schedule::linear();
  REQUIRE(s.T == 1000);
  REQUIRE(s.beta.size() == 1001);
  CHECK(s.beta[0] == 0);
  CHECK(s.alpha[0] == 1);
  CHECK(s.alpha_bar[0] == 1);
  CHECK(s.beta[1] == 1e-4);
  CHECK(s.beta[1000] == 0.02);
  CHECK(s.beta[500] == doctest::Approx(1e-4 + 499.0 / 999 * (0.02 - 1e-4)).epsilon(1e-14));
  CHECK(s.alpha_bar[1] == s.alpha[1]);  // the product starts at t = 1
  CHECK(s.alpha_bar[2] == s.alpha[1] * s.alpha[2]);
  CHECK(s.alpha_bar[1000] == doctest::Approx(4.036e-5).epsilon(1e-3));
  CHECK(s.one_minus_alpha_bar[1] == doctest::Approx(1e-4).epsilon(1e-15));
  CHECK(Schedule::linear(1, 0.3, 0.3).beta[1] == 0.3);
  CHECK_THROWS_AS(Schedule::linear(0), Error);
  CHECK_THROWS_AS(Schedule::from_betas({0.1, 0.0}), Error);
  CHECK_THROWS_AS(Schedule::from_betas({0.1, 1.5}), Error);
}

TEST_CASE("E3 cosine schedule: f(t)/f(0) and the 0.999 clip") {
  const Schedule s = Schedule::cosine(1000);
  auto f = [](double t) {
    const double c = std::cos((t / 1000 + 0.008) / 1.008 * std::numbers::pi / 2);
    return c * c;
  };
  CHECK(s.alpha_bar[500] == doctest::Approx(f(500) / f(0)).epsilon(1e-12));
  CHECK(s.beta[1000] == 0.999);
  CHECK(s.beta[999] < 0.999);
  CHECK(Schedule::cosine(10, 0.008, 0.5).beta[10] == 0.5);
}

TEST_CASE("E3a E3b E8 continuous rates and SNR: values and gradients") {
  const auto [s0, n0] = offset_cosine_rates(0.0);
  const auto [s1, n1] = offset_cosine_rates(1.0);
  CHECK(s0 == doctest::Approx(0.95).epsilon(1e-15));
  CHECK(s1 == doctest::Approx(0.02).epsilon(1e-14));
  CHECK(n0 == doctest::Approx(std::sqrt(1 - 0.95 * 0.95)).epsilon(1e-14));
  const auto [c, s] = cosine_rates(0.5);
  CHECK(c == doctest::Approx(std::sqrt(0.5)));
  CHECK(s == doctest::Approx(std::sqrt(0.5)));
  const std::vector<double> r = snr(Schedule::linear(10, 0.1, 0.2));
  CHECK(std::isinf(r[0]));
  for (std::int64_t t = 2; t <= 10; ++t) CHECK(r[t] < r[t - 1]);
  Generator gen(1);
  Tensor tau = (Tensor::rand({5}, kF64, &gen) * 0.9 + 0.05).detach().requires_grad_();
  expect_gradcheck([](const std::vector<Tensor>& in) { return cosine_rates(in[0]).signal * 2.0 + cosine_rates(in[0]).noise; }, {tau});
  expect_gradcheck([](const std::vector<Tensor>& in) { const Rates r = offset_cosine_rates(in[0]); return r.signal - 3.0 * r.noise; }, {tau});
  expect_gradcheck([](const std::vector<Tensor>& in) { return snr(square(offset_cosine_rates(in[0]).signal)); }, {tau});
}

TEST_CASE("Schedule::at gathers [B, 1, ..., 1] in the asked dtype, cast once") {
  const Schedule s = Schedule::linear();
  const Tensor t = int_steps({1, 500, 1000});
  const Tensor c = s.at(s.alpha_bar, t, 4, DType::Float32);
  CHECK(c.shape() == Shape{3, 1, 1, 1});
  CHECK(c.dtype() == DType::Float32);
  CHECK(c.to_vector<float>()[1] == static_cast<float>(s.alpha_bar[500]));
  const Tensor like = Tensor::zeros({3, 2, 5}, kF64);
  CHECK(s.at(s.beta, t, like).shape() == Shape{3, 1, 1});
  CHECK_THROWS_AS(s.at(s.beta, int_steps({1001}), like), Error);
  CHECK_THROWS_AS(s.at(std::vector<double>(5, 0.0), t, like), Error);
  CHECK_THROWS_AS(s.at(s.beta, Tensor::ones({3}), like), Error);  // float t
}

TEST_CASE("E38 space_timesteps: ddimN, uniformN and section counts (Improved DDPM, one-based)") {
  std::vector<std::int64_t> ddim50;
  for (std::int64_t t = 20; t <= 1000; t += 20) ddim50.push_back(t);
  CHECK(space_timesteps(1000, "ddim50") == ddim50);
  CHECK(space_timesteps(10, "ddim3") == std::vector<std::int64_t>{2, 6, 10});
  CHECK(space_timesteps(10, "uniform5") == std::vector<std::int64_t>{1, 3, 5, 8, 10});  // round half even
  CHECK(space_timesteps(10, "5") == space_timesteps(10, "uniform5"));
  CHECK(space_timesteps(10, "2,2") == std::vector<std::int64_t>{1, 5, 6, 10});
  CHECK(space_timesteps(10, "1") == std::vector<std::int64_t>{10});
  const auto sections = space_timesteps(1000, "10,15,20");
  CHECK(sections.size() == 45);
  CHECK(sections.front() == 1);
  CHECK(sections.back() == 1000);
  CHECK_THROWS_AS(space_timesteps(10, "ddim11"), Error);
  CHECK_THROWS_AS(space_timesteps(10, "11"), Error);
  CHECK_THROWS_AS(space_timesteps(10, "ddimx"), Error);
  CHECK_THROWS_AS(respace(Schedule::linear(10), {3, 2}), Error);
  CHECK_THROWS_AS(respace(Schedule::linear(10), {0, 2}), Error);
}

TEST_CASE("E38 respace: kept ᾱ, β' from ratios, timestep_map and base_timesteps") {
  const Schedule base = Schedule::linear(100, 1e-3, 0.05);
  const Schedule r = respace(base, {10, 50, 100});
  REQUIRE(r.T == 3);
  CHECK(r.alpha_bar[2] == base.alpha_bar[50]);
  CHECK(r.beta[2] == doctest::Approx(1 - base.alpha_bar[50] / base.alpha_bar[10]).epsilon(1e-13));
  CHECK(r.beta[1] == doctest::Approx(1 - base.alpha_bar[10]).epsilon(1e-13));
  CHECK(r.timestep_map == std::vector<std::int64_t>{0, 10, 50, 100});
  CHECK(r.base_timesteps(int_steps({3, 1})).to_vector<std::int64_t>() == std::vector<std::int64_t>{100, 10});
  CHECK(base.base_timesteps(int_steps({7})).to_vector<std::int64_t>()[0] == 7);
  // A respaced schedule works with every function of the module: E9's β̃ from its β'.
  const std::vector<double> bt = posterior_variance(r);
  CHECK(bt[2] == doctest::Approx((1 - base.alpha_bar[10]) / (1 - base.alpha_bar[50]) * r.beta[2]).epsilon(1e-12));
}

// ---- the forward process ------------------------------------------------------------

TEST_CASE("E4 E5 E6 E7: one step, variance preservation, merging, the marginal") {
  const Schedule s = Schedule::linear();
  CHECK(q_step_variance(0.9) == doctest::Approx(1.0).epsilon(1e-15));
  CHECK(q_step_variance(0.9, 0.5) == doctest::Approx(0.9 * 0.5 + 0.1));
  CHECK(merged_variance(0.9, 0.8) == doctest::Approx(1 - 0.9 * 0.8).epsilon(1e-15));
  const Tensor x0 = Tensor::tensor({0.5, -1.0}, kF64).reshape({2, 1});
  const Tensor eps = Tensor::tensor({0.3, 0.1}, kF64).reshape({2, 1});
  const Tensor t = int_steps({1, 1000});
  const auto xt = q_sample(s, x0, t, eps).to_vector<double>();
  CHECK(xt[1] == doctest::Approx(std::sqrt(s.alpha_bar[1000]) * -1.0 + std::sqrt(1 - s.alpha_bar[1000]) * 0.1));
  const Gaussian q = q_distribution(s, x0, t);
  CHECK(q.variance.to_vector<double>()[1] == doctest::Approx(1 - s.alpha_bar[1000]));
  const Gaussian step = q_step_distribution(s, x0, t);
  CHECK(step.variance.to_vector<double>()[0] == s.beta[1]);
  // E4 from x_0 at t = 1 is E7 at t = 1.
  CHECK(max_abs_of(q_step(s, x0, int_steps({1, 1}), eps) - q_sample(s, x0, int_steps({1, 1}), eps)) < 1e-15);
  // float32 in, float32 out.
  CHECK(q_sample(s, x0.to(DType::Float32), t, eps.to(DType::Float32)).dtype() == DType::Float32);
  // Continuous time: x_τ = signal x_0 + noise ε.
  const Rates r = cosine_rates(Tensor::tensor({0.0, 1.0}, kF64));
  const auto xc = q_sample(r, x0, eps).to_vector<double>();
  CHECK(xc[0] == doctest::Approx(0.5));
  CHECK(xc[1] == doctest::Approx(0.1).epsilon(1e-12));
}

TEST_CASE("E4 E6 E7 gradcheck: q_step and q_sample wrt x_0 and ε, merge_noise") {
  const Schedule s = Schedule::linear(50, 1e-3, 0.1);
  Generator gen(2);
  Tensor x0 = leaf({3, 2, 2}, gen), eps = leaf({3, 2, 2}, gen);
  const Tensor t = int_steps({1, 25, 50});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return q_sample(s, in[0], t, in[1]); }, {x0, eps});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return q_step(s, in[0], t, in[1]); }, {x0, eps});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return q_distribution(s, in[0], t).mean; }, {x0});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return merge_noise(0.9, 0.95, in[0], in[1]); }, {x0, eps});
  Tensor tau = (Tensor::rand({3}, kF64, &gen) * 0.8 + 0.1).detach().requires_grad_();
  expect_gradcheck([&](const std::vector<Tensor>& in) { return q_sample(offset_cosine_rates(in[2]), in[0], in[1]); },
                   {x0, eps, tau});
}

// ---- the posterior ---------------------------------------------------------------------

TEST_CASE("E9 E13 tables: β̃, the clipped log-variance, both σ choices") {
  const Schedule s = Schedule::linear();
  const std::vector<double> bt = posterior_variance(s);
  CHECK(bt[1] == 0);
  CHECK(bt[2] == doctest::Approx(s.one_minus_alpha_bar[1] * s.beta[2] / s.one_minus_alpha_bar[2]).epsilon(1e-14));
  for (std::int64_t t = 2; t <= s.T; ++t) CHECK_MESSAGE(bt[t] < s.beta[t], "β̃_t < β_t at t = " << t);
  const std::vector<double> lv = posterior_log_variance_clipped(s);
  CHECK(lv[1] == lv[2]);
  CHECK(std::isfinite(lv[0]));
  CHECK(reverse_variance(s, Sigma::Large) == s.beta);
  CHECK(reverse_variance(s, Sigma::Small)[1] == doctest::Approx(bt[2]).epsilon(1e-14));
  CHECK(reverse_log_variance(s, Sigma::Large)[7] == doctest::Approx(std::log(s.beta[7])).epsilon(1e-15));
  CHECK(posterior_mean_coef_x0(s)[1] == doctest::Approx(1.0).epsilon(1e-12));
  CHECK(posterior_mean_coef_xt(s)[1] == 0);
}

TEST_CASE("E9 E10 E11 E12 gradcheck: posterior mean, x̂_0, model mean") {
  const Schedule s = Schedule::cosine(40);
  Generator gen(3);
  Tensor x0 = leaf({3, 4}, gen), xt = leaf({3, 4}, gen), eps = leaf({3, 4}, gen);
  const Tensor t = int_steps({1, 17, 40});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return posterior_mean(s, in[0], in[1], t); }, {x0, xt});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return predict_x0_from_eps(s, in[0], t, in[1]); }, {xt, eps});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return posterior_mean_from_eps(s, in[0], t, in[1]); }, {xt, eps});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return model_mean(s, in[0], t, in[1]); }, {xt, eps});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return p_reverse(s, in[0], t, in[1], Sigma::Small).mean; }, {xt, eps});
}

TEST_CASE("E27 E37 gradcheck and values: score, v, conversions") {
  const Schedule s = Schedule::linear(30, 1e-3, 0.2);
  Generator gen(4);
  Tensor x0 = leaf({3, 2}, gen), xt = leaf({3, 2}, gen), eps = leaf({3, 2}, gen), v = leaf({3, 2}, gen);
  const Tensor t = int_steps({1, 15, 30});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return score_from_eps(s, in[0], t); }, {eps});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return eps_from_score(s, in[0], t); }, {eps});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return v_from_eps(s, in[0], t, in[1]); }, {x0, eps});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return x0_from_v(s, in[0], t, in[1]); }, {xt, v});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return eps_from_v(s, in[0], t, in[1]); }, {xt, v});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return eps_from_x0(s, in[0], t, in[1]); }, {xt, x0});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return x0_from_mean(s, in[0], t, in[1]); }, {xt, x0});
  for (Prediction kind : {Prediction::Eps, Prediction::X0, Prediction::V, Prediction::Mean}) {
    expect_gradcheck([&](const std::vector<Tensor>& in) {
      const Predictions p = predictions_from(s, kind, in[1], in[0], t);
      return cat({p.eps, p.x0, p.v, p.mean}, 1);
    }, {xt, v});
  }
  // E27: the score of q(x_t | x_0) is -ε/√(1-ᾱ_t), and the conversion inverts it.
  const Tensor sc = score_from_eps(s, eps.detach(), t);
  CHECK(max_abs_of(eps_from_score(s, sc, t) - eps.detach()) < 1e-14);
}

// ---- the bound -----------------------------------------------------------------------------

TEST_CASE("E16 E17 gradcheck: Gaussian KL wrt means and log-variances; the mean form") {
  Generator gen(5);
  Tensor m1 = leaf({2, 3}, gen), lv1 = leaf({2, 3}, gen, 0.5), m2 = leaf({2, 3}, gen), lv2 = leaf({2, 3}, gen, 0.5);
  expect_gradcheck([](const std::vector<Tensor>& in) { return normal_kl(in[0], in[1], in[2], in[3]); }, {m1, lv1, m2, lv2});
  expect_gradcheck([](const std::vector<Tensor>& in) { return gaussian_kl(in[0], in[1], in[2], in[3]); }, {m1, lv1, m2, lv2});
  Tensor s2 = (Tensor::rand({2, 1}, kF64, &gen) + 0.5).detach().requires_grad_();
  expect_gradcheck([](const std::vector<Tensor>& in) { return l_mean_form(in[0], in[1], in[2]); }, {m1, m2, s2});
  // Values: KL(N(0,1) || N(1, e)) = ½(-1 + 1 + e^{-1} + e^{-1}).
  const Tensor z = Tensor::zeros({1}, kF64), o = Tensor::ones({1}, kF64);
  CHECK(normal_kl(z, z, o, o).item() == doctest::Approx(std::exp(-1.0)));
}

TEST_CASE("E18 E19 gradcheck: the λ_t weighted loss and L_simple wrt ε_θ and a tiny MLP's parameters") {
  const Schedule s = Schedule::linear(20, 1e-3, 0.2);
  Generator gen(6);
  Tensor eps = leaf({4, 2}, gen), pred = leaf({4, 2}, gen);
  const Tensor t = int_steps({1, 5, 12, 20});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return l_eps_form(s, in[0], in[1], t, Sigma::Large); }, {eps, pred});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return weighted_loss(s, in[0], in[1], t, Sigma::Small); }, {eps, pred});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return l_simple(in[0], in[1]); }, {eps, pred});
  // E18's λ_t: β²/(2σ²α(1-ᾱ)); with σ² = β it is β/(2α(1-ᾱ)).
  const std::vector<double> lam = vlb_weight(s, Sigma::Large);
  CHECK(lam[7] == doctest::Approx(s.beta[7] / (2 * s.alpha[7] * s.one_minus_alpha_bar[7])).epsilon(1e-14));
  // Through a network: x_t from fixed x_0, ε; the loss's gradient wrt the MLP's parameters.
  const TinyMlp net(s.T);
  const Tensor x0 = Tensor::randn({4, 2}, kF64, &gen), e = Tensor::randn({4, 2}, kF64, &gen);
  const Tensor xt = q_sample(s, x0, t, e);
  expect_gradcheck([&](const std::vector<Tensor>& p) { return l_simple(e, net.forward(p, xt, t)); }, net.params());
  expect_gradcheck([&](const std::vector<Tensor>& p) { return weighted_loss(s, e, net.forward(p, xt, t), t, Sigma::Large); },
                   net.params());
}

TEST_CASE("E20 gradcheck: the discretized decoder wrt mean and log-scale, edges and floors") {
  const Tensor x = Tensor::tensor({-1.0, -1.0 + 2.0 / 255, 0.0, 1.0 - 2.0 / 255, 1.0, 0.6, -1.0, 1.0}, kF64);
  Tensor mean = Tensor::tensor({-0.99, -0.97, 0.02, 0.95, 0.97, -0.6, 0.7, -0.7}, kF64).requires_grad_();
  Tensor log_scale = Tensor::tensor({-4.0, -3.0, -2.0, -3.5, -2.5, -4.5, -3.0, -3.0}, kF64).requires_grad_();
  expect_gradcheck([&](const std::vector<Tensor>& in) { return discretized_gaussian_log_likelihood(x, in[0], in[1]); },
                   {mean, log_scale});
  // Elements 5-7 sit on the floor: log p = log 1e-12 and a zero gradient, never NaN.
  const Tensor lp = discretized_gaussian_log_likelihood(x, mean, log_scale);
  const auto v = lp.to_vector<double>();
  for (int i = 5; i < 8; ++i) CHECK(v[i] == doctest::Approx(std::log(1e-12)).epsilon(1e-14));
  const auto g = autograd::grad({lp.sum()}, {mean, log_scale});
  const auto gm = g[0].to_vector<double>();
  for (int i = 5; i < 8; ++i) CHECK(gm[i] == 0);
  for (double d : gm) CHECK(std::isfinite(d));
  // The continuous decoder and the CDF.
  expect_gradcheck([&](const std::vector<Tensor>& in) { return gaussian_log_likelihood(x, in[0], in[1]); }, {mean, log_scale});
  CHECK(normal_cdf(Tensor::tensor({0.0, 1.0}, kF64)).to_vector<double>()[1] ==
        doctest::Approx(0.5 * std::erfc(-1 / std::sqrt(2.0))).epsilon(1e-15));
}

TEST_CASE("E21 E22 E33: bits per dim, the prior term, the NLL") {
  CHECK(bits_per_dim(8 * std::numbers::ln2 * 10, 10) == doctest::Approx(8.0));
  CHECK(bits_per_dim(Tensor::tensor({std::numbers::ln2 * 6}, kF64), 3).item() == doctest::Approx(2.0));
  const Schedule s = Schedule::linear();
  const Tensor x0 = Tensor::ones({1, 3, 4, 4}, kF64);
  const double lt = prior_kl(s, x0).item() / 48;
  const double ab = s.alpha_bar[1000];
  CHECK(lt == doctest::Approx(0.5 * (ab - std::log1p(-ab) - ab)).epsilon(1e-9));
  CHECK(lt < 1e-4);
  Generator gen(7);
  Tensor x = leaf({2, 3}, gen);
  expect_gradcheck([&](const std::vector<Tensor>& in) { return prior_kl(Schedule::linear(10, 0.1, 0.3), in[0]); }, {x});
  CHECK(negative_log_likelihood(Tensor::tensor({-1.0, -3.0}, kF64)).item() == doctest::Approx(2.0));
}

TEST_CASE("E14 E15 variational_bound: every term, shapes, and the total") {
  const Schedule s = Schedule::linear(6, 0.05, 0.5);
  const EpsModel zero = [](const Tensor& x, const Tensor&) { return Tensor::zeros_like(x); };
  const Tensor x0 = Tensor::tensor({{-1.0, 1.0, 0.2}, {0.0, 0.5, -0.4}}, kF64).reshape({2, 3});
  Generator gen(8);
  const Bound b = variational_bound(s, zero, x0, &gen);
  CHECK(b.terms.shape() == Shape{2, 6});
  CHECK(b.total.shape() == Shape{2});
  const auto total = b.total.to_vector<double>();
  const auto expect = (b.prior + b.terms.sum({1})).to_vector<double>();
  CHECK(total[0] == doctest::Approx(expect[0]));
  CHECK(b.bpd.to_vector<double>()[1] == doctest::Approx(total[1] / (3 * std::numbers::ln2)));
  for (double v : b.terms.to_vector<double>()) CHECK(v >= -1e-12);  // KLs and a discrete NLL
  // vlb_term at t ≥ 2 is E16 between E9 and E12/E13.
  const Tensor t = Tensor::full({2}, 3, {.dtype = DType::Int64});
  const Tensor xt = q_sample(s, x0, t, Tensor::randn({2, 3}, kF64, &gen));
  const Gaussian q = q_posterior(s, x0, xt, t);
  const Gaussian p = p_reverse(s, xt, t, Tensor::zeros({2, 3}, kF64), Sigma::Large);
  CHECK(vlb_term(s, zero, x0, xt, t).to_vector<double>()[0] ==
        doctest::Approx(gaussian_kl(q.mean, q.log_variance, p.mean, p.log_variance).to_vector<double>()[0]));
  // Gradients reach a network through the whole bound.
  const TinyMlp net(6);
  const Tensor x2 = Tensor::tensor({{0.2, -0.6}}, kF64);
  expect_gradcheck([&](const std::vector<Tensor>& par) {
    Generator g(9);
    const EpsModel m = [&](const Tensor& x, const Tensor& tt) { return net.forward(par, x, tt); };
    return variational_bound(s, m, x2, &g, {.sigma = Sigma::Small, .decoder = Decoder::Gaussian}).total;
  }, net.params());
}

// ---- losses and training ---------------------------------------------------------------

TEST_CASE("E23 sample_timesteps: t ~ U{1..T}, inclusive of T") {
  Generator gen(10);
  const std::int64_t N = 100000, T = 10;
  const auto ts = sample_timesteps(N, T, &gen).to_vector<std::int64_t>();
  std::map<std::int64_t, std::int64_t> counts;
  for (std::int64_t t : ts) ++counts[t];
  CHECK(counts.size() == 10);
  CHECK(counts.begin()->first == 1);
  CHECK(counts.rbegin()->first == T);
  // Each count is Binomial(N, 1/T): within 5 standard deviations.
  const double sd = std::sqrt(N * 0.1 * 0.9);
  for (const auto& [t, c] : counts) CHECK(std::abs(c - N / 10.0) < 5 * sd);
}

TEST_CASE("E23 training_loss: the ε-prediction MSE, L1, λ-weighted, and its gradient") {
  const Schedule s = Schedule::linear(20, 1e-3, 0.2);
  const TinyMlp net(20);
  Generator data(12);
  const Tensor x0 = Tensor::randn({6, 2}, kF64, &data);
  const EpsModel zero = [](const Tensor& x, const Tensor&) { return Tensor::zeros_like(x); };
  Generator g1(13);
  const TrainingLoss l = training_loss(s, zero, x0, &g1);
  CHECK(l.loss.dim() == 0);
  CHECK(l.per_sample.shape() == Shape{6});
  CHECK(l.loss.item() == doctest::Approx(square(l.eps).mean().item()));  // ε̂ = 0
  CHECK(max_abs_of(l.x_t - q_sample(s, x0, l.t, l.eps)) == 0);
  Generator g2(13);
  const TrainingLoss l1 = training_loss(s, zero, x0, &g2, {.loss = LossType::L1});
  CHECK(l1.loss.item() == doctest::Approx(abs(l1.eps).mean().item()));
  expect_gradcheck([&](const std::vector<Tensor>& p) {
    Generator g(14);
    const EpsModel m = [&](const Tensor& x, const Tensor& t) { return net.forward(p, x, t); };
    return training_loss(s, m, x0, &g, {.loss = LossType::Weighted}).loss;
  }, net.params());
}

TEST_CASE("E23 training_loss_continuous: τ ~ U[0,1], E3b rates, the noise variance, L1") {
  Generator gen(15);
  const Tensor x0 = Tensor::randn({6000, 2}, kF64, &gen);
  Tensor seen;
  const RateModel zero = [&](const Tensor& x, const Tensor& nv) {
    seen = nv;
    return Tensor::zeros_like(x);
  };
  const ContinuousTrainingLoss l = training_loss_continuous(zero, x0, &gen);
  CHECK(seen.shape() == Shape{6000, 1});
  const Rates r = offset_cosine_rates(l.tau);
  CHECK(max_abs_of(seen.reshape({-1}) - square(r.noise)) < 1e-15);
  CHECK(l.loss.item() == doctest::Approx(std::sqrt(2 / std::numbers::pi)).epsilon(0.02));  // E|ε|
  const TinyMlp net(1);
  expect_gradcheck([&](const std::vector<Tensor>& p) {
    Generator g(16);
    const RateModel m = [&](const Tensor& x, const Tensor& nv) { return net.forward(p, x, Tensor::zeros({x.size(0)}, {.dtype = DType::Int64})) * (1.0 + nv); };
    return training_loss_continuous(m, x0.narrow(0, 0, 5), &g, LossType::Simple, ContinuousSchedule::Cosine).loss;
  }, net.params());
}

TEST_CASE("E40 importance sampling: uniform until warm, p_t ∝ √E[L_t²], weights 1/(T p_t)") {
  ImportanceSampler sampler(4, 2, 0.0);
  CHECK_FALSE(sampler.warmed_up());
  CHECK(sampler.probabilities()[3] == doctest::Approx(0.25));
  // Losses per t: t = 1 → 1, t = 2 → 2, t = 3 → (3, 5), t = 4 → 0.5 (and older ones drop out).
  sampler.update(int_steps({1, 1, 2, 2, 3, 3, 4, 4, 4}), Tensor::tensor({1, 1, 2, 2, 9, 3, 7, 0.5, 0.5}, kF64));
  sampler.update(int_steps({3}), Tensor::tensor({5}, kF64));
  REQUIRE(sampler.warmed_up());
  const std::vector<double> w = {1, 2, std::sqrt((9.0 + 25.0) / 2), 0.5};
  const double total = w[0] + w[1] + w[2] + w[3];
  const std::vector<double> p = sampler.probabilities();
  for (int t = 1; t <= 4; ++t) CHECK(p[t] == doctest::Approx(w[t - 1] / total));
  Generator gen(17);
  const TimestepDraw d = sampler.sample(20000, &gen);
  const auto ts = d.t.to_vector<std::int64_t>();
  const auto ws = d.weights.to_vector<double>();
  std::vector<double> freq(5, 0);
  for (size_t i = 0; i < ts.size(); ++i) {
    freq[ts[i]] += 1.0 / ts.size();
    CHECK(ws[i] == doctest::Approx(1 / (4 * p[ts[i]])));
  }
  for (int t = 1; t <= 4; ++t) CHECK(std::abs(freq[t] - p[t]) < 5 * std::sqrt(p[t] * (1 - p[t]) / 20000));
  // Mixed with the uniform distribution, and used by training_loss.
  ImportanceSampler mixed(4, 1, 0.5);
  mixed.update(int_steps({1, 2, 3, 4}), Tensor::tensor({1, 1, 1, 5}, kF64));
  CHECK(mixed.probabilities()[4] == doctest::Approx(0.5 * 5.0 / 8 + 0.5 * 0.25));
  const Schedule s = Schedule::linear(4, 0.1, 0.4);
  const EpsModel zero = [](const Tensor& x, const Tensor&) { return Tensor::zeros_like(x); };
  const TrainingLoss l = training_loss(s, zero, Tensor::zeros({8, 2}, kF64), &gen, {.sampler = &mixed});
  CHECK(l.loss.dim() == 0);
  CHECK_THROWS_AS(sample_timesteps(std::vector<double>{0, -1, 2}, 3, &gen), Error);
}

TEST_CASE("E41 hybrid loss: L_simple + λ L_vlb with the stop-gradient on the mean") {
  const Schedule s = Schedule::linear(10, 0.01, 0.2);
  Generator gen(18);
  const Tensor x0 = Tensor::rand({3, 4}, kF64, &gen) * 2.0 - 1.0;
  const Tensor eps = Tensor::randn({3, 4}, kF64, &gen);
  const Tensor t = int_steps({1, 4, 10});
  const Tensor xt = q_sample(s, x0, t, eps);
  Tensor eps_pred = (eps + 0.3 * Tensor::randn({3, 4}, kF64, &gen)).detach().requires_grad_();
  Tensor v = (Tensor::rand({3, 4}, kF64, &gen) * 1.6 - 0.8).detach().requires_grad_();
  const HybridLoss h = hybrid_loss(s, x0, xt, t, eps, eps_pred, v, 0.001, Decoder::Gaussian);
  // L_vlb's gradient reaches only v; L_simple's only ε_θ.
  const auto g_vlb = autograd::grad({h.vlb.sum()}, {eps_pred, v}, {}, true, false, true);
  CHECK_FALSE(g_vlb[0].defined());
  CHECK(g_vlb[1].defined());
  const auto g_simple = autograd::grad({h.simple.sum()}, {eps_pred, v}, {}, true, false, true);
  CHECK_FALSE(g_simple[1].defined());
  // v = 1 gives σ² = β, v = -1 the clipped β̃.
  const Tensor ones = Tensor::ones({3, 4}, kF64);
  CHECK(learned_log_variance(s, ones, t).to_vector<double>()[4] == doctest::Approx(std::log(s.beta[4])));
  CHECK(learned_log_variance(s, -ones, t).to_vector<double>()[4] == doctest::Approx(posterior_log_variance_clipped(s)[4]));
  // With σ² = β (v = 1) the t ≥ 2 vlb term is T · KL in bits per dim.
  const HybridLoss hb = hybrid_loss(s, x0, xt, t, eps, eps_pred.detach(), ones, 0.001, Decoder::Gaussian);
  const Gaussian q = q_posterior(s, x0, xt, t);
  const Gaussian p = p_reverse(s, xt, t, eps_pred.detach(), Sigma::Large);
  const double kl = gaussian_kl(q.mean, q.log_variance, p.mean, p.log_variance).to_vector<double>()[2];
  CHECK(hb.vlb.to_vector<double>()[2] == doctest::Approx(10 * kl / (4 * std::numbers::ln2)));
  // The gradient wrt v is the true derivative of the loss (gradcheck); the gradient wrt
  // ε_θ is L_simple's alone, by the stop-gradient, not the derivative of the loss's value.
  expect_gradcheck([&](const std::vector<Tensor>& in) {
    return hybrid_loss(s, x0, xt, t, eps, eps_pred.detach(), in[0], 0.5, Decoder::Discretized).loss;
  }, {v});
  const HybridLoss hd = hybrid_loss(s, x0, xt, t, eps, eps_pred, v, 0.5, Decoder::Discretized);
  const Tensor g_loss = autograd::grad({hd.loss}, {eps_pred}, {}, /*retain_graph=*/true)[0];
  const Tensor g_mse = autograd::grad({hd.simple.mean()}, {eps_pred})[0];
  CHECK(max_abs_of(g_loss - g_mse) < 1e-15);
}

// ---- the verifications -----------------------------------------------------------------

TEST_CASE("V1 E1-E3b E8: schedule shapes, endpoints, monotone ᾱ and SNR, E3's clip") { expect_check(checks::v1()); }
TEST_CASE("V2 E4-E7: E4 iterated by Monte Carlo matches E7; E5; E6 exactly") { expect_check(checks::v2()); }
TEST_CASE("V3 E9: Bayes' rule on a 1-D grid gives the posterior") { expect_check(checks::v3()); }
TEST_CASE("V4 E10 E11 E12: E7 substituted into E9 gives E11 to rounding") { expect_check(checks::v4()); }
TEST_CASE("V5 E16: closed-form KL against Monte Carlo") { expect_check(checks::v5()); }
TEST_CASE("V6 E17 E18: exact KL minus its θ-free part is λ_t ||ε - ε_θ||², both σ") { expect_check(checks::v6()); }
TEST_CASE("V7 E14 E15: Monte Carlo over trajectories equals the analytic decomposition") { expect_check(checks::v7()); }
TEST_CASE("V8 E14: the bound is tight for N(0,1) data, looser with β̃, its mixture gap shrinks") { expect_check(checks::v8()); }
TEST_CASE("V9 E20 E21: the decoder's bins sum to 1; uniform noise ≈ 8 bits/dim") { expect_check(checks::v9()); }
TEST_CASE("V15 E10 E11 E12 E37: conversions among ε, x̂_0, v, μ round-trip") { expect_check(checks::v15()); }
TEST_CASE("V16 E38: respaced ᾱ, first step T, predecessors, every spacing") { expect_check(checks::v16()); }
TEST_CASE("V19 E18 E19 E40: unbiased estimates of Σ_t L_{t-1}") { expect_check(checks::v19()); }
TEST_CASE("V21 precision: float32 tables cast once from float64") { expect_check(checks::v21()); }
TEST_CASE("V22 E20: exact CDF, edge bins, gradients through the floors") { expect_check(checks::v22()); }

TEST_CASE("process_checks lists V1-V9, V15, V16, V19, V21, V22") {
  std::vector<std::string> ids;
  for (const Check& c : process_checks()) ids.push_back(c.id);
  CHECK(ids == std::vector<std::string>{"V1", "V2", "V3", "V4", "V5", "V6", "V7", "V8", "V9", "V15", "V16", "V19",
                                        "V21", "V22"});
}
