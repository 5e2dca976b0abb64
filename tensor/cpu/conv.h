#pragma once
// CPU 2-D convolution kernels on raw contiguous buffers. No Tensor, no autograd: the op
// layer (autograd/ops/conv.cpp) checks the arguments, fills a Conv2dParams and makes
// every operand contiguous first.
//
//   input   (N, C_in, H, W)
//   weight  (C_out, C_in / groups, KH, KW)
//   bias    (C_out)
//   output  (N, C_out, H_out, W_out)
//   H_out = (H + 2 pad_h - dilation_h (KH - 1) - 1) / stride_h + 1   (same for W)
//
// out[n, co, oh, ow] = bias[co] + Σ_{ci, kh, kw} weight[co, ci, kh, kw]
//                        * in[n, g·C_in/groups + ci, oh·s_h - p_h + kh·d_h, ow·s_w - p_w + kw·d_w]
// where g = co / (C_out / groups) and input positions outside [0, H) x [0, W) read 0.
//
// All four are im2col + GEMM (see Note [Convolution as GEMM] in conv.cpp); they run on
// OpenMP threads, and their results do not depend on the number of threads.
#include <cstdint>

namespace kiln::cpu {

struct Conv2dParams {
  std::int64_t N = 0, C_in = 0, H = 0, W = 0;  // input
  std::int64_t C_out = 0, KH = 0, KW = 0;      // weight (C_out, C_in / groups, KH, KW)
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;
  std::int64_t dilation_h = 1, dilation_w = 1;
  std::int64_t groups = 1;
  std::int64_t H_out = 0, W_out = 0;  // output
};

// The output length of one spatial dim; below 1 when the dilated kernel does not fit.
constexpr std::int64_t conv2d_output_size(std::int64_t in, std::int64_t kernel,
                                          std::int64_t stride, std::int64_t pad,
                                          std::int64_t dilation) {
  return (in + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;
}

// output = conv(input, weight) + bias; bias may be null (no bias).
template <class T>
void conv2d_forward(const Conv2dParams& p, const T* input, const T* weight, const T* bias,
                    T* output);

// grad_input (N, C_in, H, W) = ∂L/∂input given grad_output (N, C_out, H_out, W_out).
// Overwrites grad_input.
template <class T>
void conv2d_backward_input(const Conv2dParams& p, const T* grad_output, const T* weight,
                           T* grad_input);

// grad_weight (C_out, C_in / groups, KH, KW) = ∂L/∂weight, summed over the batch.
// Overwrites grad_weight.
template <class T>
void conv2d_backward_weight(const Conv2dParams& p, const T* grad_output, const T* input,
                            T* grad_weight);

// grad_bias (C_out) = Σ_{n, oh, ow} grad_output[n, co, oh, ow]. Overwrites grad_bias.
template <class T>
void conv2d_backward_bias(const Conv2dParams& p, const T* grad_output, T* grad_bias);

}  // namespace kiln::cpu
