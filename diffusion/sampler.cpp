#include "diffusion/sampler.h"

#include <cmath>
#include <utility>

#include "autograd/grad_mode.h"
#include "autograd/ops/elementwise.h"

namespace kiln::diffusion {

// ---- the one-step updates --------------------------------------------------------------

// The σ_t of E24: √(σ_t²) of E13 for t ≥ 2, and 0 at t = 1 (the last step adds no noise).
std::vector<double> ddpm_sigma(const Schedule& s, Sigma sigma) {
  std::vector<double> sigma_t = reverse_variance(s, sigma);
  for (std::int64_t t = 0; t <= s.T; ++t) sigma_t[t] = t >= 2 ? std::sqrt(sigma_t[t]) : 0.0;
  return sigma_t;
}

// [region ddpm_step]
// E24  x_{t-1} = (1/√α_t)(x_t - ((1-α_t)/√(1-ᾱ_t)) ε_θ(x_t, t)) + σ_t z,  z = 0 at t = 1
Tensor ddpm_step(const Schedule& s, const Tensor& x_t, const Tensor& t, const Tensor& eps,
                 const Tensor& z, Sigma sigma, bool clip_x0) {
  KILN_CHECK(eps.defined() && eps.shape() == x_t.shape(),
             "ddpm_step: eps {} must be shaped like x_t {}",
             eps.defined() ? shape_str(eps.shape()) : "undefined", shape_str(x_t.shape()));
  // BEGIN ASSIGNMENT 11.1
  // The bracket of E24 is E12's model mean μ_θ (β_t = 1 - α_t). Clipped (Note [Clipping
  // x̂_0]) it is E9's posterior mean at the clipped E10 prediction instead.
  const Tensor mean = clip_x0 ? posterior_mean(s, clamp(predict_x0_from_eps(s, x_t, t, eps), -1.0, 1.0),
                                               x_t, t)
                              : model_mean(s, x_t, t, eps);
  if (!z.defined()) return mean;
  KILN_CHECK(z.shape() == x_t.shape(), "ddpm_step: z {} must be shaped like x_t {}",
             shape_str(z.shape()), shape_str(x_t.shape()));
  const Tensor sigma_t = s.at(ddpm_sigma(s, sigma), t, x_t);  // 0 where t = 1
  return mean + sigma_t * z;
  // END ASSIGNMENT
}
// [endregion]

// E25  σ_t(η) = η √((1-ᾱ_{t-1})/(1-ᾱ_t)) √(1 - ᾱ_t/ᾱ_{t-1})
double ddim_sigma(double alpha_bar_t, double alpha_bar_prev, double eta) {
  KILN_CHECK(eta >= 0, "ddim_sigma: eta = {} must be >= 0", eta);
  if (eta == 0) return 0.0;
  KILN_CHECK(alpha_bar_t > 0 && alpha_bar_t < 1 && alpha_bar_t <= alpha_bar_prev &&
                 alpha_bar_prev <= 1,
             "ddim_sigma: needs 0 < alpha_bar_t <= alpha_bar_prev <= 1 and alpha_bar_t < 1, got "
             "alpha_bar_t = {}, alpha_bar_prev = {}",
             alpha_bar_t, alpha_bar_prev);
  return eta * std::sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t)) *
         std::sqrt(1 - alpha_bar_t / alpha_bar_prev);
}

