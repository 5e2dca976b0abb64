#pragma once
// Noise schedules (EQUATIONS.md §1) and respacing (E38).
//
// Note [Schedule tables are float64, indexed by t]
// A Schedule holds its tables as float64 vectors of length T + 1, indexed by the
// one-based timestep t = 1..T of Ho et al. Index 0 holds the t = 0 convention
//   β_0 = 0,  α_0 = 1,  ᾱ_0 = 1,
// so that formulas with ᾱ_{t-1} need no special case at t = 1. The tables are computed
// in float64 (ᾱ is a float64 product, E2) and cast to a tensor's dtype exactly once,
// when gathered (`Schedule::at`): recovering β from float32 ᾱ ratios drifts by ~1e-4
// relative (V21), so nothing downstream should ever derive one table from another in
// float32.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace kiln::diffusion {

struct Schedule {
  std::int64_t T = 0;
  std::vector<double> beta;       // β_t,  t = 0..T  (β_0 = 0)
  std::vector<double> alpha;      // α_t = 1 - β_t   (α_0 = 1)
  std::vector<double> alpha_bar;  // ᾱ_t = ∏_{s=1..t} α_s  (ᾱ_0 = 1)
  // 1 - ᾱ_t, computed as -expm1(Σ_{s≤t} log1p(-β_s)) rather than by subtracting: where
  // ᾱ_t ≈ 1 (small t) the subtraction would lose digits, and E9/E10/E18 divide by it.
  std::vector<double> one_minus_alpha_bar;
  // The timestep of the base schedule that index i stands for (the network's time
  // input): the identity for a schedule built by linear/cosine/from_betas, the kept
  // steps τ_i for a respaced one (E38). timestep_map[0] = 0.
  std::vector<std::int64_t> timestep_map;

  // E1  β_t = β_1 + \frac{t-1}{T-1} (β_T - β_1),  Ho et al.: β_1 = 10^{-4}, β_T = 0.02, T = 1000
  static Schedule linear(std::int64_t T = 1000, double beta_1 = 1e-4, double beta_T = 0.02);
  // E3  ᾱ_t = f(t)/f(0),  f(t) = \cos^2\left(\frac{t/T + s}{1 + s}\cdot\frac{\pi}{2}\right),
  //     β_t = \min(1 - ᾱ_t/ᾱ_{t-1},\ 0.999)
  static Schedule cosine(std::int64_t T = 1000, double s = 0.008, double max_beta = 0.999);
  // E2  α_t = 1 - β_t,  ᾱ_t = \prod_{s=1}^{t} α_s   from betas = {β_1, ..., β_T}
  //     (every β in (0, 1]; the product is taken in float64, starting at s = 1).
  static Schedule from_betas(const std::vector<double>& betas);

  // A float64 table (one of the vectors above, or one derived from them in float64)
  // as a 1-D tensor of `dtype` on `device`: the single cast of Note [Schedule tables
  // are float64, indexed by t].
  static Tensor table(const std::vector<double>& values, DType dtype = DType::Float64,
                      Device device = Device::cpu());

  // table[t] gathered for a batch of timesteps t (int64 [B], values in 0..T) and shaped
  // [B, 1, ..., 1] with `ndim` dims in total, so it broadcasts against a batch of
  // samples [B, ...]. Cast once to `dtype`; lives on t's device.
  Tensor at(const std::vector<double>& table, const Tensor& t, std::int64_t ndim,
            DType dtype) const;
  // Same, shaped, typed and placed to broadcast against `like` ([B, ...]).
  Tensor at(const std::vector<double>& table, const Tensor& t, const Tensor& like) const;
  // timestep_map[t] for a batch t (int64 [B]): the timesteps a network is trained on. The
  // bound and the losses hand these to models, as the samplers do; t itself when the
  // schedule is not respaced.
  Tensor base_timesteps(const Tensor& t) const;
};

// A float64 table transformed element by element before its one cast (√ᾱ_t, ...).
std::vector<double> sqrt_of(const std::vector<double>& table);
std::vector<double> log_of(const std::vector<double>& table);  // log 0 = -inf

// ---- continuous time (the Keras chapter): τ ∈ [0, 1] -------------------------------
// A signal rate and a noise rate with signal² + noise² = 1, so that
//   x_τ = signal · x_0 + noise · ε  and  ᾱ(τ) = signal².
struct Rates {
  Tensor signal, noise;
};

// E3a  ᾱ(τ) = \cos^2(τπ/2):  signal = \cos(τπ/2),  noise = \sin(τπ/2)
Rates cosine_rates(const Tensor& tau);
// E3b  angle = \arccos(0.95) + τ(\arccos(0.02) - \arccos(0.95)),
//      signal = \cos(angle),  noise = \sin(angle)
Rates offset_cosine_rates(const Tensor& tau, double min_signal_rate = 0.02,
                          double max_signal_rate = 0.95);
// The same two for one τ (float64), for tables and checks.
std::pair<double, double> cosine_rates(double tau);
std::pair<double, double> offset_cosine_rates(double tau, double min_signal_rate = 0.02,
                                              double max_signal_rate = 0.95);

// E8  \mathrm{SNR}_t = ᾱ_t / (1 - ᾱ_t),  t = 1..T (index 0 holds +∞: ᾱ_0 = 1)
std::vector<double> snr(const Schedule& s);
// E8 on tensors: SNR = ᾱ / (1 - ᾱ)  (differentiable; for E3a/E3b: signal² / noise²)
Tensor snr(const Tensor& alpha_bar);

// ---- respacing (E38) ----------------------------------------------------------------
// E38  kept steps τ_1 < ... < τ_S of 1..T:
//      β'_i = 1 - ᾱ_{τ_i} / ᾱ_{τ_{i-1}}  (τ_0 = 0, ᾱ_0 = 1),  so  ᾱ'_i = ᾱ_{τ_i}  exactly.
// The result is an ordinary Schedule with T = S whose timestep_map[i] = τ_i (mapped
// through base.timestep_map, so respacing a respaced schedule composes).
Schedule respace(const Schedule& base, const std::vector<std::int64_t>& kept);

// Kept steps (one-based, ascending, always ending at T so the first sampled step is T)
// for a spacing spec, after Improved DDPM's space_timesteps:
//   "ddimN"        N steps with a constant integer stride k (the smallest k giving
//                  exactly N steps): T, T-k, T-2k, ... (the "trailing" placement: Improved
//                  DDPM's zero-based range(0, T, k) would start sampling at T-k+1)
//   "uniformN"     one section of N evenly spaced steps from 1 to T
//   "N" or "a,b,c" section counts: 1..T cut into equal sections, each taking that many
//                  evenly spaced steps including both its ends (a count of 1 takes the
//                  section's last step)
std::vector<std::int64_t> space_timesteps(std::int64_t T, const std::string& spec);
std::vector<std::int64_t> space_timesteps(std::int64_t T,
                                          const std::vector<std::int64_t>& section_counts);

}  // namespace kiln::diffusion
