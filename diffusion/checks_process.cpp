// The verifications of the process side of EQUATIONS.md (Note [Verification checks] in
// diffusion/verify.h): V1-V9, V15, V16, V19, V21, V22.
//
// Each check runs several sub-checks, each with a measured error and a tolerance derived
// from a rounding bound (a count of float64 roundings times ε = 2^-52, scaled by the size
// of the terms involved) or from Monte-Carlo standard errors (4 SE, the sample count in
// the text). The reported error and tolerance are those of the worst sub-check (the
// largest error / tolerance); the check passes iff every sub-check does. `detail` names
// every sub-check with its numbers. Fixed seeds make every run print the same numbers.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/index.h"
#include "autograd/ops/reduce.h"
#include "diffusion/bound.h"
#include "diffusion/checks.h"
#include "diffusion/forward.h"
#include "diffusion/loss.h"
#include "diffusion/oracle.h"
#include "diffusion/posterior.h"
#include "diffusion/schedule.h"
#include "diffusion/verify.h"
#include "tensor/random.h"

namespace kiln::diffusion {
namespace checks {

namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();  // 2^-52
constexpr Options kF64{.dtype = DType::Float64};
const double kLog2Pi = std::log(2 * std::numbers::pi);

// Collects sub-checks; the worst (largest error / tolerance) one is reported.
class SubChecks {
 public:
  void add(const std::string& what, double error, double tolerance) {
    const bool pass = error <= tolerance;  // false for NaN
    items_.push_back({what, error, tolerance, pass});
  }
  // A condition without a size (a shape, an ordering, an exact equality): error 1 when it
  // fails, 0 when it holds; tolerance 0.
  void require(const std::string& what, bool pass, const std::string& got = "") {
    items_.push_back({got.empty() ? what : what + " [" + got + "]", pass ? 0.0 : 1.0, 0.0, pass});
  }
  bool ok() const {
    return std::all_of(items_.begin(), items_.end(), [](const Item& i) { return i.pass; });
  }
  CheckResult result(const std::string& id, const std::string& what, const std::string& note) const {
    CheckResult r;
    r.id = id;
    r.what = what;
    r.passed = ok();
    const Item* worst = nullptr;
    double worst_ratio = -1;
    for (const Item& i : items_) {
      const double ratio = std::isnan(i.error) ? INFINITY
                           : i.tolerance > 0   ? i.error / i.tolerance
                           : i.pass            ? 0.0
                                               : INFINITY;
      if (ratio > worst_ratio) worst_ratio = ratio, worst = &i;
    }
    std::string list;
    for (const Item& i : items_) {
      list += fmt::format("{}{}: {:.3g} (tol {:.3g}){}", list.empty() ? "" : "; ", i.what, i.error,
                          i.tolerance, i.pass ? "" : " FAILED");
    }
    if (worst) {
      r.error = worst->error;
      r.tolerance = worst->tolerance;
      r.detail = fmt::format("worst: {}. All: {}. {}", worst->what, list, note);
    } else {
      r.detail = note;
    }
    return r;
  }

 private:
  struct Item {
    std::string what;
    double error, tolerance;
    bool pass;
  };
  std::vector<Item> items_;
};

Tensor steps(std::int64_t B, std::int64_t t) {
  return Tensor::full({B}, static_cast<double>(t), {.dtype = DType::Int64});
}

Tensor steps(const std::vector<std::int64_t>& ts) {
  return Tensor::from_vector(ts, {static_cast<std::int64_t>(ts.size())}, {.dtype = DType::Int64});
}

double max_of(const Tensor& x) { return amax(x).item(); }
double max_abs(const Tensor& x) { return amax(abs(x)).item(); }

// Probabilists' Gauss-Hermite rule with 5 nodes: E[f(Z)], Z ~ N(0,1), exactly for every
// polynomial f of degree ≤ 9 (so exactly for the quadratic integrands of V7 and V8).
const std::vector<double> kGhNodes = {-2.856970013872805635, -1.355626179974265969, 0.0,
                                      1.355626179974265969, 2.856970013872805635};
const std::vector<double> kGhWeights = {0.011257411327720689, 0.222075922005612644,
                                        0.533333333333333333, 0.222075922005612644,
                                        0.011257411327720689};

// Trapezoid rule on z ∈ [-L, L] for E[f(Z)], Z ~ N(0,1): nodes and weights φ(z) h,
// normalised to sum to 1. For smooth f it converges faster than any power of h.
void normal_trapezoid(std::int64_t n, double L, std::vector<double>& z, std::vector<double>& w) {
  z.resize(n);
  w.resize(n);
  const double h = 2 * L / static_cast<double>(n - 1);
  double total = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    z[i] = -L + h * static_cast<double>(i);
    w[i] = std::exp(-0.5 * z[i] * z[i]) * (i == 0 || i == n - 1 ? 0.5 : 1.0);
    total += w[i];
  }
  for (double& v : w) v /= total;
}

// The standard normal CDF in long double (the reference for V22), accurate in both tails.
long double phi_ref(long double z) { return 0.5L * std::erfc(-z / std::sqrt(2.0L)); }
// P(a < Z < b) without cancellation in either tail.
long double normal_interval_ref(long double a, long double b) {
  if (a >= 0) return 0.5L * (std::erfc(a / std::sqrt(2.0L)) - std::erfc(b / std::sqrt(2.0L)));
  if (b <= 0) return 0.5L * (std::erfc(-b / std::sqrt(2.0L)) - std::erfc(-a / std::sqrt(2.0L)));
  return 1.0L - phi_ref(a) - 0.5L * std::erfc(b / std::sqrt(2.0L));
}

}  // namespace

// ---- V1: schedules --------------------------------------------------------------------

namespace {

void v1_schedule_into(SubChecks& sc, const Schedule& s, const std::string& name,
                      bool prior_negligible) {
  const std::int64_t T = s.T;
  const auto n = static_cast<size_t>(T + 1);
  const bool sizes = s.beta.size() == n && s.alpha.size() == n && s.alpha_bar.size() == n &&
                     s.one_minus_alpha_bar.size() == n && s.timestep_map.size() == n;
  sc.require(name + ": tables hold T + 1 entries (t = 0..T)", sizes);
  if (!sizes) return;
  sc.require(name + ": t = 0 convention β_0 = 0, α_0 = 1, ᾱ_0 = 1, 1-ᾱ_0 = 0",
             s.beta[0] == 0 && s.alpha[0] == 1 && s.alpha_bar[0] == 1 &&
                 s.one_minus_alpha_bar[0] == 0,
             fmt::format("β_0 = {}, α_0 = {}, ᾱ_0 = {}", s.beta[0], s.alpha[0], s.alpha_bar[0]));
  double bmin = INFINITY, bmax = -INFINITY;
  for (std::int64_t t = 1; t <= T; ++t) bmin = std::min(bmin, s.beta[t]), bmax = std::max(bmax, s.beta[t]);
  sc.require(name + ": β_t ∈ (0, 0.999]", bmin > 0 && bmax <= 0.999,
             fmt::format("min {:.4g}, max {:.4g}", bmin, bmax));
  // α = 1 - β: one rounding, |error| ≤ ε/2.
  double alpha_err = 0;
  for (std::int64_t t = 1; t <= T; ++t) alpha_err = std::max(alpha_err, std::abs(s.alpha[t] - (1 - s.beta[t])));
  sc.add(name + ": E2 α_t = 1 - β_t", alpha_err, kEps);
  // E2: ᾱ_t = ∏_{s=1}^t (1 - β_s), against a long double product; each step of the float64
  // product rounds twice (α and the product), so |relative error| ≤ t ε.
  long double prod = 1, log_prod = 0;
  double ab_worst = 0, ab_tol = kEps, om_worst = 0, om_tol = kEps;
  for (std::int64_t t = 1; t <= T; ++t) {
    prod *= 1.0L - static_cast<long double>(s.beta[t]);
    log_prod += std::log1p(-static_cast<long double>(s.beta[t]));
    const double rel = static_cast<double>(std::abs((s.alpha_bar[t] - prod) / prod));
    const double tol = static_cast<double>(t + 1) * kEps;
    if (rel / tol > ab_worst / ab_tol) ab_worst = rel, ab_tol = tol;
    const long double om_ref = -std::expm1(log_prod);
    const double rel_om = static_cast<double>(std::abs((s.one_minus_alpha_bar[t] - om_ref) / om_ref));
    if (rel_om / tol > om_worst / om_tol) om_worst = rel_om, om_tol = tol;
  }
  sc.add(name + ": E2 ᾱ_t = ∏_{s=1..t} α_s (relative, vs long double)", ab_worst, ab_tol);
  sc.add(name + ": 1 - ᾱ_t (relative, vs long double)", om_worst, om_tol);
  bool decreasing = true;
  for (std::int64_t t = 1; t <= T; ++t) decreasing = decreasing && s.alpha_bar[t] < s.alpha_bar[t - 1];
  sc.require(name + ": ᾱ_t strictly decreasing", decreasing);
  const std::vector<double> r = snr(s);
  bool snr_decreasing = true;
  for (std::int64_t t = 2; t <= T; ++t) snr_decreasing = snr_decreasing && r[t] < r[t - 1];
  sc.require(name + ": E8 SNR_t strictly decreasing", snr_decreasing,
             fmt::format("SNR_1 = {:.3g}, SNR_T = {:.3g}", r[1], r[T]));
  if (prior_negligible) {
    // E22: the worst x_0 ∈ [-1, 1] is an end point (the KL grows with x_0²).
    const Tensor x0 = Tensor::tensor({-1.0, 0.0, 1.0}, kF64).reshape({3, 1});
    const double lt = max_of(prior_kl(s, x0));
    sc.add(fmt::format("{}: E22 L_T per dim for x_0 ∈ [-1, 1] (ᾱ_T = {:.3g}) ≤ 1e-4 nats", name,
                       s.alpha_bar[T]),
           lt, 1e-4);
  }
}

}  // namespace

