// The sampling checks V10, V11, V12, V14, V17, V18 (EQUATIONS.md §8). Each is a numeric
// experiment with fixed seeds, in float64, sized to run in a few seconds on two cores.
// Monte-Carlo tolerances follow Note [Monte-Carlo tolerances] (checks_sampling.h);
// rounding tolerances are stated next to the formula they bound, in units of the float64
// unit roundoff u = 2⁻⁵³.
#include "diffusion/checks_sampling.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/index.h"
#include "autograd/ops/reduce.h"
#include "diffusion/forward.h"
#include "diffusion/metrics.h"
#include "diffusion/oracle.h"
#include "diffusion/posterior.h"
#include "diffusion/schedule.h"

namespace kiln::diffusion {

double normal_quantile(double p) {
  KILN_CHECK(p > 0 && p < 1, "normal_quantile: p = {} must be in (0, 1)", p);
  double lo = -40, hi = 40;
  for (int i = 0; i < 200 && hi - lo > 1e-15; ++i) {
    const double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::numbers::sqrt2) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

double bonferroni_z(double alpha, std::int64_t statistics) {
  KILN_CHECK(alpha > 0 && alpha < 1 && statistics >= 1,
             "bonferroni_z: needs 0 < alpha < 1 and statistics >= 1");
  return normal_quantile(1 - alpha / (2.0 * static_cast<double>(statistics)));
}

namespace {

constexpr double kU = std::numeric_limits<double>::epsilon() / 2;  // unit roundoff 2⁻⁵³
constexpr double kAlpha = 1e-3;  // family-wise false-alarm rate of every MC check

// What each check verifies, in one line (kiln verify prints 58 characters of it).
constexpr const char* kWhatV10 = "E27: score = autograd grad of log q_t; eps* minimises loss";
constexpr const char* kWhatV11 = "E24-E26: samplers with exact eps* reproduce the mixture";
constexpr const char* kWhatV12 = "E25: DDIM eta=1 step = DDPM beta~ step; eta=0 no noise";
constexpr const char* kWhatV14 = "E34-E36: Frechet vs closed forms; KID unbiased; IS";
constexpr const char* kWhatV17 = "E25-E26: DDIM kernel marginalises to q(x_prev|x_0)";
constexpr const char* kWhatV18 = "E39: DDIM inversion + generation reconstructs x_0";

// ---- Monte-Carlo statistics ----------------------------------------------------------

// One estimated expectation: the mean of per-sample values f_i, its exact value, and
// its standard error sd(f)/√N (Note [Monte-Carlo tolerances]).
struct Stat {
  std::string name;
  double estimate = 0, exact = 0, se = 0;
  double z() const {
    if (se > 0) return (estimate - exact) / se;
    if (estimate == exact) return 0.0;  // a degenerate (constant) statistic, exactly right
    return std::copysign(std::numeric_limits<double>::infinity(), estimate - exact);
  }
};

Stat mean_stat(std::string name, const std::vector<double>& f, double exact) {
  const auto n = static_cast<double>(f.size());
  double mean = 0;
  for (double v : f) mean += v / n;
  double ss = 0;
  for (double v : f) ss += (v - mean) * (v - mean);
  return {std::move(name), mean, exact, std::sqrt(ss / (n - 1) / n)};
}

struct StatTable {
  std::vector<Stat> stats;
  void add(Stat s) { stats.push_back(std::move(s)); }
  std::int64_t size() const { return static_cast<std::int64_t>(stats.size()); }
  double max_abs_z() const {
    double m = 0;
    for (const Stat& s : stats) m = std::max(m, std::abs(s.z()));
    return m;
  }
  std::string worst() const {
    const Stat* w = nullptr;
    for (const Stat& s : stats)
      if (!w || std::abs(s.z()) > std::abs(w->z())) w = &s;
    return w ? fmt::format("{} (z = {:+.2f})", w->name, w->z()) : std::string("none");
  }
  std::string lines() const {
    std::string out;
    for (const Stat& s : stats)
      out += fmt::format("\n    {:<34} {:+.5f} vs {:+.5f}  (SE {:.1e}, z = {:+.2f})", s.name,
                         s.estimate, s.exact, s.se, s.z());
    return out;
  }
};

CheckResult result(const char* id, const char* what, double error, double tolerance, bool passed,
                   std::string detail) {
  CheckResult r;
  r.id = id;
  r.what = what;
  r.error = error;
  r.tolerance = tolerance;
  r.passed = passed && error <= tolerance;
  r.detail = std::move(detail);
  return r;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<double> values(const Tensor& x) { return x.to(DType::Float64).to_vector<double>(); }

// The oracles: a bimodal 1-D mixture (V11: modes of unequal weight and width, so mean,
// variance and mode weight are all non-trivial) and a 3-component 2-D mixture with
// diagonal covariances (V10, V18: exercises the per-dimension variances).
GaussianMixture mixture_1d() {
  return GaussianMixture::isotropic({0.3, 0.7}, {{-1.2}, {0.8}}, {0.3, 0.4});
}
GaussianMixture mixture_2d() {
  return GaussianMixture({0.3, 0.5, 0.2}, {{-1.5, 0.5}, {1.0, 1.0}, {0.5, -1.5}},
                         {{0.09, 0.25}, {0.25, 0.16}, {0.16, 0.36}});
}

std::int64_t checked_samples(const SamplingCheckOptions& o) {
  KILN_CHECK(o.samples >= 100, "sampling checks: samples = {} is too few (>= 100)", o.samples);
  return o.samples;
}

// ---- V11 helpers -----------------------------------------------------------------------

// The per-sample values of V11's three statistics for 1-D samples x: x (mean),
// (x - m)² (variance about the exact mean m), 1[x < c] (weight of the left mode).
struct V11Features {
  std::vector<double> mean, var, left;
};

V11Features v11_features(const std::vector<double>& x, double m, double c) {
  V11Features f;
  for (double v : x) {
    f.mean.push_back(v);
    f.var.push_back((v - m) * (v - m));
    f.left.push_back(v < c ? 1.0 : 0.0);
  }
  return f;
}

// 2 f(fine) - f(coarse), element-wise: the Richardson combination of two step counts.
std::vector<double> richardson(const std::vector<double>& fine, const std::vector<double>& coarse) {
  std::vector<double> out(fine.size());
  for (size_t i = 0; i < fine.size(); ++i) out[i] = 2 * fine[i] - coarse[i];
  return out;
}

void add_v11_stats(StatTable& table, const std::string& run, const V11Features& f,
                   const GaussianMixture& target, double c) {
  table.add(mean_stat(run + " mean", f.mean, target.mean()[0]));
  table.add(mean_stat(run + " variance", f.var, target.variance()[0]));
  table.add(mean_stat(run + " P(x < c)", f.left, target.cdf(0, c)));
}

}  // namespace

// ---- V10 -------------------------------------------------------------------------------
// E27 for Gaussian-mixture data: (a) autograd's ∇ log q_t equals the closed-form score;
// (b) Tweedie: E10's x̂_0 with ε = ε* is E[x_0 | x_t]; (c) ε* minimises L_simple: the
// residual ε* - ε is orthogonal to every function g(x_t), so adding δ g raises the loss.
CheckResult check_v10(const SamplingCheckOptions& o) {
  const char* what = kWhatV10;
  const auto t0 = std::chrono::steady_clock::now();
  const GaussianMixture gm = mixture_2d();
  const Schedule s = Schedule::linear(1000);
  Generator gen(o.seed + 10);

  // (a), (b) on 256 points of q_t at five timesteps.
  double err_grad = 0, err_tweedie = 0;
  for (std::int64_t t : {1, 10, 100, 500, 1000}) {
    const double ab = s.alpha_bar[t];
    Tensor x = gm.noised(ab).sample(256, &gen).requires_grad_(true);
    const Tensor log_q = gm.log_q(x, ab);
    const Tensor grad = autograd::grad({log_q.sum()}, {x})[0];
    NoGradGuard no_grad;
    const Tensor score = gm.score(x, ab);
    // Both sides sum K terms r_k (√ᾱ μ_k - x)/v_k; their rounding is a few u of the
    // largest such term, so errors are measured against S = max Σ_k r_k |(√ᾱ μ_k - x)/v_k|.
    const double max_abs_mu = 1.5, min_sigma2 = 0.09;  // of mixture_2d()
    const double scale = std::max(1.0, score.abs().max().item()) +
                         (x.abs().max().item() + std::sqrt(ab) * max_abs_mu) / (ab * min_sigma2 + 1 - ab);
    err_grad = std::max(err_grad, (grad - score).abs().max().item() / scale);
    // (b) E10 with ε*:  x̂_0 = (x_t - √(1-ᾱ_t) ε*)/√ᾱ_t  against Σ_k r_k E[x_0 | x_t, k]
    const Tensor t_batch = Tensor::full({256}, static_cast<double>(t), {.dtype = DType::Int64});
    const Tensor eps = gm.eps_star(x, ab);
    const Tensor tweedie = predict_x0_from_eps(s, x.detach(), t_batch, eps);
    const Tensor x0_mean = gm.x0_mean(x.detach(), Tensor::scalar(ab, {.dtype = DType::Float64}));
    // E10 subtracts two numbers of size ~|x_t| and divides by √ᾱ_t: rounding ~u|x_t|/√ᾱ_t.
    const double tweedie_scale = (x.abs().max().item() + 1) / std::sqrt(ab) * scale;
    err_tweedie = std::max(err_tweedie, (tweedie - x0_mean).abs().max().item() / tweedie_scale);
  }
  // Tolerance: each side is ~20 roundings deep per term, K = 3 terms, D = 2: 64 u covers
  // it with room (measured errors are a few u).
  const double tol_grad = 64 * kU, tol_tweedie = 64 * kU;

  // (c) over N samples x_0 ~ mixture, t ~ U{1..T}, ε ~ N(0, I), x_t by E7.
  NoGradGuard no_grad;
  const std::int64_t N = checked_samples(o);
  const Tensor x0 = gm.sample(N, &gen);
  const Tensor t = Tensor::randint(1, s.T + 1, {N}, {.dtype = DType::Int64}, &gen);
  const Tensor eps = Tensor::randn({N, 2}, {.dtype = DType::Float64}, &gen);
  const Tensor x_t = q_sample(s, x0, t, eps);
  const Tensor eps_star = gm.as_model(s)(x_t, t);
  const Tensor residual = eps_star - eps;
  struct Direction {
    const char* name;
    Tensor g;
  };
  const std::vector<Direction> directions = {{"g = 1", Tensor::ones_like(x_t)},
                                             {"g = x_t", x_t},
                                             {"g = tanh(2 x_t)", tanh(2.0 * x_t)},
                                             {"g = eps*", eps_star}};
  StatTable table;
  bool loss_rises = true;
  std::string rises;
  const double base_loss = residual.square().sum({1}).mean().item();
  for (const Direction& d : directions) {
    // E[(ε* - ε)·g(x_t)] = E[(E[ε|x_t] - ε)·g] = 0, per-sample values (ε* - ε)·g.
    table.add(mean_stat(std::string("E[(eps* - eps).g], ") + d.name, values((residual * d.g).sum({1})), 0.0));
    for (double delta : {-0.1, 0.1}) {
      const double loss = (residual + delta * d.g).square().sum({1}).mean().item();
      loss_rises = loss_rises && loss > base_loss;
      rises += fmt::format(" {:+.1e}", loss - base_loss);
    }
  }
  const double z_star = bonferroni_z(kAlpha, table.size());
  const bool ok = err_tweedie <= tol_tweedie && table.max_abs_z() <= z_star && loss_rises;
  return result(
      "V10", what, err_grad, tol_grad, ok,
      fmt::format(
          "error = max |autograd grad log q_t - closed-form score| / S over 256 points of q_t at t = "
          "1, 10, 100, 500, 1000 (2-D, 3-component diagonal mixture, linear T = 1000), S the size "
          "of the largest summed term; tolerance 64 u (rounding).\n"
          "  Tweedie: |E10(x_t, eps*) - E[x_0|x_t]| / (S (|x_t|+1)/sqrt(abar)) = {:.2e} <= {:.2e}\n"
          "  eps* minimises L_simple ({} samples, t ~ U{{1..1000}}): L(eps*) = {:.4f}; residual "
          "orthogonal to g(x_t): max |z| = {:.2f} <= z* = {:.2f} (Bonferroni, alpha = 1e-3, m = {}); "
          "L(eps* + delta g) - L(eps*) for delta = -0.1, +0.1:{} (all > 0: {}){}\n  {:.1f} s",
          err_tweedie, tol_tweedie, N, base_loss, table.max_abs_z(), z_star, table.size(), rises,
          loss_rises ? "yes" : "NO", table.lines(), seconds_since(t0)));
}

// ---- V11 -------------------------------------------------------------------------------
// Samplers driven by the exact ε* of a 1-D bimodal mixture: the mean, the variance and the
// weight of the left mode of their samples against the mixture's exact values.
CheckResult check_v11(const SamplingCheckOptions& o) {
  const char* what = kWhatV11;
  const auto t0 = std::chrono::steady_clock::now();
  const GaussianMixture gm = mixture_1d();
  const double c = -0.3;  // between the modes: P(x < c) is the left mode's weight (+ tails)
  const double m = gm.mean()[0];
  const Schedule s = Schedule::linear(1000);
  const EpsModel model = gm.as_model(s);
  const std::int64_t N = checked_samples(o);
  StatTable table;
  std::string bias_note;

  // DDPM over all T = 1000 steps, both variances of E13. Exact up to the Gaussian reverse
  // kernel (O(β_t²) per step, far below the Monte-Carlo error).
  for (Sigma sigma : {Sigma::Large, Sigma::Small}) {
    Generator gen(o.seed + 11 + (sigma == Sigma::Small ? 1 : 0));
    const Tensor x_T = Tensor::randn({N, 1}, {.dtype = DType::Float64}, &gen);
    const Tensor x = sample_ddpm(s, model, x_T,
                                 {.sigma = sigma, .gen = &gen, .ddpm_step = o.ddpm_step}).x;
    add_v11_stats(table, sigma == Sigma::Large ? "DDPM sigma^2=beta" : "DDPM sigma^2=beta~",
                  v11_features(values(x), m, c), gm, c);
  }

  // DDIM (η = 0) with S = 50 and 100 strided steps, and the continuous-time chapter form
  // (E3b) with S = 50 and 100. These are first-order integrators whose bias ~ 1/S is
  // several SE at S = 50..100 (Note [DDIM's discretisation bias] in sampler.h: the
  // variance shrinks by ≈ (π/2)²/S). So the check combines the two step counts as
  // Richardson does, 2 f(x_{2S}) - f(x_S), which cancels the 1/S term and leaves O(1/S²);
  // with one x_T for both runs this is again a mean over samples with a computed SE. The
  // raw biases are reported in the detail, in SE.
  auto ddim_pair = [&](const std::string& name, const std::function<Tensor(std::int64_t, const Tensor&)>& run,
                       const GaussianMixture& target, std::uint64_t seed) {
    Generator gen(seed);
    const Tensor x_T = Tensor::randn({N, 1}, {.dtype = DType::Float64}, &gen);
    const double mt = target.mean()[0];
    const V11Features coarse = v11_features(values(run(50, x_T)), mt, c);
    const V11Features fine = v11_features(values(run(100, x_T)), mt, c);
    add_v11_stats(table, name + " 2x(S=100)-(S=50)",
                  {richardson(fine.mean, coarse.mean), richardson(fine.var, coarse.var),
                   richardson(fine.left, coarse.left)},
                  target, c);
    const Stat raw50 = mean_stat("", coarse.var, target.variance()[0]);
    const Stat raw100 = mean_stat("", fine.var, target.variance()[0]);
    bias_note += fmt::format("\n    {}: raw variance bias S=50 {:+.4f} (z = {:+.1f}), S=100 {:+.4f} (z = {:+.1f})",
                             name, raw50.estimate - raw50.exact, raw50.z(),
                             raw100.estimate - raw100.exact, raw100.z());
  };
  ddim_pair(
      "DDIM eta=0",
      [&](std::int64_t S, const Tensor& x_T) {
        return sample_strided(s, space_timesteps(s.T, fmt::format("ddim{}", S)), model, x_T,
                              {.ddim_step = o.ddim_step}).x;
      },
      gm, o.seed + 13);
  // E3b ends at τ = 0, where signal = 0.95: its samples follow q at ᾱ(0) = 0.95², the
  // mixture noised to that level (sampler.h, sample_continuous).
  const RatesFn rates = [](const Tensor& tau) { return offset_cosine_rates(tau); };
  const double alpha_bar_end = 0.95 * 0.95;
  ddim_pair(
      "continuous E3b",
      [&](std::int64_t S, const Tensor& x_T) {
        return sample_continuous(rates, S, gm.as_model(rates), x_T, {.ddim_step = o.ddim_step}).x;
      },
      gm.noised(alpha_bar_end), o.seed + 14);

  const double z_star = bonferroni_z(kAlpha, table.size());
  return result(
      "V11", what, table.max_abs_z(), z_star, true,
      fmt::format(
          "error = max |z| over {} statistics (worst: {}), {} samples per run, 1-D mixture "
          "0.3 N(-1.2, 0.3^2) + 0.7 N(0.8, 0.4^2), c = {}, linear T = 1000; tolerance z* = "
          "Phi^-1(1 - alpha/2m), alpha = 1e-3 (Bonferroni).\n"
          "  DDPM runs all 1000 steps; DDIM (strided 'ddimS') and the E3b continuous form are "
          "first-order in 1/S (variance shrinks ~ (pi/2)^2/S), so they are checked through the "
          "Richardson combination 2 f(S=100) - f(S=50) on one x_T, which cancels the 1/S bias; "
          "E3b is compared with the mixture noised to abar(0) = 0.9025.{}{}\n  {:.1f} s",
          table.size(), table.worst(), N, c, bias_note, table.lines(), seconds_since(t0)));
}

// ---- V12 -------------------------------------------------------------------------------
// One step from a fixed (x_t, ε): DDIM with η = 1 and DDPM with σ² = β̃ have the same
// mean (E12) and variance (β̃_t), in closed form to rounding and by Monte Carlo through the
// step functions the samplers use; DDIM with η = 0 ignores its noise.
CheckResult check_v12(const SamplingCheckOptions& o) {
  const char* what = kWhatV12;
  const auto t0 = std::chrono::steady_clock::now();
  const DdpmStepFn ddpm = o.ddpm_step ? o.ddpm_step : DdpmStepFn(ddpm_step);
  const DdimStepFn ddim = o.ddim_step ? o.ddim_step : DdimStepFn(ddim_step);
  const std::int64_t N = checked_samples(o);
  const Schedule base = Schedule::linear(1000);
  const Schedule strided = respace(base, space_timesteps(base.T, "ddim50"));
  const double x_value = 0.7, eps_value = -0.4;
  Generator gen(o.seed + 12);

  StatTable table;
  double worst_identity = 0;  // max over steps of (identity error / its rounding bound)
  std::string identities;
  struct Case {
    const Schedule* s;
    std::int64_t t;
    const char* name;
  };
  const std::vector<Case> cases = {{&base, 1, "t=1"},       {&base, 2, "t=2"},
                                   {&base, 10, "t=10"},     {&base, 100, "t=100"},
                                   {&base, 500, "t=500"},   {&base, 1000, "t=1000"},
                                   {&strided, 2, "ddim50 i=2"}, {&strided, 50, "ddim50 i=50"}};
  NoGradGuard no_grad;
  for (const Case& k : cases) {
    const Schedule& s = *k.s;
    const double ab = s.alpha_bar[k.t], ab_prev = s.alpha_bar[k.t - 1];
    const double beta_tilde = posterior_variance(s)[k.t];
    const Tensor x = Tensor::full({N, 1}, x_value, {.dtype = DType::Float64});
    const Tensor eps = Tensor::full({N, 1}, eps_value, {.dtype = DType::Float64});
    const Tensor t = Tensor::full({N}, static_cast<double>(k.t), {.dtype = DType::Int64});
    const double mu = model_mean(s, x.narrow(0, 0, 1), t.narrow(0, 0, 1), eps.narrow(0, 0, 1)).item();

    // Closed forms. σ_t(η=1)² = β̃_t: both sides subtract nearly equal numbers (1 - ᾱ_t/ᾱ_{t-1}
    // = β_t, 1 - ᾱ), so their rounding is ~u/β_t + u/(1-ᾱ_t) + u/(1-ᾱ_{t-1}) relative.
    const double sigma = ddim_sigma(ab, ab_prev, 1.0);
    const double var_bound = 16 * kU * (1 / s.beta[k.t] + 1 / (1 - ab) + (ab_prev < 1 ? 1 / (1 - ab_prev) : 0));
    const double var_err = k.t == 1 ? std::abs(sigma * sigma) / kU  // both 0 at t = 1
                                    : std::abs(sigma * sigma - beta_tilde) / beta_tilde / var_bound;
    // The DDIM mean √ᾱ_{t-1} x̂_0 + √(1-ᾱ_{t-1}-σ²) ε against E12: x̂_0 divides by √ᾱ_t, then
    // √ᾱ_{t-1} multiplies back, so rounding is ~u (|x_t| + |ε|)/√α_t, times the
    // conditioning of the square root of 1 - ᾱ_{t-1} - σ² (relative var_bound).
    const double ddim_mean = ddim(x.narrow(0, 0, 1), eps.narrow(0, 0, 1), ab, ab_prev, 1.0, Tensor(), false).item();
    const double mean_bound = 64 * kU * (std::abs(x_value) + std::abs(eps_value)) / std::sqrt(s.alpha[k.t]) +
                              var_bound * std::abs(eps_value);
    const double mean_err = std::abs(ddim_mean - mu) / mean_bound;
    worst_identity = std::max({worst_identity, var_err, mean_err});
    identities += fmt::format("\n    {:<12} sigma(eta=1)^2 = {:.6e}, beta~ = {:.6e}; mean {:+.12f} vs E12 {:+.12f}",
                              k.name, sigma * sigma, beta_tilde, ddim_mean, mu);

    // Monte Carlo through the step functions: N noises each.
    const Tensor noise_ddim = Tensor::randn({N, 1}, {.dtype = DType::Float64}, &gen);
    const Tensor noise_ddpm = Tensor::randn({N, 1}, {.dtype = DType::Float64}, &gen);
    const std::vector<double> y_ddim = values(ddim(x, eps, ab, ab_prev, 1.0, noise_ddim, false));
    const std::vector<double> y_ddpm = values(ddpm(s, x, t, eps, noise_ddpm, Sigma::Small, false));
    auto squares = [&](const std::vector<double>& y) {
      std::vector<double> sq(y.size());
      for (size_t i = 0; i < y.size(); ++i) sq[i] = (y[i] - mu) * (y[i] - mu);
      return sq;
    };
    if (k.t == 1) {
      // The last step has no noise in either (DDPM's z = 0 at t = 1, σ_1(η) = 0 as ᾱ_0 = 1):
      // every output is the mean, to rounding.
      for (const std::vector<double>* y : {&y_ddim, &y_ddpm})
        for (double v : *y) worst_identity = std::max(worst_identity, std::abs(v - mu) / mean_bound);
      continue;
    }
    table.add(mean_stat(fmt::format("{} DDIM eta=1 mean", k.name), y_ddim, mu));
    table.add(mean_stat(fmt::format("{} DDPM beta~ mean", k.name), y_ddpm, mu));
    table.add(mean_stat(fmt::format("{} DDIM eta=1 variance", k.name), squares(y_ddim), beta_tilde));
    table.add(mean_stat(fmt::format("{} DDPM beta~ variance", k.name), squares(y_ddpm), beta_tilde));
  }

  // η = 0 is deterministic: the step ignores its noise, and whole runs under two
  // different generators agree bit for bit and draw nothing.
  const Tensor x = Tensor::randn({64, 1}, {.dtype = DType::Float64}, &gen);
  const Tensor eps = Tensor::randn({64, 1}, {.dtype = DType::Float64}, &gen);
  const double ab = base.alpha_bar[500], ab_prev = base.alpha_bar[499];
  const bool step_deterministic =
      (ddim(x, eps, ab, ab_prev, 0.0, Tensor::randn({64, 1}, {.dtype = DType::Float64}, &gen), false) -
       ddim(x, eps, ab, ab_prev, 0.0, Tensor::randn({64, 1}, {.dtype = DType::Float64}, &gen), false))
          .abs().max().item() == 0;
  const GaussianMixture gm = mixture_1d();
  Generator g1(1), g2(2);
  const std::uint64_t offset_before = g1.offset();
  const Tensor run1 = sample_ddim(strided, gm.as_model(base), x, {.eta = 0, .gen = &g1, .ddim_step = o.ddim_step}).x;
  const Tensor run2 = sample_ddim(strided, gm.as_model(base), x, {.eta = 0, .gen = &g2, .ddim_step = o.ddim_step}).x;
  const bool runs_deterministic = (run1 - run2).abs().max().item() == 0 && g1.offset() == offset_before;

  const double z_star = bonferroni_z(kAlpha, table.size());
  const bool ok = worst_identity <= 1 && step_deterministic && runs_deterministic;
  return result(
      "V12", what, table.max_abs_z(), z_star, ok,
      fmt::format(
          "error = max |z| over {} Monte-Carlo statistics (worst: {}): one step from x_t = {}, "
          "eps = {} with {} noises each, at t = 1, 2, 10, 100, 500, 1000 of linear T = 1000 and "
          "steps 2, 50 of its 'ddim50' respacing; tolerance z* (Bonferroni, alpha = 1e-3).\n"
          "  closed forms (sigma(eta=1)^2 = beta~, DDIM eta=1 mean = E12, and at t = 1 every output = "
          "the mean): worst (error / rounding bound) = {:.3f} <= 1{}\n"
          "  eta = 0: step ignores its noise: {}; two runs under different generators identical "
          "and no draw: {}{}\n  {:.1f} s",
          table.size(), table.worst(), x_value, eps_value, N, worst_identity, identities,
          step_deterministic ? "yes" : "NO", runs_deterministic ? "yes" : "NO", table.lines(),
          seconds_since(t0)));
}

// ---- V14 -------------------------------------------------------------------------------
// The metrics on cases with known answers: E34 against closed forms (commuting
// covariances in 6-D, general 2×2), zero for identical sets; E36 unbiased (mean ≈ 0 on
// two samples of one law, by Monte Carlo over replicates) and positive for different laws;
// E35 at its two extremes.
CheckResult check_v14(const SamplingCheckOptions& o) {
  const char* what = kWhatV14;
  const auto t0 = std::chrono::steady_clock::now();
  NoGradGuard no_grad;
  Generator gen(o.seed + 14);
  std::string detail;
  double worst = 0;  // max relative error of E34 against its closed forms / rounding bound

  // (a) Commuting covariances Σ_i = Q diag(a_i) Qᵀ (Q orthogonal): the square root is
  // Q diag(√(a₁a₂)) Qᵀ, so d² = ‖μ₁ - μ₂‖² + Σ_j (√a₁ⱼ - √a₂ⱼ)².
  const std::int64_t F = 6;
  const Tensor r = Tensor::randn({F, F}, {.dtype = DType::Float64}, &gen);
  const Tensor q = symmetric_eigen(r + r.t()).vectors;  // a random orthogonal matrix
  const std::vector<double> a1 = {0.5, 0.8, 1.0, 1.3, 1.7, 2.0}, a2 = {1.9, 0.6, 1.0, 0.7, 1.2, 0.5};
  const Tensor d1 = Tensor::from_vector(a1, {F}, {.dtype = DType::Float64});
  const Tensor d2 = Tensor::from_vector(a2, {F}, {.dtype = DType::Float64});
  const Tensor s1 = (q * d1.unsqueeze(0)).matmul(q.t()), s2 = (q * d2.unsqueeze(0)).matmul(q.t());
  const Tensor mu1 = Tensor::randn({F}, {.dtype = DType::Float64}, &gen);
  const Tensor mu2 = Tensor::randn({F}, {.dtype = DType::Float64}, &gen);
  double exact_a = (mu1 - mu2).square().sum().item();
  for (std::int64_t j = 0; j < F; ++j) exact_a += std::pow(std::sqrt(a1[j]) - std::sqrt(a2[j]), 2);
  const double got_a = frechet_distance(mu1, 0.5 * (s1 + s1.t()), mu2, 0.5 * (s2 + s2.t()));
  // Rounding: Jacobi eigenvalues are accurate to ~F u ‖Σ‖; √λ of the smallest (≥ 0.25 here)
  // at most doubles that; summed over F and scaled by the traces: 64 F² u (Tr Σ₁ + Tr Σ₂).
  const double scale_a = 64.0 * F * F * kU * (8.3 + 5.9 + 1);
  worst = std::max(worst, std::abs(got_a - exact_a) / scale_a);
  detail += fmt::format("\n    commuting 6-D: d^2 = {:.15f}, closed form {:.15f}", got_a, exact_a);

  // (b) A general 2×2 pair: Σ₁Σ₂ has non-negative eigenvalues (it is similar to a PSD
  // matrix), and for such a 2×2 matrix Tr(A^{1/2}) = √(Tr A + 2√det A).
  const Tensor p1 = Tensor::tensor({{1.0, 0.6}, {0.6, 0.8}}, {.dtype = DType::Float64});
  const Tensor p2 = Tensor::tensor({{0.5, -0.3}, {-0.3, 1.5}}, {.dtype = DType::Float64});
  const Tensor prod = p1.matmul(p2);
  const double tr = prod.at({0, 0}) + prod.at({1, 1});
  const double det = prod.at({0, 0}) * prod.at({1, 1}) - prod.at({0, 1}) * prod.at({1, 0});
  const Tensor m1 = Tensor::tensor({0.3, -0.2}, {.dtype = DType::Float64});
  const Tensor m2 = Tensor::tensor({-0.1, 0.4}, {.dtype = DType::Float64});
  const double exact_b = (m1 - m2).square().sum().item() + 1.8 + 2.0 - 2 * std::sqrt(tr + 2 * std::sqrt(det));
  const double got_b = frechet_distance(m1, p1, m2, p2);
  worst = std::max(worst, std::abs(got_b - exact_b) / (64.0 * 4 * kU * (1.8 + 2.0 + 1)));
  detail += fmt::format("\n    general 2x2: d^2 = {:.15f}, closed form {:.15f}", got_b, exact_b);

  // (c) Identical feature sets: d² = 0 up to rounding (the same bound, with the traces of
  // the fitted covariance).
  const Tensor feats = Tensor::randn({500, 8}, {.dtype = DType::Float64}, &gen) * 0.7 + 0.2;
  const double got_c = frechet_distance(feats, feats);
  const Tensor cov_c = feature_stats(feats).cov;
  double tr_c = 0;
  for (std::int64_t j = 0; j < cov_c.size(0); ++j) tr_c += cov_c.at({j, j});
  worst = std::max(worst, std::abs(got_c) / (64.0 * 64 * kU * (2 * tr_c + 1)));
  detail += fmt::format("\n    identical sets (500 x 8): d^2 = {:.3e}", got_c);

  // (d) E36 unbiased: R independent replicate pairs from one law N(0, I_4) (m = n = 50):
  // the mean of MMD²_u is 0 within its SE; the biased V-statistic (i = j terms kept) is
  // visibly positive, so the test has power; and a shifted law (mean + 0.5) is positive.
  StatTable table;
  const std::int64_t R = 300, m = 50, d = 4;
  std::vector<double> same, biased, shifted;
  for (std::int64_t k = 0; k < R; ++k) {
    const Tensor a = Tensor::randn({m, d}, {.dtype = DType::Float64}, &gen);
    const Tensor b = Tensor::randn({m, d}, {.dtype = DType::Float64}, &gen);
    same.push_back(mmd2_unbiased(a, b));
    const double v_stat = polynomial_kernel(a, a).mean().item() + polynomial_kernel(b, b).mean().item() -
                          2 * polynomial_kernel(a, b).mean().item();
    biased.push_back(v_stat);
    shifted.push_back(mmd2_unbiased(a, b + 0.5));
  }
  table.add(mean_stat("KID(same law)", same, 0.0));
  const Stat biased_stat = mean_stat("", biased, 0.0);
  const Stat shifted_stat = mean_stat("", shifted, 0.0);
  const double z_star = bonferroni_z(kAlpha, table.size());
  const bool kid_power = biased_stat.z() > z_star && shifted_stat.z() > z_star;
  const MeanAndSpread kid_subsets = kernel_distance(Tensor::randn({400, d}, {.dtype = DType::Float64}, &gen),
                                                    Tensor::randn({400, d}, {.dtype = DType::Float64}, &gen),
                                                    10, 100, &gen);

  // (e) E35: an uninformative classifier (p(y|x) = p(y)) scores 1; confident predictions
  // spread evenly over C = 5 classes score 5 (both to rounding).
  const std::int64_t C = 5;
  const double is_flat = inception_score(Tensor::full({100, C}, 1.0 / C, {.dtype = DType::Float64})).mean;
  std::vector<double> onehot(100 * C, 0.0);
  for (std::int64_t i = 0; i < 100; ++i) onehot[i * C + i % C] = 1;
  const double is_sharp = inception_score(Tensor::from_vector(onehot, {100, C}, {.dtype = DType::Float64})).mean;
  const bool is_ok = std::abs(is_flat - 1) <= 64 * kU * C && std::abs(is_sharp - C) <= 64 * kU * C * C;

  const bool ok = table.max_abs_z() <= z_star && kid_power && is_ok;
  return result(
      "V14", what, worst, 1.0, ok,
      fmt::format(
          "error = max over E34 cases of |d^2 - closed form| / rounding bound (64 F^2 u (Tr S1 + "
          "Tr S2 + 1), Jacobi eigenvalues in float64); tolerance 1.{}\n"
          "  KID unbiased: {} replicate pairs of 50 x N(0, I_4): mean MMD^2_u = {:+.2e} (SE "
          "{:.1e}, z = {:+.2f} <= z* = {:.2f}); biased V-statistic {:+.2e} (z = {:+.1f}) and a "
          "shift of 0.5: {:+.2e} (z = {:+.1f}) both > z*: {}; KID over 10 subsets of 100: "
          "{:+.2e} +- {:.1e}\n"
          "  IS: uninformative = {:.15f} (1), one-hot over 5 classes = {:.15f} (5): {}\n  {:.1f} s",
          detail, R, table.stats[0].estimate, table.stats[0].se, table.stats[0].z(), z_star,
          biased_stat.estimate, biased_stat.z(), shifted_stat.estimate, shifted_stat.z(),
          kid_power ? "yes" : "NO", kid_subsets.mean, kid_subsets.std, is_flat, is_sharp,
          is_ok ? "ok" : "WRONG", seconds_since(t0)));
}

// ---- V17 -------------------------------------------------------------------------------
// Fix x_0, start at x_{τ_S} ~ q(x_{τ_S} | x_0) (E7), and apply the DDIM step with the true
// ε = (x_{τ_i} - √ᾱ x_0)/√(1-ᾱ) (so x̂_0 = x_0): after every step the standardised
// residual r = (x_{τ_{i-1}} - √ᾱ_{τ_{i-1}} x_0)/√(1-ᾱ_{τ_{i-1}}) must be N(0, 1) and
// independent of x_0: E[r] = 0, E[r²] = 1, E[r x̃_0] = 0 (x̃_0 the standardised x_0).
CheckResult check_v17(const SamplingCheckOptions& o) {
  const char* what = kWhatV17;
  const auto t0 = std::chrono::steady_clock::now();
  const DdimStepFn ddim = o.ddim_step ? o.ddim_step : DdimStepFn(ddim_step);
  const std::int64_t N = checked_samples(o);
  const Schedule s = Schedule::linear(1000);
  NoGradGuard no_grad;
  Generator gen(o.seed + 17);
  // x_0 on an even grid of [-2, 2] (N values), and its standardised copy.
  const Tensor x0 = Tensor::linspace(-2, 2, N, {.dtype = DType::Float64}).reshape({N, 1});
  const Tensor x0_std = (x0 - x0.mean()) / x0.std();
  struct Steps {
    const char* name;
    std::vector<std::int64_t> kept;
  };
  const std::vector<Steps> subsequences = {
      {"ddim10", space_timesteps(s.T, "ddim10")},
      {"uniform7", space_timesteps(s.T, "uniform7")},
      {"irregular", {3, 40, 41, 150, 333, 600, 999}}};
  StatTable table;
  double end_error = 0;
  for (double eta : {0.0, 0.5, 1.0}) {
    for (const Steps& sub : subsequences) {
      const std::vector<std::int64_t>& k = sub.kept;
      // Levels ᾱ_{τ_S} > ... > ᾱ_{τ_1} > ᾱ_0 = 1 (descending index i = S..1, then 0).
      auto level = [&](std::int64_t i) { return i == 0 ? 1.0 : s.alpha_bar[k[i - 1]]; };
      const auto S = static_cast<std::int64_t>(k.size());
      const Tensor t_start = Tensor::full({N}, static_cast<double>(k.back()), {.dtype = DType::Int64});
      Tensor x = q_sample(s, x0, t_start, Tensor::randn({N, 1}, {.dtype = DType::Float64}, &gen));  // E7
      for (std::int64_t i = S; i >= 1; --i) {
        const double ab = level(i), ab_prev = level(i - 1);
        const Tensor eps = (x - std::sqrt(ab) * x0) / std::sqrt(1 - ab);  // the true ε
        const Tensor noise = Tensor::randn({N, 1}, {.dtype = DType::Float64}, &gen);
        x = ddim(x, eps, ab, ab_prev, eta, noise, false);
        if (i == 1) break;
        const Tensor r = (x - std::sqrt(ab_prev) * x0) / std::sqrt(1 - ab_prev);
        const std::string at = fmt::format("eta={} {} tau={}", eta, sub.name, k[i - 2]);
        table.add(mean_stat(at + " E[r]", values(r), 0.0));
        table.add(mean_stat(at + " E[r^2]", values(r.square()), 1.0));
        table.add(mean_stat(at + " E[r x0]", values(r * x0_std), 0.0));
      }
      // The last step lands on ᾱ_0 = 1 with σ = 0: x = x̂_0 = x_0 up to rounding of
      // E10 (~u (|x_t| + |ε|)/√ᾱ_{τ_1}).
      end_error = std::max(end_error, (x - x0).abs().max().item() /
                                          (64 * kU * (2 + 4) / std::sqrt(level(1))));
    }
  }
  const double z_star = bonferroni_z(kAlpha, table.size());
  return result(
      "V17", what, table.max_abs_z(), z_star, end_error <= 1,
      fmt::format(
          "error = max |z| over {} statistics (worst: {}): {} x_0 on a grid of [-2, 2], started "
          "from q(x_tauS|x_0) by E7 and stepped with the true eps, eta = 0, 0.5, 1, step "
          "subsequences ddim10 / uniform7 / irregular {{3, 40, 41, 150, 333, 600, 999}} of linear "
          "T = 1000; residual r = (x - sqrt(abar) x_0)/sqrt(1-abar) tested for E[r] = 0, E[r^2] = 1, "
          "E[r x0] = 0 after every step; tolerance z* (Bonferroni, alpha = 1e-3).\n"
          "  last step lands on x_0: max error / rounding bound = {:.3f} <= 1\n  {:.1f} s",
          table.size(), table.worst(), N, end_error, seconds_since(t0)));
}

// ---- V18 -------------------------------------------------------------------------------
// x_0 from the 2-D mixture, inverted by E39 and generated back by DDIM (η = 0) with the
// same S steps and the exact ε*: the reconstruction error falls as S grows.
CheckResult check_v18(const SamplingCheckOptions& o) {
  const char* what = kWhatV18;
  const auto t0 = std::chrono::steady_clock::now();
  const GaussianMixture gm = mixture_2d();
  const Schedule s = Schedule::linear(1000);
  const EpsModel model = gm.as_model(s);
  Generator gen(o.seed + 18);
  const std::int64_t n = 2000;
  const Tensor x0 = gm.sample(n, &gen);
  const std::vector<std::int64_t> step_counts = {10, 20, 50, 100, 200};
  std::vector<double> rms;
  std::string table;
  for (std::int64_t S : step_counts) {
    const Schedule r = respace(s, space_timesteps(s.T, fmt::format("ddim{}", S)));
    const Tensor x_T = ddim_invert(r, model, x0).x;
    const Tensor back = sample_ddim(r, model, x_T, {.ddim_step = o.ddim_step}).x;
    rms.push_back(std::sqrt((back - x0).square().sum({1}).mean().item()));
    table += fmt::format("\n    S = {:>3}: rms |x0' - x0| = {:.3e}  (S x rms = {:.3f}); x_T variance {:.3f}",
                         S, rms.back(), static_cast<double>(S) * rms.back(), x_T.var().item());
  }
  bool falling = true;
  for (size_t i = 1; i < rms.size(); ++i) falling = falling && rms[i] < rms[i - 1];
  // Both directions are first-order (exponential-Euler) integrators of one ODE, so the
  // round-trip error is ~C/S for large S. Tolerance: at least order 3/4 from S = 50 to 200.
  const double order = std::log(rms[2] / rms[4]) / std::log(200.0 / 50.0);
  const double tolerance = rms[2] * std::pow(50.0 / 200.0, 0.75);
  return result(
      "V18", what, rms[4], tolerance, falling,
      fmt::format(
          "error = rms reconstruction error at S = 200 ({} x_0 from the 2-D mixture, linear T = "
          "1000, 'ddimS' steps, eta = 0, exact eps*); tolerance = rms(S=50) (50/200)^(3/4): the "
          "round trip is first order in 1/S (observed order {:.2f} between S = 50 and 200), and "
          "the error must fall at every step count (falls: {}).{}\n  {:.1f} s",
          n, order, falling ? "yes" : "NO", table, seconds_since(t0)));
}

std::vector<Check> sampling_checks() {
  return {
      {"V10", kWhatV10,
       [] { return check_v10(); }},
      {"V11", kWhatV11,
       [] { return check_v11(); }},
      {"V12", kWhatV12,
       [] { return check_v12(); }},
      {"V14", kWhatV14,
       [] { return check_v14(); }},
      {"V17", kWhatV17,
       [] { return check_v17(); }},
      {"V18", kWhatV18,
       [] { return check_v18(); }},
  };
}

}  // namespace kiln::diffusion
