#pragma once
// The Keras chapter's U-Net (Generative Deep Learning 2nd ed., ch. 8), "keras-unet64" of
// shared/REFERENCE_MODELS.md: it predicts the noise of a 64×64 image from the noisy image
// and the noise variance (continuous time, E3b), not from a timestep.
//
//   x [B, 3, 64, 64], noise variance [B]
//     inc: conv1x1 -> [B, 32, 64, 64]
//     cat with E29(variance) [B, 32], repeated over 64×64 (nearest)  -> [B, 64, 64, 64]
//     DownBlocks 32, 64, 96:  2 × ResidualBlock (each output kept as a skip), avg-pool 2×2
//     2 × ResidualBlock(128)                                          at 8×8
//     UpBlocks 96, 64, 32:    bilinear ×2, then 2 × (cat the last skip, ResidualBlock)
//     out: conv1x1 -> [B, 3, 64, 64], zero-initialised
//
//   ResidualBlock(width): residual = x, or conv1x1(x) when the channel count differs;
//                         h = conv3x3(swish(conv3x3(BatchNorm(x))));  out = h + residual
//   (BatchNorm without scale or offset; the swish is the first conv's activation.)
//
// Parameters: 1,950,627 (trainable), plus 2,880 BatchNorm running means and variances,
// which are buffers here (Keras's model.summary() counts them too: "Total params:
// 1,953,507", "Non-trainable params: 2,880"). The count, block by block, is in
// tests/diffusion/network_test.cpp.
//
// Keras defaults are kept where they change behaviour: convolution kernels start
// Glorot-uniform and biases at zero; BatchNormalization uses eps 1e-3 and Keras momentum
// 0.99, i.e. running = 0.99·running + 0.01·batch (momentum 0.01 in PyTorch's convention).
// Like any BatchNorm network it behaves differently in train() and eval() mode.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "diffusion/models.h"
#include "nn/container.h"
#include "nn/conv.h"
#include "nn/norm.h"

namespace kiln::diffusion {

struct KerasUNetConfig {
  std::int64_t res = 64;                            // image side (square)
  std::int64_t channels = 3;                        // image channels in and out
  std::vector<std::int64_t> widths = {32, 64, 96};  // DownBlocks (UpBlocks reversed)
  std::int64_t mid_width = 128;                     // the two middle ResidualBlocks
  std::int64_t block_depth = 2;                     // ResidualBlocks per Down/UpBlock
  std::int64_t embedding_L = 16;                    // E29: 2L = 32 embedding channels
  double embedding_max_frequency = 1000.0;          // E29: e^{(L-1) f}
};

class KerasResidualBlock : public nn::Module {
 public:
  KerasResidualBlock(std::int64_t cin, std::int64_t width);
  Tensor forward(const Tensor& x) override;  // [B, cin, H, W] -> [B, width, H, W]
  std::string extra_repr() const override;

  std::int64_t cin, width;
  std::shared_ptr<nn::Conv2d> residual;  // null when cin == width (identity)
  std::shared_ptr<nn::BatchNorm2d> norm; // no weight or bias
  std::shared_ptr<nn::Conv2d> conv1, conv2;
};

class KerasUNet : public DiffusionModel {
 public:
  explicit KerasUNet(KerasUNetConfig config = {}, std::string name = "custom");

  using DiffusionModel::forward;
  // x [B, channels, res, res], noise_variance float [B] (or [B, 1, 1, 1], as in Keras)
  //   -> ε̂ [B, channels, res, res]
  Tensor forward(const Tensor& x, const Tensor& noise_variance) override;
  Shape sample_shape() const override { return {config.channels, config.res, config.res}; }
  TimeInput time_input() const override { return TimeInput::NoiseVariance; }
  std::string config_name() const override { return name_; }

  KerasUNetConfig config;
  std::shared_ptr<nn::Conv2d> inc;
  std::shared_ptr<nn::ModuleList> down;  // per DownBlock, a ModuleList of ResidualBlocks
  std::shared_ptr<nn::ModuleList> mid;   // ResidualBlocks
  std::shared_ptr<nn::ModuleList> up;    // per UpBlock, a ModuleList of ResidualBlocks
  std::shared_ptr<nn::Conv2d> out;       // zero-initialised

 private:
  using Blocks = std::vector<std::shared_ptr<KerasResidualBlock>>;
  std::vector<Blocks> down_blocks_, up_blocks_;
  Blocks mid_blocks_;
  std::string name_;
};

}  // namespace kiln::diffusion