CheckResult v1_schedule(const Schedule& s, const std::string& name, bool prior_negligible) {
  SubChecks sc;
  v1_schedule_into(sc, s, name, prior_negligible);
  return sc.result("V1", "schedule " + name + ": shapes, endpoints, monotone ᾱ and SNR",
                   "Rounding tolerances: (t+1) ε relative for a t-step product.");
}

CheckResult v1() {
  SubChecks sc;
  // E1
  const Schedule ho = Schedule::linear(1000, 1e-4, 0.02);
  v1_schedule_into(sc, ho, "linear T=1000", true);
  v1_schedule_into(sc, Schedule::linear(50, 1e-4, 0.02), "linear T=50", false);
  sc.require("E1 endpoints β_1 = 1e-4, β_T = 0.02", ho.beta[1] == 1e-4 && ho.beta[1000] == 0.02,
             fmt::format("{}, {}", ho.beta[1], ho.beta[1000]));
  double step_err = 0;
  const double step = (0.02 - 1e-4) / 999;
  for (std::int64_t t = 2; t <= 1000; ++t) {
    step_err = std::max(step_err, std::abs(ho.beta[t] - ho.beta[t - 1] - step));
  }
  sc.add("E1 constant step (β_T - β_1)/(T - 1)", step_err, 4 * kEps * 0.02);
  // "≈ 4.0e-5" to the two digits quoted: within 0.05e-5.
  sc.add(fmt::format("E22 ᾱ_T = {:.4g} ≈ 4.0e-5 for linear T=1000", ho.alpha_bar[1000]),
         std::abs(ho.alpha_bar[1000] - 4.0e-5), 0.05e-5);
  // E3: ᾱ_t = f(t)/f(0) where β is not clipped; the clip at 0.999 where f(T) = 0.
  const std::int64_t T = 1000;
  const double s_off = 0.008;
  const Schedule cos_s = Schedule::cosine(T, s_off, 0.999);
  v1_schedule_into(sc, cos_s, "cosine T=1000", true);
  auto f = [&](std::int64_t t) {
    const double c = std::cos((static_cast<double>(t) / T + s_off) / (1 + s_off) * std::numbers::pi / 2);
    return c * c;
  };
  // The product of E2 rebuilds f(t)/f(0) from the ratios r_s = f(s)/f(s-1); β = 1 - r and
  // α = 1 - β round with absolute error ε each, a relative error ε/r_s of α: the bound is
  // Σ_{s≤t} (2 + 2/r_s) ε.
  double cos_worst = 0, cos_tol = kEps, bound = 0;
  std::int64_t clipped = 0;
  for (std::int64_t t = 1; t <= T; ++t) {
    const double ratio = f(t) / f(t - 1);
    if (1 - ratio > 0.999) {
      ++clipped;
      continue;
    }
    bound += (2 + 2 / ratio) * kEps;
    const double ref = f(t) / f(0);
    const double rel = std::abs(cos_s.alpha_bar[t] / ref - 1);
    if (rel / bound > cos_worst / cos_tol) cos_worst = rel, cos_tol = bound;
  }
  sc.add("E3 ᾱ_t = f(t)/f(0) where unclipped (relative)", cos_worst, cos_tol);
  sc.require("E3 clip: only β_T is clipped, to exactly 0.999", clipped == 1 && cos_s.beta[T] == 0.999,
             fmt::format("{} clipped, β_T = {}", clipped, cos_s.beta[T]));
  // E3a, E3b on a grid of τ, through the tensor functions.
  const Tensor tau = Tensor::linspace(0, 1, 101, kF64);
  const Rates a = cosine_rates(tau), b = offset_cosine_rates(tau);
  for (const auto& [rates, label, s0, s1] :
       {std::tuple{a, "E3a", 1.0, 0.0}, std::tuple{b, "E3b", 0.95, 0.02}}) {
    sc.add(std::string(label) + " signal² + noise² = 1",
           max_abs(square(rates.signal) + square(rates.noise) - 1.0), 4 * kEps);
    const auto sig = rates.signal.to_vector<double>();
    const auto noi = rates.noise.to_vector<double>();
    sc.add(std::string(label) + " endpoints signal(0), signal(1)",
           std::max(std::abs(sig.front() - s0), std::abs(sig.back() - s1)), 4 * kEps);
    bool mono = true;
    for (size_t i = 1; i < sig.size(); ++i) {
      mono = mono && sig[i] < sig[i - 1] && noi[i] > noi[i - 1];
    }
    sc.require(std::string(label) + " signal decreasing, noise increasing (so SNR = signal²/noise² decreasing)",
               mono);
    const auto [ds, dn] = std::string(label) == "E3a" ? cosine_rates(0.37) : offset_cosine_rates(0.37);
    const Rates at = std::string(label) == "E3a" ? cosine_rates(Tensor::tensor({0.37}, kF64))
                                                 : offset_cosine_rates(Tensor::tensor({0.37}, kF64));
    sc.add(std::string(label) + " tensor and scalar forms agree",
           std::max(std::abs(at.signal.item() - ds), std::abs(at.noise.item() - dn)), 2 * kEps);
  }
  return sc.result("V1", "E1-E3b, E8: shapes, endpoints, monotone ᾱ and SNR, β ∈ (0, 0.999], E3's clip",
                   "Rounding tolerances: (t+1) ε relative for a t-step product; E3 bound Σ(2+2/r_s)ε.");
}

// ---- V2: the forward process by Monte Carlo ---------------------------------------------

CheckResult v2(const V2Options& options) {
  SubChecks sc;
  const Schedule s = Schedule::linear(1000);
  const std::int64_t N = 10000;  // chains per starting point
  const std::vector<double> starts = {0.8, -0.5};
  const auto G = static_cast<std::int64_t>(starts.size());
  std::vector<Tensor> parts;
  for (double v : starts) parts.push_back(Tensor::full({N, 1}, v, kF64));
  const Tensor x0 = cat(parts, 0);
  Generator gen(20250102);
  const std::vector<std::int64_t> checkpoints = {1, 2, 10, 100, 1000};
  Tensor x = x0;
  double worst_z = 0;
  for (std::int64_t step = 1; step <= s.T; ++step) {
    const Tensor t = steps(G * N, step);
    x = q_step(s, x, t, Tensor::randn(x.shape(), kF64, &gen));  // E4
    if (std::find(checkpoints.begin(), checkpoints.end(), step) == checkpoints.end()) continue;
    // E7's closed form (or the erratum's), and E7's own draws.
    const Gaussian q = q_distribution(s, x0, t);
    const Tensor eps = Tensor::randn(x0.shape(), kF64, &gen);
    const double ab = s.alpha_bar[step];
    Tensor direct = q_sample(s, x0, t, eps);
    if (options.wrong_variance) direct = std::sqrt(ab) * x0 + std::pow(1 - ab, 0.25) * eps;
    for (std::int64_t g = 0; g < G; ++g) {
      const Tensor xs = x.narrow(0, g * N, N), ds = direct.narrow(0, g * N, N);
      const double m = q.mean.narrow(0, g * N, 1).item();
      const double v = options.wrong_variance ? std::sqrt(1 - ab) : q.variance.narrow(0, g * N, 1).item();
      const double m_hat = xs.mean().item(), v_hat = xs.var().item();
      const double m_d = ds.mean().item(), v_d = ds.var().item();
      const double se_m = std::sqrt(v / N), se_v = v * std::sqrt(2.0 / (N - 1));
      const std::string at = fmt::format("t={} x_0={}", step, starts[g]);
      sc.add(at + ": E4 iterated mean vs E7 mean", std::abs(m_hat - m), 4 * se_m);
      sc.add(at + ": E4 iterated variance vs E7 variance", std::abs(v_hat - v), 4 * se_v);
      // Two independent samples: the E7 draws against the E4 chain.
      sc.add(at + ": E7 draws vs E4 chain, variance", std::abs(v_d - v_hat),
             4 * std::sqrt(2.0 / (N - 1)) * std::sqrt(v_d * v_d + v_hat * v_hat));
      sc.add(at + ": E7 draws vs E4 chain, mean", std::abs(m_d - m_hat),
             4 * std::sqrt((v_d + v_hat) / N));
      worst_z = std::max(worst_z, std::abs(v_hat - v) / se_v);
    }
  }
  // E5 exactly: Var = 1 is a fixed point of E4 (α + β = 1 to one rounding).
  double e5 = 0, e6 = 0;
  for (std::int64_t t = 1; t <= s.T; ++t) e5 = std::max(e5, std::abs(q_step_variance(s.alpha[t], 1.0) - 1));
  sc.add("E5 Var(x_t) = 1 when Var(x_{t-1}) = 1, every t", e5, 2 * kEps);
  // E6 exactly: α_t(1-α_{t-1}) + (1-α_t) = 1 - α_t α_{t-1} (a few roundings of numbers ≤ 1).
  for (std::int64_t t = 2; t <= s.T; ++t) {
    e6 = std::max(e6, std::abs(merged_variance(s.alpha[t], s.alpha[t - 1]) - (1 - s.alpha[t] * s.alpha[t - 1])));
  }
  sc.add("E6 merged variance = 1 - α_t α_{t-1}, every t", e6, 4 * kEps);
  // E6 by Monte Carlo with the schedule's largest β (the most visible merge).
  {
    const std::int64_t M = 40000;
    const double at = s.alpha[s.T], ap = s.alpha[s.T - 1];
    const Tensor merged = merge_noise(at, ap, Tensor::randn({M}, kF64, &gen), Tensor::randn({M}, kF64, &gen));
    const double v = 1 - at * ap;
    sc.add(fmt::format("E6 Monte Carlo variance (t = T, {} draws)", M), std::abs(merged.var().item() - v),
           4 * v * std::sqrt(2.0 / (M - 1)));
  }
  return sc.result("V2", "E4-E7: E4 iterated by Monte Carlo matches E7; E5; E6 exactly",
                   fmt::format("Linear schedule T = 1000; {} chains from each of x_0 = 0.8, -0.5, "
                               "checked at t = 1, 2, 10, 100, 1000; tolerances 4 standard errors "
                               "(SE of a Gaussian variance: v √(2/(N-1))). Largest variance z = {:.2f}.",
                               N, worst_z));
}

