#include "diffusion/forward.h"

#include <cmath>

#include "autograd/ops/elementwise.h"

namespace kiln::diffusion {

Tensor per_sample(const Tensor& values, std::int64_t ndim) {
  KILN_CHECK(values.dim() <= 1 || values.numel() == values.size(0),
             "per_sample: expects one value per sample [B], got {}", shape_str(values.shape()));
  Shape shape(static_cast<size_t>(std::max<std::int64_t>(ndim, 1)), 1);
  shape[0] = values.numel();
  return values.reshape(shape);
}

// [region q_step]
// E4  x_t = √α_t x_{t-1} + √(1-α_t) z
Tensor q_step(const Schedule& s, const Tensor& x_prev, const Tensor& t, const Tensor& z) {
  const Tensor sqrt_alpha = s.at(sqrt_of(s.alpha), t, x_prev);
  const Tensor sqrt_beta = s.at(sqrt_of(s.beta), t, x_prev);  // √(1-α_t) = √β_t
  return sqrt_alpha * x_prev + sqrt_beta * z;
}
// [endregion]

// E4  q(x_t | x_{t-1}) = N(√α_t x_{t-1}, β_t I)
Gaussian q_step_distribution(const Schedule& s, const Tensor& x_prev, const Tensor& t) {
  const Tensor sqrt_alpha = s.at(sqrt_of(s.alpha), t, x_prev);
  return {sqrt_alpha * x_prev, s.at(s.beta, t, x_prev), s.at(log_of(s.beta), t, x_prev)};
}

// E5  Var(x_t) = α_t Var(x_{t-1}) + (1 - α_t)
double q_step_variance(double alpha_t, double var_prev) {
  return alpha_t * var_prev + (1 - alpha_t);
}

// [region merge_noise]
// E6  √(α_t(1-α_{t-1})) z_1 + √(1-α_t) z_2
Tensor merge_noise(double alpha_t, double alpha_prev, const Tensor& z1, const Tensor& z2) {
  return std::sqrt(alpha_t * (1 - alpha_prev)) * z1 + std::sqrt(1 - alpha_t) * z2;
}
// [endregion]

// E6  α_t(1-α_{t-1}) + (1-α_t) = 1 - α_t α_{t-1}
double merged_variance(double alpha_t, double alpha_prev) {
  return alpha_t * (1 - alpha_prev) + (1 - alpha_t);
}

// [region q_sample]
// E7  x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε
Tensor q_sample(const Schedule& s, const Tensor& x0, const Tensor& t, const Tensor& eps) {
  // BEGIN ASSIGNMENT 7.1
  const Tensor sqrt_alpha_bar = s.at(sqrt_of(s.alpha_bar), t, x0);
  const Tensor sqrt_one_minus_alpha_bar = s.at(sqrt_of(s.one_minus_alpha_bar), t, x0);
  return sqrt_alpha_bar * x0 + sqrt_one_minus_alpha_bar * eps;
  // END ASSIGNMENT
}
// [endregion]

// E7  q(x_t | x_0) = N(√ᾱ_t x_0, (1-ᾱ_t) I)
Gaussian q_distribution(const Schedule& s, const Tensor& x0, const Tensor& t) {
  const Tensor sqrt_alpha_bar = s.at(sqrt_of(s.alpha_bar), t, x0);
  return {sqrt_alpha_bar * x0, s.at(s.one_minus_alpha_bar, t, x0),
          s.at(log_of(s.one_minus_alpha_bar), t, x0)};
}

// E7 (continuous time)  x_τ = signal(τ) x_0 + noise(τ) ε
Tensor q_sample(const Rates& rates, const Tensor& x0, const Tensor& eps) {
  const Tensor signal = rates.signal.dim() == x0.dim() ? rates.signal : per_sample(rates.signal, x0.dim());
  const Tensor noise = rates.noise.dim() == x0.dim() ? rates.noise : per_sample(rates.noise, x0.dim());
  return signal * x0 + noise * eps;
}

}  // namespace kiln::diffusion
