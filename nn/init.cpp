#include "nn/init.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/ops/elementwise.h"

namespace kiln::nn::init {

namespace {

void check_floating(const Tensor& t, const char* fn) {
  KILN_CHECK(t.defined(), "{}: undefined tensor", fn);
  KILN_CHECK(is_floating(t.dtype()), "{}: expects a floating tensor, got {}", fn, t.dtype());
}

double fan(const Tensor& t, FanMode mode) {
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  return static_cast<double>(mode == FanMode::FanIn ? fan_in : fan_out);
}

}  // namespace

double calculate_gain(Nonlinearity nonlinearity, double param) {
  switch (nonlinearity) {
    case Nonlinearity::Linear:
    case Nonlinearity::Conv2d:
    case Nonlinearity::Sigmoid: return 1.0;
    case Nonlinearity::Tanh: return 5.0 / 3.0;
    case Nonlinearity::ReLU: return std::sqrt(2.0);
    case Nonlinearity::LeakyReLU: return std::sqrt(2.0 / (1.0 + param * param));
    case Nonlinearity::SELU: return 3.0 / 4.0;
  }
  fail("calculate_gain: unknown nonlinearity");
}

std::pair<std::int64_t, std::int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  KILN_CHECK(t.defined() && t.dim() >= 2,
             "calculate_fan_in_and_fan_out: needs a tensor with at least 2 dims, got shape {}",
             t.defined() ? shape_str(t.shape()) : "undefined");
  std::int64_t receptive = 1;
  for (std::int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

Tensor uniform_(Tensor tensor, double low, double high, Generator* gen) {
  check_floating(tensor, "uniform_");
  KILN_CHECK(low <= high, "uniform_: low {} > high {}", low, high);
  NoGradGuard no_grad;
  // Drawn on the CPU in the tensor's dtype, then copied (to any device).
  const Tensor u = Tensor::rand(tensor.shape(), {.dtype = tensor.dtype()}, gen);
  Tensor dst = tensor.detach();
  dst.copy_(u * (high - low) + low);
  return tensor;
}

Tensor normal_(Tensor tensor, double mean, double std, Generator* gen) {
  check_floating(tensor, "normal_");
  KILN_CHECK(std >= 0, "normal_: std must be non-negative, got {}", std);
  NoGradGuard no_grad;
  const Tensor z = Tensor::randn(tensor.shape(), {.dtype = tensor.dtype()}, gen);
  Tensor dst = tensor.detach();
  dst.copy_(z * std + mean);
  return tensor;
}

Tensor constant_(Tensor tensor, double value) {
  check_floating(tensor, "constant_");
  tensor.detach().fill_(value);
  return tensor;
}
Tensor zeros_(Tensor tensor) { return constant_(std::move(tensor), 0); }
Tensor ones_(Tensor tensor) { return constant_(std::move(tensor), 1); }

Tensor kaiming_uniform_(Tensor tensor, double a, FanMode mode, Nonlinearity nonlinearity,
                        Generator* gen) {
  check_floating(tensor, "kaiming_uniform_");
  const double gain = calculate_gain(nonlinearity, a);
  const double bound = gain * std::sqrt(3.0 / fan(tensor, mode));
  return uniform_(std::move(tensor), -bound, bound, gen);
}

Tensor kaiming_normal_(Tensor tensor, double a, FanMode mode, Nonlinearity nonlinearity,
                       Generator* gen) {
  check_floating(tensor, "kaiming_normal_");
  const double gain = calculate_gain(nonlinearity, a);
  const double std = gain / std::sqrt(fan(tensor, mode));
  return normal_(std::move(tensor), 0, std, gen);
}

Tensor xavier_uniform_(Tensor tensor, double gain, Generator* gen) {
  check_floating(tensor, "xavier_uniform_");
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  return uniform_(std::move(tensor), -bound, bound, gen);
}

Tensor xavier_normal_(Tensor tensor, double gain, Generator* gen) {
  check_floating(tensor, "xavier_normal_");
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  return normal_(std::move(tensor), 0, std, gen);
}

}  // namespace kiln::nn::init