// ---- V3: the posterior by Bayes' rule on a grid ---------------------------------------

CheckResult v3() {
  SubChecks sc;
  const Schedule s = Schedule::linear(1000);
  const std::vector<std::int64_t> ts = {2, 5, 50, 300, 1000};
  const std::vector<double> x0s = {-1.0, 0.3};
  // Every (t, x_0, x_t) case; x_t one typical and one atypical value.
  std::vector<std::int64_t> case_t;
  std::vector<double> case_x0, case_xt;
  for (std::int64_t t : ts) {
    for (double x0 : x0s) {
      const double typical = std::sqrt(s.alpha_bar[t]) * x0 + std::sqrt(s.one_minus_alpha_bar[t]) * 0.7;
      for (double xt : {typical, 1.5}) case_t.push_back(t), case_x0.push_back(x0), case_xt.push_back(xt);
    }
  }
  const auto n = static_cast<std::int64_t>(case_t.size());
  const Tensor x0_t = Tensor::from_vector(case_x0, {n, 1}, kF64);
  const Tensor xt_t = Tensor::from_vector(case_xt, {n, 1}, kF64);
  const Gaussian post = q_posterior(s, x0_t, xt_t, steps(case_t));
  const auto mu = post.mean.to_vector<double>();
  const auto var = post.variance.to_vector<double>();
  // The unnormalised log-density of x_{t-1}: log q(x_t | x_{t-1}) + log q(x_{t-1} | x_0).
  double worst_mean = 0, worst_var = 0;
  for (std::int64_t c = 0; c < n; ++c) {
    const std::int64_t t = case_t[c];
    const double x0 = case_x0[c], xt = case_xt[c];
    const double sa = std::sqrt(s.alpha[t]), b = s.beta[t];
    const double m_prior = std::sqrt(s.alpha_bar[t - 1]) * x0, v_prior = s.one_minus_alpha_bar[t - 1];
    auto log_density = [&](double y) {
      return -0.5 * (xt - sa * y) * (xt - sa * y) / b - 0.5 * (y - m_prior) * (y - m_prior) / v_prior;
    };
    auto moments = [&](double lo, double hi, std::int64_t points, double& mean, double& variance) {
      const double h = (hi - lo) / static_cast<double>(points - 1);
      double peak = -INFINITY;
      for (std::int64_t i = 0; i < points; ++i) peak = std::max(peak, log_density(lo + h * i));
      double z = 0, m1 = 0;
      for (std::int64_t i = 0; i < points; ++i) {
        const double y = lo + h * i, w = std::exp(log_density(y) - peak) * (i == 0 || i == points - 1 ? 0.5 : 1);
        z += w, m1 += w * y;
      }
      mean = m1 / z;
      double m2 = 0;
      for (std::int64_t i = 0; i < points; ++i) {
        const double y = lo + h * i, w = std::exp(log_density(y) - peak) * (i == 0 || i == points - 1 ? 0.5 : 1);
        m2 += w * (y - mean) * (y - mean);
      }
      variance = m2 / z;
    };
    // Pass 1: a wide grid covering both factors (12 standard deviations of each).
    const double lik_c = xt / sa, lik_s = std::sqrt(b) / sa, pri_s = std::sqrt(v_prior);
    double m = 0, v = 0;
    moments(std::min(m_prior - 12 * pri_s, lik_c - 12 * lik_s), std::max(m_prior + 12 * pri_s, lik_c + 12 * lik_s),
            20001, m, v);
    // Pass 2: ±14 of pass 1's standard deviations, 2001 points (h ≈ σ/71).
    const double sd = std::sqrt(v);
    moments(m - 14 * sd, m + 14 * sd, 2001, m, v);
    worst_mean = std::max(worst_mean, std::abs(m - mu[c]) / std::sqrt(var[c]));
    worst_var = std::max(worst_var, std::abs(v / var[c] - 1));
  }
  // Trapezoid error on a Gaussian with h = σ/71 is ~e^{-2π²·71²}, the truncation at 14σ
  // e^{-98}: what is left is rounding, ≤ (points + |log-density| range) ε ≈ 1e-12.
  const double tol = 1e-9;
  sc.add("E9 mean vs grid (in posterior standard deviations)", worst_mean, tol);
  sc.add("E9 variance vs grid (relative)", worst_var, tol);
  // t = 1: β̃_1 = 0, the posterior is the point mass at x_0 (coefficients 1 and 0).
  const Tensor x0_1 = Tensor::tensor({0.25, -0.75}, kF64).reshape({2, 1});
  const Gaussian p1 = q_posterior(s, x0_1, Tensor::tensor({0.9, 0.1}, kF64).reshape({2, 1}), steps(2, 1));
  sc.add("E9 at t = 1: mean = x_0, variance 0", std::max(max_abs(p1.mean - x0_1), max_abs(p1.variance)),
         4 * kEps);
  return sc.result("V3", "E9: Bayes' rule on a 1-D grid gives E9's mean and variance",
                   fmt::format("Linear T = 1000; {} cases (t ∈ 2, 5, 50, 300, 1000; x_0 ∈ -1, 0.3; "
                               "x_t typical and 1.5); two-pass trapezoid grids (20001, then 2001 "
                               "points over ±14σ). Tolerance 1e-9: ≥ 1000× the rounding bound.",
                               n));
}

// ---- V4 and V15: identities to rounding ------------------------------------------------

namespace {

// One batch covering every t = 1..T of a schedule: x_0 ∈ U[-1, 1], ε ~ N(0, I), D = 8.
struct Batch {
  Tensor t, x0, eps, x_t;
  std::vector<double> t_values;
};
Batch every_t_batch(const Schedule& s, std::uint64_t seed) {
  Generator gen(seed);
  const std::int64_t B = s.T, D = 8;
  std::vector<std::int64_t> ts(static_cast<size_t>(B));
  for (std::int64_t i = 0; i < B; ++i) ts[i] = i + 1;
  Batch b;
  b.t = steps(ts);
  b.x0 = Tensor::rand({B, D}, kF64, &gen) * 2.0 - 1.0;
  b.eps = Tensor::randn({B, D}, kF64, &gen);
  b.x_t = q_sample(s, b.x0, b.t, b.eps);
  return b;
}

// The per-t rounding bound (t + 1) ε · cond_t · scale: the tables carry up to t roundings
// (ᾱ is a t-step product), `cond` is the largest factor a formula divides by, `scale` the
// size of the terms combined ([B, D]). Returns (error, tolerance) of the worst element.
std::pair<double, double> worst_relative(const Tensor& diff, const Tensor& scale,
                                         const std::vector<double>& cond, double k) {
  const std::int64_t B = diff.size(0);
  std::vector<double> c(cond.begin() + 1, cond.begin() + 1 + B);
  Tensor tol = Tensor::from_vector(c, {B, 1}, kF64) * scale;
  for (std::int64_t i = 0; i < B; ++i) c[i] = static_cast<double>(i + 2) * k * kEps;
  tol = tol * Tensor::from_vector(c, {B, 1}, kF64);
  const Tensor ratio = abs(diff) / tol;
  const std::int64_t worst = argmax(ratio).item<std::int64_t>();
  return {abs(diff).reshape({-1}).select(0, worst).item(), tol.reshape({-1}).select(0, worst).item()};
}

std::vector<double> reciprocal_of(const std::vector<double>& v) {
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = v[i] == 0 ? 0 : 1 / v[i];
  return out;
}

}  // namespace

CheckResult v4() {
  SubChecks sc;
  for (const auto& [s, name] : {std::pair{Schedule::linear(1000), "linear"}, std::pair{Schedule::cosine(1000), "cosine"}}) {
    const Batch b = every_t_batch(s, 41);
    // E10: x̂_0 from the true ε is x_0; E10 divides by √ᾱ_t.
    const Tensor x0_hat = predict_x0_from_eps(s, b.x_t, b.t, b.eps);
    const std::vector<double> inv_sqrt_ab = reciprocal_of(sqrt_of(s.alpha_bar));
    const Tensor scale10 = abs(b.x_t) + abs(b.eps) + abs(b.x0);
    auto [e10, t10] = worst_relative(x0_hat - b.x0, scale10, inv_sqrt_ab, 4);
    sc.add(std::string(name) + ": E10 x̂_0(x_t(x_0, ε), ε) = x_0", e10, t10);
    // E9 with x_t = E7(x_0, ε) equals E11; E9's coefficients divide by 1 - ᾱ_t, E11's by √α_t.
    const Tensor mu9 = posterior_mean(s, b.x0, b.x_t, b.t);
    const Tensor mu11 = posterior_mean_from_eps(s, b.x_t, b.t, b.eps);
    std::vector<double> cond(s.beta.size());
    for (std::int64_t t = 1; t <= s.T; ++t) cond[t] = 1 / s.one_minus_alpha_bar[t] + 1 / std::sqrt(s.alpha[t]);
    const Tensor scale9 = abs(b.x0) + abs(b.x_t) + abs(b.eps);
    auto [e11, t11] = worst_relative(mu9 - mu11, scale9, cond, 4);
    sc.add(std::string(name) + ": E7 into E9 gives E11", e11, t11);
    // E12 is E11 with ε_θ in place of ε: the same numbers when ε_θ = ε.
    sc.add(std::string(name) + ": E12 with ε_θ = ε equals E11", max_abs(model_mean(s, b.x_t, b.t, b.eps) - mu11), 0);
  }
  return sc.result("V4", "E10-E12: substituting E7 into E9 gives E11 to rounding",
                   "Every t = 1..1000 of the linear and cosine schedules, D = 8, x_0 ~ U[-1,1], "
                   "ε ~ N(0,I). Tolerance per element: 4 (t+1) ε · cond_t · (|x_0| + |x_t| + |ε|), "
                   "cond_t the largest factor the formulas divide by (1/√ᾱ_t for E10; "
                   "1/(1-ᾱ_t) + 1/√α_t for E9 and E11).");
}

