#pragma once
// Pooling layers over autograd/ops/pool.h (torch.nn.AvgPool2d / MaxPool2d, ceil_mode off):
//   x (N, C, H, W) -> (N, C, (H + 2·padding - kernel) / stride + 1, ...).
// stride 0 (the default) means stride = kernel_size, as in torch.
#include "nn/module.h"
#include "nn/size2.h"

namespace kiln::nn {

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(Size2 kernel_size, Size2 stride = 0, Size2 padding = 0)
      : kernel_size(kernel_size), stride(stride), padding(padding) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Size2 kernel_size, stride, padding;
};

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(Size2 kernel_size, Size2 stride = 0, Size2 padding = 0)
      : kernel_size(kernel_size), stride(stride), padding(padding) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Size2 kernel_size, stride, padding;
};

}  // namespace kiln::nn
