#include "nn/conv.h"

#include <cmath>

#include "autograd/ops/conv.h"
#include "nn/init.h"

namespace kiln::nn {

Conv2d::Conv2d(std::int64_t in_channels, std::int64_t out_channels, Size2 kernel_size,
               Conv2dOptions options)
    : in_channels(in_channels), out_channels(out_channels), kernel_size(kernel_size),
      options(options) {
  const std::int64_t g = options.groups;
  KILN_CHECK(in_channels > 0 && out_channels > 0 && g > 0 && in_channels % g == 0 &&
                 out_channels % g == 0,
             "Conv2d: in_channels {} and out_channels {} must be positive multiples of groups {}",
             in_channels, out_channels, g);
  KILN_CHECK(kernel_size.h > 0 && kernel_size.w > 0, "Conv2d: kernel_size {} must be positive",
             kernel_size.str());
  weight = register_parameter(
      "weight", Tensor::empty({out_channels, in_channels / g, kernel_size.h, kernel_size.w}));
  if (options.bias) bias = register_parameter("bias", Tensor::empty({out_channels}));
  reset_parameters();
}

void Conv2d::reset_parameters(Generator* gen) {
  init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::FanIn,
                         init::Nonlinearity::LeakyReLU, gen);
  if (bias.defined()) {
    const auto fan_in = init::calculate_fan_in_and_fan_out(weight).first;
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    init::uniform_(bias, -bound, bound, gen);
  }
}

Tensor Conv2d::forward(const Tensor& x) {
  return conv2d(x, weight, bias, options.stride.array(), options.padding.array(),
                options.dilation.array(), options.groups);
}

std::string Conv2d::extra_repr() const {
  std::string s = fmt::format("{}, {}, kernel_size={}", in_channels, out_channels,
                              kernel_size.str());
  if (options.stride != Size2(1)) s += ", stride=" + options.stride.str();
  if (options.padding != Size2(0)) s += ", padding=" + options.padding.str();
  if (options.dilation != Size2(1)) s += ", dilation=" + options.dilation.str();
  if (options.groups != 1) s += fmt::format(", groups={}", options.groups);
  if (!bias.defined()) s += ", bias=false";
  return s;
}

}  // namespace kiln::nn
