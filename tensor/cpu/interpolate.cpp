// CPU 2-D resampling (shapes and formulas in tensor/cpu/interpolate.h):
//   input / grad_input (planes, H, W), output / grad_output (planes, H_out, W_out).
// The source positions depend only on the output row (or column), so they are computed
// once per call into small tables shared by every plane. Each plane is handled by one
// thread, so the backward's scatter-adds never race and always sum in the same order.
#include "tensor/cpu/interpolate.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace kiln::cpu {
namespace {

// Below this many output elements a parallel region costs more than it saves.
constexpr std::int64_t kParallelGrain = 1 << 15;

bool parallel_pays(const Interpolate2dParams& p) {
  return !omp_in_parallel() && p.planes > 1 && p.planes * p.H_out * p.W_out >= kParallelGrain;
}

// Nearest source index of each of the `out` positions.
std::vector<std::int64_t> nearest_sources(std::int64_t in, std::int64_t out, double scale) {
  std::vector<std::int64_t> src(static_cast<std::size_t>(out));
  for (std::int64_t o = 0; o < out; ++o) {
    const auto s = static_cast<std::int64_t>(std::floor(static_cast<double>(o) * scale));
    src[o] = std::min(s, in - 1);
  }
  return src;
}

// The two source indices and their weights for one output position.
template <class T>
struct Linear {
  std::int64_t i0, i1;
  T w0, w1;
};

template <class T>
std::vector<Linear<T>> linear_sources(std::int64_t in, std::int64_t out, double scale) {
  std::vector<Linear<T>> src(static_cast<std::size_t>(out));
  for (std::int64_t o = 0; o < out; ++o) {
    const double s = std::max((static_cast<double>(o) + 0.5) * scale - 0.5, 0.0);
    const auto i0 = std::min(static_cast<std::int64_t>(s), in - 1);
    const std::int64_t i1 = i0 < in - 1 ? i0 + 1 : i0;
    const double lambda = std::min(s - static_cast<double>(i0), 1.0);
    src[o] = {i0, i1, static_cast<T>(1.0 - lambda), static_cast<T>(lambda)};
  }
  return src;
}

}  // namespace

template <class T>
void interpolate_nearest_forward(const Interpolate2dParams& p, const T* input, T* output) {
  const auto rows = nearest_sources(p.H, p.H_out, p.scale_h);
  const auto cols = nearest_sources(p.W, p.W_out, p.scale_w);
#pragma omp parallel for schedule(static) if (parallel_pays(p))
  for (std::int64_t c = 0; c < p.planes; ++c) {
    const T* x = input + c * p.H * p.W;
    T* y = output + c * p.H_out * p.W_out;
    for (std::int64_t oh = 0; oh < p.H_out; ++oh) {
      const T* row = x + rows[oh] * p.W;
      T* dst = y + oh * p.W_out;
      for (std::int64_t ow = 0; ow < p.W_out; ++ow) dst[ow] = row[cols[ow]];
    }
  }
}

template <class T>
void interpolate_nearest_backward(const Interpolate2dParams& p, const T* grad_output,
                                  T* grad_input) {
  const auto rows = nearest_sources(p.H, p.H_out, p.scale_h);
  const auto cols = nearest_sources(p.W, p.W_out, p.scale_w);
#pragma omp parallel for schedule(static) if (parallel_pays(p))
  for (std::int64_t c = 0; c < p.planes; ++c) {
    const T* gy = grad_output + c * p.H_out * p.W_out;
    T* gx = grad_input + c * p.H * p.W;
    std::fill(gx, gx + p.H * p.W, T(0));
    for (std::int64_t oh = 0; oh < p.H_out; ++oh) {
      T* row = gx + rows[oh] * p.W;
      const T* src = gy + oh * p.W_out;
      for (std::int64_t ow = 0; ow < p.W_out; ++ow) row[cols[ow]] += src[ow];
    }
  }
}

template <class T>
void interpolate_bilinear_forward(const Interpolate2dParams& p, const T* input, T* output) {
  const auto rows = linear_sources<T>(p.H, p.H_out, p.scale_h);
  const auto cols = linear_sources<T>(p.W, p.W_out, p.scale_w);
#pragma omp parallel for schedule(static) if (parallel_pays(p))
  for (std::int64_t c = 0; c < p.planes; ++c) {
    const T* x = input + c * p.H * p.W;
    T* y = output + c * p.H_out * p.W_out;
    for (std::int64_t oh = 0; oh < p.H_out; ++oh) {
      const Linear<T>& r = rows[oh];
      const T* x0 = x + r.i0 * p.W;
      const T* x1 = x + r.i1 * p.W;
      T* dst = y + oh * p.W_out;
      for (std::int64_t ow = 0; ow < p.W_out; ++ow) {
        const Linear<T>& q = cols[ow];
        dst[ow] = r.w0 * (q.w0 * x0[q.i0] + q.w1 * x0[q.i1]) +
                  r.w1 * (q.w0 * x1[q.i0] + q.w1 * x1[q.i1]);
      }
    }
  }
}

template <class T>
void interpolate_bilinear_backward(const Interpolate2dParams& p, const T* grad_output,
                                   T* grad_input) {
  const auto rows = linear_sources<T>(p.H, p.H_out, p.scale_h);
  const auto cols = linear_sources<T>(p.W, p.W_out, p.scale_w);
#pragma omp parallel for schedule(static) if (parallel_pays(p))
  for (std::int64_t c = 0; c < p.planes; ++c) {
    const T* gy = grad_output + c * p.H_out * p.W_out;
    T* gx = grad_input + c * p.H * p.W;
    std::fill(gx, gx + p.H * p.W, T(0));
    for (std::int64_t oh = 0; oh < p.H_out; ++oh) {
      const Linear<T>& r = rows[oh];
      T* g0 = gx + r.i0 * p.W;
      T* g1 = gx + r.i1 * p.W;
      const T* src = gy + oh * p.W_out;
      for (std::int64_t ow = 0; ow < p.W_out; ++ow) {
        const Linear<T>& q = cols[ow];
        const T top = r.w0 * src[ow], bottom = r.w1 * src[ow];
        g0[q.i0] += q.w0 * top;
        g0[q.i1] += q.w1 * top;
        g1[q.i0] += q.w0 * bottom;
        g1[q.i1] += q.w1 * bottom;
      }
    }
  }
}

#define KILN_INSTANTIATE_INTERPOLATE(T)                                                       \
  template void interpolate_nearest_forward<T>(const Interpolate2dParams&, const T*, T*);     \
  template void interpolate_nearest_backward<T>(const Interpolate2dParams&, const T*, T*);    \
  template void interpolate_bilinear_forward<T>(const Interpolate2dParams&, const T*, T*);    \
  template void interpolate_bilinear_backward<T>(const Interpolate2dParams&, const T*, T*);
KILN_INSTANTIATE_INTERPOLATE(float)
KILN_INSTANTIATE_INTERPOLATE(double)
#undef KILN_INSTANTIATE_INTERPOLATE

}  // namespace kiln::cpu
