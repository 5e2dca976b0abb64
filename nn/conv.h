#pragma once
// nn::Conv2d (torch.nn.Conv2d), over conv2d of autograd/ops/conv.h:
//   x (N, C_in, H, W) -> (N, C_out, H_out, W_out),
//   weight (C_out, C_in / groups, KH, KW), bias (C_out).
// Initialisation as torch: weight kaiming_uniform_(a = √5) = U(-1/√fan_in, 1/√fan_in)
// with fan_in = C_in / groups · KH · KW, bias U(-1/√fan_in, 1/√fan_in).
//
//   nn::Conv2d conv(3, 64, 3, {.padding = 1});            // 3x3, same size
//   nn::Conv2d down(64, 64, 3, {.stride = 2, .padding = 1});
#include <cstdint>

#include "nn/module.h"
#include "nn/size2.h"

namespace kiln::nn {

struct Conv2dOptions {
  Size2 stride = 1;
  Size2 padding = 0;
  Size2 dilation = 1;
  std::int64_t groups = 1;
  bool bias = true;
};

class Conv2d : public Module {
 public:
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, Size2 kernel_size,
         Conv2dOptions options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_parameters(Generator* gen = nullptr);

  std::int64_t in_channels, out_channels;
  Size2 kernel_size;
  Conv2dOptions options;
  Tensor weight;  // (out_channels, in_channels / groups, KH, KW)
  Tensor bias;    // (out_channels), undefined when options.bias = false
};

}  // namespace kiln::nn
