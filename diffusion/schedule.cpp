#include "diffusion/schedule.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numbers>
#include <sstream>

#include "autograd/ops/elementwise.h"
#include "autograd/ops/index.h"

namespace kiln::diffusion {

using std::numbers::pi;

// [region linear]
// E1  β_t = β_1 + \frac{t-1}{T-1} (β_T - β_1)
Schedule Schedule::linear(std::int64_t T, double beta_1, double beta_T) {
  KILN_CHECK(T >= 1, "Schedule::linear: T must be >= 1, got {}", T);
  KILN_CHECK(beta_1 > 0 && beta_T <= 1 && beta_1 <= beta_T,
             "Schedule::linear: need 0 < beta_1 <= beta_T <= 1, got beta_1 = {}, beta_T = {}",
             beta_1, beta_T);
  std::vector<double> betas(static_cast<size_t>(T));
  for (std::int64_t t = 1; t <= T; ++t) {
    const double frac = T == 1 ? 0.0 : static_cast<double>(t - 1) / static_cast<double>(T - 1);
    betas[t - 1] = beta_1 + frac * (beta_T - beta_1);
  }
  return from_betas(betas);
}
// [endregion]

// [region cosine]
// E3  ᾱ_t = f(t)/f(0),  f(t) = cos²(((t/T + s)/(1 + s)) π/2),  β_t = min(1 - ᾱ_t/ᾱ_{t-1}, 0.999)
Schedule Schedule::cosine(std::int64_t T, double s, double max_beta) {
  KILN_CHECK(T >= 1, "Schedule::cosine: T must be >= 1, got {}", T);
  KILN_CHECK(s >= 0 && max_beta > 0 && max_beta <= 1,
             "Schedule::cosine: need s >= 0 and 0 < max_beta <= 1, got s = {}, max_beta = {}", s,
             max_beta);
  auto f = [&](std::int64_t t) {
    const double c = std::cos((static_cast<double>(t) / static_cast<double>(T) + s) / (1 + s) * pi / 2);
    return c * c;
  };
  std::vector<double> betas(static_cast<size_t>(T));
  for (std::int64_t t = 1; t <= T; ++t) {
    // ᾱ_t / ᾱ_{t-1} = f(t)/f(t-1): f(0) cancels. The clip keeps β_T < 1 where f(T) = 0.
    betas[t - 1] = std::min(1 - f(t) / f(t - 1), max_beta);
  }
  // ᾱ is then the product of E2, which equals f(t)/f(0) wherever nothing was clipped.
  return from_betas(betas);
}
// [endregion]

// [region from_betas]
// E2  α_t = 1 - β_t,  ᾱ_t = ∏_{s=1}^{t} α_s
Schedule Schedule::from_betas(const std::vector<double>& betas) {
  KILN_CHECK(!betas.empty(), "Schedule::from_betas: no betas");
  Schedule sch;
  sch.T = static_cast<std::int64_t>(betas.size());
  const size_t n = betas.size() + 1;
  sch.beta.assign(n, 0.0);
  sch.alpha.assign(n, 1.0);
  sch.alpha_bar.assign(n, 1.0);  // ᾱ_0 = 1: the empty product
  sch.one_minus_alpha_bar.assign(n, 0.0);
  double log_alpha_bar = 0;  // Σ log α_s, for the precise 1 - ᾱ_t
  sch.timestep_map.resize(n);
  for (size_t t = 0; t < n; ++t) sch.timestep_map[t] = static_cast<std::int64_t>(t);
  for (size_t t = 1; t < n; ++t) {
    const double b = betas[t - 1];
    KILN_CHECK(b > 0 && b <= 1, "Schedule::from_betas: beta_{} = {} is not in (0, 1]", t, b);
    sch.beta[t] = b;
    sch.alpha[t] = 1 - b;
    sch.alpha_bar[t] = sch.alpha_bar[t - 1] * sch.alpha[t];
    log_alpha_bar += std::log1p(-b);
    sch.one_minus_alpha_bar[t] = -std::expm1(log_alpha_bar);
  }
  return sch;
}
// [endregion]

Tensor Schedule::table(const std::vector<double>& values, DType dtype, Device device) {
  KILN_CHECK(is_floating(dtype), "Schedule::table: expects a floating dtype, got {}", dtype);
  return Tensor::from_vector(values, {static_cast<std::int64_t>(values.size())},
                             {.dtype = dtype, .device = device});
}

Tensor Schedule::at(const std::vector<double>& values, const Tensor& t, std::int64_t ndim,
                    DType dtype) const {
  KILN_CHECK(t.defined() && t.dtype() == DType::Int64 && t.dim() <= 1,
             "Schedule::at: t must be an int64 tensor [B] (or 0-d), got {} {}",
             t.defined() ? shape_str(t.shape()) : std::string("undefined"),
             t.defined() ? dtype_name(t.dtype()) : "");
  KILN_CHECK(static_cast<std::int64_t>(values.size()) == T + 1,
             "Schedule::at: a table of {} entries does not match T = {} (needs T + 1)",
             values.size(), T);
  KILN_CHECK(ndim >= 1, "Schedule::at: ndim must be >= 1, got {}", ndim);
  const Tensor idx = t.reshape({-1});
  const std::int64_t B = idx.numel();
  // index_select range-checks t against [0, T].
  Tensor gathered = index_select(table(values, dtype, t.device()), 0, idx);
  Shape shape(static_cast<size_t>(ndim), 1);
  shape[0] = B;
  return gathered.reshape(shape);
}

Tensor Schedule::at(const std::vector<double>& values, const Tensor& t, const Tensor& like) const {
  KILN_CHECK(like.defined() && like.dim() >= 1, "Schedule::at: `like` must be a batch [B, ...]");
  KILN_CHECK(like.device() == t.device(), "Schedule::at: t is on {} but the batch is on {}",
             t.device(), like.device());
  return at(values, t, like.dim(), like.dtype());
}

std::vector<double> sqrt_of(const std::vector<double>& table) {
  std::vector<double> out(table.size());
  for (size_t i = 0; i < table.size(); ++i) out[i] = std::sqrt(table[i]);
  return out;
}

std::vector<double> log_of(const std::vector<double>& table) {
  std::vector<double> out(table.size());
  for (size_t i = 0; i < table.size(); ++i) out[i] = std::log(table[i]);
  return out;
}

Tensor Schedule::base_timesteps(const Tensor& t) const {
  bool identity = true;
  for (size_t i = 0; i < timestep_map.size(); ++i) {
    identity = identity && timestep_map[i] == static_cast<std::int64_t>(i);
  }
  if (identity) return t;
  const Tensor map = Tensor::from_vector(timestep_map, {static_cast<std::int64_t>(timestep_map.size())},
                                         {.dtype = DType::Int64, .device = t.device()});
  return index_select(map, 0, t.reshape({-1})).reshape(t.shape());
}

// E3a  signal = cos(τπ/2),  noise = sin(τπ/2)
Rates cosine_rates(const Tensor& tau) {
  const Tensor angle = tau * (pi / 2);
  return {cos(angle), sin(angle)};
}

// [region offset_cosine]
// E3b  angle = acos(0.95) + τ (acos(0.02) - acos(0.95))
Rates offset_cosine_rates(const Tensor& tau, double min_signal_rate, double max_signal_rate) {
  const double start_angle = std::acos(max_signal_rate);
  const double end_angle = std::acos(min_signal_rate);
  const Tensor angle = start_angle + tau * (end_angle - start_angle);
  return {cos(angle), sin(angle)};
}
// [endregion]

std::pair<double, double> cosine_rates(double tau) {
  return {std::cos(tau * pi / 2), std::sin(tau * pi / 2)};
}

std::pair<double, double> offset_cosine_rates(double tau, double min_signal_rate,
                                              double max_signal_rate) {
  const double start_angle = std::acos(max_signal_rate);
  const double end_angle = std::acos(min_signal_rate);
  const double angle = start_angle + tau * (end_angle - start_angle);
  return {std::cos(angle), std::sin(angle)};
}

// E8  SNR_t = ᾱ_t / (1 - ᾱ_t)
std::vector<double> snr(const Schedule& s) {
  std::vector<double> out(s.alpha_bar.size());
  for (size_t t = 0; t < out.size(); ++t) {
    const double ab = s.alpha_bar[t], one_minus = s.one_minus_alpha_bar[t];
    out[t] = one_minus <= 0 ? INFINITY : ab / one_minus;
  }
  return out;
}

Tensor snr(const Tensor& alpha_bar) { return alpha_bar / (1.0 - alpha_bar); }

// [region respace]
// E38  β'_i = 1 - ᾱ_{τ_i}/ᾱ_{τ_{i-1}},  ᾱ'_i = ᾱ_{τ_i}
Schedule respace(const Schedule& base, const std::vector<std::int64_t>& kept) {
  KILN_CHECK(!kept.empty(), "respace: no kept steps");
  for (size_t i = 0; i < kept.size(); ++i) {
    KILN_CHECK(kept[i] >= 1 && kept[i] <= base.T, "respace: kept step {} is outside 1..{}",
               kept[i], base.T);
    KILN_CHECK(i == 0 || kept[i - 1] < kept[i],
               "respace: kept steps must be strictly increasing ({} then {})", kept[i - 1],
               kept[i]);
  }
  Schedule r;
  r.T = static_cast<std::int64_t>(kept.size());
  const size_t n = kept.size() + 1;
  r.beta.assign(n, 0.0);
  r.alpha.assign(n, 1.0);
  r.alpha_bar.assign(n, 1.0);
  r.one_minus_alpha_bar.assign(n, 0.0);
  r.timestep_map.assign(n, 0);
  std::int64_t kept_prev = 0;
  for (size_t i = 1; i < n; ++i) {
    const std::int64_t tau = kept[i - 1];
    // The kept ᾱ is copied, not recomputed as a product: it is the base's exactly.
    r.alpha_bar[i] = base.alpha_bar[tau];
    r.one_minus_alpha_bar[i] = base.one_minus_alpha_bar[tau];
    // α'_i = ᾱ_{τ_i}/ᾱ_{τ_{i-1}} = ∏_{τ_{i-1} < s ≤ τ_i} α_s. Summing log α_s and using
    // expm1 keeps β' = 1 - α'_i to full relative precision for a short stride, where the
    // ratio of two ᾱ close to 1 would lose digits (Note [Schedule tables ...]).
    double log_ratio = 0;
    for (std::int64_t u = kept_prev + 1; u <= tau; ++u) log_ratio += std::log1p(-base.beta[u]);
    r.alpha[i] = std::exp(log_ratio);
    r.beta[i] = -std::expm1(log_ratio);
    kept_prev = tau;
    r.timestep_map[i] = base.timestep_map[tau];
  }
  return r;
}
// [endregion]

namespace {

std::int64_t parse_count(const std::string& text, const std::string& spec) {
  KILN_CHECK(!text.empty() && std::all_of(text.begin(), text.end(),
                                          [](unsigned char c) { return std::isdigit(c); }),
             "space_timesteps: cannot read a step count in \"{}\"", spec);
  return std::stoll(text);
}

}  // namespace

std::vector<std::int64_t> space_timesteps(std::int64_t T, const std::string& spec) {
  KILN_CHECK(T >= 1, "space_timesteps: T must be >= 1, got {}", T);
  if (spec.rfind("ddim", 0) == 0) {
    const std::int64_t n = parse_count(spec.substr(4), spec);
    KILN_CHECK(n >= 1 && n <= T, "space_timesteps: \"{}\" asks for {} of {} steps", spec, n, T);
    // The smallest integer stride k with exactly n steps in T, T-k, ..., > 0.
    for (std::int64_t k = 1; k <= T; ++k) {
      if ((T + k - 1) / k == n) {
        std::vector<std::int64_t> steps;
        for (std::int64_t t = T; t >= 1; t -= k) steps.push_back(t);
        std::reverse(steps.begin(), steps.end());
        return steps;
      }
    }
    fail("space_timesteps: no integer stride gives exactly {} steps of {} (\"{}\")", n, T, spec);
  }
  if (spec.rfind("uniform", 0) == 0) {
    return space_timesteps(T, std::vector<std::int64_t>{parse_count(spec.substr(7), spec)});
  }
  std::vector<std::int64_t> counts;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) counts.push_back(parse_count(item, spec));
  return space_timesteps(T, counts);
}

