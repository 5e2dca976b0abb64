#include "diffusion/oracle.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <utility>

#include "autograd/ops/elementwise.h"
#include "autograd/ops/index.h"
#include "autograd/ops/reduce.h"

namespace kiln::diffusion {

namespace {

// A K × D table of parameters as a tensor [1, K, D] (the leading 1 broadcasts over the
// batch), cast once from float64.
Tensor table_1kd(const std::vector<std::vector<double>>& rows, DType dtype, Device device) {
  std::vector<double> flat;
  for (const auto& row : rows) flat.insert(flat.end(), row.begin(), row.end());
  const auto K = static_cast<std::int64_t>(rows.size());
  const auto D = static_cast<std::int64_t>(rows.front().size());
  return Tensor::from_vector(flat, {1, K, D}, {.dtype = dtype, .device = device});
}

// x_t [B, ...] as [B, D] (checking that each sample holds D numbers).
Tensor as_rows(const GaussianMixture& gm, const Tensor& x, const char* op) {
  KILN_CHECK(x.defined() && x.dim() >= 1 && is_floating(x.dtype()),
             "{}: x_t must be a floating batch [B, ...]", op);
  const std::int64_t B = x.size(0);
  KILN_CHECK(B == 0 || x.numel() / B == gm.D(),
             "{}: a sample of x_t {} holds {} numbers, the mixture has D = {}", op,
             shape_str(x.shape()), B == 0 ? 0 : x.numel() / B, gm.D());
  return x.reshape({B, gm.D()});
}

// ᾱ as [B, 1, 1] (or [1, 1, 1] for a 0-d or one-element ᾱ) in x's dtype.
Tensor as_level(const Tensor& alpha_bar, const Tensor& x2, const char* op) {
  KILN_CHECK(alpha_bar.defined() && is_floating(alpha_bar.dtype()),
             "{}: alpha_bar must be a floating tensor", op);
  const std::int64_t B = x2.size(0);
  KILN_CHECK(alpha_bar.numel() == 1 || alpha_bar.numel() == B,
             "{}: alpha_bar {} has neither 1 nor B = {} values", op,
             shape_str(alpha_bar.shape()), B);
  Tensor ab = alpha_bar.dtype() == x2.dtype() ? alpha_bar : alpha_bar.to(x2.dtype());
  return ab.reshape({alpha_bar.numel() == 1 ? 1 : B, 1, 1});
}

// The components of q_t at level ᾱ [B|1, 1, 1]: means √ᾱ μ_k and variances ᾱσ_k² + 1 - ᾱ,
// both [B|1, K, D].
struct NoisedComponents {
  Tensor mean, variance;
};

NoisedComponents noised_components(const GaussianMixture& gm, const Tensor& ab, DType dtype,
                                   Device device) {
  const Tensor mu = table_1kd(gm.means, dtype, device);
  const Tensor sigma2 = table_1kd(gm.variances, dtype, device);
  return {sqrt(ab) * mu, ab * sigma2 + (1.0 - ab)};
}

// log(w_k N(x_t; m_k, v_k)) for every sample and component: [B, K].
Tensor joint_log_density(const GaussianMixture& gm, const Tensor& x2,
                         const NoisedComponents& c) {
  const Tensor x = x2.unsqueeze(1);  // [B, 1, D]
  const Tensor log_normal =
      -0.5 * ((x - c.mean).square() / c.variance + log(c.variance * (2 * std::numbers::pi)))
                 .sum({2});
  std::vector<double> log_w(gm.weights.size());
  for (size_t k = 0; k < log_w.size(); ++k) log_w[k] = std::log(gm.weights[k]);
  const Tensor log_weights = Tensor::from_vector(
      log_w, {1, gm.K()}, {.dtype = x2.dtype(), .device = x2.device()});
  return log_normal + log_weights;
}

Tensor scalar_level(double alpha_bar, const Tensor& like) {
  return Tensor::scalar(alpha_bar, {.dtype = like.dtype(), .device = like.device()});
}

// Φ(x), the standard normal CDF.
double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); }

}  // namespace

