#pragma once
// "mlp-2d" (shared/REFERENCE_MODELS.md): the noise predictor for 2-D point datasets
// (swiss roll, two moons, 8 Gaussians). It trains in seconds on a CPU, which makes it the
// model of the first tutorials: every idea of the U-Net (predict ε from x_t and t, the
// E28 timestep embedding) without the convolutions.
//
//   x [B, 2], t [B]
//     h = cat(x, E28(t, temb_dim))                    [B, 2 + temb_dim]
//     3 × (Linear -> SiLU), hidden width 128         [B, 128]
//     out = Linear(128, 2), zero-initialised          [B, 2]
//
// Parameter names: net.0.weight, net.2.weight, net.4.weight (the hidden Linears),
// net.6.weight (the output). With the defaults: (2+32)·128+128 + 2·(128·128+128) +
// 128·2+2 = 37,762 parameters.
#include <cstdint>
#include <memory>
#include <string>

#include "diffusion/models.h"
#include "nn/container.h"
#include "nn/linear.h"

namespace kiln::diffusion {

struct MLPConfig {
  std::int64_t dim = 2;        // point dimensions, in and out
  std::int64_t hidden = 128;   // width of every hidden layer
  std::int64_t layers = 3;     // hidden layers
  std::int64_t temb_dim = 32;  // E28 embedding size (even, >= 4)
};

class MLP2d : public DiffusionModel {
 public:
  explicit MLP2d(MLPConfig config = {}, std::string name = "custom");

  using DiffusionModel::forward;
  // x [B, dim], t [B] (int64 timesteps, or floats) -> ε̂ [B, dim]
  Tensor forward(const Tensor& x, const Tensor& t) override;
  Shape sample_shape() const override { return {config.dim}; }
  TimeInput time_input() const override { return TimeInput::Timestep; }
  std::string config_name() const override { return name_; }

  MLPConfig config;
  std::shared_ptr<nn::Sequential> net;

 private:
  std::string name_;
};

}  // namespace kiln::diffusion
