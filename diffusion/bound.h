#pragma once
// The variational bound, EQUATIONS.md §4: maximum likelihood (E33), the ELBO (E14), its
// decomposition into L_T, L_{t-1}, L_0 (E15), the Gaussian KL (E16), the KL in mean form
// (E17) and in ε form with its weight λ_t (E18), the discretized decoder (E20), bits per
// dimension (E21) and the prior term (E22).
//
// Note [Per-sample sums]
// Every term here is per sample: a KL or a negative log-likelihood summed over the
// sample's dimensions, shaped [B] (nats). E21 turns such a sum into bits per dimension.
// Samples are [B, ...] and t is int64 [B] (Note [Schedule tables are float64, ...]).
#include <functional>

#include "diffusion/forward.h"
#include "diffusion/posterior.h"
#include "diffusion/schedule.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace kiln::diffusion {

// A network that predicts the noise: ε_θ(x_t, t), x_t [B, ...], t int64 [B]. The bound and
// the losses hand it s.base_timesteps(t): for a respaced schedule the base schedule's
// timesteps (E38's timestep_map), as the samplers do. (diffusion/oracle.h declares the
// same alias.)
using EpsModel = std::function<Tensor(const Tensor& x_t, const Tensor& t)>;

// Sums x [B, ...] over every dim but the first: [B] (a 1-D x is returned as is).
Tensor sum_non_batch(const Tensor& x);
// Means x [B, ...] over every dim but the first: [B] (Ho et al.'s mean_flat).
Tensor mean_non_batch(const Tensor& x);

// E33  \arg\min_θ \mathrm{KL}(p_{data} \| p_θ) = \arg\max_θ \sum_i \log p_θ(x_i)
//      KL(p_data || p_θ) = E_data[log p_data] - E_data[log p_θ]: the first term does not
//      depend on θ, so minimising the average negative log-likelihood below minimises the
//      KL. Diffusion models cannot evaluate log p_θ(x_0); the ELBO (E14) bounds it, so the
//      NLL is estimated from above by L_VLB (variational_bound below).
Tensor negative_log_likelihood(const Tensor& log_p);

// E16  \mathrm{KL}(N(μ_1, σ_1^2) \| N(μ_2, σ_2^2)) = \log\frac{σ_2}{σ_1} + \frac{σ_1^2 + (μ_1-μ_2)^2}{2σ_2^2} - \frac12
//      element-wise, with log-variances (broadcasting), in nats.
Tensor normal_kl(const Tensor& mean1, const Tensor& log_var1, const Tensor& mean2,
                 const Tensor& log_var2);
// E16 summed over dimensions: [B].
Tensor gaussian_kl(const Tensor& mean1, const Tensor& log_var1, const Tensor& mean2,
                   const Tensor& log_var2);

// E17  L_{t-1} - C = \frac{\|\tilde μ_t - μ_θ\|^2}{2σ_t^2}   per sample [B] (σ_t^2 [B, 1, ...])
Tensor l_mean_form(const Tensor& mean_tilde, const Tensor& mean_theta, const Tensor& sigma2);

// E18  λ_t = \frac{β_t^2}{2σ_t^2 α_t (1-\bar α_t)}   (float64 table, t = 1..T; index 0 holds 0)
std::vector<double> vlb_weight(const Schedule& s, Sigma sigma);
// E18  L_{t-1} - C = λ_t \|ε - ε_θ\|^2   per sample [B]
Tensor l_eps_form(const Schedule& s, const Tensor& eps, const Tensor& eps_pred, const Tensor& t,
                  Sigma sigma);

// E20  The discretized Gaussian decoder for data in [-1, 1] from 8-bit pixels:
//      \log \int_{δ_-(x)}^{δ_+(x)} N(y; μ, σ^2)\,dy,  δ_± = x ± 1/255, δ_- = -∞ at x = -1,
//      δ_+ = +∞ at x = 1, with the exact normal CDF Φ(z) = ½(1 + \mathrm{erf}(z/\sqrt2)).
//      Element-wise log-probabilities, shaped like x; log_scale = log σ. Each log is floored
//      at log(1e-12) as Ho et al. (the gradient is zero where the floor holds).
Tensor discretized_gaussian_log_likelihood(const Tensor& x, const Tensor& mean,
                                           const Tensor& log_scale);
// The continuous Gaussian log-density \log N(x; μ, σ^2), element-wise (log_scale = log σ).
Tensor gaussian_log_likelihood(const Tensor& x, const Tensor& mean, const Tensor& log_scale);
// The standard normal CDF Φ(z) = ½(1 + erf(z/√2)), differentiable.
Tensor normal_cdf(const Tensor& z);

// E21  \mathrm{bpd} = \frac{L}{D \ln 2}   (nats summed over D dimensions to bits per dimension)
Tensor bits_per_dim(const Tensor& nats, std::int64_t D);
double bits_per_dim(double nats, std::int64_t D);

// E22  L_T = \mathrm{KL}(q(x_T | x_0) \| N(0, I)),  per sample [B] (nats, summed over dims);
//      for the linear schedule with T = 1000, ᾱ_T ≈ 4.0e-5 and L_T is ~1e-5 nats per dim.
Tensor prior_kl(const Schedule& s, const Tensor& x0);

// ---- the whole bound (E14, E15) ------------------------------------------------------
enum class Decoder { Gaussian, Discretized };
struct BoundOptions {
  Sigma sigma = Sigma::Large;              // E13's σ_t² of p_θ
  Decoder decoder = Decoder::Discretized;  // L_0: E20, or a continuous Gaussian density
};

// E15  one term for a given x_t, per sample [B]:
//      t ≥ 2:  L_{t-1} = \mathrm{KL}(q(x_{t-1} | x_t, x_0) \| p_θ(x_{t-1} | x_t))
//      t = 1:  L_0 = -\log p_θ(x_0 | x_1)
Tensor vlb_term(const Schedule& s, const EpsModel& model, const Tensor& x0, const Tensor& x_t,
                const Tensor& t, const BoundOptions& options = {});

// E14  \log p_θ(x_0) \ge E_q\left[\log \frac{p_θ(x_{0:T})}{q(x_{1:T} | x_0)}\right] = -L_{VLB}
// E15  L_{VLB} = L_T + \sum_{t=2}^{T} L_{t-1} + L_0
// Every term for every t = 1..T, each with its own x_t ~ q(x_t | x_0) (one draw per t and
// sample, as Ho et al.'s calc_bpd_loop): an unbiased estimate of L_VLB for each x_0.
struct Bound {
  Tensor prior;  // L_T, [B]
  Tensor terms;  // [B, T]: column t-1 holds L_{t-1} (column 0 is L_0)
  Tensor total;  // L_T + Σ L_{t-1} + L_0, [B] (nats)
  Tensor bpd;    // total in bits per dimension (E21), [B]
};
Bound variational_bound(const Schedule& s, const EpsModel& model, const Tensor& x0,
                        Generator* gen = nullptr, const BoundOptions& options = {});

}  // namespace kiln::diffusion
