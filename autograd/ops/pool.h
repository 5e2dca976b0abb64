#pragma once
// 2-D pooling, as torch.nn.functional.avg_pool2d / max_pool2d (ceil_mode=False).
//
//   x    [N, C, H, W]
//   out  [N, C, H_out, W_out],  H_out = (H + 2·padding[0] - kernel[0]) / stride[0] + 1
//
// stride {0, 0} (the default) means stride = kernel. padding may be at most half the
// kernel, so every window holds at least one input pixel.
//   avg_pool2d  the mean of the window, padding counted as zeros (count_include_pad=True,
//               torch's default): the divisor is always kernel[0]·kernel[1].
//   max_pool2d  the largest value of the window; the gradient goes to the position of the
//               maximum (the first one on ties), recorded by the forward.
// Both backwards are explicit kernels (tensor/cpu/pool.h): differentiable once.
#include <array>
#include <cstdint>

#include "tensor/tensor.h"

namespace kiln {

Tensor avg_pool2d(const Tensor& x, std::array<std::int64_t, 2> kernel,
                  std::array<std::int64_t, 2> stride = {0, 0},
                  std::array<std::int64_t, 2> padding = {0, 0});
Tensor max_pool2d(const Tensor& x, std::array<std::int64_t, 2> kernel,
                  std::array<std::int64_t, 2> stride = {0, 0},
                  std::array<std::int64_t, 2> padding = {0, 0});

}  // namespace kiln