GaussianMixture::GaussianMixture(std::vector<double> w, std::vector<std::vector<double>> mu,
                                 std::vector<std::vector<double>> var)
    : weights(std::move(w)), means(std::move(mu)), variances(std::move(var)) {
  KILN_CHECK(!weights.empty(), "GaussianMixture: no components");
  KILN_CHECK(means.size() == weights.size() && variances.size() == weights.size(),
             "GaussianMixture: {} weights but {} means and {} variances", weights.size(),
             means.size(), variances.size());
  const size_t D = means.front().size();
  KILN_CHECK(D >= 1, "GaussianMixture: the means have no dimensions");
  double total = 0;
  for (size_t k = 0; k < weights.size(); ++k) {
    KILN_CHECK(weights[k] > 0, "GaussianMixture: weight {} is {} (must be > 0)", k, weights[k]);
    KILN_CHECK(means[k].size() == D && variances[k].size() == D,
               "GaussianMixture: component {} has {} means and {} variances, expected D = {}", k,
               means[k].size(), variances[k].size(), D);
    for (double v : variances[k])
      KILN_CHECK(v > 0, "GaussianMixture: component {} has variance {} (must be > 0)", k, v);
    total += weights[k];
  }
  KILN_CHECK(std::abs(total - 1) <= 1e-12, "GaussianMixture: the weights sum to {}, not 1",
             total);
}

GaussianMixture GaussianMixture::isotropic(std::vector<double> w,
                                           std::vector<std::vector<double>> mu,
                                           const std::vector<double>& stds) {
  KILN_CHECK(stds.size() == mu.size(), "GaussianMixture::isotropic: {} means but {} stds",
             mu.size(), stds.size());
  std::vector<std::vector<double>> var(mu.size());
  for (size_t k = 0; k < mu.size(); ++k) var[k].assign(mu[k].size(), stds[k] * stds[k]);
  return GaussianMixture(std::move(w), std::move(mu), std::move(var));
}

Tensor GaussianMixture::sample(std::int64_t n, Generator* gen, DType dtype, Device device) const {
  KILN_CHECK(n >= 0, "GaussianMixture::sample: n = {} < 0", n);
  // k ~ w by inverting the cumulative weights: k = #{j < K-1 : u ≥ w_0 + ... + w_j}.
  const Tensor u = Tensor::rand({n}, {.dtype = DType::Float64}, gen);
  const Tensor z = Tensor::randn({n, D()}, {.dtype = DType::Float64}, gen);
  Tensor k = Tensor::zeros({n}, {.dtype = DType::Float64});
  double cumulative = 0;
  for (std::int64_t j = 0; j + 1 < K(); ++j) {
    cumulative += weights[static_cast<size_t>(j)];
    k = k + (u >= cumulative);
  }
  const Tensor index = k.to(DType::Int64);
  std::vector<std::vector<double>> stds = variances;
  for (auto& row : stds)
    for (double& v : row) v = std::sqrt(v);
  const Tensor mu = index_select(table_1kd(means, DType::Float64, Device::cpu()).squeeze(0), 0, index);
  const Tensor sd = index_select(table_1kd(stds, DType::Float64, Device::cpu()).squeeze(0), 0, index);
  Tensor x = mu + sd * z;
  if (dtype != DType::Float64) x = x.to(dtype);
  if (!device.is_cpu()) x = x.to(device);
  return x;
}

std::vector<double> GaussianMixture::mean() const {
  std::vector<double> m(static_cast<size_t>(D()), 0.0);
  for (size_t k = 0; k < weights.size(); ++k)
    for (size_t d = 0; d < m.size(); ++d) m[d] += weights[k] * means[k][d];
  return m;
}

