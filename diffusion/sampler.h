#pragma once
// Sampling (EQUATIONS.md §5): DDPM ancestral sampling (E24), the DDIM step (E25),
// strided and continuous-time sampling (E26), and DDIM inversion (E39).
//
//   Schedule s = Schedule::linear();                        // T = 1000
//   EpsModel model = [&](const Tensor& x, const Tensor& t) { return net->forward(x, t); };
//   Generator gen(42);
//   Tensor x_T = Tensor::randn({16, 3, 32, 32}, {}, &gen);
//   Tensor x0 = sample_ddpm(s, model, x_T, {.gen = &gen}).x;            // 1000 steps
//   Tensor y0 = sample_ddim(respace(s, space_timesteps(1000, "ddim50")), model, x_T).x;
//
// Shapes: samples are batches [B, ...]; the model gets x_t [B, ...] and a time [B]:
//   discrete samplers   int64 timesteps t of the *base* schedule (a respaced schedule
//                       hands over its timestep_map[i], so one network serves every
//                       step count),
//   continuous sampler  float τ ∈ (0, 1] in x's dtype (Keras chapter; wrap a network
//                       that wants the noise variance with time_as_noise_variance).
// The samplers run in the dtype and on the device of x_T, without recording a graph
// (NoGradGuard); the one-step functions are plain kiln ops, differentiable in x_t and ε.
//
// Note [Clipping x̂_0]
// Ho et al. clip the predicted x̂_0 to the data range [-1, 1] before forming the mean,
// which removes the rare wild prediction of an undertrained network at large t. It is
// OFF by default here (SampleOptions::clip_x0 = false), because it is a heuristic that
// changes the sampler: the analytic checks V11, V17, V18 sample unbounded Gaussian-mixture
// data and must see the exact E24/E25 updates; nothing in diffusion/ turns it on. Where
// it is ON: image sampling in the kiln program, for images normalised to [-1, 1] by E31
// (pixels_to_signed), sets clip_x0 = true as Ho et al. do; not for the Keras chapter's
// per-channel normalisation, whose data range is not [-1, 1].
// Clipped, DDPM's mean is E9's μ̃(clip(x̂_0), x_t) (equal to E24's mean when nothing is
// clipped), and DDIM re-derives its direction term from the clipped x̂_0:
// ε ← (x_t - √ᾱ_t x̂_0)/√(1-ᾱ_t).
//
// Note [Randomness]
// All noise (z of E24, ε_t of E25) is drawn from SampleOptions::gen (the global generator
// when null) with Tensor::randn_like, one draw of the batch's shape per stochastic step,
// so a seed reproduces the samples on the CPU and on a GPU (Philox, tensor/random.h).
// Deterministic updates draw nothing: DDIM with η = 0 leaves the generator untouched,
// and DDPM draws no z at t = 1.
#include <cstdint>
#include <functional>
#include <vector>

#include "diffusion/posterior.h"  // Sigma (E13)
#include "diffusion/schedule.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace kiln::diffusion {

// An ε-prediction model as the samplers see it: x_t [B, ...] and a time [B] (int64
// timesteps t of the base schedule, or float τ in continuous time) -> ε̂ shaped like x_t.
// A DiffusionModel (diffusion/models.h) or the analytic oracle (GaussianMixture::as_model,
// diffusion/oracle.h).
using EpsModel = std::function<Tensor(const Tensor& x_t, const Tensor& t)>;
// Continuous-time rates of τ ∈ [0, 1]: cosine_rates (E3a) or offset_cosine_rates (E3b).
using RatesFn = std::function<Rates(const Tensor& tau)>;

// ---- the one-step updates --------------------------------------------------------------

// E24  x_{t-1} = \frac{1}{\sqrt{α_t}}\left(x_t - \frac{1-α_t}{\sqrt{1-\bar α_t}}\,ε_θ(x_t, t)\right) + σ_t z,
//      σ_t^2 = β_t or \tilde β_t (E13),  z = 0 at t = 1
// x_t [B, ...], t int64 [B] (indices of s, 1..T), eps and z like x_t (z undefined: no
// noise, the step's mean).
Tensor ddpm_step(const Schedule& s, const Tensor& x_t, const Tensor& t, const Tensor& eps,
                 const Tensor& z, Sigma sigma, bool clip_x0 = false);
