#include "diffusion/posterior.h"

#include <cmath>

#include "autograd/ops/elementwise.h"

namespace kiln::diffusion {

// [region posterior_variance]
// E9  β̃_t = (1-ᾱ_{t-1}) β_t / (1-ᾱ_t)
std::vector<double> posterior_variance(const Schedule& s) {
  // BEGIN ASSIGNMENT 8.1
  std::vector<double> out(s.beta.size(), 0.0);
  for (std::int64_t t = 1; t <= s.T; ++t) {
    out[t] = s.one_minus_alpha_bar[t - 1] * s.beta[t] / s.one_minus_alpha_bar[t];
  }
  return out;
  // END ASSIGNMENT
}
// [endregion]

// E9  log β̃_t with log β̃_1 := log β̃_2
std::vector<double> posterior_log_variance_clipped(const Schedule& s) {
  const std::vector<double> var = posterior_variance(s);
  std::vector<double> out(var.size());
  for (std::int64_t t = 2; t <= s.T; ++t) out[t] = std::log(var[t]);
  out[1] = s.T >= 2 ? out[2] : std::log(s.beta[1]);
  out[0] = out[1];
  return out;
}

// [region posterior_mean_coef_x0]
// E9  √ᾱ_{t-1} β_t / (1-ᾱ_t)
std::vector<double> posterior_mean_coef_x0(const Schedule& s) {
  // BEGIN ASSIGNMENT 8.1
  std::vector<double> out(s.beta.size(), 0.0);
  for (std::int64_t t = 1; t <= s.T; ++t) {
    out[t] = std::sqrt(s.alpha_bar[t - 1]) * s.beta[t] / s.one_minus_alpha_bar[t];
  }
  return out;
  // END ASSIGNMENT
}
// [endregion]

// [region posterior_mean_coef_xt]
// E9  √α_t (1-ᾱ_{t-1}) / (1-ᾱ_t)
std::vector<double> posterior_mean_coef_xt(const Schedule& s) {
  // BEGIN ASSIGNMENT 8.1
  std::vector<double> out(s.beta.size(), 0.0);
  for (std::int64_t t = 1; t <= s.T; ++t) {
    out[t] = std::sqrt(s.alpha[t]) * s.one_minus_alpha_bar[t - 1] / s.one_minus_alpha_bar[t];
  }
  return out;
  // END ASSIGNMENT
}
// [endregion]

// E9  μ̃_t = c_0 x_0 + c_t x_t
Tensor posterior_mean(const Schedule& s, const Tensor& x0, const Tensor& x_t, const Tensor& t) {
  const Tensor coef_x0 = s.at(posterior_mean_coef_x0(s), t, x_t);
  const Tensor coef_xt = s.at(posterior_mean_coef_xt(s), t, x_t);
  return coef_x0 * x0 + coef_xt * x_t;
}

// E9  N(μ̃_t, β̃_t I)
Gaussian q_posterior(const Schedule& s, const Tensor& x0, const Tensor& x_t, const Tensor& t) {
  return {posterior_mean(s, x0, x_t, t), s.at(posterior_variance(s), t, x_t),
          s.at(posterior_log_variance_clipped(s), t, x_t)};
}

// [region predict_x0_from_eps]
// E10  x̂_0 = (x_t - √(1-ᾱ_t) ε) / √ᾱ_t
Tensor predict_x0_from_eps(const Schedule& s, const Tensor& x_t, const Tensor& t,
                           const Tensor& eps) {
  const Tensor sqrt_alpha_bar = s.at(sqrt_of(s.alpha_bar), t, x_t);
  const Tensor sqrt_one_minus_alpha_bar = s.at(sqrt_of(s.one_minus_alpha_bar), t, x_t);
  return (x_t - sqrt_one_minus_alpha_bar * eps) / sqrt_alpha_bar;
}
// [endregion]

namespace {
// β_t / √(1-ᾱ_t), the noise coefficient of E11/E12 (float64, before the cast).
std::vector<double> eps_coef(const Schedule& s) {
  std::vector<double> out(s.beta.size(), 0.0);
  for (std::int64_t t = 1; t <= s.T; ++t) out[t] = s.beta[t] / std::sqrt(s.one_minus_alpha_bar[t]);
  return out;
}
}  // namespace

// [region posterior_mean_from_eps]
// E11  μ̃_t = (1/√α_t) (x_t - (β_t/√(1-ᾱ_t)) ε)
Tensor posterior_mean_from_eps(const Schedule& s, const Tensor& x_t, const Tensor& t,
                               const Tensor& eps) {
  const Tensor sqrt_alpha = s.at(sqrt_of(s.alpha), t, x_t);
  const Tensor beta_over_sqrt_one_minus_alpha_bar = s.at(eps_coef(s), t, x_t);
  return (x_t - beta_over_sqrt_one_minus_alpha_bar * eps) / sqrt_alpha;
}
// [endregion]

// E12  μ_θ = (1/√α_t) (x_t - (β_t/√(1-ᾱ_t)) ε_θ(x_t, t)): E11 with the predicted noise.
Tensor model_mean(const Schedule& s, const Tensor& x_t, const Tensor& t, const Tensor& eps_pred) {
  return posterior_mean_from_eps(s, x_t, t, eps_pred);
}

// [region reverse_variance]
// E13  σ_t² = β_t or β̃_t
std::vector<double> reverse_variance(const Schedule& s, Sigma sigma) {
  if (sigma == Sigma::Large) return s.beta;
  std::vector<double> out = posterior_variance(s);
  const std::vector<double> log_var = posterior_log_variance_clipped(s);
  out[0] = out[1] = std::exp(log_var[1]);  // σ_1² = β̃_2 (the clip of E9)
  return out;
}
// [endregion]

std::vector<double> reverse_log_variance(const Schedule& s, Sigma sigma) {
  if (sigma == Sigma::Small) return posterior_log_variance_clipped(s);
  std::vector<double> out = log_of(s.beta);
  out[0] = out[1];  // index 0 is never used; keep it finite
  return out;
}

Gaussian p_reverse(const Schedule& s, const Tensor& x_t, const Tensor& t, const Tensor& eps_pred,
                   Sigma sigma) {
  return {model_mean(s, x_t, t, eps_pred), s.at(reverse_variance(s, sigma), t, x_t),
          s.at(reverse_log_variance(s, sigma), t, x_t)};
}

// [region score_from_eps]
// E27  ∇ log q(x_t | x_0) = -ε / √(1-ᾱ_t)
Tensor score_from_eps(const Schedule& s, const Tensor& eps, const Tensor& t) {
  return -eps / s.at(sqrt_of(s.one_minus_alpha_bar), t, eps);
}
// [endregion]

// E27  ε = -√(1-ᾱ_t) ∇ log q_t(x_t)
Tensor eps_from_score(const Schedule& s, const Tensor& score, const Tensor& t) {
  return -s.at(sqrt_of(s.one_minus_alpha_bar), t, score) * score;
}

// E37  v = √ᾱ_t ε - √(1-ᾱ_t) x_0
Tensor v_from_eps(const Schedule& s, const Tensor& x0, const Tensor& t, const Tensor& eps) {
  const Tensor sqrt_alpha_bar = s.at(sqrt_of(s.alpha_bar), t, x0);
  const Tensor sqrt_one_minus_alpha_bar = s.at(sqrt_of(s.one_minus_alpha_bar), t, x0);
  return sqrt_alpha_bar * eps - sqrt_one_minus_alpha_bar * x0;
}

// E37  x̂_0 = √ᾱ_t x_t - √(1-ᾱ_t) v
Tensor x0_from_v(const Schedule& s, const Tensor& x_t, const Tensor& t, const Tensor& v) {
  const Tensor sqrt_alpha_bar = s.at(sqrt_of(s.alpha_bar), t, x_t);
  const Tensor sqrt_one_minus_alpha_bar = s.at(sqrt_of(s.one_minus_alpha_bar), t, x_t);
  return sqrt_alpha_bar * x_t - sqrt_one_minus_alpha_bar * v;
}

// E37  ε̂ = √(1-ᾱ_t) x_t + √ᾱ_t v
Tensor eps_from_v(const Schedule& s, const Tensor& x_t, const Tensor& t, const Tensor& v) {
  const Tensor sqrt_alpha_bar = s.at(sqrt_of(s.alpha_bar), t, x_t);
  const Tensor sqrt_one_minus_alpha_bar = s.at(sqrt_of(s.one_minus_alpha_bar), t, x_t);
  return sqrt_one_minus_alpha_bar * x_t + sqrt_alpha_bar * v;
}

// E37  ε̂ = (x_t - √ᾱ_t x̂_0) / √(1-ᾱ_t)
Tensor eps_from_x0(const Schedule& s, const Tensor& x_t, const Tensor& t, const Tensor& x0) {
  const Tensor sqrt_alpha_bar = s.at(sqrt_of(s.alpha_bar), t, x_t);
  const Tensor sqrt_one_minus_alpha_bar = s.at(sqrt_of(s.one_minus_alpha_bar), t, x_t);
  return (x_t - sqrt_alpha_bar * x0) / sqrt_one_minus_alpha_bar;
}

// E37  x̂_0 = (μ - c_t x_t) / c_0   (E9's coefficients)
Tensor x0_from_mean(const Schedule& s, const Tensor& x_t, const Tensor& t, const Tensor& mean) {
  const Tensor coef_x0 = s.at(posterior_mean_coef_x0(s), t, x_t);
  const Tensor coef_xt = s.at(posterior_mean_coef_xt(s), t, x_t);
  return (mean - coef_xt * x_t) / coef_x0;
}

Predictions predictions_from(const Schedule& s, Prediction kind, const Tensor& pred,
                             const Tensor& x_t, const Tensor& t) {
  Predictions p;
  switch (kind) {
    case Prediction::Eps:
      p.eps = pred;
      p.x0 = predict_x0_from_eps(s, x_t, t, pred);
      break;
    case Prediction::X0:
      p.x0 = pred;
      p.eps = eps_from_x0(s, x_t, t, pred);
      break;
    case Prediction::V:
      p.v = pred;
      p.x0 = x0_from_v(s, x_t, t, pred);
      p.eps = eps_from_v(s, x_t, t, pred);
      break;
    case Prediction::Mean:
      p.mean = pred;
      p.x0 = x0_from_mean(s, x_t, t, pred);
      p.eps = eps_from_x0(s, x_t, t, p.x0);
      break;
  }
  if (!p.v.defined()) p.v = v_from_eps(s, p.x0, t, p.eps);
  if (!p.mean.defined()) p.mean = posterior_mean(s, p.x0, x_t, t);
  return p;
}

}  // namespace kiln::diffusion
