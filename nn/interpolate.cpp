#include "nn/interpolate.h"

namespace kiln::nn {

Upsample::Upsample(double scale_factor, InterpolateMode mode)
    : scale_factor(scale_factor), mode(mode) {
  KILN_CHECK(scale_factor > 0, "Upsample: scale_factor must be positive, got {}", scale_factor);
}

Tensor Upsample::forward(const Tensor& x) { return interpolate(x, scale_factor, mode); }

std::string Upsample::extra_repr() const {
  return fmt::format("scale_factor={}, mode={}", scale_factor,
                     mode == InterpolateMode::Nearest ? "nearest" : "bilinear");
}

}  // namespace kiln::nn
