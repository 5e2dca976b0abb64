#include "diffusion/unet.h"

#include <algorithm>

#include "autograd/ops/attention.h"
#include "autograd/ops/index.h"
#include "diffusion/embedding.h"
#include "nn/activation.h"
#include "nn/init.h"
#include "nn/interpolate.h"

namespace kiln::diffusion {

// ---- configurations ---------------------------------------------------------------------

UNetConfig ddpm_cifar10_config() {
  return {.res = 32, .ch = 128, .mult = {1, 2, 2, 2}, .blocks = 2, .attn_res = {16},
          .groups = 32, .dropout = 0.1};
}

UNetConfig ddpm_small_config() {
  return {.res = 32, .ch = 32, .mult = {1, 2, 2}, .blocks = 1, .attn_res = {8}, .groups = 8,
          .dropout = 0.0};
}

UNetConfig ddpm_tiny_config() {
  return {.res = 16, .ch = 8, .mult = {1, 2}, .blocks = 1, .attn_res = {8}, .groups = 4,
          .dropout = 0.0};
}

UNetConfig unet_config(const std::string& name) {
  if (name == "ddpm-cifar10") return ddpm_cifar10_config();
  if (name == "ddpm-small") return ddpm_small_config();
  if (name == "ddpm-tiny") return ddpm_tiny_config();
  fail("unet_config: unknown U-Net config '{}' (known: ddpm-cifar10, ddpm-small, ddpm-tiny)",
       name);
}

namespace {

// Zeroes a layer's weight and bias (the zero-initialised layers of Ho et al.).
void zero_init(nn::Conv2d& conv) {
  nn::init::zeros_(conv.weight);
  if (conv.bias.defined()) nn::init::zeros_(conv.bias);
}

std::shared_ptr<nn::Conv2d> conv3x3(std::int64_t cin, std::int64_t cout, std::int64_t stride = 1) {
  return std::make_shared<nn::Conv2d>(cin, cout, 3, nn::Conv2dOptions{.stride = stride, .padding = 1});
}

std::shared_ptr<nn::Conv2d> conv1x1(std::int64_t cin, std::int64_t cout) {
  return std::make_shared<nn::Conv2d>(cin, cout, 1);
}

}  // namespace

// ---- ResBlock -------------------------------------------------------------------------

ResBlock::ResBlock(std::int64_t cin, std::int64_t cout, std::int64_t tdim, std::int64_t groups,
                   double dropout)
    : cin(cin), cout(cout) {
  n1 = register_module("n1", std::make_shared<nn::GroupNorm>(groups, cin));
  c1 = register_module("c1", conv3x3(cin, cout));
  t = register_module("t", std::make_shared<nn::Linear>(tdim, cout));
  n2 = register_module("n2", std::make_shared<nn::GroupNorm>(groups, cout));
  drop = register_module("drop", std::make_shared<nn::Dropout>(dropout));
  c2 = register_module("c2", conv3x3(cout, cout));
  zero_init(*c2);
  if (cin != cout) skip = register_module("skip", conv1x1(cin, cout));
}

// [region resblock_forward]
Tensor ResBlock::forward(const Tensor& x, const Tensor& temb) {
  // The timestep's contribution, one value per channel: [B, cout] -> [B, cout, 1, 1].
  const Tensor time = t->forward(temb.silu()).unsqueeze(2).unsqueeze(3);
  Tensor h = c1->forward(n1->forward(x).silu()) + time;
  h = c2->forward(drop->forward(n2->forward(h).silu()));
  return (skip ? skip->forward(x) : x) + h;
}
// [endregion]

std::string ResBlock::extra_repr() const { return fmt::format("{} -> {}", cin, cout); }

// ---- AttnBlock ------------------------------------------------------------------------

AttnBlock::AttnBlock(std::int64_t channels, std::int64_t groups) : channels(channels) {
  n = register_module("n", std::make_shared<nn::GroupNorm>(groups, channels));
  qkv = register_module("qkv", conv1x1(channels, 3 * channels));
  o = register_module("o", conv1x1(channels, channels));
  zero_init(*o);
}

Tensor AttnBlock::forward(const Tensor& x) {
  KILN_CHECK(x.defined() && x.dim() == 4 && x.size(1) == channels,
             "AttnBlock: expected input [B, {}, H, W], got {}", channels,
             x.defined() ? shape_str(x.shape()) : "undefined");
  const std::int64_t B = x.size(0), C = channels, H = x.size(2), W = x.size(3);
  // [B, 3C, H, W] -> [B, 3, C, HW]: q, k, v are the three C-channel slices, each turned
  // into a sequence of HW positions with C features, [B, HW, C].
  const Tensor qkv_maps = qkv->forward(n->forward(x)).view({B, 3, C, H * W});
  const Tensor q = qkv_maps.select(1, 0).transpose(1, 2);
  const Tensor k = qkv_maps.select(1, 1).transpose(1, 2);
  const Tensor v = qkv_maps.select(1, 2).transpose(1, 2);
  // softmax over the HW keys of q kᵀ / √C, then the weighted sum of v: [B, HW, C].
  const Tensor h = scaled_dot_product_attention(q, k, v);
  return x + o->forward(h.transpose(1, 2).reshape({B, C, H, W}));
}

std::string AttnBlock::extra_repr() const { return fmt::format("channels={}", channels); }

// ---- UNetBlock ----------------------------------------------------------------------------

UNetBlock::UNetBlock(std::shared_ptr<ResBlock> res_block, std::shared_ptr<AttnBlock> attn_block)
    : res(register_module("0", std::move(res_block))) {
  if (attn_block) {
    attn = register_module("1", std::move(attn_block));
  } else {
    register_module("1", std::make_shared<nn::Identity>());  // as torch_unet.py's nn.Identity
  }
}

Tensor UNetBlock::forward(const Tensor& x, const Tensor& temb) {
  const Tensor h = res->forward(x, temb);
  return attn ? attn->forward(h) : h;
}

// ---- UNet -----------------------------------------------------------------------------

UNet::UNet(UNetConfig cfg, std::string name) : config(std::move(cfg)), name_(std::move(name)) {
  const UNetConfig& c = config;
  KILN_CHECK(c.res > 0 && c.ch > 0 && c.blocks > 0 && c.groups > 0 && c.channels > 0 &&
                 !c.mult.empty(),
             "UNet: res, ch, blocks, groups, channels must be positive and mult non-empty");
  KILN_CHECK(c.ch % 2 == 0 && c.ch >= 4,
             "UNet: ch = {} is also the timestep embedding's size (E28), which must be even "
             "and at least 4",
             c.ch);
  KILN_CHECK(c.res % (std::int64_t{1} << (c.levels() - 1)) == 0,
             "UNet: res {} must be divisible by 2^(levels-1) = {}", c.res,
             std::int64_t{1} << (c.levels() - 1));
  for (std::int64_t m : c.mult) {
    KILN_CHECK(m > 0 && (c.ch * m) % c.groups == 0,
               "UNet: every level's channels ch·mult = {}·{} must be a positive multiple of "
               "groups = {}",
               c.ch, m, c.groups);
  }
  KILN_CHECK(c.dropout >= 0 && c.dropout < 1, "UNet: dropout must lie in [0, 1), got {}",
             c.dropout);
  const std::int64_t tdim = 4 * c.ch;
  const auto has_attn = [&](std::int64_t r) {
    return std::find(c.attn_res.begin(), c.attn_res.end(), r) != c.attn_res.end();
  };
  const auto block = [&](std::int64_t cin, std::int64_t cout, std::int64_t r) {
    return std::make_shared<UNetBlock>(
        std::make_shared<ResBlock>(cin, cout, tdim, c.groups, c.dropout),
        has_attn(r) ? std::make_shared<AttnBlock>(cout, c.groups) : nullptr);
  };

  temb = register_module("temb", std::make_shared<nn::Sequential>(
                                     std::make_shared<nn::Linear>(c.ch, tdim),
                                     std::make_shared<nn::SiLU>(),
                                     std::make_shared<nn::Linear>(tdim, tdim)));
  inc = register_module("inc", conv3x3(c.channels, c.ch));

  // Down: the channel count of every kept output, for the up path to pop.
  down = register_module("down", std::make_shared<nn::ModuleList>());
  std::vector<std::int64_t> skip_channels = {c.ch};
  std::int64_t cur = c.ch, r = c.res;
  for (std::int64_t i = 0; i < c.levels(); ++i) {
    const std::int64_t width = c.ch * c.mult[i];
    for (std::int64_t b = 0; b < c.blocks; ++b) {
      auto blk = block(cur, width, r);
      down->push_back(blk);
      down_stages_.push_back({.block = blk, .resample = nullptr});
      cur = width;
      skip_channels.push_back(cur);
    }
    if (i != c.levels() - 1) {
      auto conv = conv3x3(cur, cur, /*stride=*/2);
      down->push_back(conv);
      down_stages_.push_back({.block = nullptr, .resample = conv});
      skip_channels.push_back(cur);
      r /= 2;
    }
  }

  mid1 = register_module("mid1", std::make_shared<ResBlock>(cur, cur, tdim, c.groups, c.dropout));
  mida = register_module("mida", std::make_shared<AttnBlock>(cur, c.groups));
  mid2 = register_module("mid2", std::make_shared<ResBlock>(cur, cur, tdim, c.groups, c.dropout));

  up = register_module("up", std::make_shared<nn::ModuleList>());
  for (std::int64_t i = c.levels() - 1; i >= 0; --i) {
    const std::int64_t width = c.ch * c.mult[i];
    for (std::int64_t b = 0; b < c.blocks + 1; ++b) {
      auto blk = block(cur + skip_channels.back(), width, r);
      skip_channels.pop_back();
      up->push_back(blk);
      up_stages_.push_back({.block = blk, .resample = nullptr});
      cur = width;
    }
    if (i != 0) {
      auto upsample = std::make_shared<nn::Sequential>(
          std::make_shared<nn::Upsample>(2.0, InterpolateMode::Nearest), conv3x3(cur, cur));
      up->push_back(upsample);
      up_stages_.push_back({.block = nullptr, .resample = upsample});
      r *= 2;
    }
  }

  auto out_conv = conv3x3(cur, c.channels);
  zero_init(*out_conv);
  out = register_module("out", std::make_shared<nn::Sequential>(
                                   std::make_shared<nn::GroupNorm>(c.groups, cur),
                                   std::make_shared<nn::SiLU>(), out_conv));
}

// [region unet_forward]
Tensor UNet::forward(const Tensor& x, const Tensor& t) {
  const std::int64_t factor = std::int64_t{1} << (config.levels() - 1);
  KILN_CHECK(x.defined() && x.dim() == 4 && x.size(1) == config.channels &&
                 x.size(2) % factor == 0 && x.size(3) % factor == 0,
             "UNet: expected x [B, {}, H, W] with H and W divisible by {}, got {}",
             config.channels, factor, x.defined() ? shape_str(x.shape()) : "undefined");
  KILN_CHECK(t.defined() && t.dim() == 1 && t.size(0) == x.size(0),
             "UNet: expected t [B] with B = {} (one timestep per image), got {}", x.size(0),
             t.defined() ? shape_str(t.shape()) : "undefined");
  // E28 on the timesteps in the network's dtype, then the two-layer MLP: [B, 4ch].
  const Tensor t_float = t.dtype() == x.dtype() ? t : t.to(x.dtype());
  const Tensor emb = temb->forward(timestep_embedding(t_float, config.ch));

  std::vector<Tensor> skips = {inc->forward(x)};
  Tensor h = skips.back();
  for (const Stage& s : down_stages_) {
    h = s.block ? s.block->forward(h, emb) : s.resample->forward(h);
    skips.push_back(h);
  }
  h = mid2->forward(mida->forward(mid1->forward(h, emb)), emb);
  for (const Stage& s : up_stages_) {
    if (s.block) {
      h = s.block->forward(cat({h, skips.back()}, 1), emb);
      skips.pop_back();
    } else {
      h = s.resample->forward(h);
    }
  }
  return out->forward(h);
}
// [endregion]

std::string UNet::extra_repr() const {
  return fmt::format("{}: res={}, ch={}, mult=({}), blocks={}, attn_res=({}), groups={}, dropout={}",
                     name_, config.res, config.ch, fmt::join(config.mult, ", "), config.blocks,
                     fmt::join(config.attn_res, ", "), config.groups, config.dropout);
}

}  // namespace kiln::diffusion
