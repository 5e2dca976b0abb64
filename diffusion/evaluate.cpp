#include "diffusion/evaluate.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops/index.h"
#include "diffusion/forward.h"
#include "tensor/error.h"

namespace kiln::diffusion {

// E14, E15: L_VLB = L_T + Σ_{t=2}^T L_{t-1} + L_0, one x_t ~ q(x_t | x_0) per term; E21 bpd
Bound variational_bound_chunked(const Schedule& s, const EpsModel& model, const Tensor& x0,
                                std::int64_t pairs_per_call, Generator* gen,
                                const BoundOptions& options,
                                const std::function<void(std::int64_t, std::int64_t)>& progress) {
  KILN_CHECK(pairs_per_call >= 1, "variational_bound_chunked: pairs_per_call must be >= 1, got {}",
             pairs_per_call);
  NoGradGuard no_grad;
  const std::int64_t B = x0.size(0), T = s.T, total = B * T;
  const Options int64_on{.dtype = DType::Int64, .device = x0.device()};
  // Pair k is sample b = k mod B at timestep t = k / B + 1: a chunk is a run of pairs.
  std::vector<double> terms(static_cast<size_t>(total));  // [B, T]: L_{t-1} at (b, t - 1)
  for (std::int64_t k0 = 0; k0 < total; k0 += pairs_per_call) {
    const std::int64_t K = std::min(pairs_per_call, total - k0);
    std::vector<std::int64_t> b(static_cast<size_t>(K)), t(static_cast<size_t>(K));
    for (std::int64_t j = 0; j < K; ++j) {
      b[j] = (k0 + j) % B;
      t[j] = (k0 + j) / B + 1;
    }
    const Tensor x0_k = index_select(x0, 0, Tensor::from_vector(b, {K}, int64_on).to(x0.device()));
    const Tensor t_k = Tensor::from_vector(t, {K}, int64_on).to(x0.device());
    const Tensor eps = Tensor::randn(x0_k.shape(), {.dtype = x0.dtype(), .device = x0.device()}, gen);
    const Tensor x_t = q_sample(s, x0_k, t_k, eps);  // E7
    const std::vector<double> term = vlb_term(s, model, x0_k, x_t, t_k, options).to_vector<double>();
    for (std::int64_t j = 0; j < K; ++j) terms[b[j] * T + (t[j] - 1)] = term[j];
    if (progress) progress(k0 + K, total);
  }
  Bound out;
  out.prior = prior_kl(s, x0);  // L_T (E22)
  out.terms = Tensor::from_vector(terms, {B, T}, {.dtype = x0.dtype()}).to(x0.device());
  out.total = out.prior + out.terms.sum({1});
  out.bpd = bits_per_dim(out.total, x0.numel() / B);  // E21
  return out;
}

namespace {

constexpr double kLogFloor = -6.907755278982137;  // log(1e-3)
constexpr int kBins = 24;
constexpr double kRange = 1.5;

// Normalised histogram of points [N, 2] on kBins² cells over [-kRange, kRange]², plus one
// cell (the last) for everything outside.
std::vector<double> histogram(const Tensor& points) {
  std::vector<double> h(kBins * kBins + 1, 0.0);
  const std::vector<double> p = points.to(DType::Float64).to_vector<double>();
  const size_t n = p.size() / 2;
  for (size_t i = 0; i < n; ++i) {
    const double u = (p[2 * i] + kRange) / (2 * kRange) * kBins;
    const double v = (p[2 * i + 1] + kRange) / (2 * kRange) * kBins;
    const bool inside = std::isfinite(u) && std::isfinite(v) && u >= 0 && u < kBins && v >= 0 && v < kBins;
    h[inside ? static_cast<size_t>(v) * kBins + static_cast<size_t>(u) : h.size() - 1] += 1.0;
  }
  for (double& x : h) x /= static_cast<double>(std::max<size_t>(n, 1));
  return h;
}

double total_variation(const std::vector<double>& a, const std::vector<double>& b) {
  double tv = 0;
  for (size_t i = 0; i < a.size(); ++i) tv += std::abs(a[i] - b[i]);
  return tv / 2;
}

// Mean of max(log p(x), log 1e-3) and the share below the floor.
std::pair<double, double> floored_log_density(data::PointSet set, const Tensor& points) {
  const std::vector<double> lp = data::point_log_density(set, points).to_vector<double>();
  double sum = 0, off = 0;
  for (const double v : lp) {
    const bool below = !(v >= kLogFloor);  // NaN counts as off the data
    sum += below ? kLogFloor : v;
    off += below ? 1 : 0;
  }
  const auto n = static_cast<double>(lp.size());
  return {sum / n, off / n};
}

}  // namespace

PointQuality point_quality(data::PointSet set, const Tensor& samples, std::uint64_t seed) {
  KILN_CHECK(samples.dim() == 2 && samples.size(1) == 2 && samples.size(0) >= 1,
             "point_quality: samples must be [N, 2], got {}", shape_str(samples.shape()));
  const Tensor x = samples.to(Device::cpu());
  const std::int64_t n = x.size(0);
  // Seeds far from the training set's (seed) and the held-out set's (seed + 1).
  const Tensor reference = data::make_points(set, 50000, seed + 1000);
  const Tensor fresh = data::make_points(set, n, seed + 1001);
  PointQuality q;
  q.samples = n;
  const auto [lp_samples, off] = floored_log_density(set, x);
  q.log_density_samples = lp_samples;
  q.off_data_share = off;
  q.log_density_data = floored_log_density(set, fresh).first;
  const std::vector<double> h_ref = histogram(reference);
  q.histogram_tv = total_variation(histogram(x), h_ref);
  q.histogram_tv_data = total_variation(histogram(fresh), h_ref);
  return q;
}

}  // namespace kiln::diffusion