CheckResult v15() {
  SubChecks sc;
  for (const auto& [s, name] : {std::pair{Schedule::linear(1000), "linear"}, std::pair{Schedule::cosine(1000), "cosine"}}) {
    const Batch b = every_t_batch(s, 151);
    const Tensor v = v_from_eps(s, b.x0, b.t, b.eps);
    const Tensor mu = posterior_mean(s, b.x0, b.x_t, b.t);
    // The conversions divide by √ᾱ_t, √(1-ᾱ_t) and E9's x_0 coefficient.
    const std::vector<double> c0 = posterior_mean_coef_x0(s);
    std::vector<double> cond(s.beta.size());
    for (std::int64_t t = 1; t <= s.T; ++t) {
      cond[t] = 1 + 1 / std::sqrt(s.alpha_bar[t]) + 1 / std::sqrt(s.one_minus_alpha_bar[t]) + 1 / c0[t];
    }
    const Tensor scale = abs(b.x0) + abs(b.x_t) + abs(b.eps) + abs(v) + abs(mu);
    const std::pair<Prediction, const char*> kinds[] = {
        {Prediction::Eps, "ε"}, {Prediction::X0, "x̂_0"}, {Prediction::V, "v"}, {Prediction::Mean, "μ"}};
    for (const auto& [kind, label] : kinds) {
      const Tensor pred = kind == Prediction::Eps  ? b.eps
                          : kind == Prediction::X0 ? b.x0
                          : kind == Prediction::V  ? v
                                                   : mu;
      const Predictions p = predictions_from(s, kind, pred, b.x_t, b.t);
      const Tensor diff = cat({p.eps - b.eps, p.x0 - b.x0, p.v - v, p.mean - mu}, 1);
      auto [e, tol] = worst_relative(diff, cat({scale, scale, scale, scale}, 1), cond, 4);
      sc.add(fmt::format("{}: E37 from {}: ε, x̂_0, v, μ recovered", name, label), e, tol);
    }
    // E12 with ε_θ = ε equals E9's mean with E10's x̂_0.
    const Tensor mu12 = model_mean(s, b.x_t, b.t, b.eps);
    const Tensor mu9 = posterior_mean(s, predict_x0_from_eps(s, b.x_t, b.t, b.eps), b.x_t, b.t);
    auto [e, tol] = worst_relative(mu12 - mu9, scale, cond, 4);
    sc.add(std::string(name) + ": E12(ε) = E9(E10(ε))", e, tol);
  }
  return sc.result("V15", "E10-E12, E37: conversions among ε, x̂_0, v, μ round-trip to rounding",
                   "Every t = 1..1000 of the linear and cosine schedules, D = 8. Tolerance per "
                   "element: 4 (t+1) ε · cond_t · (|x_0| + |x_t| + |ε| + |v| + |μ|), cond_t = 1 + "
                   "1/√ᾱ_t + 1/√(1-ᾱ_t) + 1/c_0(t) (c_0 E9's x_0 coefficient).");
}

// ---- V5: the Gaussian KL against Monte Carlo -------------------------------------------

CheckResult v5() {
  SubChecks sc;
  const std::int64_t N = 200000, D = 3;
  Generator gen(5);
  struct Case {
    std::vector<double> m1, s1, m2, s2;
    const char* name;
  };
  const std::vector<Case> cases = {
      {{0.3, -1.0, 0.0}, {0.8, 0.5, 1.0}, {-0.2, -0.7, 0.4}, {1.1, 0.6, 1.3}, "q narrower than p"},
      {{0.0, 0.5, 2.0}, {1.2, 0.9, 0.3}, {0.1, 0.0, 1.5}, {1.0, 1.0, 0.35}, "mixed widths"},
      {{1.0, 1.0, 1.0}, {0.1, 0.1, 0.1}, {0.98, 1.03, 0.95}, {0.12, 0.09, 0.1}, "close, narrow"},
  };
  for (const Case& c : cases) {
    const Tensor m1 = Tensor::from_vector(c.m1, {1, D}, kF64), m2 = Tensor::from_vector(c.m2, {1, D}, kF64);
    const Tensor ls1 = log(Tensor::from_vector(c.s1, {1, D}, kF64));
    const Tensor ls2 = log(Tensor::from_vector(c.s2, {1, D}, kF64));
    const double kl = gaussian_kl(m1, 2.0 * ls1, m2, 2.0 * ls2).item();
    const Tensor x = m1 + exp(ls1) * Tensor::randn({N, D}, kF64, &gen);
    const Tensor r = sum(gaussian_log_likelihood(x, m1, ls1) - gaussian_log_likelihood(x, m2, ls2), {1});
    const double est = r.mean().item(), se = r.std().item() / std::sqrt(static_cast<double>(N));
    sc.add(fmt::format("{}: E16 {:.5f} vs Monte Carlo {:.5f}", c.name, kl, est), std::abs(est - kl), 4 * se);
  }
  // KL(p || p) = 0 and KL ≥ 0.
  const Tensor m = Tensor::tensor({0.3, -2.0}, kF64), lv = Tensor::tensor({-1.0, 0.5}, kF64);
  sc.add("E16 KL(p || p) = 0", std::abs(normal_kl(m, lv, m, lv).sum().item()), 4 * kEps);
  return sc.result("V5", "E16: the closed-form Gaussian KL equals a Monte-Carlo E_q[log q - log p]",
                   fmt::format("{} draws of D = {} per case; tolerance 4 standard errors of the "
                               "Monte-Carlo mean.", N, D));
}

// ---- V6: E18 is E16 between E9 and E12 -----------------------------------------------

CheckResult v6() {
  SubChecks sc;
  for (const auto& [s, name] : {std::pair{Schedule::linear(1000), "linear"}, std::pair{Schedule::cosine(1000), "cosine"}}) {
    for (Sigma sigma : {Sigma::Large, Sigma::Small}) {
      Generator gen(6);
      const std::int64_t B = s.T - 1, D = 16;  // t = 2..T (t = 1 is L_0, not a KL)
      std::vector<std::int64_t> ts(static_cast<size_t>(B));
      for (std::int64_t i = 0; i < B; ++i) ts[i] = i + 2;
      const Tensor t = steps(ts);
      const Tensor x0 = Tensor::rand({B, D}, kF64, &gen) * 2.0 - 1.0;
      const Tensor eps = Tensor::randn({B, D}, kF64, &gen);
      const Tensor eps_theta = eps + 0.5 * Tensor::randn({B, D}, kF64, &gen);
      const Tensor x_t = q_sample(s, x0, t, eps);
      const Gaussian q = q_posterior(s, x0, x_t, t);
      const Gaussian p = p_reverse(s, x_t, t, eps_theta, sigma);
      const Gaussian p_free = p_reverse(s, x_t, t, eps, sigma);  // ε_θ = ε: the θ-free part C
      const Tensor kl = gaussian_kl(q.mean, q.log_variance, p.mean, p.log_variance);
      const Tensor c = gaussian_kl(q.mean, q.log_variance, p_free.mean, p_free.log_variance);
      const Tensor rhs = l_eps_form(s, eps, eps_theta, t, sigma);
      const Tensor diff = kl - c - rhs;
      // Bound: E16's terms round with ≤ 16 ε of their sizes; and E9's μ̃ (in the KL) and
      // E11's μ̃ (inside the E18 derivation) differ by a measured δ, which moves the
      // quadratic term by (2|Δ|δ + δ²)/(2σ²).
      const Tensor delta = abs(q.mean - posterior_mean_from_eps(s, x_t, t, eps));
      const Tensor gap = abs(p_free.mean - p.mean);
      const Tensor inv_var = exp(-p.log_variance);
      const Tensor term_size = 1.0 + abs(q.log_variance) + abs(p.log_variance) +
                               exp(q.log_variance - p.log_variance) + square(q.mean - p.mean) * inv_var;
      const Tensor bound = sum_non_batch(16 * kEps * term_size + (2.0 * gap * delta + square(delta)) * 0.5 * inv_var) +
                           4 * kEps * (abs(c) + abs(rhs));
      const Tensor ratio = abs(diff) / bound;
      const std::int64_t worst = argmax(ratio).item<std::int64_t>();
      sc.add(fmt::format("{} σ² = {}: E18 KL(E9 || E12) - C - λ_t ||ε - ε_θ||² (worst t = {})", name,
                         sigma == Sigma::Large ? "β" : "β̃", worst + 2),
             abs(diff).select(0, worst).item(), bound.select(0, worst).item());
      // E17, the mean form, within the same bound.
      const Tensor diff17 = kl - c - l_mean_form(q.mean, p.mean, exp(p.log_variance));
      const std::int64_t worst17 = argmax(abs(diff17) / bound).item<std::int64_t>();
      sc.add(fmt::format("{} σ² = {}: E17 KL(E9 || E12) - C - ||μ̃ - μ_θ||²/2σ² (worst t = {})", name,
                         sigma == Sigma::Large ? "β" : "β̃", worst17 + 2),
             abs(diff17).select(0, worst17).item(), bound.select(0, worst17).item());
    }
  }
  return sc.result("V6", "E17-E18: the exact KL between E9 and E12 minus its θ-free part is λ_t ||ε - ε_θ||²",
                   "Every t = 2..1000 of the linear and cosine schedules, both σ choices of E13, "
                   "D = 16, ε_θ = ε + 0.5 z. Tolerance: 16 ε per E16 term size plus the effect of "
                   "the measured E9-vs-E11 rounding difference δ of μ̃.");
}