std::vector<double> GaussianMixture::variance() const {
  // Var = Σ_k w_k (σ_k² + μ_k²) - (Σ_k w_k μ_k)², written around the mean to avoid
  // cancellation: Σ_k w_k (σ_k² + (μ_k - m)²).
  const std::vector<double> m = mean();
  std::vector<double> v(m.size(), 0.0);
  for (size_t k = 0; k < weights.size(); ++k)
    for (size_t d = 0; d < m.size(); ++d) {
      const double dev = means[k][d] - m[d];
      v[d] += weights[k] * (variances[k][d] + dev * dev);
    }
  return v;
}

double GaussianMixture::cdf(std::int64_t d, double c) const {
  KILN_CHECK(d >= 0 && d < D(), "GaussianMixture::cdf: dimension {} is outside 0..{}", d, D() - 1);
  double p = 0;
  for (size_t k = 0; k < weights.size(); ++k) {
    const auto dd = static_cast<size_t>(d);
    p += weights[k] * normal_cdf((c - means[k][dd]) / std::sqrt(variances[k][dd]));
  }
  return p;
}

GaussianMixture GaussianMixture::noised(double alpha_bar) const {
  KILN_CHECK(alpha_bar >= 0 && alpha_bar <= 1, "GaussianMixture::noised: alpha_bar = {}",
             alpha_bar);
  auto mu = means;
  auto var = variances;
  for (size_t k = 0; k < mu.size(); ++k)
    for (size_t d = 0; d < mu[k].size(); ++d) {
      mu[k][d] *= std::sqrt(alpha_bar);
      var[k][d] = alpha_bar * var[k][d] + (1 - alpha_bar);
    }
  return GaussianMixture(weights, std::move(mu), std::move(var));
}

// log q_t(x_t) = log Σ_k w_k N(x_t; √ᾱ μ_k, ᾱσ_k² + 1 - ᾱ)
Tensor GaussianMixture::log_q(const Tensor& x_t, const Tensor& alpha_bar) const {
  const Tensor x = as_rows(*this, x_t, "GaussianMixture::log_q");
  const Tensor ab = as_level(alpha_bar, x, "GaussianMixture::log_q");
  const NoisedComponents c = noised_components(*this, ab, x.dtype(), x.device());
  return logsumexp(joint_log_density(*this, x, c), {1});
}

Tensor GaussianMixture::log_q(const Tensor& x_t, double alpha_bar) const {
  return log_q(x_t, scalar_level(alpha_bar, x_t));
}

// r_k = w_k N_k(x_t) / Σ_j w_j N_j(x_t)
Tensor GaussianMixture::responsibilities(const Tensor& x_t, const Tensor& alpha_bar) const {
  const Tensor x = as_rows(*this, x_t, "GaussianMixture::responsibilities");
  const Tensor ab = as_level(alpha_bar, x, "GaussianMixture::responsibilities");
  const NoisedComponents c = noised_components(*this, ab, x.dtype(), x.device());
  return softmax(joint_log_density(*this, x, c), 1);
}

// E27  ∇ log q_t(x_t) = Σ_k r_k(x_t) (√ᾱ μ_k - x_t) / (ᾱσ_k² + 1 - ᾱ)
Tensor GaussianMixture::score(const Tensor& x_t, const Tensor& alpha_bar) const {
  const Tensor x = as_rows(*this, x_t, "GaussianMixture::score");
  const Tensor ab = as_level(alpha_bar, x, "GaussianMixture::score");
  const NoisedComponents c = noised_components(*this, ab, x.dtype(), x.device());
  const Tensor r = softmax(joint_log_density(*this, x, c), 1).unsqueeze(2);  // [B, K, 1]
  const Tensor per_component = (c.mean - x.unsqueeze(1)) / c.variance;     // [B, K, D]
  return (r * per_component).sum({1}).reshape(x_t.shape());
}

Tensor GaussianMixture::score(const Tensor& x_t, double alpha_bar) const {
  return score(x_t, scalar_level(alpha_bar, x_t));
}

