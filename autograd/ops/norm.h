#pragma once
// Normalisation ops, torch.nn.functional's group_norm / layer_norm / batch_norm. Each
// standardises x over a set of elements (mean 0, variance 1, with the biased variance
// and eps inside the square root) and then applies an optional affine map w · xhat + b.
// The sets (kernels and formulas in tensor/cpu/norm.h):
//
//   group_norm  x [N, C, *]: per sample, per group of C / num_groups channels (all
//               spatial positions); weight, bias [C].
//   layer_norm  x [..., *normalized_shape]: per sample, over the trailing dims equal to
//               normalized_shape; weight, bias shaped like normalized_shape.
//   batch_norm  x [N, C, *]: per channel, over the batch and spatial positions;
//               weight, bias, running_mean, running_var [C].
//
// An undefined weight / bias (Tensor{}) means no affine part (w = 1, b = 0). Gradients
// flow to x, weight and bias through explicit backward kernels (differentiable once;
// a second derivative through a norm is not supported).
#include <cstdint>

#include "tensor/tensor.h"

namespace kiln {

Tensor group_norm(const Tensor& x, std::int64_t num_groups, const Tensor& weight = {},
                  const Tensor& bias = {}, double eps = 1e-5);

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = {},
                  const Tensor& bias = {}, double eps = 1e-5);

// training = true: normalises with the batch's statistics and, when running_mean /
//   running_var are defined, updates them in place like PyTorch:
//     running_mean = (1 - momentum) · running_mean + momentum · batch_mean
//     running_var  = (1 - momentum) · running_var  + momentum · batch_var_unbiased
//   (the normalisation itself uses the biased batch variance). Needs more than one
//   value per channel (N · spatial > 1).
// training = false: normalises with running_mean / running_var (both required), which
//   makes the op a fixed affine map of x; nothing is updated.
// Running statistics are buffers: they never receive a gradient.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum = 0.1,
                  double eps = 1e-5);

}  // namespace kiln
