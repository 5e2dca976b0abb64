// CPU 2-D pooling (shapes in tensor/cpu/pool.h):
//   input / grad_input (planes, H, W), output / grad_output / indices (planes, H_out, W_out).
// Each plane is pooled by one thread, so the backward's scatter-adds (overlapping windows
// send gradient to the same pixel) never race and always sum in the same order.
#include "tensor/cpu/pool.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

namespace kiln::cpu {
namespace {

// Below this many output elements a parallel region costs more than it saves.
constexpr std::int64_t kParallelGrain = 1 << 14;

bool parallel_pays(const Pool2dParams& p) {
  return !omp_in_parallel() && p.planes > 1 &&
         p.planes * p.H_out * p.W_out * p.KH * p.KW >= kParallelGrain;
}

// The input rows [lo, hi) of window row o (clipped to the input).
struct Span {
  std::int64_t lo, hi;
};
Span window(std::int64_t o, std::int64_t stride, std::int64_t pad, std::int64_t k,
            std::int64_t in) {
  const std::int64_t start = o * stride - pad;
  return {std::max<std::int64_t>(start, 0), std::min(start + k, in)};
}

}  // namespace

template <class T>
void avg_pool2d_forward(const Pool2dParams& p, const T* input, T* output) {
  const T inv = T(1) / static_cast<T>(p.KH * p.KW);
#pragma omp parallel for schedule(static) if (parallel_pays(p))
  for (std::int64_t c = 0; c < p.planes; ++c) {
    const T* x = input + c * p.H * p.W;
    T* y = output + c * p.H_out * p.W_out;
    for (std::int64_t oh = 0; oh < p.H_out; ++oh) {
      const Span rows = window(oh, p.stride_h, p.pad_h, p.KH, p.H);
      for (std::int64_t ow = 0; ow < p.W_out; ++ow) {
        const Span cols = window(ow, p.stride_w, p.pad_w, p.KW, p.W);
        T sum = 0;
        for (std::int64_t ih = rows.lo; ih < rows.hi; ++ih)
          for (std::int64_t iw = cols.lo; iw < cols.hi; ++iw) sum += x[ih * p.W + iw];
        y[oh * p.W_out + ow] = sum * inv;
      }
    }
  }
}

template <class T>
void avg_pool2d_backward(const Pool2dParams& p, const T* grad_output, T* grad_input) {
  const T inv = T(1) / static_cast<T>(p.KH * p.KW);
#pragma omp parallel for schedule(static) if (parallel_pays(p))
  for (std::int64_t c = 0; c < p.planes; ++c) {
    const T* gy = grad_output + c * p.H_out * p.W_out;
    T* gx = grad_input + c * p.H * p.W;
    std::fill(gx, gx + p.H * p.W, T(0));
    for (std::int64_t oh = 0; oh < p.H_out; ++oh) {
      const Span rows = window(oh, p.stride_h, p.pad_h, p.KH, p.H);
      for (std::int64_t ow = 0; ow < p.W_out; ++ow) {
        const Span cols = window(ow, p.stride_w, p.pad_w, p.KW, p.W);
        const T g = gy[oh * p.W_out + ow] * inv;
        for (std::int64_t ih = rows.lo; ih < rows.hi; ++ih)
          for (std::int64_t iw = cols.lo; iw < cols.hi; ++iw) gx[ih * p.W + iw] += g;
      }
    }
  }
}

template <class T>
void max_pool2d_forward(const Pool2dParams& p, const T* input, T* output,
                        std::int64_t* indices) {
#pragma omp parallel for schedule(static) if (parallel_pays(p))
  for (std::int64_t c = 0; c < p.planes; ++c) {
    const T* x = input + c * p.H * p.W;
    T* y = output + c * p.H_out * p.W_out;
    std::int64_t* idx = indices + c * p.H_out * p.W_out;
    for (std::int64_t oh = 0; oh < p.H_out; ++oh) {
      const Span rows = window(oh, p.stride_h, p.pad_h, p.KH, p.H);
      for (std::int64_t ow = 0; ow < p.W_out; ++ow) {
        const Span cols = window(ow, p.stride_w, p.pad_w, p.KW, p.W);
        std::int64_t best = rows.lo * p.W + cols.lo;
        T best_value = x[best];
        for (std::int64_t ih = rows.lo; ih < rows.hi; ++ih) {
          for (std::int64_t iw = cols.lo; iw < cols.hi; ++iw) {
            const T v = x[ih * p.W + iw];
            if (v > best_value || (std::isnan(v) && !std::isnan(best_value))) {
              best_value = v;
              best = ih * p.W + iw;
            }
          }
        }
        y[oh * p.W_out + ow] = best_value;
        idx[oh * p.W_out + ow] = best;
      }
    }
  }
}

template <class T>
void max_pool2d_backward(const Pool2dParams& p, const T* grad_output,
                         const std::int64_t* indices, T* grad_input) {
  const std::int64_t out_plane = p.H_out * p.W_out;
#pragma omp parallel for schedule(static) if (parallel_pays(p))
  for (std::int64_t c = 0; c < p.planes; ++c) {
    const T* gy = grad_output + c * out_plane;
    const std::int64_t* idx = indices + c * out_plane;
    T* gx = grad_input + c * p.H * p.W;
    std::fill(gx, gx + p.H * p.W, T(0));
    for (std::int64_t o = 0; o < out_plane; ++o) gx[idx[o]] += gy[o];
  }
}

#define KILN_INSTANTIATE_POOL(T)                                                            \
  template void avg_pool2d_forward<T>(const Pool2dParams&, const T*, T*);                   \
  template void avg_pool2d_backward<T>(const Pool2dParams&, const T*, T*);                  \
  template void max_pool2d_forward<T>(const Pool2dParams&, const T*, T*, std::int64_t*);    \
  template void max_pool2d_backward<T>(const Pool2dParams&, const T*, const std::int64_t*, T*);
KILN_INSTANTIATE_POOL(float)
KILN_INSTANTIATE_POOL(double)
#undef KILN_INSTANTIATE_POOL

}  // namespace kiln::cpu