// ---- V7: the decomposition against sampled trajectories -------------------------------

CheckResult v7() {
  SubChecks sc;
  // A tiny problem: T = 4, D = 2, a fixed x_0 and a deliberately imperfect linear model
  // ε_θ(x, t) = a_t x + b_t, so every term is a quadratic in x_t and the 5-node
  // Gauss-Hermite rule computes each E_{q(x_t|x_0)}[L_{t-1}] exactly.
  const Schedule s = Schedule::from_betas({0.1, 0.2, 0.3, 0.5});
  const std::vector<double> a = {0, 0.4, 0.6, 0.5, 0.9}, b = {0, 0.1, -0.2, 0.05, 0.0};
  const EpsModel model = [&](const Tensor& x, const Tensor& t) {
    return s.at(a, t, x) * x + s.at(b, t, x);
  };
  const std::int64_t D = 2, N = 200000;
  const std::vector<double> x0v = {0.3, -0.7};
  for (Sigma sigma : {Sigma::Large, Sigma::Small}) {
    const BoundOptions opts{.sigma = sigma, .decoder = Decoder::Gaussian};
    // Analytic: L_T + Σ_t E_{x_t}[L_{t-1}] (the same node index in both dims: the terms are
    // sums over dims of functions of that dim's x_t alone).
    const Tensor x0 = Tensor::from_vector(x0v, {1, D}, kF64);
    double analytic = prior_kl(s, x0).item();
    for (std::int64_t t = 1; t <= s.T; ++t) {
      const Tensor tt = steps(5, t);
      const Tensor x0r = x0.expand({5, D});
      const Tensor z = Tensor::from_vector(kGhNodes, {5, 1}, kF64);
      const Tensor x_t = std::sqrt(s.alpha_bar[t]) * x0r + std::sqrt(s.one_minus_alpha_bar[t]) * z;
      const Tensor terms = vlb_term(s, model, x0r, x_t, tt, opts);
      analytic += (terms * Tensor::from_vector(kGhWeights, {5}, kF64)).sum().item();
    }
    // Monte Carlo: trajectories x_1..x_T by E4, then log p(x_T) + Σ log p_θ(x_{t-1}|x_t)
    // - Σ log q(x_t|x_{t-1}), each a Gaussian log-density evaluated directly.
    Generator gen(7);
    const Tensor x0n = x0.expand({N, D}).contiguous();
    Tensor prev = x0n;
    Tensor log_ratio = Tensor::zeros({N}, kF64);
    const std::vector<double> log_sigma2 = reverse_log_variance(s, sigma);
    for (std::int64_t t = 1; t <= s.T; ++t) {
      const Tensor tt = steps(N, t);
      const Tensor x = q_step(s, prev, tt, Tensor::randn({N, D}, kF64, &gen));
      const Gaussian fwd = q_step_distribution(s, prev, tt);
      const Tensor mu = model_mean(s, x, tt, model(x, tt));
      log_ratio = log_ratio + sum(gaussian_log_likelihood(prev, mu, s.at(log_sigma2, tt, x) * 0.5), {1}) -
                  sum(gaussian_log_likelihood(x, fwd.mean, 0.5 * fwd.log_variance), {1});
      prev = x;
    }
    const Tensor zero = Tensor::zeros({}, kF64);
    log_ratio = log_ratio + sum(gaussian_log_likelihood(prev, zero, zero), {1});
    const double est = log_ratio.mean().item(), se = log_ratio.std().item() / std::sqrt(static_cast<double>(N));
    sc.add(fmt::format("σ² = {}: E_q[log p_θ(x_0:T) - log q(x_1:T|x_0)] = {:.5f} vs -(L_T + Σ L_t-1 + L_0) = {:.5f}",
                       sigma == Sigma::Large ? "β" : "β̃", est, -analytic),
           std::abs(est + analytic), 4 * se);
  }
  return sc.result("V7", "E14-E15: Monte Carlo over trajectories equals -(L_T + Σ L_{t-1} + L_0)",
                   fmt::format("T = 4 (β = 0.1, 0.2, 0.3, 0.5), D = 2, x_0 = (0.3, -0.7), ε_θ = a_t x + b_t, "
                               "continuous Gaussian decoder; {} trajectories, tolerance 4 standard "
                               "errors; the analytic side uses the exact 5-node Gauss-Hermite rule.",
                               N));
}

// ---- V8: tightness -----------------------------------------------------------------------

namespace {

// L_T + Σ_t E_{x_t ~ q(x_t|x_0)}[vlb_term] for each x_0 of x0v (D = 1), the expectation by a
// quadrature rule (z nodes, weights) over x_t = √ᾱ_t x_0 + √(1-ᾱ_t) z.
std::vector<double> bound_by_quadrature(const Schedule& s, const EpsModel& model,
                                        const std::vector<double>& x0v, const std::vector<double>& z,
                                        const std::vector<double>& w, const BoundOptions& opts,
                                        double* term_size = nullptr) {
  const auto n = static_cast<std::int64_t>(x0v.size()), m = static_cast<std::int64_t>(z.size());
  const Tensor x0 = Tensor::from_vector(x0v, {n, 1}, kF64);
  const Tensor x0r = x0.reshape({n, 1, 1}).expand({n, m, 1}).reshape({n * m, 1});
  const Tensor zr = Tensor::from_vector(z, {1, m, 1}, kF64).expand({n, m, 1}).reshape({n * m, 1});
  const Tensor wt = Tensor::from_vector(w, {1, m}, kF64);
  Tensor total = prior_kl(s, x0);
  double size = 0;
  for (std::int64_t t = 1; t <= s.T; ++t) {
    const Tensor x_t = std::sqrt(s.alpha_bar[t]) * x0r + std::sqrt(s.one_minus_alpha_bar[t]) * zr;
    const Tensor terms = vlb_term(s, model, x0r, x_t, steps(n * m, t), opts).reshape({n, m});
    total = total + sum(terms * wt, {1});
    size += max_abs(terms);
  }
  if (term_size) *term_size = size;
  return total.to_vector<double>();
}

}  // namespace

CheckResult v8() {
  SubChecks sc;
  // (a) x_0 ~ N(0, 1): ε*(x_t) = √(1-ᾱ_t) x_t makes p_θ(x_{t-1}|x_t) = q(x_{t-1}|x_t) with
  // σ² = β, so the bound is exact for every x_0; every term is quadratic in x_t, so the
  // Gauss-Hermite rule is exact too.
  {
    const Schedule s = Schedule::linear(1000);
    const EpsModel eps_star = [&](const Tensor& x, const Tensor& t) {
      return s.at(sqrt_of(s.one_minus_alpha_bar), t, x) * x;
    };
    const std::vector<double> x0v = {-2.0, -0.5, 0.0, 0.7, 1.9};
    double size = 0;
    const auto large = bound_by_quadrature(s, eps_star, x0v, kGhNodes, kGhWeights,
                                           {.sigma = Sigma::Large, .decoder = Decoder::Gaussian}, &size);
    const auto small = bound_by_quadrature(s, eps_star, x0v, kGhNodes, kGhWeights,
                                           {.sigma = Sigma::Small, .decoder = Decoder::Gaussian});
    // Each of the T terms is a few dozen roundings of numbers up to |log β_t| ≈ 9.
    const double tol = 64 * kEps * (size + 10.0 * static_cast<double>(s.T));
    double worst = 0, min_excess = INFINITY;
    for (size_t i = 0; i < x0v.size(); ++i) {
      const double nll = 0.5 * kLog2Pi + 0.5 * x0v[i] * x0v[i];
      worst = std::max(worst, std::abs(large[i] - nll));
      min_excess = std::min(min_excess, small[i] - large[i]);
    }
    sc.add("N(0,1) data, σ² = β: L_T + Σ L_t-1 + L_0 = -log N(x_0; 0, 1) (5 x_0's)", worst, tol);
    sc.require("N(0,1) data, σ² = β̃: strictly larger", min_excess > tol,
               fmt::format("smallest excess {:.4g} nats", min_excess));
  }
  // (b) A Gaussian mixture: the bound with the exact ε* of the oracle stays above
  // -log q(x_0) on average, and the gap shrinks as T grows (cosine schedule).
  {
    const GaussianMixture mix = GaussianMixture::isotropic({0.3, 0.7}, {{-1.0}, {0.8}}, {0.3, 0.5});
    // The data average by the trapezoid rule on x_0 ∈ [-4, 4] (161 points) weighted by q(x_0).
    std::vector<double> x0v, wx;
    const std::int64_t nx = 161;
    for (std::int64_t i = 0; i < nx; ++i) x0v.push_back(-4.0 + 8.0 * static_cast<double>(i) / (nx - 1));
    const Tensor x0t = Tensor::from_vector(x0v, {nx, 1}, kF64);
    const auto log_q0 = mix.log_q(x0t, 1.0).to_vector<double>();
    double wsum = 0;
    for (std::int64_t i = 0; i < nx; ++i) wx.push_back(std::exp(log_q0[i])), wsum += wx.back();
    for (double& v : wx) v /= wsum;
    std::vector<double> fine_z, fine_w, coarse_z, coarse_w;
    normal_trapezoid(81, 8.0, fine_z, fine_w);
    normal_trapezoid(41, 8.0, coarse_z, coarse_w);
    std::vector<double> gaps;
    std::string values;
    for (std::int64_t T : {10, 30, 100}) {
      const Schedule s = Schedule::cosine(T);
      const EpsModel model = mix.as_model(s);
      const BoundOptions opts{.sigma = Sigma::Large, .decoder = Decoder::Gaussian};
      const auto fine = bound_by_quadrature(s, model, x0v, fine_z, fine_w, opts);
      const auto coarse = bound_by_quadrature(s, model, x0v, coarse_z, coarse_w, opts);
      double gap = 0, gap_coarse = 0;
      for (std::int64_t i = 0; i < nx; ++i) {
        gap += wx[i] * (fine[i] + log_q0[i]);
        gap_coarse += wx[i] * (coarse[i] + log_q0[i]);
      }
      // Quadrature error estimated by halving the nodes (the finer rule is far better).
      const double quad_err = std::abs(gap - gap_coarse) + 1e3 * kEps;
      sc.require(fmt::format("mixture, T = {}: E[L_VLB] > E[-log q(x_0)] (gap {:.5f} nats)", T, gap),
                 gap > 10 * quad_err, fmt::format("quadrature error ≤ {:.2g}", quad_err));
      gaps.push_back(gap);
      values += fmt::format("{}T={}: gap {:.6f}", values.empty() ? "" : ", ", T, gap);
    }
    sc.require("mixture: the gap shrinks as T grows (10, 30, 100)", gaps[0] > gaps[1] && gaps[1] > gaps[2], values);
  }
  return sc.result("V8", "E14 tightness: exact for N(0,1) data with σ² = β, strictly looser with β̃; "
                         "a mixture's gap shrinks with T",
                   "N(0,1): linear T = 1000, ε* = √(1-ᾱ_t) x_t, continuous Gaussian decoder, "
                   "E over x_t by 5-node Gauss-Hermite (exact for these quadratics); tolerance "
                   "64 ε (Σ_t max|term| + 10 T). Mixture: 0.3 N(-1, 0.3²) + 0.7 N(0.8, 0.5²), "
                   "the oracle's ε*, cosine schedules; E over x_t by an 81-point trapezoid, over "
                   "x_0 by 161 points.");
}

