#pragma once
// CPU 2-D pooling kernels on raw contiguous buffers. No Tensor, no autograd: the op layer
// (autograd/ops/pool.cpp) checks the arguments, fills a Pool2dParams and makes every
// operand contiguous first. N and C are one dim here: every (n, c) plane pools alone.
//
//   input, grad_input    (planes, H, W)             planes = N·C
//   output, grad_output  (planes, H_out, W_out)
//   indices              (planes, H_out, W_out)     int64, ih·W + iw within the plane
//   H_out = (H + 2 pad_h - KH) / stride_h + 1        (same for W)
//
// Window (oh, ow) covers rows oh·s_h - p_h + [0, KH) and columns ow·s_w - p_w + [0, KW).
//   avg:  out = Σ over the window's input pixels / (KH·KW): padding counts as zeros
//         (PyTorch's count_include_pad=True).
//   max:  out = the largest input pixel of the window (padding never wins; a NaN does,
//         as in PyTorch), and indices records where it was (the first on ties).
// Every window must hold at least one input pixel (the op layer requires pad ≤ kernel/2).
// Planes are split across OpenMP threads; results do not depend on the thread count.
#include <cstdint>

namespace kiln::cpu {

struct Pool2dParams {
  std::int64_t planes = 0, H = 0, W = 0;  // input
  std::int64_t KH = 0, KW = 0;
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;
  std::int64_t H_out = 0, W_out = 0;  // output
};

template <class T>
void avg_pool2d_forward(const Pool2dParams& p, const T* input, T* output);
// Overwrites grad_input.
template <class T>
void avg_pool2d_backward(const Pool2dParams& p, const T* grad_output, T* grad_input);

template <class T>
void max_pool2d_forward(const Pool2dParams& p, const T* input, T* output,
                        std::int64_t* indices);
// grad_input[indices[o]] += grad_output[o] for every output o; overwrites grad_input.
template <class T>
void max_pool2d_backward(const Pool2dParams& p, const T* grad_output,
                         const std::int64_t* indices, T* grad_input);

}  // namespace kiln::cpu
