#pragma once
// CPU 2-D resampling kernels (nearest and bilinear, as torch.nn.functional.interpolate
// with align_corners=False) on raw contiguous buffers. No Tensor, no autograd: the op
// layer (autograd/ops/interpolate.cpp) checks the arguments and fills the params.
// N and C are one dim here: every (n, c) plane is resampled alone.
//
//   input, grad_input    (planes, H, W)
//   output, grad_output  (planes, H_out, W_out)
//
// scale_h (scale_w) is the number of input pixels per output pixel along that dim: H / H_out
// when the caller gave a size, 1 / scale_factor when it gave a factor (PyTorch's rule; the
// two differ when H · scale_factor is not a whole number).
//   nearest:   out[oh, ow] = in[min(⌊oh·scale_h⌋, H-1), min(⌊ow·scale_w⌋, W-1)]
//   bilinear:  source coordinate  h = max((oh + 0.5)·scale_h - 0.5, 0),  h0 = ⌊h⌋,
//              h1 = min(h0 + 1, H - 1),  λ = h - h0  (same along w), and
//              out = (1-λh)(1-λw) in[h0, w0] + (1-λh) λw in[h0, w1]
//                    + λh (1-λw) in[h1, w0] + λh λw in[h1, w1]
// The backward kernels are the adjoints: each output gradient is added back, with the
// same weights, to the input pixels its value was read from. They overwrite grad_input.
// Planes are split across OpenMP threads; results do not depend on the thread count.
#include <cstdint>

namespace kiln::cpu {

struct Interpolate2dParams {
  std::int64_t planes = 0, H = 0, W = 0;  // input
  std::int64_t H_out = 0, W_out = 0;      // output
  double scale_h = 1, scale_w = 1;        // input pixels per output pixel
};

template <class T>
void interpolate_nearest_forward(const Interpolate2dParams& p, const T* input, T* output);
template <class T>
void interpolate_nearest_backward(const Interpolate2dParams& p, const T* grad_output,
                                  T* grad_input);
template <class T>
void interpolate_bilinear_forward(const Interpolate2dParams& p, const T* input, T* output);
template <class T>
void interpolate_bilinear_backward(const Interpolate2dParams& p, const T* grad_output,
                                   T* grad_input);

}  // namespace kiln::cpu
