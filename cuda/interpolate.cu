// CUDA 2-D resampling (shapes and formulas in cuda/interpolate.h and
// tensor/cpu/interpolate.h):
//   input / grad_input (planes, H, W), output / grad_output (planes, H_out, W_out).
// The source of an output position is computed by the same double arithmetic as the
// CPU's tables (nearest_source, linear_source below mirror nearest_sources and
// linear_sources of tensor/cpu/interpolate.cpp), so both devices read the same pixels.
// Backward: one thread per input pixel looks at the output positions near it whose
// source is that pixel and sums their gradients (a gather, no atomics).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "cuda/interpolate.h"
#include "cuda/runtime.cuh"

namespace kiln::cuda {
namespace {

using detail::blocks_for;
using detail::kThreads;
using detail::stream;

__device__ std::int64_t nearest_source(std::int64_t o, std::int64_t in, double scale) {
  const auto s = static_cast<std::int64_t>(floor(static_cast<double>(o) * scale));
  return s < in - 1 ? s : in - 1;
}

template <class T>
struct Linear {
  std::int64_t i0, i1;
  T w0, w1;
};

// The product and the difference are rounded separately (__dmul_rn, __dadd_rn), as the
// host compiler does: nvcc would otherwise fuse them into one fma, which rounds once and
// can move a source index that sits on a boundary.
template <class T>
__device__ Linear<T> linear_source(std::int64_t o, std::int64_t in, double scale) {
  double s = __dadd_rn(__dmul_rn(static_cast<double>(o) + 0.5, scale), -0.5);
  s = s > 0.0 ? s : 0.0;
  std::int64_t i0 = static_cast<std::int64_t>(s);
  i0 = i0 < in - 1 ? i0 : in - 1;
  const std::int64_t i1 = i0 < in - 1 ? i0 + 1 : i0;
  double lambda = s - static_cast<double>(i0);
  lambda = lambda < 1.0 ? lambda : 1.0;
  return {i0, i1, static_cast<T>(1.0 - lambda), static_cast<T>(lambda)};
}

// The output positions [lo, hi) whose source may be input position i: a window around
// i / scale, wide enough for either mode, and reaching the last output for the last
// input pixels (the sources are clamped to in - 1).
struct Span {
  std::int64_t lo, hi;
};
__device__ Span candidates(std::int64_t i, std::int64_t in, std::int64_t out, double scale) {
  std::int64_t lo = static_cast<std::int64_t>(floor((static_cast<double>(i) - 1.0) / scale)) - 2;
  std::int64_t hi = static_cast<std::int64_t>(ceil((static_cast<double>(i) + 2.0) / scale)) + 2;
  if (i >= in - 2) hi = out;
  return {lo > 0 ? lo : 0, hi < out ? hi : out};
}

// ---- kernels --------------------------------------------------------------------------

//   input (planes, H, W) -> output (planes, H_out, W_out)
template <class T>
__global__ void nearest_forward_kernel(Interpolate2dParams p, const T* input, T* output) {
  const std::int64_t total = p.planes * p.H_out * p.W_out;
  for (std::int64_t t = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; t < total;
       t += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t ow = t % p.W_out, oh = (t / p.W_out) % p.H_out, c = t / (p.W_out * p.H_out);
    const std::int64_t ih = nearest_source(oh, p.H, p.scale_h);
    const std::int64_t iw = nearest_source(ow, p.W, p.scale_w);
    output[t] = input[(c * p.H + ih) * p.W + iw];
  }
}

//   grad_output (planes, H_out, W_out) -> grad_input (planes, H, W)
template <class T>
__global__ void nearest_backward_kernel(Interpolate2dParams p, const T* grad_output,
                                        T* grad_input) {
  const std::int64_t total = p.planes * p.H * p.W;
  for (std::int64_t t = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; t < total;
       t += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t iw = t % p.W, ih = (t / p.W) % p.H, c = t / (p.W * p.H);
    const T* gy = grad_output + c * p.H_out * p.W_out;
    const Span rows = candidates(ih, p.H, p.H_out, p.scale_h);
    const Span cols = candidates(iw, p.W, p.W_out, p.scale_w);
    T sum = 0;
    for (std::int64_t oh = rows.lo; oh < rows.hi; ++oh) {
      if (nearest_source(oh, p.H, p.scale_h) != ih) continue;
      for (std::int64_t ow = cols.lo; ow < cols.hi; ++ow)
        if (nearest_source(ow, p.W, p.scale_w) == iw) sum += gy[oh * p.W_out + ow];
    }
    grad_input[t] = sum;
  }
}

//   input (planes, H, W) -> output (planes, H_out, W_out)
template <class T>
__global__ void bilinear_forward_kernel(Interpolate2dParams p, const T* input, T* output) {
  const std::int64_t total = p.planes * p.H_out * p.W_out;
  for (std::int64_t t = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; t < total;
       t += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t ow = t % p.W_out, oh = (t / p.W_out) % p.H_out, c = t / (p.W_out * p.H_out);
    const Linear<T> r = linear_source<T>(oh, p.H, p.scale_h);
    const Linear<T> q = linear_source<T>(ow, p.W, p.scale_w);
    const T* x0 = input + (c * p.H + r.i0) * p.W;
    const T* x1 = input + (c * p.H + r.i1) * p.W;
    output[t] = r.w0 * (q.w0 * x0[q.i0] + q.w1 * x0[q.i1]) + r.w1 * (q.w0 * x1[q.i0] + q.w1 * x1[q.i1]);
  }
}

//   grad_output (planes, H_out, W_out) -> grad_input (planes, H, W)
// Output (oh, ow) sends w_row · w_col · g to each of its four sources; a pixel that is
// both sources of a row (at the border, i0 == i1) receives both weights.
template <class T>
__global__ void bilinear_backward_kernel(Interpolate2dParams p, const T* grad_output,
                                         T* grad_input) {
  const std::int64_t total = p.planes * p.H * p.W;
  for (std::int64_t t = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; t < total;
       t += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t iw = t % p.W, ih = (t / p.W) % p.H, c = t / (p.W * p.H);
    const T* gy = grad_output + c * p.H_out * p.W_out;
    const Span rows = candidates(ih, p.H, p.H_out, p.scale_h);
    const Span cols = candidates(iw, p.W, p.W_out, p.scale_w);
    T sum = 0;
    for (std::int64_t oh = rows.lo; oh < rows.hi; ++oh) {
      const Linear<T> r = linear_source<T>(oh, p.H, p.scale_h);
      const T wr = (r.i0 == ih ? r.w0 : T(0)) + (r.i1 == ih ? r.w1 : T(0));
      if (r.i0 != ih && r.i1 != ih) continue;
      for (std::int64_t ow = cols.lo; ow < cols.hi; ++ow) {
        const Linear<T> q = linear_source<T>(ow, p.W, p.scale_w);
        if (q.i0 != iw && q.i1 != iw) continue;
        const T wc = (q.i0 == iw ? q.w0 : T(0)) + (q.i1 == iw ? q.w1 : T(0));
        sum += wc * (wr * gy[oh * p.W_out + ow]);
      }
    }
    grad_input[t] = sum;
  }
}

// ---- launchers ------------------------------------------------------------------------

void check_params(const Interpolate2dParams& p, const char* op) {
  KILN_CHECK(p.planes >= 0 && p.H > 0 && p.W > 0 && p.H_out > 0 && p.W_out > 0 && p.scale_h > 0 &&
                 p.scale_w > 0,
             "{}: invalid geometry (input {}x{}, output {}x{})", op, p.H, p.W, p.H_out, p.W_out);
}

template <class Kernel, class T>
void run(const char* op, Kernel kernel, const Interpolate2dParams& p, std::int64_t total,
         const T* in, T* out) {
  check_params(p, op);
  if (total == 0) return;
  kernel<<<blocks_for(total), kThreads, 0, stream()>>>(p, in, out);
  KILN_CUDA_CHECK_LAUNCH(op);
}

}  // namespace

template <class T>
void interpolate_nearest_forward(const Interpolate2dParams& p, const T* input, T* output) {
  run("interpolate_nearest_forward", nearest_forward_kernel<T>, p, p.planes * p.H_out * p.W_out,
      input, output);
}

template <class T>
void interpolate_nearest_backward(const Interpolate2dParams& p, const T* grad_output,
                                  T* grad_input) {
  run("interpolate_nearest_backward", nearest_backward_kernel<T>, p, p.planes * p.H * p.W,
      grad_output, grad_input);
}

template <class T>
void interpolate_bilinear_forward(const Interpolate2dParams& p, const T* input, T* output) {
  run("interpolate_bilinear_forward", bilinear_forward_kernel<T>, p,
      p.planes * p.H_out * p.W_out, input, output);
}

template <class T>
void interpolate_bilinear_backward(const Interpolate2dParams& p, const T* grad_output,
                                   T* grad_input) {
  run("interpolate_bilinear_backward", bilinear_backward_kernel<T>, p, p.planes * p.H * p.W,
      grad_output, grad_input);
}

#define KILN_INSTANTIATE(T)                                                                   \
  template void interpolate_nearest_forward<T>(const Interpolate2dParams&, const T*, T*);     \
  template void interpolate_nearest_backward<T>(const Interpolate2dParams&, const T*, T*);    \
  template void interpolate_bilinear_forward<T>(const Interpolate2dParams&, const T*, T*);    \
  template void interpolate_bilinear_backward<T>(const Interpolate2dParams&, const T*, T*);
KILN_INSTANTIATE(float)
KILN_INSTANTIATE(double)
#undef KILN_INSTANTIATE

}  // namespace kiln::cuda