// ---- V9: the discretized decoder sums to 1; uniform noise costs 8 bits ---------------

CheckResult v9() {
  SubChecks sc;
  // All 256 pixel values on [-1, 1].
  const Tensor levels = Tensor::linspace(-1, 1, 256, kF64);
  struct Case {
    double mean, sigma;
  };
  const std::vector<Case> cases = {{0.0, 0.01}, {0.5, 0.1}, {-0.99, 0.05}, {1.2, 0.3},
                                   {0.0, 2.0},  {0.3, 1e-4}, {-3.0, 0.5}};
  double worst_sum = 0, worst_sum_tol = 1, worst_ce = INFINITY;
  for (const Case& c : cases) {
    const Tensor mean = Tensor::full({1}, c.mean, kF64);
    const Tensor log_scale = Tensor::full({1}, std::log(c.sigma), kF64);
    const Tensor logp = discretized_gaussian_log_likelihood(levels, mean, log_scale);
    // The bin masses telescope to Φ(+∞) - Φ(-∞) = 1; each of the 256 differences rounds
    // with ≤ 4 ε. A floored bin reports 1e-12 for a true mass in [0, 1e-12], so the
    // unfloored bins must sum to 1 within (number floored) · 1e-12 + 256 · 4 ε.
    const auto lp = logp.to_vector<double>();
    double total = 0;
    std::int64_t floored = 0;
    for (double l : lp) {
      if (l <= std::log(1e-12)) ++floored;
      else total += std::exp(l);
    }
    const double err = std::abs(total - 1), tol = static_cast<double>(floored) * 1e-12 + 256 * 4 * kEps;
    if (err / tol > worst_sum / worst_sum_tol) worst_sum = err, worst_sum_tol = tol;
    // Cross-entropy of uniform noise under this decoder, in bits: ≥ 8 (Gibbs).
    worst_ce = std::min(worst_ce, -logp.mean().item() / std::numbers::ln2);
  }
  sc.add("E20 Σ over 256 bins of p(x_0 | μ, σ) = 1 (7 (μ, σ) cases)", worst_sum, worst_sum_tol);
  sc.require("E20-E21 uniform noise costs ≥ 8 bits/dim under every decoder (Gibbs)", worst_ce >= 8 - 1e-9,
             fmt::format("smallest {:.4f} bits", worst_ce));
  // E21 for uniform noise through the whole bound: data uniform over the 256 levels (one
  // sample of D = 256 holding each level once), the exact optimal ε* for that data (the
  // posterior mean over the 256 levels), σ² = β, the discretized decoder. The bound is
  // ≥ 8 bits/dim (cross-entropy ≥ entropy) and, the model being optimal, close to it.
  {
    const Schedule s = Schedule::cosine(100);
    const Tensor lv = levels.reshape({1, 256});
    const EpsModel eps_star = [&](const Tensor& x, const Tensor& t) {
      // E[x_0 | x_t] = Σ_k softmax_k(-(x_t - √ᾱ x_k)² / 2(1-ᾱ)) x_k, then E37: ε = (x_t - √ᾱ x̂_0)/√(1-ᾱ).
      const Tensor sab = s.at(sqrt_of(s.alpha_bar), t, x);
      const Tensor om = s.at(s.one_minus_alpha_bar, t, x);
      const Tensor xs = x.reshape({x.numel(), 1});
      const Tensor sab_r = sab.expand(x.shape()).reshape({x.numel(), 1});
      const Tensor om_r = om.expand(x.shape()).reshape({x.numel(), 1});
      const Tensor logits = -square(xs - sab_r * lv) / (2.0 * om_r);
      const Tensor x0_hat = sum(softmax(logits, 1) * lv, {1}).reshape(x.shape());
      return eps_from_x0(s, x, t, x0_hat);
    };
    const std::int64_t R = 8;  // independent repeats of the one-draw-per-t estimate
    const Tensor x0 = levels.reshape({1, 256}).expand({R, 256}).contiguous();
    Generator gen(9);
    const Bound b = variational_bound(s, eps_star, x0, &gen, {.sigma = Sigma::Large, .decoder = Decoder::Discretized});
    const double bpd = b.bpd.mean().item();
    const double se = b.bpd.std().item() / std::sqrt(static_cast<double>(R));
    sc.add(fmt::format("E21 uniform noise through the whole bound: {:.4f} bits/dim ≥ 8", bpd),
           std::max(0.0, 8 - bpd), 4 * se);
    sc.add("E21 ... and ≈ 8: within 0.05 bits/dim", std::abs(bpd - 8), 0.05 + 4 * se);
  }
  return sc.result("V9", "E20-E21: the decoder's 256 bin probabilities sum to 1; uniform noise ≈ 8 bits/dim",
                   "Sum: tolerance (floored bins) 1e-12 + 256 · 4 ε. Bound: cosine T = 100, the exact "
                   "posterior-mean ε* of uniform 8-bit data, 8 repeats of one x_t draw per t and "
                   "level; tolerances 4 standard errors (the ≈ 8 band also allows 0.05 bits of "
                   "bound gap).");
}

// ---- V16: respacing ----------------------------------------------------------------------

CheckResult v16() {
  SubChecks sc;
  const std::vector<std::string> specs = {"ddim10", "ddim20", "ddim50", "ddim1", "ddim1000", "ddim7",
                                          "uniform50", "uniform1", "uniform1000", "250", "10,15,20", "1,1,1,1"};
  for (const auto& [base, name] : {std::pair{Schedule::linear(1000), "linear"}, std::pair{Schedule::cosine(1000), "cosine"}}) {
    double worst_beta = 0, worst_beta_tol = kEps;
    for (const std::string& spec : specs) {
      const std::vector<std::int64_t> kept = space_timesteps(base.T, spec);
      const Schedule r = respace(base, kept);
      const auto S = static_cast<std::int64_t>(kept.size());
      bool ascending = kept.front() >= 1;
      for (size_t i = 1; i < kept.size(); ++i) ascending = ascending && kept[i - 1] < kept[i];
      bool same_alpha_bar = r.T == S;
      bool predecessor = r.timestep_map[0] == 0 && r.alpha_bar[0] == 1;
      for (std::int64_t i = 1; i <= S && same_alpha_bar; ++i) {
        same_alpha_bar = r.alpha_bar[i] == base.alpha_bar[kept[i - 1]] &&
                         r.one_minus_alpha_bar[i] == base.one_minus_alpha_bar[kept[i - 1]] &&
                         r.timestep_map[i] == kept[i - 1];
        // Sampling runs i = S..1; after step i comes i - 1: the next kept step below (or x_0).
        predecessor = predecessor && r.timestep_map[i - 1] == (i == 1 ? 0 : kept[i - 2]) &&
                      r.alpha_bar[i - 1] == base.alpha_bar[r.timestep_map[i - 1]];
        // E38: β'_i = 1 - ᾱ_{τ_i}/ᾱ_{τ_{i-1}}; both sides carry the rounding of a stride of
        // k steps: (k + 4) ε relative to α'_i, so (k + 4) ε α'_i / β'_i relative to β'_i.
        const double ratio = base.alpha_bar[kept[i - 1]] / base.alpha_bar[i == 1 ? 0 : kept[i - 2]];
        const double k = static_cast<double>(kept[i - 1] - (i == 1 ? 0 : kept[i - 2]));
        const double err = std::abs(r.beta[i] - (1 - ratio)) / r.beta[i];
        const double tol = (k + 4) * kEps * (r.alpha[i] / r.beta[i] + 1);
        if (err / tol > worst_beta / worst_beta_tol) worst_beta = err, worst_beta_tol = tol;
      }
      const std::string at = fmt::format("{} \"{}\" ({} steps)", name, spec, S);
      sc.require(at + ": kept steps ascending in 1..T, the first sampled step is T",
                 ascending && kept.back() == base.T && r.timestep_map[S] == base.T);
      sc.require(at + ": respaced ᾱ equals the base ᾱ at kept steps exactly", same_alpha_bar);
      sc.require(at + ": each step's predecessor is the next kept step", predecessor);
    }
    sc.add(std::string(name) + ": E38 β'_i = 1 - ᾱ_τi/ᾱ_τi-1 (relative, worst over all specs)", worst_beta,
           worst_beta_tol);
    // Keeping every step gives back the base schedule (β to 2 roundings: log1p, expm1).
    std::vector<std::int64_t> all(static_cast<size_t>(base.T));
    for (std::int64_t t = 1; t <= base.T; ++t) all[t - 1] = t;
    const Schedule same = respace(base, all);
    double beta_err = 0;
    for (std::int64_t t = 1; t <= base.T; ++t) beta_err = std::max(beta_err, std::abs(same.beta[t] / base.beta[t] - 1));
    sc.add(std::string(name) + ": keeping every step gives back β", beta_err, 4 * kEps);
    // Respacing a respaced schedule composes through timestep_map.
    const Schedule r1 = respace(base, space_timesteps(base.T, "ddim100"));
    const Schedule r2 = respace(r1, space_timesteps(r1.T, "ddim10"));
    bool composes = r2.timestep_map.back() == base.T;
    for (std::int64_t i = 1; i <= r2.T; ++i) composes = composes && r2.alpha_bar[i] == base.alpha_bar[r2.timestep_map[i]];
    sc.require(std::string(name) + ": respacing twice maps to base steps", composes);
  }
  // Counts: "ddimN" and "uniformN" give N steps; section counts give their sum.
  sc.require("step counts: ddim50 → 50, uniform50 → 50, \"10,15,20\" → 45",
             space_timesteps(1000, "ddim50").size() == 50 && space_timesteps(1000, "uniform50").size() == 50 &&
                 space_timesteps(1000, "10,15,20").size() == 45);
  return sc.result("V16", "E38: respaced ᾱ equals the base ᾱ at kept steps; first step T; predecessors",
                   "Linear and cosine T = 1000; spacings ddim1/7/10/20/50/1000, uniform1/50/1000, "
                   "sections 250, 10,15,20 and 1,1,1,1.");
}

