#include "diffusion/loss.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "diffusion/forward.h"

namespace kiln::diffusion {

// E19  mean of (ε - ε_θ)²
Tensor l_simple(const Tensor& eps, const Tensor& eps_pred) { return mean(square(eps - eps_pred)); }

Tensor l1_simple(const Tensor& eps, const Tensor& eps_pred) { return mean(abs(eps - eps_pred)); }

Tensor squared_error_per_sample(const Tensor& eps, const Tensor& eps_pred) {
  return mean_non_batch(square(eps - eps_pred));
}

Tensor absolute_error_per_sample(const Tensor& eps, const Tensor& eps_pred) {
  return mean_non_batch(abs(eps - eps_pred));
}

// E18  (1/B) Σ_b λ_{t_b} (1/D) ||ε_b - ε_θ||²
Tensor weighted_loss(const Schedule& s, const Tensor& eps, const Tensor& eps_pred, const Tensor& t,
                     Sigma sigma) {
  const Tensor lambda = s.at(vlb_weight(s, sigma), t, 1, eps.dtype());
  return mean(lambda * squared_error_per_sample(eps, eps_pred));
}

// [region sample_timesteps]
// E23  t ~ U{1..T}: randint's upper end is exclusive, so T + 1
Tensor sample_timesteps(std::int64_t B, std::int64_t T, Generator* gen, Device device) {
  KILN_CHECK(T >= 1 && B >= 0, "sample_timesteps: need T >= 1 and B >= 0, got T = {}, B = {}", T, B);
  return Tensor::randint(1, T + 1, {B}, {.dtype = DType::Int64, .device = device}, gen);
}
// [endregion]

// E40  t ~ p_t, weight 1/(T p_t)
TimestepDraw sample_timesteps(const std::vector<double>& p, std::int64_t B, Generator* gen,
                              Device device) {
  KILN_CHECK(p.size() >= 2, "sample_timesteps: p must hold p_1..p_T at indices 1..T");
  const auto T = static_cast<std::int64_t>(p.size()) - 1;
  double total = 0;
  for (std::int64_t t = 1; t <= T; ++t) {
    KILN_CHECK(std::isfinite(p[t]) && p[t] >= 0, "sample_timesteps: p_{} = {} is not a probability",
               t, p[t]);
    total += p[t];
  }
  KILN_CHECK(total > 0, "sample_timesteps: the probabilities sum to 0");
  // Inverse CDF of uniform draws (float64 on the CPU; B values only).
  std::vector<double> cdf(static_cast<size_t>(T) + 1, 0.0);
  for (std::int64_t t = 1; t <= T; ++t) cdf[t] = cdf[t - 1] + p[t] / total;
  const std::vector<double> u = Tensor::rand({B}, {.dtype = DType::Float64}, gen).to_vector<double>();
  std::vector<std::int64_t> ts(static_cast<size_t>(B));
  std::vector<double> weights(static_cast<size_t>(B));
  for (std::int64_t b = 0; b < B; ++b) {
    auto it = std::upper_bound(cdf.begin() + 1, cdf.end(), u[b] * cdf[T]);
    std::int64_t t = std::min<std::int64_t>(it - cdf.begin(), T);
    while (p[t] <= 0 && t > 1) --t;  // never land on a zero-probability step through rounding
    ts[b] = t;
    weights[b] = 1.0 / (static_cast<double>(T) * (p[t] / total));
  }
  return {Tensor::from_vector(ts, {B}, {.dtype = DType::Int64, .device = device}),
          Tensor::from_vector(weights, {B}, {.dtype = DType::Float64, .device = device})};
}

ImportanceSampler::ImportanceSampler(std::int64_t T, std::int64_t history, double uniform_prob)
    : T_(T), history_(history), uniform_prob_(uniform_prob),
      losses_(static_cast<size_t>(T) + 1) {
  KILN_CHECK(T >= 1 && history >= 1 && uniform_prob >= 0 && uniform_prob <= 1,
             "ImportanceSampler: need T >= 1, history >= 1, uniform_prob in [0, 1]; got {}, {}, {}",
             T, history, uniform_prob);
}

bool ImportanceSampler::warmed_up() const {
  for (std::int64_t t = 1; t <= T_; ++t) {
    if (static_cast<std::int64_t>(losses_[t].size()) < history_) return false;
  }
  return true;
}

// E40  p_t ∝ √E[L_t²], mixed with the uniform distribution
std::vector<double> ImportanceSampler::probabilities() const {
  std::vector<double> p(static_cast<size_t>(T_) + 1, 0.0);
  const double uniform = 1.0 / static_cast<double>(T_);
  if (!warmed_up()) {
    for (std::int64_t t = 1; t <= T_; ++t) p[t] = uniform;
    return p;
  }
  double total = 0;
  for (std::int64_t t = 1; t <= T_; ++t) {
    double second_moment = 0;
    for (double l : losses_[t]) second_moment += l * l;
    p[t] = std::sqrt(second_moment / static_cast<double>(losses_[t].size()));
    total += p[t];
  }
  for (std::int64_t t = 1; t <= T_; ++t) {
    const double importance = total > 0 ? p[t] / total : uniform;
    p[t] = (1 - uniform_prob_) * importance + uniform_prob_ * uniform;
  }
  return p;
}

TimestepDraw ImportanceSampler::sample(std::int64_t B, Generator* gen, Device device) const {
  return sample_timesteps(probabilities(), B, gen, device);
}

void ImportanceSampler::update(const Tensor& t, const Tensor& losses) {
  const auto ts = t.to_vector<std::int64_t>();
  const auto ls = losses.to_vector<double>();
  KILN_CHECK(ts.size() == ls.size(), "ImportanceSampler::update: {} timesteps but {} losses",
             ts.size(), ls.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    KILN_CHECK(ts[i] >= 1 && ts[i] <= T_, "ImportanceSampler::update: t = {} outside 1..{}", ts[i], T_);
    auto& h = losses_[static_cast<size_t>(ts[i])];
    h.push_back(ls[i]);
    if (static_cast<std::int64_t>(h.size()) > history_) h.pop_front();
  }
}

// [region training_loss]
// E23  one training step's loss
TrainingLoss training_loss(const Schedule& s, const EpsModel& model, const Tensor& x0,
                           Generator* gen, const TrainingOptions& options) {
  const std::int64_t B = x0.size(0);
  TrainingLoss out;
  Tensor weights;
  if (options.sampler) {
    KILN_CHECK(options.sampler->T() == s.T, "training_loss: the importance sampler has T = {}, the schedule {}",
               options.sampler->T(), s.T);
    TimestepDraw draw = options.sampler->sample(B, gen, x0.device());
    out.t = draw.t;
    weights = draw.weights.to(x0.dtype());
  } else {
    out.t = sample_timesteps(B, s.T, gen, x0.device());
  }
  out.eps = Tensor::randn(x0.shape(), {.dtype = x0.dtype(), .device = x0.device()}, gen);
  out.x_t = q_sample(s, x0, out.t, out.eps);
  const Tensor eps_pred = model(out.x_t, s.base_timesteps(out.t));
  switch (options.loss) {
    case LossType::Simple: out.per_sample = squared_error_per_sample(out.eps, eps_pred); break;
    case LossType::L1: out.per_sample = absolute_error_per_sample(out.eps, eps_pred); break;
    case LossType::Weighted:
      out.per_sample = s.at(vlb_weight(s, options.sigma), out.t, 1, x0.dtype()) *
                       squared_error_per_sample(out.eps, eps_pred);
      break;
  }
  out.loss = weights.defined() ? mean(weights * out.per_sample) : mean(out.per_sample);
  if (options.sampler) options.sampler->update(out.t, out.per_sample.detach());
  return out;
}
// [endregion]

// E23 (continuous)  τ ~ U[0,1], x_τ = signal x_0 + noise ε, loss on ε
ContinuousTrainingLoss training_loss_continuous(const RateModel& model, const Tensor& x0,
                                                Generator* gen, LossType loss,
                                                ContinuousSchedule schedule) {
  KILN_CHECK(loss != LossType::Weighted,
             "training_loss_continuous: the λ_t weighting needs a discrete schedule");
  const std::int64_t B = x0.size(0);
  ContinuousTrainingLoss out;
  out.tau = Tensor::rand({B}, {.dtype = x0.dtype(), .device = x0.device()}, gen);
  const Rates r = schedule == ContinuousSchedule::OffsetCosine ? offset_cosine_rates(out.tau)
                                                               : cosine_rates(out.tau);
  out.eps = Tensor::randn(x0.shape(), {.dtype = x0.dtype(), .device = x0.device()}, gen);
  out.x_t = q_sample(r, x0, out.eps);
  const Tensor noise_variance = square(per_sample(r.noise, x0.dim()));
  const Tensor eps_pred = model(out.x_t, noise_variance);
  out.per_sample = loss == LossType::L1 ? absolute_error_per_sample(out.eps, eps_pred)
                                        : squared_error_per_sample(out.eps, eps_pred);
  out.loss = mean(out.per_sample);
  return out;
}

// E41  log σ² = f log β + (1-f) log β̃,  f = (v+1)/2
Tensor learned_log_variance(const Schedule& s, const Tensor& v, const Tensor& t) {
  const Tensor max_log = s.at(reverse_log_variance(s, Sigma::Large), t, v);
  const Tensor min_log = s.at(reverse_log_variance(s, Sigma::Small), t, v);
  const Tensor frac = (v + 1.0) / 2.0;
  return frac * max_log + (1.0 - frac) * min_log;
}

// E41  L_hybrid = L_simple + λ L_vlb, sg[μ_θ] in L_vlb
HybridLoss hybrid_loss(const Schedule& s, const Tensor& x0, const Tensor& x_t, const Tensor& t,
                       const Tensor& eps, const Tensor& eps_pred, const Tensor& v_pred,
                       double lambda, Decoder decoder) {
  HybridLoss out;
  out.simple = squared_error_per_sample(eps, eps_pred);
  // The stop-gradient: L_vlb sees the mean through a detached ε_θ, so it trains only σ_θ.
  const Tensor mean_theta = model_mean(s, x_t, t, eps_pred.detach());
  const Tensor log_var = learned_log_variance(s, v_pred, t);
  const Gaussian q = q_posterior(s, x0, x_t, t);
  const Tensor kl = gaussian_kl(q.mean, q.log_variance, mean_theta, log_var);
  const Tensor log_scale = 0.5 * log_var;
  const Tensor decoder_nll =
      -sum_non_batch(decoder == Decoder::Discretized
                         ? discretized_gaussian_log_likelihood(x0, mean_theta, log_scale)
                         : gaussian_log_likelihood(x0, mean_theta, log_scale));
  const std::int64_t D = x0.numel() / x0.size(0);
  const Tensor term_bpd = bits_per_dim(where(t == 1.0, decoder_nll, kl), D);
  out.vlb = static_cast<double>(s.T) * term_bpd;
  out.loss = mean(out.simple + lambda * out.vlb);
  return out;
}

}  // namespace kiln::diffusion
