#pragma once
// Training losses, EQUATIONS.md §4-§6b: L_simple (E19), the λ_t-weighted loss of E18, the
// Keras chapter's mean absolute error, one training step's loss (E23, discrete t and
// continuous τ), importance sampling of t (E40) and the hybrid loss (E41).
//
// Note [Losses are per dimension]
// The KL terms of diffusion/bound.h are sums over a sample's D dimensions (nats). The
// training losses here average over dimensions instead, as Ho et al.'s mean_flat and
// torch's mse_loss do, so that L_simple of an untrained network (ε̂ = 0) starts at ≈ 1
// whatever the image size. The two differ by the constant factor D.
#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "diffusion/bound.h"
#include "diffusion/posterior.h"
#include "diffusion/schedule.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace kiln::diffusion {

// E19  L_{simple} = E_{t, x_0, ε}\left[\|ε - ε_θ(x_t, t)\|^2\right]  (per dimension: the mean
//      of (ε - ε_θ)² over every element of the batch), a scalar.
Tensor l_simple(const Tensor& eps, const Tensor& eps_pred);
// The Keras chapter's loss: mean absolute error E|ε - ε_θ|, a scalar.
Tensor l1_simple(const Tensor& eps, const Tensor& eps_pred);
// E18 as a training loss: \frac1B\sum_b λ_{t_b} \cdot \frac1D\|ε_b - ε_θ\|^2 (per dimension, so
// that λ_t ≡ 1 gives l_simple exactly).
Tensor weighted_loss(const Schedule& s, const Tensor& eps, const Tensor& eps_pred, const Tensor& t,
                     Sigma sigma);
// The same three per sample, [B] (mean over each sample's dims).
Tensor squared_error_per_sample(const Tensor& eps, const Tensor& eps_pred);
Tensor absolute_error_per_sample(const Tensor& eps, const Tensor& eps_pred);

// ---- which t to train on --------------------------------------------------------------
// A batch of timesteps and the weight each sample's loss gets.
struct TimestepDraw {
  Tensor t;        // int64 [B], values in 1..T
  Tensor weights;  // [B] float64: 1 for uniform draws, 1/(T p_t) for importance draws (E40)
};

// E23  t \sim U\{1, \dots, T\}  (inclusive of T; randint(1, T) would exclude it)
Tensor sample_timesteps(std::int64_t B, std::int64_t T, Generator* gen = nullptr,
                        Device device = Device::cpu());
// E40  t \sim p_t  with weights \frac{1}{T p_t}, so that E_{t\sim p}\left[\frac{L_t}{T p_t}\right] = \frac1T\sum_t L_t
//      p holds p_1..p_T at indices 1..T (index 0 is ignored); it need not be normalised.
TimestepDraw sample_timesteps(const std::vector<double>& p, std::int64_t B,
                              Generator* gen = nullptr, Device device = Device::cpu());

// E40  Improved DDPM's importance sampler: p_t ∝ \sqrt{E[L_t^2]} over the last `history`
//      losses recorded for each t, mixed with `uniform_prob` of the uniform distribution; uniform
//      until every t has `history` losses.
class ImportanceSampler {
 public:
  explicit ImportanceSampler(std::int64_t T, std::int64_t history = 10,
                             double uniform_prob = 0.001);
  std::int64_t T() const { return T_; }
  bool warmed_up() const;
  // p_t, t = 1..T, at indices 1..T (index 0 holds 0); sums to 1.
  std::vector<double> probabilities() const;
  TimestepDraw sample(std::int64_t B, Generator* gen = nullptr,
                      Device device = Device::cpu()) const;
  // Records each sample's loss L_t (before weighting) under its t.
  void update(const Tensor& t, const Tensor& losses);

 private:
  std::int64_t T_, history_;
  double uniform_prob_;
  std::vector<std::deque<double>> losses_;  // index t = 1..T
};

// ---- E23: the loss of one training step ----------------------------------------------
enum class LossType {
  Simple,    // E19: mean squared error of ε
  L1,        // the Keras chapter: mean absolute error of ε
  Weighted,  // E18: λ_t-weighted squared error (the true L_{t-1} up to its constant)
};
struct TrainingOptions {
  LossType loss = LossType::Simple;
  Sigma sigma = Sigma::Large;             // for LossType::Weighted
  ImportanceSampler* sampler = nullptr;  // E40 (updated with the batch's losses); null: uniform
};
struct TrainingLoss {
  Tensor loss;        // scalar to descend: mean over the batch of weight · per_sample
  Tensor per_sample;  // [B], before the importance weights
  Tensor t;           // int64 [B]
  Tensor eps, x_t;    // the drawn noise and the noised batch
};
// E23  t \sim U\{1..T\},\ ε \sim N(0, I):  \nabla_θ \|ε - ε_θ(\sqrt{\bar α_t} x_0 + \sqrt{1-\bar α_t} ε, t)\|^2
TrainingLoss training_loss(const Schedule& s, const EpsModel& model, const Tensor& x0,
                           Generator* gen = nullptr, const TrainingOptions& options = {});

// E23, continuous time (the Keras chapter): τ \sim U[0, 1], rates from E3b (or E3a),
// x_τ = signal·x_0 + noise·ε, and the network sees the noise variance noise² [B, 1, ..., 1].
using RateModel = std::function<Tensor(const Tensor& x_t, const Tensor& noise_variance)>;
enum class ContinuousSchedule { Cosine, OffsetCosine };
struct ContinuousTrainingLoss {
  Tensor loss, per_sample, tau, eps, x_t;
};
ContinuousTrainingLoss training_loss_continuous(
    const RateModel& model, const Tensor& x0, Generator* gen = nullptr,
    LossType loss = LossType::L1, ContinuousSchedule schedule = ContinuousSchedule::OffsetCosine);

// ---- E41: the hybrid loss of learned-variance models ---------------------------------
// Improved DDPM's learned variance: the network's extra output v ∈ [-1, 1] interpolates
//   \log σ_t^2 = f \log β_t + (1 - f) \log \tilde β_t,   f = (v + 1)/2   (\tilde β clipped, E9).
Tensor learned_log_variance(const Schedule& s, const Tensor& v, const Tensor& t);
// E41  L_{hybrid} = L_{simple} + λ L_{vlb},  λ = 0.001,  with \mathrm{sg}[μ_θ] inside L_{vlb}:
//      L_vlb's gradient reaches only the variance output v, L_simple's only ε_θ. Per sample,
//      L_vlb = T · L_{t-1} in bits per dimension (an unbiased estimate of Σ_t L_{t-1} when t is
//      uniform), as Improved DDPM.
struct HybridLoss {
  Tensor loss;        // scalar: mean over the batch of simple + λ·vlb
  Tensor simple, vlb;  // [B] each
};
HybridLoss hybrid_loss(const Schedule& s, const Tensor& x0, const Tensor& x_t, const Tensor& t,
                       const Tensor& eps, const Tensor& eps_pred, const Tensor& v_pred,
                       double lambda = 0.001, Decoder decoder = Decoder::Discretized);

}  // namespace kiln::diffusion