// ---- V19: unbiased estimates of Σ_t L_{t-1} ---------------------------------------------

CheckResult v19(const TimestepSampler& sample_t) {
  SubChecks sc;
  // A short cosine schedule: its clipped last step makes λ_T large (L_T-1 dominates Σ_t),
  // the case Improved DDPM's importance sampling is for.
  const Schedule s = Schedule::cosine(20);
  const std::int64_t T = s.T;
  const std::vector<double> x0_values = {-0.8, 0.1, 0.6};  // the data: uniform over these
  const std::vector<double> sqrt_om = sqrt_of(s.one_minus_alpha_bar);
  // A fixed, imperfect model.
  const EpsModel model = [&](const Tensor& x, const Tensor& t) {
    return 0.9 * s.at(sqrt_om, t, x) * x + 0.1 * sin(x);
  };
  const std::vector<double> lambda = vlb_weight(s, Sigma::Large);
  // Exact ℓ_t = λ_t E[(ε - ε_θ)²] and E[(λ_t (ε - ε_θ)²)²] by the trapezoid rule over ε.
  std::vector<double> z, w;
  normal_trapezoid(801, 10.0, z, w);
  std::vector<double> ell(static_cast<size_t>(T) + 1, 0.0), second(static_cast<size_t>(T) + 1, 0.0),
      mse(static_cast<size_t>(T) + 1, 0.0);
  for (std::int64_t t = 1; t <= T; ++t) {
    for (double x0 : x0_values) {
      for (size_t j = 0; j < z.size(); ++j) {
        const double x = std::sqrt(s.alpha_bar[t]) * x0 + sqrt_om[t] * z[j];
        const double e = z[j] - (0.9 * sqrt_om[t] * x + 0.1 * std::sin(x));
        mse[t] += w[j] * e * e / 3;
        second[t] += w[j] * std::pow(lambda[t] * e * e, 2) / 3;
      }
    }
    ell[t] = lambda[t] * mse[t];
  }
  double total = 0, simple = 0;
  for (std::int64_t t = 1; t <= T; ++t) total += ell[t], simple += mse[t] / static_cast<double>(T);

  const std::int64_t N = 200000;
  Generator gen(19);
  const Tensor values = Tensor::from_vector(x0_values, {3}, kF64);
  auto draw_terms = [&](const Tensor& t, Tensor& sq) {
    const Tensor x0 = index_select(values, 0, Tensor::randint(0, 3, {N}, {.dtype = DType::Int64}, &gen)).reshape({N, 1});
    const Tensor eps = Tensor::randn({N, 1}, kF64, &gen);
    const Tensor x_t = q_sample(s, x0, t, eps);
    sq = squared_error_per_sample(eps, model(x_t, t));  // (ε - ε_θ)², D = 1
  };
  // Uniform t: T · λ_t · MSE_t, and plain MSE_t for L_simple.
  const Tensor t_uniform = sample_t ? sample_t(N, T, &gen) : sample_timesteps(N, T, &gen);
  Tensor sq;
  draw_terms(t_uniform, sq);
  const Tensor y = static_cast<double>(T) * s.at(lambda, t_uniform, 1, DType::Float64) * sq;
  const double est = y.mean().item(), se = y.std().item() / std::sqrt(static_cast<double>(N));
  sc.add(fmt::format("T·E_t~U[λ_t MSE_t] = {:.5f} vs Σ_t L_t-1 = {:.5f}", est, total), std::abs(est - total), 4 * se);
  const double est_s = sq.mean().item(), se_s = sq.std().item() / std::sqrt(static_cast<double>(N));
  sc.add(fmt::format("E_t~U[MSE_t] = {:.5f} vs (1/T) Σ_t MSE_t = {:.5f}", est_s, simple), std::abs(est_s - simple),
         4 * se_s);
  // E40: t ~ p_t ∝ √E[L_t²], weights 1/(T p_t).
  std::vector<double> p(static_cast<size_t>(T) + 1, 0.0);
  for (std::int64_t t = 1; t <= T; ++t) p[t] = std::sqrt(second[t]);
  const TimestepDraw draw = sample_timesteps(p, N, &gen);
  draw_terms(draw.t, sq);
  const Tensor yi = static_cast<double>(T) * draw.weights * s.at(lambda, draw.t, 1, DType::Float64) * sq;
  const double est_i = yi.mean().item(), se_i = yi.std().item() / std::sqrt(static_cast<double>(N));
  sc.add(fmt::format("E40 importance-weighted = {:.5f} vs Σ_t L_t-1", est_i), std::abs(est_i - total), 4 * se_i);
  sc.require("E40 importance sampling lowers the standard error", se_i < se,
             fmt::format("SE {:.3g} vs uniform {:.3g}", se_i, se));
  // Dropping λ_t: the weighted training loss over λ_t is L_simple's, sample by sample.
  {
    const Tensor x0 = Tensor::tensor({0.1, -0.8, 0.6, 0.6}, kF64).reshape({2, 2});
    Generator g1(3), g2(3);
    const TrainingLoss weighted = training_loss(s, model, x0, &g1, {.loss = LossType::Weighted});
    const TrainingLoss plain = training_loss(s, model, x0, &g2, {.loss = LossType::Simple});
    const Tensor unweighted = weighted.per_sample / s.at(lambda, weighted.t, 1, DType::Float64);
    const double err = std::max(max_abs(unweighted - plain.per_sample) / max_abs(plain.per_sample),
                                std::abs(plain.loss.item() - l_simple(plain.eps, model(plain.x_t, plain.t)).item()) /
                                    plain.loss.item());
    sc.add("E19 λ_t dropped from E18 gives L_simple exactly (relative)", err, 4 * kEps);
  }
  return sc.result("V19", "E18-E19, E40: T·E_t~U[λ_t MSE_t] is unbiased for Σ_t L_{t-1}; so is importance sampling",
                   fmt::format("Cosine T = 20, x_0 uniform over (-0.8, 0.1, 0.6), ε_θ = 0.9√(1-ᾱ_t) x + "
                               "0.1 sin x; exact terms by an 801-point trapezoid over ε; {} Monte-Carlo "
                               "draws per estimate, tolerance 4 standard errors.",
                               N));
}

// ---- V21: float32 tables ------------------------------------------------------------------