// E27  ε*(x_t, t) = -√(1-ᾱ_t) ∇ log q_t(x_t)
Tensor GaussianMixture::eps_star(const Tensor& x_t, const Tensor& alpha_bar) const {
  const Tensor x = as_rows(*this, x_t, "GaussianMixture::eps_star");
  const Tensor ab = as_level(alpha_bar, x, "GaussianMixture::eps_star").squeeze(2);  // [B|1, 1]
  return (-sqrt(1.0 - ab) * score(x, ab)).reshape(x_t.shape());
}

Tensor GaussianMixture::eps_star(const Tensor& x_t, double alpha_bar) const {
  return eps_star(x_t, scalar_level(alpha_bar, x_t));
}

// E[x_0 | x_t] = Σ_k r_k (μ_k + √ᾱ σ_k² / (ᾱσ_k² + 1 - ᾱ) · (x_t - √ᾱ μ_k))
Tensor GaussianMixture::x0_mean(const Tensor& x_t, const Tensor& alpha_bar) const {
  const Tensor x = as_rows(*this, x_t, "GaussianMixture::x0_mean");
  const Tensor ab = as_level(alpha_bar, x, "GaussianMixture::x0_mean");
  const NoisedComponents c = noised_components(*this, ab, x.dtype(), x.device());
  const Tensor mu = table_1kd(means, x.dtype(), x.device());
  const Tensor sigma2 = table_1kd(variances, x.dtype(), x.device());
  const Tensor r = softmax(joint_log_density(*this, x, c), 1).unsqueeze(2);  // [B, K, 1]
  const Tensor posterior_mean = mu + sqrt(ab) * sigma2 / c.variance * (x.unsqueeze(1) - c.mean);
  return (r * posterior_mean).sum({1}).reshape(x_t.shape());
}

EpsModel GaussianMixture::as_model(const Schedule& schedule) const {
  return [gm = *this, s = schedule](const Tensor& x_t, const Tensor& t) {
    KILN_CHECK(t.defined() && t.dtype() == DType::Int64,
               "GaussianMixture::as_model: the time input must be int64 timesteps [B] "
               "(use as_model(rates) for continuous time)");
    // The samplers give the whole batch one timestep: then ᾱ_t is one number and the
    // component tables stay [1, K, D] instead of [B, K, D] (a third of the work).
    const std::vector<std::int64_t> steps = t.to_vector<std::int64_t>();
    if (!steps.empty() && std::all_of(steps.begin(), steps.end(),
                                      [&](std::int64_t v) { return v == steps.front(); })) {
      KILN_CHECK(steps.front() >= 0 && steps.front() <= s.T,
                 "GaussianMixture::as_model: timestep {} is outside 0..{}", steps.front(), s.T);
      return gm.eps_star(x_t, s.alpha_bar[static_cast<size_t>(steps.front())]);
    }
    return gm.eps_star(x_t, s.at(s.alpha_bar, t, 1, x_t.dtype()));
  };
}

EpsModel GaussianMixture::as_model(const RatesFn& rates) const {
  return [gm = *this, rates](const Tensor& x_t, const Tensor& tau) {
    KILN_CHECK(tau.defined() && is_floating(tau.dtype()),
               "GaussianMixture::as_model: the time input must be float τ [B] in continuous time");
    Tensor tau_x = tau.dtype() == x_t.dtype() ? tau : tau.to(x_t.dtype());
    const std::vector<double> taus = tau.to_vector<double>();
    if (!taus.empty() && std::all_of(taus.begin(), taus.end(),
                                     [&](double v) { return v == taus.front(); }))
      tau_x = tau_x.reshape({-1}).narrow(0, 0, 1).reshape({});  // one level for the batch
    return gm.eps_star(x_t, rates(tau_x).signal.square());  // ᾱ(τ) = signal(τ)²
  };
}

}  // namespace kiln::diffusion