std::vector<std::int64_t> space_timesteps(std::int64_t T,
                                          const std::vector<std::int64_t>& section_counts) {
  KILN_CHECK(T >= 1, "space_timesteps: T must be >= 1, got {}", T);
  const auto sections = static_cast<std::int64_t>(section_counts.size());
  KILN_CHECK(sections >= 1 && sections <= T, "space_timesteps: {} sections for {} steps",
             sections, T);
  const std::int64_t size_per = T / sections, extra = T % sections;
  std::vector<std::int64_t> steps;
  std::int64_t start = 1;  // one-based first step of the section
  for (std::int64_t i = 0; i < sections; ++i) {
    const std::int64_t size = size_per + (i < extra ? 1 : 0);
    const std::int64_t count = section_counts[static_cast<size_t>(i)];
    KILN_CHECK(count >= 1 && count <= size,
               "space_timesteps: section {} has {} steps, cannot take {}", i, size, count);
    if (count == 1) {
      steps.push_back(start + size - 1);
    } else {
      const double stride = static_cast<double>(size - 1) / static_cast<double>(count - 1);
      for (std::int64_t j = 0; j < count; ++j) {
        // nearbyint rounds half to even, like Python's round() in Improved DDPM.
        steps.push_back(start + static_cast<std::int64_t>(std::nearbyint(j * stride)));
      }
    }
    start += size;
  }
  std::sort(steps.begin(), steps.end());
  steps.erase(std::unique(steps.begin(), steps.end()), steps.end());
  return steps;
}

}  // namespace kiln::diffusion
