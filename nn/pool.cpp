#include "nn/pool.h"

#include "autograd/ops/pool.h"

namespace kiln::nn {

namespace {
std::string pool_repr(const Size2& k, const Size2& s, const Size2& p) {
  return fmt::format("kernel_size={}, stride={}, padding={}", k.str(),
                     s == Size2(0) ? k.str() : s.str(), p.str());
}
}  // namespace

Tensor AvgPool2d::forward(const Tensor& x) {
  return avg_pool2d(x, kernel_size.array(), stride.array(), padding.array());
}
std::string AvgPool2d::extra_repr() const { return pool_repr(kernel_size, stride, padding); }

Tensor MaxPool2d::forward(const Tensor& x) {
  return max_pool2d(x, kernel_size.array(), stride.array(), padding.array());
}
std::string MaxPool2d::extra_repr() const { return pool_repr(kernel_size, stride, padding); }

}  // namespace kiln::nn
