#pragma once
// 2-D resampling, as torch.nn.functional.interpolate with align_corners=False.
//
//   x    [N, C, H, W]
//   out  [N, C, size[0], size[1]], or [N, C, ⌊H·scale_factor⌋, ⌊W·scale_factor⌋]
//
//   Nearest   each output pixel copies the input pixel ⌊o · in/out⌋ (PyTorch's "nearest",
//             not "nearest-exact"): ×2 upsampling repeats every pixel in a 2x2 block.
//   Bilinear  each output pixel centre is mapped back to input coordinates,
//             (o + 0.5)·in/out - 0.5 clamped at 0, and the four nearest input pixels are
//             mixed with the bilinear weights (tensor/cpu/interpolate.h).
// With a scale_factor, in/out is taken as 1/scale_factor, as PyTorch does, so
// interpolate(x, 1.5, ...) and interpolate(x, {⌊1.5·H⌋, ⌊1.5·W⌋}, ...) can differ slightly.
// The backward is an explicit kernel (the adjoint scatter-add): differentiable once.
#include <array>
#include <cstdint>

#include "tensor/tensor.h"

namespace kiln {

enum class InterpolateMode { Nearest, Bilinear };

Tensor interpolate(const Tensor& x, std::array<std::int64_t, 2> size, InterpolateMode mode);
Tensor interpolate(const Tensor& x, double scale_factor, InterpolateMode mode);

}  // namespace kiln