// [region ddim_step]
// E25  x_{t-1} = √ᾱ_{t-1} x̂_0 + √(1-ᾱ_{t-1}-σ_t²) ε_θ(x_t, t) + σ_t ε_t
Tensor ddim_step(const Tensor& x_t, const Tensor& eps, double alpha_bar_t, double alpha_bar_prev,
                 double eta, const Tensor& noise, bool clip_x0) {
  KILN_CHECK(eps.defined() && eps.shape() == x_t.shape(),
             "ddim_step: eps {} must be shaped like x_t {}",
             eps.defined() ? shape_str(eps.shape()) : "undefined", shape_str(x_t.shape()));
  KILN_CHECK(alpha_bar_t > 0 && alpha_bar_t <= 1 && alpha_bar_prev > 0 && alpha_bar_prev <= 1,
             "ddim_step: the levels must be in (0, 1], got alpha_bar_t = {}, alpha_bar_prev = {}",
             alpha_bar_t, alpha_bar_prev);
  // BEGIN ASSIGNMENT 11.2
  const double sigma_t = ddim_sigma(alpha_bar_t, alpha_bar_prev, eta);

  // E10  x̂_0 = (x_t - √(1-ᾱ_t) ε) / √ᾱ_t
  Tensor x0_hat = (x_t - std::sqrt(1 - alpha_bar_t) * eps) / std::sqrt(alpha_bar_t);
  Tensor eps_dir = eps;
  if (clip_x0) {  // Note [Clipping x̂_0]: the direction follows the clipped x̂_0
    x0_hat = clamp(x0_hat, -1.0, 1.0);
    if (alpha_bar_t < 1)
      eps_dir = (x_t - std::sqrt(alpha_bar_t) * x0_hat) / std::sqrt(1 - alpha_bar_t);
  }
  // 1 - ᾱ_{t-1} - σ_t² ≥ 0 for η ≤ 1 (it is (1-ᾱ_{t-1})² ᾱ_t / ((1-ᾱ_t) ᾱ_{t-1}) at η = 1);
  // the max only absorbs rounding, and η > 1 (more noise than the posterior) saturates.
  const double direction = std::sqrt(std::max(0.0, 1 - alpha_bar_prev - sigma_t * sigma_t));
  Tensor x_prev = std::sqrt(alpha_bar_prev) * x0_hat + direction * eps_dir;
  if (sigma_t > 0 && noise.defined()) {
    KILN_CHECK(noise.shape() == x_t.shape(), "ddim_step: noise {} must be shaped like x_t {}",
               shape_str(noise.shape()), shape_str(x_t.shape()));
    x_prev = x_prev + sigma_t * noise;
  }
  return x_prev;
  // END ASSIGNMENT
}
// [endregion]

// E39  x_next = √ᾱ_next x̂_0 + √(1-ᾱ_next) ε,  x̂_0 = (x_prev - √(1-ᾱ_prev) ε)/√ᾱ_prev
Tensor ddim_invert_step(const Tensor& x_prev, const Tensor& eps, double alpha_bar_prev,
                        double alpha_bar_next) {
  return ddim_step(x_prev, eps, /*alpha_bar_t=*/alpha_bar_prev, /*alpha_bar_prev=*/alpha_bar_next,
                   /*eta=*/0.0, Tensor());
}

// ---- the loops -------------------------------------------------------------------------

namespace {

void check_start(const Tensor& x, const char* op) {
  KILN_CHECK(x.defined() && x.dim() >= 1 && is_floating(x.dtype()),
             "{}: the start must be a floating batch [B, ...], got {}", op,
             x.defined() ? shape_str(x.shape()) + " " + std::string(dtype_name(x.dtype()))
                         : std::string("undefined"));
}

// The model's time input for the whole batch: int64 timesteps or float τ.
Tensor time_input(double value, bool integer, const Tensor& like) {
  const std::int64_t B = like.size(0);
  if (integer) return Tensor::full({B}, value, {.dtype = DType::Int64, .device = like.device()});
  return Tensor::full({B}, value, {.dtype = like.dtype(), .device = like.device()});
}

Tensor call_model(const EpsModel& model, const Tensor& x, const Tensor& time, const char* op) {
  Tensor eps = model(x, time);
  KILN_CHECK(eps.defined() && eps.shape() == x.shape(),
             "{}: the model returned {} for x_t {} (ε̂ must be shaped like x_t)", op,
             eps.defined() ? shape_str(eps.shape()) : "undefined", shape_str(x.shape()));
  return eps.dtype() == x.dtype() ? eps : eps.to(x.dtype());
}

// Keeps the path of the first n samples (SampleOptions::trajectory).
class PathRecorder {
 public:
  explicit PathRecorder(const SampleOptions& o) : n_(o.trajectory), every_(o.trajectory_every) {
    KILN_CHECK(o.trajectory >= 0 && o.trajectory_every >= 1,
               "sampler: trajectory = {} must be >= 0 and trajectory_every = {} >= 1",
               o.trajectory, o.trajectory_every);
  }
  bool on() const { return n_ > 0; }
  // Records moment `k` (0 = the start) when it is due; x0_hat may be undefined.
  void moment(std::int64_t k, const Tensor& x, const Tensor& x0_hat, double time, bool last) {
    if (!on() || !(k % every_ == 0 || last)) return;
    const std::int64_t n = std::min(n_, x.size(0));
    path_.push_back(x.narrow(0, 0, n).clone());
    if (x0_hat.defined()) path_x0_.push_back(x0_hat.narrow(0, 0, n).clone());
    time_.push_back(time);
  }
  SampleResult result(Tensor x, Tensor x0_hat) {
    return {std::move(x), std::move(x0_hat), std::move(path_), std::move(path_x0_),
            std::move(time_)};
  }

