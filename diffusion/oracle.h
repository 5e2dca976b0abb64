#pragma once
// The analytic oracle (EQUATIONS.md E27): data drawn from a Gaussian mixture, for which
// everything a diffusion model tries to learn is known in closed form.
//
// Note [Why a Gaussian mixture is the oracle]
// If x_0 ~ Σ_k w_k N(μ_k, diag σ_k²), then x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε is, component by
// component, a sum of independent Gaussians, so q_t is again a mixture with the same
// weights:
//     q_t(x_t) = Σ_k w_k N(x_t; √ᾱ_t μ_k, diag(ᾱ_t σ_k² + 1 - ᾱ_t)).
// Its log-density, its score ∇ log q_t and therefore the optimal noise prediction
//     ε*(x_t, t) = -√(1-ᾱ_t) ∇ log q_t(x_t)  = E[ε | x_t]
// are closed forms. Plugging ε* into a sampler tests the sampler alone: any difference
// between the samples and the mixture is the sampler's (discretisation, or a bug), never
// a network's. The checks V10, V11, V17 and V18 are built on this.
//
// Shapes: a sample is a vector of D numbers; a batch is [B, D] (or [B, ...] with D
// elements per sample, flattened inside and shaped back). The noise level ᾱ is given
// per sample, as a tensor [B] (or [B, 1, ...], or 0-d for one level for all), or as a
// double. Everything is built from kiln ops in the dtype and on the device of x_t, so it
// is differentiable in x_t (and in ᾱ).
#include <cstdint>
#include <functional>
#include <vector>

#include "diffusion/sampler.h"  // EpsModel, RatesFn
#include "diffusion/schedule.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace kiln::diffusion {

// A mixture of K diagonal Gaussians in D dimensions. The parameters are plain float64
// numbers (the oracle is a fixed distribution, not something to train); they are cast
// once to the dtype and device of the tensors they meet.
struct GaussianMixture {
  std::vector<double> weights;                 // w_k, K of them, positive, sum 1
  std::vector<std::vector<double>> means;      // μ_k, K × D
  std::vector<std::vector<double>> variances;  // σ_k², K × D (diagonal covariances)

  // Checks the shapes, w_k > 0, Σ w_k = 1 (to 1e-12) and σ² > 0; throws kiln::Error.
  GaussianMixture(std::vector<double> weights, std::vector<std::vector<double>> means,
                  std::vector<std::vector<double>> variances);
  // Isotropic components: σ_k² I with σ_k = stds[k].
  static GaussianMixture isotropic(std::vector<double> weights,
                                   std::vector<std::vector<double>> means,
                                   const std::vector<double>& stds);

  std::int64_t K() const { return static_cast<std::int64_t>(weights.size()); }
  std::int64_t D() const { return static_cast<std::int64_t>(means.front().size()); }

  // ---- the data distribution q_0 ----------------------------------------------------
  // n draws [n, D]: a component k ~ w (one uniform each), then μ_k + σ_k ⊙ z.
  Tensor sample(std::int64_t n, Generator* gen = nullptr, DType dtype = DType::Float64,
                Device device = Device::cpu()) const;
  // Exact moments, per dimension: E[x_d], Var[x_d], and P(x_d < c).
  std::vector<double> mean() const;
  std::vector<double> variance() const;
  double cdf(std::int64_t d, double c) const;

  // ---- the noised marginal q_t (E27 and Note [Why a Gaussian mixture is the oracle])
  // The mixture q_t itself at noise level ᾱ: means √ᾱ μ_k, variances ᾱ σ_k² + (1 - ᾱ).
  GaussianMixture noised(double alpha_bar) const;

  // log q_t(x_t) = \log \sum_k w_k\, N(x_t;\ \sqrt{\bar α_t}\,μ_k,\ \bar α_t σ_k^2 + 1 - \bar α_t)
  //   x_t [B, ...]  ->  [B]
  Tensor log_q(const Tensor& x_t, const Tensor& alpha_bar) const;
  Tensor log_q(const Tensor& x_t, double alpha_bar) const;

  // Posterior responsibilities r_k(x_t) = w_k N_k(x_t) / q_t(x_t):  x_t [B, ...] -> [B, K]
  Tensor responsibilities(const Tensor& x_t, const Tensor& alpha_bar) const;

  // E27  ∇_{x_t} \log q_t(x_t) = \sum_k r_k(x_t)\, \frac{\sqrt{\bar α_t} μ_k - x_t}{\bar α_t σ_k^2 + 1 - \bar α_t}
  //   (closed form; V10 checks it against autograd's gradient of log_q)  -> like x_t
  Tensor score(const Tensor& x_t, const Tensor& alpha_bar) const;
  Tensor score(const Tensor& x_t, double alpha_bar) const;

  // E27  ε^*(x_t, t) = -\sqrt{1-\bar α_t}\, ∇_{x_t} \log q_t(x_t)   (= E[ε | x_t])
  Tensor eps_star(const Tensor& x_t, const Tensor& alpha_bar) const;
  Tensor eps_star(const Tensor& x_t, double alpha_bar) const;

  // E[x_0 | x_t] = \sum_k r_k(x_t) \left(μ_k + \frac{\sqrt{\bar α_t}\, σ_k^2}{\bar α_t σ_k^2 + 1 - \bar α_t}(x_t - \sqrt{\bar α_t} μ_k)\right)
  //   the responsibilities times each component's Gaussian posterior mean. Tweedie's
  //   formula says it equals E10's x̂_0 with ε = ε*: (x_t - √(1-ᾱ_t) ε*)/√ᾱ_t (V10).
  Tensor x0_mean(const Tensor& x_t, const Tensor& alpha_bar) const;

  // ---- as a model for the samplers ---------------------------------------------------
  // ε*(x_t, t) for int64 timesteps t [B] of `schedule` (ᾱ_t gathered from its float64
  // table). Pass the schedule whose timesteps the samplers hand to models: the base
  // schedule, also when sampling a respaced one (its timestep_map gives base steps).
  EpsModel as_model(const Schedule& schedule) const;
  // ε*(x_τ, τ) for continuous times τ [B] (float): ᾱ(τ) = signal(τ)².
  EpsModel as_model(const RatesFn& rates) const;
};

}  // namespace kiln::diffusion
