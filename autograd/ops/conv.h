#pragma once
// 2-D convolution, as torch.nn.functional.conv2d (cross-correlation, NCHW).
//
//   input   [N, C_in, H, W]
//   weight  [C_out, C_in / groups, KH, KW]
//   bias    [C_out], or undefined for none
//   out     [N, C_out, H_out, W_out],
//           H_out = (H + 2·padding[0] - dilation[0]·(KH - 1) - 1) / stride[0] + 1,
//           W_out likewise with index 1.
//
// groups splits the channels into that many independent convolutions: output channels
// [g·C_out/groups, (g+1)·C_out/groups) see only input channels [g·C_in/groups, ...).
// The backward computes the gradients of input, weight and bias (each only when it is
// required) with the explicit kernels of tensor/cpu/conv.h; it is differentiable once.
#include <array>
#include <cstdint>

#include "tensor/tensor.h"

namespace kiln {

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
              std::array<std::int64_t, 2> stride = {1, 1},
              std::array<std::int64_t, 2> padding = {0, 0},
              std::array<std::int64_t, 2> dilation = {1, 1}, std::int64_t groups = 1);

}  // namespace kiln