 private:
  std::int64_t n_, every_;
  std::vector<Tensor> path_, path_x0_;
  std::vector<double> time_;
};

// E25 over the levels ᾱ[S] < ... < ᾱ[0] (ᾱ[0] = 1 for a Schedule), the model seeing
// time[i] at level i. Shared by sample_ddim (a Schedule) and sample_continuous (τ = i/S).
SampleResult ddim_loop(const std::vector<double>& alpha_bar, const std::vector<double>& time,
                       bool integer_time, const EpsModel& model, const Tensor& x_T,
                       const SampleOptions& o, const char* op) {
  check_start(x_T, op);
  NoGradGuard no_grad;
  const DdimStepFn step = o.ddim_step ? o.ddim_step : DdimStepFn(ddim_step);
  const auto S = static_cast<std::int64_t>(alpha_bar.size()) - 1;
  PathRecorder path(o);
  Tensor x = x_T, x0_hat;
  for (std::int64_t i = S; i >= 1; --i) {
    const Tensor eps = call_model(model, x, time_input(time[i], integer_time, x), op);
    if (path.on() || i == 1) {  // E10
      x0_hat = (x - std::sqrt(1 - alpha_bar[i]) * eps) / std::sqrt(alpha_bar[i]);
      path.moment(S - i, x, x0_hat, time[i], false);
    }
    const bool stochastic = ddim_sigma(alpha_bar[i], alpha_bar[i - 1], o.eta) > 0;
    const Tensor noise = stochastic ? Tensor::randn_like(x, o.gen) : Tensor();
    x = step(x, eps, alpha_bar[i], alpha_bar[i - 1], o.eta, noise, o.clip_x0);
  }
  path.moment(S, x, x0_hat, time[0], true);
  return path.result(x, x0_hat);
}

std::vector<double> as_double(const std::vector<std::int64_t>& v) {
  return std::vector<double>(v.begin(), v.end());
}

}  // namespace

// [region sample_ddpm]
// E24  x_T ~ N(0, I);  for t = T, ..., 1:  x_{t-1} = E24's step
SampleResult sample_ddpm(const Schedule& s, const EpsModel& model, const Tensor& x_T,
                         const SampleOptions& o) {
  check_start(x_T, "sample_ddpm");
  NoGradGuard no_grad;
  const DdpmStepFn step = o.ddpm_step ? o.ddpm_step : DdpmStepFn(ddpm_step);
  PathRecorder path(o);
  Tensor x = x_T, x0_hat;
  for (std::int64_t t = s.T; t >= 1; --t) {
    const double model_t = static_cast<double>(s.timestep_map[t]);
    const Tensor eps = call_model(model, x, time_input(model_t, true, x), "sample_ddpm");
    const Tensor t_index = time_input(static_cast<double>(t), true, x);
    if (path.on() || t == 1) {
      x0_hat = predict_x0_from_eps(s, x, t_index, eps);  // E10
      path.moment(s.T - t, x, x0_hat, model_t, false);
    }
    const Tensor z = t > 1 ? Tensor::randn_like(x, o.gen) : Tensor();  // z = 0 at t = 1
    x = step(s, x, t_index, eps, z, o.sigma, o.clip_x0);
  }
  path.moment(s.T, x, x0_hat, 0.0, true);
  return path.result(x, x0_hat);
}
// [endregion]