// The σ_t that E24 multiplies z by: \sqrt{σ_t^2} of E13 for t ≥ 2, and 0 at t = 1.
std::vector<double> ddpm_sigma(const Schedule& s, Sigma sigma);

// E25  σ_t(η) = η \sqrt{\frac{1-\bar α_{t-1}}{1-\bar α_t}} \sqrt{1 - \frac{\bar α_t}{\bar α_{t-1}}}
double ddim_sigma(double alpha_bar_t, double alpha_bar_prev, double eta);

// E25  x_{t-1} = \sqrt{\bar α_{t-1}}\,\hat x_0 + \sqrt{1-\bar α_{t-1} - σ_t^2}\,ε_θ(x_t, t) + σ_t ε_t,
//      \hat x_0 = \frac{x_t - \sqrt{1-\bar α_t}\,ε_θ(x_t, t)}{\sqrt{\bar α_t}}  (E10)
// Between any two noise levels ᾱ_t < ᾱ_prev (strided steps, E26, and continuous time
// alike). `noise` (ε_t, like x_t) undefined gives the step's mean; with η = 0 the noise
// is ignored (the deterministic DDIM).
Tensor ddim_step(const Tensor& x_t, const Tensor& eps, double alpha_bar_t,
                 double alpha_bar_prev, double eta, const Tensor& noise, bool clip_x0 = false);

// Note [DDIM's discretisation bias]
// DDIM (η = 0) is a first-order integrator of the probability-flow ODE: with S steps its
// samples are off by O(1/S), however exact ε_θ is. Unit-variance Gaussian data shows the
// whole story: there ε* = √(1-ᾱ_t) x_t and x̂_0 = √ᾱ_t x_t, so one step multiplies x by
//     √ᾱ_{t-1}√ᾱ_t + √(1-ᾱ_{t-1})√(1-ᾱ_t) = cos(θ_{t-1} - θ_t),   θ = arccos √ᾱ,
// while the exact flow keeps the variance at 1: S steps even in θ shrink it by
// Π cos²(Δθ) ≈ 1 - (π/2)²/S, 2.5% at S = 100. The check V11 measures this bias on a
// mixture and cancels it by combining two step counts (Richardson); DDPM over all T steps
// and DDIM with S = T have no such visible bias.

// E39  DDIM inversion, one step up from level ᾱ_{prev} to the noisier ᾱ_next (< ᾱ_prev):
//      x_{next} = \sqrt{\bar α_{next}}\,\hat x_0 + \sqrt{1-\bar α_{next}}\,ε,
//      \hat x_0 = \frac{x_{prev} - \sqrt{1-\bar α_{prev}}\,ε}{\sqrt{\bar α_{prev}}}
// the η = 0 update of E25 run the other way (ddim_step with the two levels swapped).
Tensor ddim_invert_step(const Tensor& x_prev, const Tensor& eps, double alpha_bar_prev,
                        double alpha_bar_next);

// ---- the loops -------------------------------------------------------------------------

// The step functions the loops call. Left empty they are ddpm_step and ddim_step; a test
// swaps in a deliberately wrong one (tests/diffusion/sampler_errata_test.cpp) to prove
// that the checks V11, V12, V17 catch it.
using DdpmStepFn = std::function<Tensor(const Schedule&, const Tensor& x_t, const Tensor& t,
                                        const Tensor& eps, const Tensor& z, Sigma, bool clip_x0)>;
using DdimStepFn = std::function<Tensor(const Tensor& x_t, const Tensor& eps, double alpha_bar_t,
                                        double alpha_bar_prev, double eta, const Tensor& noise,
                                        bool clip_x0)>;

