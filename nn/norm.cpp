#include "nn/norm.h"

#include "autograd/grad_mode.h"
#include "autograd/ops/norm.h"
#include "nn/init.h"

namespace kiln::nn {

// ---- GroupNorm --------------------------------------------------------------------

GroupNorm::GroupNorm(std::int64_t num_groups, std::int64_t num_channels, double eps, bool affine)
    : num_groups(num_groups), num_channels(num_channels), eps(eps) {
  KILN_CHECK(num_groups > 0 && num_channels > 0 && num_channels % num_groups == 0,
             "GroupNorm: num_channels {} must be a positive multiple of num_groups {}",
             num_channels, num_groups);
  if (affine) {
    weight = register_parameter("weight", Tensor::ones({num_channels}));
    bias = register_parameter("bias", Tensor::zeros({num_channels}));
  }
}

void GroupNorm::reset_parameters() {
  if (weight.defined()) init::ones_(weight);
  if (bias.defined()) init::zeros_(bias);
}

Tensor GroupNorm::forward(const Tensor& x) {
  KILN_CHECK(x.defined() && x.dim() >= 2 && x.size(1) == num_channels,
             "GroupNorm: expected input (N, {}, *), got {}", num_channels,
             x.defined() ? shape_str(x.shape()) : "undefined");
  return group_norm(x, num_groups, weight, bias, eps);
}

std::string GroupNorm::extra_repr() const {
  return fmt::format("{}, {}, eps={}, affine={}", num_groups, num_channels, eps,
                     weight.defined());
}

// ---- LayerNorm --------------------------------------------------------------------

LayerNorm::LayerNorm(Shape normalized_shape, double eps, bool elementwise_affine)
    : normalized_shape(std::move(normalized_shape)), eps(eps) {
  KILN_CHECK(!this->normalized_shape.empty(), "LayerNorm: normalized_shape must not be empty");
  if (elementwise_affine) {
    weight = register_parameter("weight", Tensor::ones(this->normalized_shape));
    bias = register_parameter("bias", Tensor::zeros(this->normalized_shape));
  }
}

void LayerNorm::reset_parameters() {
  if (weight.defined()) init::ones_(weight);
  if (bias.defined()) init::zeros_(bias);
}

Tensor LayerNorm::forward(const Tensor& x) {
  return layer_norm(x, normalized_shape, weight, bias, eps);
}

std::string LayerNorm::extra_repr() const {
  return fmt::format("{}, eps={}, elementwise_affine={}", shape_str(normalized_shape), eps,
                     weight.defined());
}

// ---- BatchNorm2d ------------------------------------------------------------------

BatchNorm2d::BatchNorm2d(std::int64_t num_features, double eps, double momentum, bool affine)
    : num_features(num_features), eps(eps), momentum(momentum) {
  KILN_CHECK(num_features > 0, "BatchNorm2d: num_features must be positive, got {}",
             num_features);
  if (affine) {
    weight = register_parameter("weight", Tensor::ones({num_features}));
    bias = register_parameter("bias", Tensor::zeros({num_features}));
  }
  running_mean = register_buffer("running_mean", Tensor::zeros({num_features}));
  running_var = register_buffer("running_var", Tensor::ones({num_features}));
  num_batches_tracked =
      register_buffer("num_batches_tracked", Tensor::zeros({}, {.dtype = kInt64}));
}

void BatchNorm2d::reset_running_stats() {
  running_mean.detach().fill_(0);
  running_var.detach().fill_(1);
  num_batches_tracked.detach().fill_(0);
}

void BatchNorm2d::reset_parameters() {
  reset_running_stats();
  if (weight.defined()) init::ones_(weight);
  if (bias.defined()) init::zeros_(bias);
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  KILN_CHECK(x.defined() && x.dim() == 4 && x.size(1) == num_features,
             "BatchNorm2d: expected input (N, {}, H, W), got {}", num_features,
             x.defined() ? shape_str(x.shape()) : "undefined");
  const bool training = is_training();
  Tensor y = batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps);
  if (training) {
    NoGradGuard no_grad;
    const Tensor one = Tensor::ones({}, {.dtype = kInt64, .device = num_batches_tracked.device()});
    num_batches_tracked.detach().copy_(num_batches_tracked + one);
  }
  return y;
}

std::string BatchNorm2d::extra_repr() const {
  return fmt::format("{}, eps={}, momentum={}, affine={}", num_features, eps, momentum,
                     weight.defined());
}

}  // namespace kiln::nn
