#pragma once
// The DDPM U-Net (Ho et al. 2020) that predicts the noise ε̂ = ε_θ(x_t, t):
// shared/REFERENCE_MODELS.md, "ddpm-cifar10" and "ddpm-small", built exactly like the
// PyTorch anchor shared/anchors/torch_unet.py (same layers, same order, same parameter
// names, so the two report the same parameter counts and a state dict saved from one
// loads into the other).
//
//   x [B, 3, res, res], t int64 [B]
//     temb = Linear(4ch) ∘ SiLU ∘ Linear(4ch) (E28(t, ch))             [B, 4ch]
//     inc: conv3x3 -> [B, ch, res, res]                                  (a skip)
//     down: per level i: `blocks` × (ResBlock -> Attn at attn_res)       (each a skip)
//           then conv3x3 stride 2, except at the last level              (a skip)
//     mid:  ResBlock, Attn, ResBlock
//     up:   per level, reversed: (blocks + 1) × (cat(h, skip) -> ResBlock -> Attn)
//           then nearest ×2 + conv3x3, except at the top level
//     out:  GroupNorm -> SiLU -> conv3x3 -> [B, 3, res, res]
//
// Parameter names (as torch_unet.py): temb.0.weight, inc.weight, down.0.0.c1.weight
// (level block: "0" the ResBlock, "1" the attention), down.1.weight (a downsampling
// conv), mid1.*, mida.*, mid2.*, up.3.1.weight (upsample's conv), out.0.weight (its
// GroupNorm), out.2.weight (the final conv).
//
// Zero-initialised, as in Ho et al.'s code, so the untrained network predicts ε̂ = 0:
// the output conv, each ResBlock's second conv c2, each attention's projection o
// (weights and biases).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "diffusion/models.h"
#include "nn/container.h"
#include "nn/conv.h"
#include "nn/dropout.h"
#include "nn/linear.h"
#include "nn/norm.h"

namespace kiln::diffusion {

struct UNetConfig {
  std::int64_t res = 32;                   // image side (square)
  std::int64_t ch = 128;                   // base channels
  std::vector<std::int64_t> mult = {1, 2, 2, 2};  // channels of level i: ch · mult[i]
  std::int64_t blocks = 2;                 // ResBlocks per level on the way down
  std::vector<std::int64_t> attn_res = {16};      // resolutions with self-attention
  std::int64_t groups = 32;                // GroupNorm groups
  double dropout = 0.1;                    // inside every ResBlock
  std::int64_t channels = 3;               // image channels in and out

  std::int64_t levels() const { return static_cast<std::int64_t>(mult.size()); }
};

// The named configurations of shared/REFERENCE_MODELS.md, plus a tiny one for tests:
//   ddpm-cifar10  res 32, ch 128, mult (1,2,2,2), 2 blocks, attn 16, groups 32, dropout 0.1
//   ddpm-small    res 32, ch 32,  mult (1,2,2),   1 block,  attn 8,  groups 8,  dropout 0
//   ddpm-tiny     res 16, ch 8,   mult (1,2),     1 block,  attn 8,  groups 4,  dropout 0
UNetConfig ddpm_cifar10_config();
UNetConfig ddpm_small_config();
UNetConfig ddpm_tiny_config();
// One of the three by name; throws naming the known ones.
UNetConfig unet_config(const std::string& name);

// ResBlock(cin, cout):  h = c1(SiLU(n1(x))) + t(SiLU(temb))[:, :, None, None]
//                       h = c2(dropout(SiLU(n2(h))))
//                       out = skip(x) + h      (skip: 1x1 conv when cin != cout)
class ResBlock : public nn::Module {
 public:
  ResBlock(std::int64_t cin, std::int64_t cout, std::int64_t tdim, std::int64_t groups,
           double dropout);
  using nn::Module::forward;
  // x [B, cin, H, W], temb [B, tdim] -> [B, cout, H, W]
  Tensor forward(const Tensor& x, const Tensor& temb);
  std::string extra_repr() const override;

  std::int64_t cin, cout;
  std::shared_ptr<nn::GroupNorm> n1;
  std::shared_ptr<nn::Conv2d> c1;
  std::shared_ptr<nn::Linear> t;
  std::shared_ptr<nn::GroupNorm> n2;
  std::shared_ptr<nn::Dropout> drop;
  std::shared_ptr<nn::Conv2d> c2;    // zero-initialised
  std::shared_ptr<nn::Conv2d> skip;  // null when cin == cout (identity)
};

// Self-attention over the H·W positions, one head:
//   q, k, v = split(qkv(n(x)))                  1x1 conv to 3C channels
//   h = softmax(qᵀk / √C) v                     scaled_dot_product_attention on [B, HW, C]
//   out = x + o(h)                              1x1 conv, zero-initialised
class AttnBlock : public nn::Module {
 public:
  AttnBlock(std::int64_t channels, std::int64_t groups);
  Tensor forward(const Tensor& x) override;  // [B, C, H, W] -> [B, C, H, W]
  std::string extra_repr() const override;

  std::int64_t channels;
  std::shared_ptr<nn::GroupNorm> n;
  std::shared_ptr<nn::Conv2d> qkv;
  std::shared_ptr<nn::Conv2d> o;
};

// One block of a level: a ResBlock ("0") followed by attention or the identity ("1").
class UNetBlock : public nn::Module {
 public:
  UNetBlock(std::shared_ptr<ResBlock> res, std::shared_ptr<AttnBlock> attn);
  using nn::Module::forward;
  Tensor forward(const Tensor& x, const Tensor& temb);

  std::shared_ptr<ResBlock> res;
  std::shared_ptr<AttnBlock> attn;  // null where the level has no attention
};

class UNet : public DiffusionModel {
 public:
  explicit UNet(UNetConfig config = {}, std::string name = "custom");

  using DiffusionModel::forward;
  // x [B, channels, res, res], t [B] (int64 timesteps, or floats) -> ε̂ [B, channels, res, res]
  Tensor forward(const Tensor& x, const Tensor& t) override;
  Shape sample_shape() const override { return {config.channels, config.res, config.res}; }
  TimeInput time_input() const override { return TimeInput::Timestep; }
  std::string config_name() const override { return name_; }
  std::string extra_repr() const override;

  UNetConfig config;
  std::shared_ptr<nn::Sequential> temb;  // Linear(ch, 4ch), SiLU, Linear(4ch, 4ch)
  std::shared_ptr<nn::Conv2d> inc;
  std::shared_ptr<nn::ModuleList> down;  // UNetBlock or Conv2d (stride 2)
  std::shared_ptr<ResBlock> mid1;
  std::shared_ptr<AttnBlock> mida;
  std::shared_ptr<ResBlock> mid2;
  std::shared_ptr<nn::ModuleList> up;    // UNetBlock or Sequential(Upsample, Conv2d)
  std::shared_ptr<nn::Sequential> out;   // GroupNorm, SiLU, Conv2d (zero-initialised)

 private:
  // The entries of `down` / `up` with their types, in order: exactly one pointer is set.
  struct Stage {
    std::shared_ptr<UNetBlock> block;
    std::shared_ptr<nn::Module> resample;
  };
  std::vector<Stage> down_stages_, up_stages_;
  std::string name_;
};

}  // namespace kiln::diffusion
