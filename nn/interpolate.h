#pragma once
// nn::Upsample (torch.nn.Upsample with align_corners=False), over interpolate of
// autograd/ops/interpolate.h:  x (N, C, H, W) -> (N, C, ⌊H·s⌋, ⌊W·s⌋).
//   nn::Upsample up(2.0);                                  // nearest, ×2
//   nn::Upsample smooth(2.0, InterpolateMode::Bilinear);
#include "autograd/ops/interpolate.h"
#include "nn/module.h"

namespace kiln::nn {

class Upsample : public Module {
 public:
  explicit Upsample(double scale_factor = 2.0, InterpolateMode mode = InterpolateMode::Nearest);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  double scale_factor;
  InterpolateMode mode;
};

}  // namespace kiln::nn
