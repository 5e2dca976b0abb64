// CUDA 2-D pooling (shapes and contracts in cuda/pool.h and tensor/cpu/pool.h):
//   input / grad_input (planes, H, W), output / grad_output / indices (planes, H_out, W_out).
// Forward: one thread per output pixel walks its window. Backward: one thread per input
// pixel walks the windows that contain it (a gather: the adjoint without atomics).
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/pool.h"
#include "cuda/runtime.cuh"

namespace kiln::cuda {
namespace {

using detail::blocks_for;
using detail::kThreads;
using detail::stream;

// The input rows [lo, hi) of window o, clipped to the input (as the CPU's window()).
struct Span {
  std::int64_t lo, hi;
};
__device__ Span window(std::int64_t o, std::int64_t stride, std::int64_t pad, std::int64_t k,
                       std::int64_t in) {
  const std::int64_t start = o * stride - pad;
  return {start > 0 ? start : 0, start + k < in ? start + k : in};
}

// The windows [lo, hi) along one dim that contain input position i: o·s - p ≤ i < o·s - p + k.
__device__ Span windows_of(std::int64_t i, std::int64_t stride, std::int64_t pad, std::int64_t k,
                           std::int64_t out) {
  const std::int64_t a = i + pad - k + 1;  // o·s ≥ a
  std::int64_t lo = a <= 0 ? 0 : (a + stride - 1) / stride;
  std::int64_t hi = (i + pad) / stride + 1;  // o·s ≤ i + p
  if (hi > out) hi = out;
  return {lo, hi};
}

// ---- kernels --------------------------------------------------------------------------

// avg:  out = Σ window / (KH·KW)   (padding counts as zeros)
//   input (planes, H, W) -> output (planes, H_out, W_out)
template <class T>
__global__ void avg_pool_forward_kernel(Pool2dParams p, const T* input, T* output) {
  const std::int64_t total = p.planes * p.H_out * p.W_out;
  const T inv = T(1) / static_cast<T>(p.KH * p.KW);
  for (std::int64_t t = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; t < total;
       t += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t ow = t % p.W_out, oh = (t / p.W_out) % p.H_out, c = t / (p.W_out * p.H_out);
    const T* x = input + c * p.H * p.W;
    const Span rows = window(oh, p.stride_h, p.pad_h, p.KH, p.H);
    const Span cols = window(ow, p.stride_w, p.pad_w, p.KW, p.W);
    T sum = 0;
    for (std::int64_t ih = rows.lo; ih < rows.hi; ++ih)
      for (std::int64_t iw = cols.lo; iw < cols.hi; ++iw) sum += x[ih * p.W + iw];
    output[t] = sum * inv;
  }
}

//   grad_output (planes, H_out, W_out) -> grad_input (planes, H, W)
template <class T>
__global__ void avg_pool_backward_kernel(Pool2dParams p, const T* grad_output, T* grad_input) {
  const std::int64_t total = p.planes * p.H * p.W;
  const T inv = T(1) / static_cast<T>(p.KH * p.KW);
  for (std::int64_t t = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; t < total;
       t += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t iw = t % p.W, ih = (t / p.W) % p.H, c = t / (p.W * p.H);
    const T* gy = grad_output + c * p.H_out * p.W_out;
    const Span rows = windows_of(ih, p.stride_h, p.pad_h, p.KH, p.H_out);
    const Span cols = windows_of(iw, p.stride_w, p.pad_w, p.KW, p.W_out);
    T sum = 0;
    for (std::int64_t oh = rows.lo; oh < rows.hi; ++oh)
      for (std::int64_t ow = cols.lo; ow < cols.hi; ++ow) sum += gy[oh * p.W_out + ow] * inv;
    grad_input[t] = sum;
  }
}

// max:  out = the window's largest pixel (a NaN wins; the first on ties), indices = where.
//   input (planes, H, W) -> output, indices (planes, H_out, W_out)
template <class T>
__global__ void max_pool_forward_kernel(Pool2dParams p, const T* input, T* output,
                                        std::int64_t* indices) {
  const std::int64_t total = p.planes * p.H_out * p.W_out;
  for (std::int64_t t = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; t < total;
       t += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t ow = t % p.W_out, oh = (t / p.W_out) % p.H_out, c = t / (p.W_out * p.H_out);
    const T* x = input + c * p.H * p.W;
    const Span rows = window(oh, p.stride_h, p.pad_h, p.KH, p.H);
    const Span cols = window(ow, p.stride_w, p.pad_w, p.KW, p.W);
    std::int64_t best = rows.lo * p.W + cols.lo;
    T best_value = x[best];
    for (std::int64_t ih = rows.lo; ih < rows.hi; ++ih) {
      for (std::int64_t iw = cols.lo; iw < cols.hi; ++iw) {
        const T v = x[ih * p.W + iw];
        if (v > best_value || (v != v && best_value == best_value)) {
          best_value = v;
          best = ih * p.W + iw;
        }
      }
    }
    output[t] = best_value;
    indices[t] = best;
  }
}

// grad_input[i] = Σ over the windows containing i whose recorded argmax is i.
//   grad_output, indices (planes, H_out, W_out) -> grad_input (planes, H, W)
template <class T>
__global__ void max_pool_backward_kernel(Pool2dParams p, const T* grad_output,
                                         const std::int64_t* indices, T* grad_input) {
  const std::int64_t total = p.planes * p.H * p.W;
  for (std::int64_t t = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; t < total;
       t += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t iw = t % p.W, ih = (t / p.W) % p.H, c = t / (p.W * p.H);
    const std::int64_t plane_out = c * p.H_out * p.W_out, self = ih * p.W + iw;
    const Span rows = windows_of(ih, p.stride_h, p.pad_h, p.KH, p.H_out);
    const Span cols = windows_of(iw, p.stride_w, p.pad_w, p.KW, p.W_out);
    T sum = 0;
    for (std::int64_t oh = rows.lo; oh < rows.hi; ++oh)
      for (std::int64_t ow = cols.lo; ow < cols.hi; ++ow) {
        const std::int64_t o = plane_out + oh * p.W_out + ow;
        if (indices[o] == self) sum += grad_output[o];
      }
    grad_input[t] = sum;
  }
}

// ---- launchers ------------------------------------------------------------------------

void check_params(const Pool2dParams& p, const char* op) {
  KILN_CHECK(p.planes >= 0 && p.H > 0 && p.W > 0 && p.KH > 0 && p.KW > 0 && p.stride_h > 0 &&
                 p.stride_w > 0 && p.H_out > 0 && p.W_out > 0 && 2 * p.pad_h <= p.KH &&
                 2 * p.pad_w <= p.KW,
             "{}: invalid geometry (input {}x{}, kernel {}x{}, stride [{}, {}], padding [{}, {}])",
             op, p.H, p.W, p.KH, p.KW, p.stride_h, p.stride_w, p.pad_h, p.pad_w);
}

}  // namespace

template <class T>
void avg_pool2d_forward(const Pool2dParams& p, const T* input, T* output) {
  check_params(p, "avg_pool2d_forward");
  const std::int64_t total = p.planes * p.H_out * p.W_out;
  if (total == 0) return;
  avg_pool_forward_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(p, input, output);
  KILN_CUDA_CHECK_LAUNCH("avg_pool2d_forward");
}

template <class T>
void avg_pool2d_backward(const Pool2dParams& p, const T* grad_output, T* grad_input) {
  check_params(p, "avg_pool2d_backward");
  const std::int64_t total = p.planes * p.H * p.W;
  if (total == 0) return;
  avg_pool_backward_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(p, grad_output,
                                                                         grad_input);
  KILN_CUDA_CHECK_LAUNCH("avg_pool2d_backward");
}

template <class T>
void max_pool2d_forward(const Pool2dParams& p, const T* input, T* output, std::int64_t* indices) {
  check_params(p, "max_pool2d_forward");
  const std::int64_t total = p.planes * p.H_out * p.W_out;
  if (total == 0) return;
  max_pool_forward_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(p, input, output, indices);
  KILN_CUDA_CHECK_LAUNCH("max_pool2d_forward");
}

template <class T>
void max_pool2d_backward(const Pool2dParams& p, const T* grad_output, const std::int64_t* indices,
                         T* grad_input) {
  check_params(p, "max_pool2d_backward");
  const std::int64_t total = p.planes * p.H * p.W;
  if (total == 0) return;
  max_pool_backward_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(p, grad_output, indices,
                                                                         grad_input);
  KILN_CUDA_CHECK_LAUNCH("max_pool2d_backward");
}

#define KILN_INSTANTIATE(T)                                                                    \
  template void avg_pool2d_forward<T>(const Pool2dParams&, const T*, T*);                      \
  template void avg_pool2d_backward<T>(const Pool2dParams&, const T*, T*);                     \
  template void max_pool2d_forward<T>(const Pool2dParams&, const T*, T*, std::int64_t*);       \
  template void max_pool2d_backward<T>(const Pool2dParams&, const T*, const std::int64_t*, T*);
KILN_INSTANTIATE(float)
KILN_INSTANTIATE(double)
#undef KILN_INSTANTIATE

}  // namespace kiln::cuda