CheckResult v21() {
  SubChecks sc;
  const double u32 = std::ldexp(1.0, -24);  // float32 unit roundoff
  for (const auto& [s, name] : {std::pair{Schedule::linear(1000), "linear"}, std::pair{Schedule::cosine(1000), "cosine"}}) {
    const std::int64_t T = s.T;
    // Cast once: every float32 table entry is the float64 value rounded once.
    const std::vector<std::pair<const char*, std::vector<double>>> tables = {
        {"β", s.beta}, {"ᾱ", s.alpha_bar}, {"1-ᾱ", s.one_minus_alpha_bar}, {"√ᾱ", sqrt_of(s.alpha_bar)},
        {"√(1-ᾱ)", sqrt_of(s.one_minus_alpha_bar)}, {"β̃", posterior_variance(s)}, {"λ", vlb_weight(s, Sigma::Large)}};
    double cast_err = 0;
    for (const auto& [label, table] : tables) {
      const auto f32 = Schedule::table(table, DType::Float32).to_vector<double>();
      for (std::int64_t t = 1; t <= T; ++t) {
        if (table[t] != 0) cast_err = std::max(cast_err, std::abs(f32[t] / table[t] - 1));
      }
    }
    // ... and through the library: q_sample in float32 with (x_0, ε) = (1, 0) and (0, 1).
    std::vector<std::int64_t> ts(static_cast<size_t>(T));
    for (std::int64_t t = 1; t <= T; ++t) ts[t - 1] = t;
    const Tensor t = steps(ts);
    const Tensor one = Tensor::ones({T, 1}), zero = Tensor::zeros({T, 1});
    const auto a = q_sample(s, one, t, zero).to_vector<double>();
    const auto b = q_sample(s, zero, t, one).to_vector<double>();
    for (std::int64_t i = 0; i < T; ++i) {
      cast_err = std::max(cast_err, std::abs(a[i] / std::sqrt(s.alpha_bar[i + 1]) - 1));
      cast_err = std::max(cast_err, std::abs(b[i] / std::sqrt(s.one_minus_alpha_bar[i + 1]) - 1));
    }
    sc.add(std::string(name) + ": float32 tables cast once from float64 (relative)", cast_err, u32);
    // What computing in float32 would do: ᾱ as a float32 product (≤ 2 roundings a step).
    std::vector<float> ab32(static_cast<size_t>(T) + 1, 1.0f);
    double prod_err = 0, beta_drift = 0, om_drift = 0;
    for (std::int64_t i = 1; i <= T; ++i) {
      ab32[i] = ab32[i - 1] * (1.0f - static_cast<float>(s.beta[i]));
      prod_err = std::max(prod_err, std::abs(static_cast<double>(ab32[i]) / s.alpha_bar[i] - 1));
      const float beta_rec = 1.0f - ab32[i] / ab32[i - 1];  // β recovered from float32 ratios
      beta_drift = std::max(beta_drift, std::abs(static_cast<double>(beta_rec) / s.beta[i] - 1));
      const float om = 1.0f - ab32[i];
      om_drift = std::max(om_drift, std::abs(static_cast<double>(om) / s.one_minus_alpha_bar[i] - 1));
    }
    sc.add(std::string(name) + ": a float32 product ᾱ stays within 2 T u of float64 (relative)", prod_err,
           2.0 * static_cast<double>(T) * u32);
    sc.require(fmt::format("{}: β recovered from float32 ᾱ ratios drifts (by {:.2g}; 1-ᾱ by {:.2g}) far beyond "
                           "the cast-once tables",
                           name, beta_drift, om_drift),
               beta_drift > 100 * cast_err);
  }
  return sc.result("V21", "precision: float32 tables are cast once from float64; float32 arithmetic would drift",
                   "Linear and cosine T = 1000; u = 2^-24; the cast-once tables (β, ᾱ, 1-ᾱ, √ᾱ, √(1-ᾱ), "
                   "β̃, λ, and q_sample's coefficients) must be within one rounding u.");
}

// ---- V22: the decoder's CDF, edge bins and gradients ------------------------------------

CheckResult v22() {
  SubChecks sc;
  // The exact CDF: against erfc in long double, and Ho et al.'s tanh approximation for scale.
  {
    const Tensor z = Tensor::linspace(-8, 8, 801, kF64);
    const auto got = normal_cdf(z).to_vector<double>();
    const auto zs = z.to_vector<double>();
    double err = 0, approx_err = 0;
    for (size_t i = 0; i < zs.size(); ++i) {
      const double ref = static_cast<double>(phi_ref(zs[i]));
      err = std::max(err, std::abs(got[i] - ref));
      const double x = zs[i];
      const double approx = 0.5 * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
      approx_err = std::max(approx_err, std::abs(approx - ref));
    }
    sc.add(fmt::format("Φ via erf vs erfc reference on [-8, 8] (the tanh approximation is off by {:.2g})", approx_err),
           err, 4 * kEps);
  }
  // The bins: every level for several (μ, σ), against long double references.
  {
    const Tensor levels = Tensor::linspace(-1, 1, 256, kF64);
    const auto xs = levels.to_vector<double>();
    double edge_lo = 0, edge_hi = 0, middle = 0, floored = 0;
    for (const auto& [m, sd] : std::vector<std::pair<double, double>>{
             {0.0, 0.02}, {-0.97, 0.05}, {0.99, 0.01}, {0.4, 0.3}, {-1.3, 0.2}, {1.5, 0.1}, {0.0, 3.0}}) {
      const auto logp = discretized_gaussian_log_likelihood(levels, Tensor::full({1}, m, kF64),
                                                            Tensor::full({1}, std::log(sd), kF64))
                            .to_vector<double>();
      for (size_t i = 0; i < xs.size(); ++i) {
        const long double lo = i == 0 ? -INFINITY : (xs[i] - 1.0L / 255 - m) / sd;
        const long double hi = i + 1 == xs.size() ? INFINITY : (xs[i] + 1.0L / 255 - m) / sd;
        const long double ref = i == 0 ? phi_ref(hi) : i + 1 == xs.size() ? 1 - phi_ref(lo) : normal_interval_ref(lo, hi);
        const double expect = std::max(static_cast<double>(ref), 1e-12);
        // Φ differences carry ≤ 4 ε absolute; exp(log(·)) adds ≤ (|log p| + 2) ε relative.
        const double err = std::abs(std::exp(logp[i]) - expect) / (4 * kEps + (std::abs(logp[i]) + 2) * kEps * expect);
        if (ref < 1e-12) floored = std::max(floored, std::abs(logp[i] - std::log(1e-12)));
        else if (i == 0) edge_lo = std::max(edge_lo, err);
        else if (i + 1 == xs.size()) edge_hi = std::max(edge_hi, err);
        else middle = std::max(middle, err);
      }
    }
    sc.add("edge bin x = -1: Φ(δ+) (in units of its rounding bound)", edge_lo, 1);
    sc.add("edge bin x = +1: 1 - Φ(δ-) (in units of its rounding bound)", edge_hi, 1);
    sc.add("middle bins: Φ(δ+) - Φ(δ-) (in units of their rounding bound)", middle, 1);
    sc.add("floored bins hold log 1e-12", floored, 64 * kEps);
  }
  // Gradients with respect to the mean and log-scale, at the edges, in the middle, and
  // through the floors (where the gradient must be exactly 0).
  {
    const std::vector<double> x = {-1.0, -1.0 + 2.0 / 255, 1.0 - 2.0 / 255, 1.0, 0.0, 0.5, 0.5, -1.0, 1.0};
    const std::vector<double> m = {-0.98, -0.95, 0.97, 0.9, 0.05, 0.45, -0.5, 0.8, -0.8};
    const std::vector<double> ls = {std::log(0.02), std::log(0.05), std::log(0.03), std::log(0.1), std::log(0.2),
                                    std::log(0.02), std::log(0.01), std::log(0.05), std::log(0.05)};
    const auto n = static_cast<std::int64_t>(x.size());
    const Tensor xt = Tensor::from_vector(x, {n}, kF64);
    Tensor mean = Tensor::from_vector(m, {n}, kF64).requires_grad_();
    Tensor log_scale = Tensor::from_vector(ls, {n}, kF64).requires_grad_();
    const auto res = autograd::gradcheck(
        [&](const std::vector<Tensor>& in) { return discretized_gaussian_log_likelihood(xt, in[0], in[1]); },
        {mean, log_scale}, 1e-6, 1e-6, 1e-5);
    sc.add(fmt::format("gradcheck wrt μ and log σ (edges, middle, floors): {}", res.ok ? "ok" : res.message),
           res.max_abs_error, res.ok ? std::max(res.max_abs_error, 1e-6) : 0.0);
    const Tensor logp = discretized_gaussian_log_likelihood(xt, mean, log_scale);
    auto g = autograd::grad({logp.sum()}, {mean, log_scale});
    const auto gm = g[0].to_vector<double>(), gs = g[1].to_vector<double>();
    const auto lp = logp.to_vector<double>();
    bool zero_at_floor = true, finite = true;
    for (std::int64_t i = 0; i < n; ++i) {
      finite = finite && std::isfinite(gm[i]) && std::isfinite(gs[i]);
      if (lp[i] <= std::log(1e-12) + 1e-9) zero_at_floor = zero_at_floor && gm[i] == 0 && gs[i] == 0;
    }
    sc.require("gradients finite everywhere, exactly 0 where the floor holds (elements 7-9)", finite && zero_at_floor);
  }
  return sc.result("V22", "E20: exact normal CDF (erf), correct edge bins, gradients through the floors",
                   "Bins: 256 levels × 7 (μ, σ) against erfc in long double; tolerance per bin 4 ε + "
                   "(|log p| + 2) ε p. Gradients: autograd::gradcheck (central differences, eps 1e-6, "
                   "atol 1e-6, rtol 1e-5) on 9 elements.");
}

}  // namespace checks

// The table of process checks for `kiln verify` (diffusion/verify.h).
std::vector<Check> process_checks() {
  return {
      {"V1", "E1-E3b, E8: schedules", [] { return checks::v1(); }},
      {"V2", "E4-E7: forward process by Monte Carlo", [] { return checks::v2(); }},
      {"V3", "E9: posterior by Bayes' rule on a grid", [] { return checks::v3(); }},
      {"V4", "E10-E12: identities to rounding", [] { return checks::v4(); }},
      {"V5", "E16: Gaussian KL by Monte Carlo", [] { return checks::v5(); }},
      {"V6", "E17-E18: KL in ε form", [] { return checks::v6(); }},
      {"V7", "E14-E15: bound decomposition by Monte Carlo", [] { return checks::v7(); }},
      {"V8", "E14: tightness", [] { return checks::v8(); }},
      {"V9", "E20-E21: decoder sums to 1, bits of uniform noise", [] { return checks::v9(); }},
      {"V15", "E10-E12, E37: conversions round-trip", [] { return checks::v15(); }},
      {"V16", "E38: respacing", [] { return checks::v16(); }},
      {"V19", "E18-E19, E40: unbiased estimates of the bound", [] { return checks::v19(); }},
      {"V21", "precision: float64 tables cast once", [] { return checks::v21(); }},
      {"V22", "E20: exact CDF, edge bins, gradients through floors", [] { return checks::v22(); }},
  };
}

}  // namespace kiln::diffusion
