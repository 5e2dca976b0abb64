#include "nn/linear.h"

#include <cmath>

#include "autograd/ops/matmul.h"
#include "nn/init.h"

namespace kiln::nn {

Linear::Linear(std::int64_t in_features, std::int64_t out_features, bool bias)
    : in_features(in_features), out_features(out_features) {
  KILN_CHECK(in_features > 0 && out_features > 0,
             "Linear: in_features and out_features must be positive, got {} and {}", in_features,
             out_features);
  weight = register_parameter("weight", Tensor::empty({out_features, in_features}));
  if (bias) this->bias = register_parameter("bias", Tensor::empty({out_features}));
  reset_parameters();
}

void Linear::reset_parameters(Generator* gen) {
  init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::FanIn,
                         init::Nonlinearity::LeakyReLU, gen);
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
    init::uniform_(bias, -bound, bound, gen);
  }
}

Tensor Linear::forward(const Tensor& x) {
  KILN_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == in_features,
             "Linear: input of shape {} does not end in in_features = {}",
             x.defined() ? shape_str(x.shape()) : "undefined", in_features);
  Tensor y = matmul(x, weight.t());
  return bias.defined() ? y + bias : y;
}

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", in_features, out_features,
                     bias.defined());
}

}  // namespace kiln::nn
