#pragma once
// Evaluating a trained model (`kiln eval`): the likelihood of held-out data under the
// variational bound (E14, E15, E21), and the quality of samples from a 2-D point set
// measured against the set's known density. (Image samples are scored by a trained
// classifier's features: diffusion/classifier.h.)
#include <cstdint>
#include <functional>
#include <string>

#include "data/points.h"
#include "diffusion/bound.h"
#include "tensor/random.h"

namespace kiln::diffusion {

// E14, E15, E21 for each x_0 [B, ...]: every term L_T, L_{T-1}, ..., L_0 with its own
// x_t ~ q(x_t | x_0), exactly as variational_bound, but with the model called on chunks
// of up to `pairs_per_call` (sample, t) pairs that mix timesteps, so a small held-out set
// still fills large batches (B·T network evaluations in all; ~T/pairs_per_call·B
// calls instead of T). `progress(done, total)` is called after each chunk when set.
Bound variational_bound_chunked(const Schedule& s, const EpsModel& model, const Tensor& x0,
                                std::int64_t pairs_per_call, Generator* gen = nullptr,
                                const BoundOptions& options = {},
                                const std::function<void(std::int64_t, std::int64_t)>& progress = {});

// Samples of a 2-D point set against its exact density p (data/points.h).
struct PointQuality {
  std::int64_t samples = 0;
  // E_x[log p(x)] over the samples, and over as many fresh data points (the target: a
  // sampler that puts its points where the data is dense scores as high). Each log p is
  // floored at log(1e-3), so that a point where p = 0 (off the checkerboard) counts as
  // "far off" rather than making the mean -inf.
  double log_density_samples = 0;
  double log_density_data = 0;
  // Share of samples where p(x) < 1e-3: points off the data.
  double off_data_share = 0;
  // Total variation distance ½ Σ_i |p_i - q_i| between the histograms of the samples and
  // of a 50,000-point reference sample, on a 24 × 24 grid over [-1.5, 1.5]² (plus one bin
  // for everything outside): it sees missing modes, which the mean log-density does
  // not. `histogram_tv_data` is the same for fresh data points of the samples' number,
  // the value a perfect sampler would get (histogram noise).
  double histogram_tv = 0;
  double histogram_tv_data = 0;
};
PointQuality point_quality(data::PointSet set, const Tensor& samples, std::uint64_t seed = 0);

}  // namespace kiln::diffusion