struct SampleOptions {
  Sigma sigma = Sigma::Large;  // DDPM: σ_t² = β_t ("large") or β̃_t ("small"), E13
  double eta = 0;              // DDIM: 0 deterministic, 1 the DDPM posterior variance, E25
  bool clip_x0 = false;        // clip x̂_0 to [-1, 1]: Note [Clipping x̂_0]
  Generator* gen = nullptr;    // Note [Randomness]
  // Keep the path of the first `trajectory` samples: x at the start, after every
  // `trajectory_every`-th step and at the end (see SampleResult).
  std::int64_t trajectory = 0;
  std::int64_t trajectory_every = 1;
  DdpmStepFn ddpm_step = {};  // empty: ddpm_step (tests only)
  DdimStepFn ddim_step = {};  // empty: ddim_step (tests only)
};

struct SampleResult {
  Tensor x;       // [B, ...]: where the chain ends: the samples x_0 (x_T for ddim_invert;
                  // x at τ = 0 for sample_continuous)
  Tensor x0_hat;  // [B, ...]: the model's last prediction of x_0 (E10 at the last step;
                  // the Keras chapter's pred_images); undefined for ddim_invert
  // With SampleOptions::trajectory = n > 0, for each kept moment from the first to the
  // last: x [n, ...]; the x̂_0 (E10) the model predicts from it [n, ...] (at the end,
  // where the model is not called, the last prediction x0_hat; ddim_invert keeps none);
  // and its time (the timestep t of the base schedule, or τ; 0 at the end).
  std::vector<Tensor> path;
  std::vector<Tensor> path_x0;
  std::vector<double> path_time;
};

// E24  DDPM ancestral sampling (Ho et al., Alg. 2): t = T, ..., 1 over every step of s
// (a respaced s samples with fewer steps, Improved DDPM; its β' are E38's).
SampleResult sample_ddpm(const Schedule& s, const EpsModel& model, const Tensor& x_T,
                         const SampleOptions& options = {});

// E25  DDIM over every step of s, with options.eta.
SampleResult sample_ddim(const Schedule& s, const EpsModel& model, const Tensor& x_T,
                         const SampleOptions& options = {});

// E26  strided sampling: DDIM over a subsequence τ_1 < ... < τ_S of 1..T, which is DDIM
// on the respaced schedule of E38: sample_ddim(respace(base, steps), ...). Let τ_S = T
// (space_timesteps always does), so that x_T ~ N(0, I) is where the chain starts.
SampleResult sample_strided(const Schedule& base, const std::vector<std::int64_t>& steps,
                            const EpsModel& model, const Tensor& x_T,
                            const SampleOptions& options = {});

// E26  continuous time (Keras chapter): τ from 1 to 0 by 1/S. At τ_k = k/S the model
// predicts ε̂ from x at signal² = ᾱ(τ_k), and the E25 step (options.eta, 0 as in the
// book) moves to ᾱ(τ_{k-1}). The chain ends at τ = 0: `x` is a sample of q at ᾱ(0),
// which is the data for E3a (ᾱ(0) = 1) but the data at noise rate 0.31 for E3b (signal
// 0.95); the chapter returns the last prediction instead, our `x0_hat` (pred_images).
// Use E3b (the chapter's choice): E3a's signal at τ = 1 is cos(π/2) ≈ 6e-17, where the
// ε-parameterised x̂_0 of E10 is 0/0 and the first step would be rounding noise, so a
// signal rate below 1e-8 anywhere throws.
SampleResult sample_continuous(const RatesFn& rates, std::int64_t steps, const EpsModel& model,
                               const Tensor& x_T, const SampleOptions& options = {});

// E39  DDIM inversion: x_0 -> x_T by ddim_invert_step over every step of s, upwards
// (respace s for fewer steps). The step from ᾱ_{i-1} to ᾱ_i evaluates ε_θ(x_{i-1}, t_i):
// the target time stands in for the unknown ε_θ(x_i, t_i), which also keeps the network
// away from t = 0, where it was never trained. Generation with sample_ddim (η = 0) on the
// same s maps the result back to x_0, up to an error that falls as the steps grow (V18).
SampleResult ddim_invert(const Schedule& s, const EpsModel& model, const Tensor& x_0,
                         const SampleOptions& options = {});

// A network that takes the noise variance 1 - ᾱ(τ) = noise(τ)² (keras-unet64, E29) as
// its time input, seen as a model of τ for sample_continuous.
EpsModel time_as_noise_variance(EpsModel network, RatesFn rates);

}  // namespace kiln::diffusion
