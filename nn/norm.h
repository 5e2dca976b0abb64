#pragma once
// Normalisation layers over the ops of autograd/ops/norm.h (torch.nn's layers of the
// same names). Affine parameters start at weight = 1, bias = 0, as in torch.
//   GroupNorm    x (N, C, *): per sample, per group of C / num_groups channels.
//   LayerNorm    x (..., *normalized_shape): per sample, over the trailing dims.
//   BatchNorm2d  x (N, C, H, W): per channel over the batch; keeps running statistics
//                (buffers running_mean, running_var, num_batches_tracked) updated in
//                training mode and used in evaluation mode.
#include <cstdint>

#include "nn/module.h"

namespace kiln::nn {

class GroupNorm : public Module {
 public:
  GroupNorm(std::int64_t num_groups, std::int64_t num_channels, double eps = 1e-5,
            bool affine = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_parameters();

  std::int64_t num_groups, num_channels;
  double eps;
  Tensor weight, bias;  // (num_channels), undefined when affine = false
};

class LayerNorm : public Module {
 public:
  LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_parameters();

  Shape normalized_shape;
  double eps;
  Tensor weight, bias;  // normalized_shape, undefined when elementwise_affine = false
};

class BatchNorm2d : public Module {
 public:
  BatchNorm2d(std::int64_t num_features, double eps = 1e-5, double momentum = 0.1,
              bool affine = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_parameters();        // weight 1, bias 0, and the running statistics
  void reset_running_stats();     // mean 0, var 1, num_batches_tracked 0

  std::int64_t num_features;
  double eps, momentum;
  Tensor weight, bias;                // (num_features), undefined when affine = false
  Tensor running_mean, running_var;   // (num_features) buffers
  Tensor num_batches_tracked;         // int64 scalar buffer
};

}  // namespace kiln::nn