// E25  for i = S, ..., 1: the DDIM step from ᾱ_i to ᾱ_{i-1}
SampleResult sample_ddim(const Schedule& s, const EpsModel& model, const Tensor& x_T,
                         const SampleOptions& o) {
  return ddim_loop(s.alpha_bar, as_double(s.timestep_map), true, model, x_T, o, "sample_ddim");
}

// E26  DDIM over τ_1 < ... < τ_S  =  DDIM on the schedule respaced to those steps (E38)
SampleResult sample_strided(const Schedule& base, const std::vector<std::int64_t>& steps,
                            const EpsModel& model, const Tensor& x_T, const SampleOptions& o) {
  return sample_ddim(respace(base, steps), model, x_T, o);
}

// E26  τ_k = k/S, k = S, ..., 1:  x ← E25 step from ᾱ(τ_k) = signal(τ_k)² to ᾱ(τ_{k-1})
SampleResult sample_continuous(const RatesFn& rates, std::int64_t steps, const EpsModel& model,
                               const Tensor& x_T, const SampleOptions& o) {
  KILN_CHECK(steps >= 1, "sample_continuous: steps = {} must be >= 1", steps);
  const auto S = static_cast<size_t>(steps);
  // The noise levels of the S + 1 times τ_k = k/S, in float64: ᾱ(τ_k) = signal(τ_k)².
  std::vector<double> tau(S + 1), alpha_bar(S + 1);
  const Tensor taus = Tensor::arange(0, static_cast<double>(S) + 1, 1, {.dtype = DType::Float64}) /
                      static_cast<double>(S);
  const std::vector<double> signal = rates(taus).signal.to(DType::Float64).to_vector<double>();
  for (size_t k = 0; k <= S; ++k) {
    tau[k] = static_cast<double>(k) / static_cast<double>(S);
    alpha_bar[k] = signal[k] * signal[k];
    KILN_CHECK(alpha_bar[k] > 0 && alpha_bar[k] <= 1 && (k == 0 || alpha_bar[k] < alpha_bar[k - 1]),
               "sample_continuous: the signal rate at tau = {} is {}: signal² must fall in (0, 1] "
               "as tau grows",
               tau[k], signal[k]);
    // E10 divides by the signal rate: at ~0 (E3a at τ = 1) x̂_0 would be rounding noise.
    KILN_CHECK(signal[k] > 1e-8,
               "sample_continuous: the signal rate at tau = {} is {}, too close to 0 to recover "
               "x_0 from a predicted noise (E10); use offset_cosine_rates (E3b), as the Keras "
               "chapter does",
               tau[k], signal[k]);
  }
  return ddim_loop(alpha_bar, tau, false, model, x_T, o, "sample_continuous");
}

// E39  for i = 1, ..., S:  x_i = ddim_invert_step(x_{i-1}, ε_θ(x_{i-1}, t_i), ᾱ_{i-1}, ᾱ_i)
SampleResult ddim_invert(const Schedule& s, const EpsModel& model, const Tensor& x_0,
                         const SampleOptions& o) {
  check_start(x_0, "ddim_invert");
  NoGradGuard no_grad;
  PathRecorder path(o);
  Tensor x = x_0;
  path.moment(0, x, Tensor(), 0.0, false);
  for (std::int64_t i = 1; i <= s.T; ++i) {
    const double model_t = static_cast<double>(s.timestep_map[i]);
    const Tensor eps = call_model(model, x, time_input(model_t, true, x), "ddim_invert");
    x = ddim_invert_step(x, eps, s.alpha_bar[i - 1], s.alpha_bar[i]);
    path.moment(i, x, Tensor(), model_t, i == s.T);
  }
  return path.result(x, Tensor());
}

EpsModel time_as_noise_variance(EpsModel network, RatesFn rates) {
  return [network = std::move(network), rates = std::move(rates)](const Tensor& x,
                                                                   const Tensor& tau) {
    return network(x, rates(tau).noise.square());  // 1 - ᾱ(τ) = noise(τ)²
  };
}

}  // namespace kiln::diffusion
