#include "diffusion/bound.h"

#include <cmath>
#include <numbers>

#include "autograd/ops/elementwise.h"
#include "autograd/ops/index.h"
#include "autograd/ops/reduce.h"

namespace kiln::diffusion {

namespace {
Dims non_batch_dims(const Tensor& x) {
  Dims dims;
  for (std::int64_t d = 1; d < x.dim(); ++d) dims.push_back(d);
  return dims;
}
}  // namespace

Tensor sum_non_batch(const Tensor& x) {
  KILN_CHECK(x.dim() >= 1, "sum_non_batch: expects a batch [B, ...], got a 0-d tensor");
  return x.dim() == 1 ? x : sum(x, non_batch_dims(x));
}

Tensor mean_non_batch(const Tensor& x) {
  KILN_CHECK(x.dim() >= 1, "mean_non_batch: expects a batch [B, ...], got a 0-d tensor");
  return x.dim() == 1 ? x : mean(x, non_batch_dims(x));
}

// E33  minimise -(1/N) Σ_i log p_θ(x_i)
Tensor negative_log_likelihood(const Tensor& log_p) { return -mean(log_p); }

// [region normal_kl]
// E16  KL = ½(-1 + log σ_2² - log σ_1² + σ_1²/σ_2² + (μ_1-μ_2)²/σ_2²)
Tensor normal_kl(const Tensor& mean1, const Tensor& log_var1, const Tensor& mean2,
                 const Tensor& log_var2) {
  return 0.5 * (-1.0 + log_var2 - log_var1 + exp(log_var1 - log_var2) +
                square(mean1 - mean2) * exp(-log_var2));
}
// [endregion]

Tensor gaussian_kl(const Tensor& mean1, const Tensor& log_var1, const Tensor& mean2,
                   const Tensor& log_var2) {
  return sum_non_batch(normal_kl(mean1, log_var1, mean2, log_var2));
}

// E17  ||μ̃_t - μ_θ||² / (2σ_t²)
Tensor l_mean_form(const Tensor& mean_tilde, const Tensor& mean_theta, const Tensor& sigma2) {
  return sum_non_batch(square(mean_tilde - mean_theta) / (2.0 * sigma2));
}

// [region vlb_weight]
// E18  λ_t = β_t² / (2σ_t² α_t (1-ᾱ_t))
std::vector<double> vlb_weight(const Schedule& s, Sigma sigma) {
  // BEGIN ASSIGNMENT 9.1
  const std::vector<double> sigma2 = reverse_variance(s, sigma);
  std::vector<double> out(s.beta.size(), 0.0);
  for (std::int64_t t = 1; t <= s.T; ++t) {
    out[t] = s.beta[t] * s.beta[t] / (2 * sigma2[t] * s.alpha[t] * s.one_minus_alpha_bar[t]);
  }
  return out;
  // END ASSIGNMENT
}
// [endregion]

// E18  λ_t ||ε - ε_θ||²
Tensor l_eps_form(const Schedule& s, const Tensor& eps, const Tensor& eps_pred, const Tensor& t,
                  Sigma sigma) {
  const Tensor lambda = s.at(vlb_weight(s, sigma), t, 1, eps.dtype());
  return lambda * sum_non_batch(square(eps - eps_pred));
}

// Φ(z) = ½(1 + erf(z/√2))
Tensor normal_cdf(const Tensor& z) { return 0.5 * (1.0 + erf(z * (1.0 / std::numbers::sqrt2))); }

// [region discretized_decoder]
// E20  log ∫_{x-1/255}^{x+1/255} N(y; μ, σ²) dy, with -∞ / +∞ at the edges
Tensor discretized_gaussian_log_likelihood(const Tensor& x, const Tensor& mean,
                                           const Tensor& log_scale) {
  constexpr double kHalfBin = 1.0 / 255;  // pixels k = 0..255 sit at 2k/255 - 1
  constexpr double kFloor = 1e-12;        // Ho et al.'s floor inside every log
  const Tensor centered = x - mean;
  const Tensor inv_std = exp(-log_scale);
  const Tensor cdf_plus = normal_cdf(inv_std * (centered + kHalfBin));   // Φ at the upper edge
  const Tensor cdf_minus = normal_cdf(inv_std * (centered - kHalfBin));  // Φ at the lower edge
  // x = -1: ∫_{-∞}^{δ+} = Φ(δ+);  x = 1: ∫_{δ-}^{+∞} = 1 - Φ(δ-);  else Φ(δ+) - Φ(δ-).
  const Tensor log_cdf_plus = log(clamp(cdf_plus, kFloor, std::nullopt));
  const Tensor log_one_minus_cdf_minus = log(clamp(1.0 - cdf_minus, kFloor, std::nullopt));
  const Tensor log_cdf_delta = log(clamp(cdf_plus - cdf_minus, kFloor, std::nullopt));
  const Tensor xd = x.detach();
  return where(xd < -0.999, log_cdf_plus,
               where(xd > 0.999, log_one_minus_cdf_minus, log_cdf_delta));
}
// [endregion]

// log N(x; μ, σ²) = -½ (log 2π + 2 log σ + (x-μ)²/σ²)
Tensor gaussian_log_likelihood(const Tensor& x, const Tensor& mean, const Tensor& log_scale) {
  const double log_two_pi = std::log(2 * std::numbers::pi);
  return -0.5 * (log_two_pi + 2.0 * log_scale + square(x - mean) * exp(-2.0 * log_scale));
}

// E21  bpd = L / (D ln 2)
Tensor bits_per_dim(const Tensor& nats, std::int64_t D) {
  return nats / (static_cast<double>(D) * std::numbers::ln2);
}
double bits_per_dim(double nats, std::int64_t D) {
  return nats / (static_cast<double>(D) * std::numbers::ln2);
}

// [region prior_kl]
// E22  L_T = KL(N(√ᾱ_T x_0, (1-ᾱ_T) I) || N(0, I))
Tensor prior_kl(const Schedule& s, const Tensor& x0) {
  const Tensor t = Tensor::full({x0.size(0)}, static_cast<double>(s.T),
                                {.dtype = DType::Int64, .device = x0.device()});
  const Gaussian q = q_distribution(s, x0, t);
  const Tensor zero = Tensor::zeros({}, {.dtype = x0.dtype(), .device = x0.device()});
  return gaussian_kl(q.mean, q.log_variance, zero, zero);
}
// [endregion]

// [region vlb_term]
// E15  L_{t-1} (t ≥ 2) or L_0 (t = 1) for one x_t
Tensor vlb_term(const Schedule& s, const EpsModel& model, const Tensor& x0, const Tensor& x_t,
                const Tensor& t, const BoundOptions& options) {
  const Tensor eps_pred = model(x_t, s.base_timesteps(t));
  const Gaussian p = p_reverse(s, x_t, t, eps_pred, options.sigma);
  const Gaussian q = q_posterior(s, x0, x_t, t);
  const Tensor kl = gaussian_kl(q.mean, q.log_variance, p.mean, p.log_variance);
  const Tensor log_scale = 0.5 * p.log_variance;
  const Tensor decoder_nll =
      -sum_non_batch(options.decoder == Decoder::Discretized
                         ? discretized_gaussian_log_likelihood(x0, p.mean, log_scale)
                         : gaussian_log_likelihood(x0, p.mean, log_scale));
  return where(t == 1.0, decoder_nll, kl);
}
// [endregion]

// [region variational_bound]
// E14, E15  L_VLB = L_T + Σ_{t=2}^T L_{t-1} + L_0
Bound variational_bound(const Schedule& s, const EpsModel& model, const Tensor& x0,
                        Generator* gen, const BoundOptions& options) {
  const std::int64_t B = x0.size(0);
  std::vector<Tensor> terms;
  for (std::int64_t step = 1; step <= s.T; ++step) {
    const Tensor t = Tensor::full({B}, static_cast<double>(step),
                                  {.dtype = DType::Int64, .device = x0.device()});
    const Tensor eps = Tensor::randn(x0.shape(), {.dtype = x0.dtype(), .device = x0.device()}, gen);
    const Tensor x_t = q_sample(s, x0, t, eps);
    terms.push_back(vlb_term(s, model, x0, x_t, t, options));
  }
  Bound b;
  b.prior = prior_kl(s, x0);
  b.terms = stack(terms, 1);
  b.total = b.prior + sum(b.terms, {1});
  b.bpd = bits_per_dim(b.total, x0.numel() / B);
  return b;
}
// [endregion]

}  // namespace kiln::diffusion
