#include "diffusion/keras_unet.h"

#include "autograd/grad_mode.h"
#include "autograd/ops/index.h"
#include "autograd/ops/interpolate.h"
#include "autograd/ops/pool.h"
#include "diffusion/embedding.h"
#include "nn/init.h"

namespace kiln::diffusion {

namespace {

// Keras's Conv2D defaults: kernel Glorot-uniform (fan_in = in·kh·kw, fan_out = out·kh·kw,
// the same as torch's xavier_uniform_), bias zeros. `padding` 1 is Keras's "same" for 3×3.
std::shared_ptr<nn::Conv2d> keras_conv(std::int64_t cin, std::int64_t cout, std::int64_t kernel) {
  auto conv = std::make_shared<nn::Conv2d>(cin, cout, kernel,
                                           nn::Conv2dOptions{.padding = kernel / 2});
  nn::init::xavier_uniform_(conv->weight);
  nn::init::zeros_(conv->bias);
  return conv;
}

// Keras BatchNormalization(center=False, scale=False): eps 1e-3, Keras momentum 0.99,
// which is 0.01 in PyTorch's convention (the weight of the new batch statistic).
constexpr double kKerasBatchNormEps = 1e-3;
constexpr double kKerasBatchNormMomentum = 0.01;

}  // namespace

// ---- ResidualBlock ----------------------------------------------------------------------

KerasResidualBlock::KerasResidualBlock(std::int64_t cin, std::int64_t width)
    : cin(cin), width(width) {
  if (cin != width) residual = register_module("residual", keras_conv(cin, width, 1));
  norm = register_module("norm", std::make_shared<nn::BatchNorm2d>(
                                     cin, kKerasBatchNormEps, kKerasBatchNormMomentum,
                                     /*affine=*/false));
  conv1 = register_module("conv1", keras_conv(cin, width, 3));
  conv2 = register_module("conv2", keras_conv(width, width, 3));
}

Tensor KerasResidualBlock::forward(const Tensor& x) {
  const Tensor r = residual ? residual->forward(x) : x;
  const Tensor h = conv2->forward(conv1->forward(norm->forward(x)).silu());  // swish = SiLU
  return h + r;
}

std::string KerasResidualBlock::extra_repr() const { return fmt::format("{} -> {}", cin, width); }

// ---- the U-Net ------------------------------------------------------------------------

KerasUNet::KerasUNet(KerasUNetConfig cfg, std::string name)
    : config(std::move(cfg)), name_(std::move(name)) {
  const KerasUNetConfig& c = config;
  KILN_CHECK(!c.widths.empty() && c.block_depth > 0 && c.mid_width > 0 && c.channels > 0 &&
                 c.embedding_L >= 2,
             "KerasUNet: widths must be non-empty; block_depth, mid_width, channels positive; "
             "embedding_L >= 2");
  const auto levels = static_cast<std::int64_t>(c.widths.size());
  KILN_CHECK(c.res % (std::int64_t{1} << levels) == 0,
             "KerasUNet: res {} must be divisible by 2^{} (one 2×2 pooling per DownBlock)", c.res,
             levels);
  const std::int64_t first = c.widths.front();
  inc = register_module("inc", keras_conv(c.channels, first, 1));

  std::vector<std::int64_t> skip_channels;
  std::int64_t cur = first + 2 * c.embedding_L;  // the image features and the embedding
  down = register_module("down", std::make_shared<nn::ModuleList>());
  for (std::int64_t w : c.widths) {
    auto list = std::make_shared<nn::ModuleList>();
    Blocks blocks;
    for (std::int64_t d = 0; d < c.block_depth; ++d) {
      blocks.push_back(std::make_shared<KerasResidualBlock>(cur, w));
      list->push_back(blocks.back());
      cur = w;
      skip_channels.push_back(cur);
    }
    down->push_back(list);
    down_blocks_.push_back(std::move(blocks));
  }

  mid = register_module("mid", std::make_shared<nn::ModuleList>());
  for (std::int64_t d = 0; d < c.block_depth; ++d) {
    mid_blocks_.push_back(std::make_shared<KerasResidualBlock>(cur, c.mid_width));
    mid->push_back(mid_blocks_.back());
    cur = c.mid_width;
  }

  up = register_module("up", std::make_shared<nn::ModuleList>());
  for (auto w = c.widths.rbegin(); w != c.widths.rend(); ++w) {
    auto list = std::make_shared<nn::ModuleList>();
    Blocks blocks;
    for (std::int64_t d = 0; d < c.block_depth; ++d) {
      blocks.push_back(std::make_shared<KerasResidualBlock>(cur + skip_channels.back(), *w));
      skip_channels.pop_back();
      list->push_back(blocks.back());
      cur = *w;
    }
    up->push_back(list);
    up_blocks_.push_back(std::move(blocks));
  }

  out = register_module("out", keras_conv(cur, c.channels, 1));
  nn::init::zeros_(out->weight);  // kernel_initializer="zeros"
}

Tensor KerasUNet::forward(const Tensor& x, const Tensor& noise_variance) {
  const std::int64_t factor = std::int64_t{1} << config.widths.size();
  KILN_CHECK(x.defined() && x.dim() == 4 && x.size(1) == config.channels &&
                 x.size(2) % factor == 0 && x.size(3) % factor == 0,
             "KerasUNet: expected x [B, {}, H, W] with H and W divisible by {}, got {}",
             config.channels, factor, x.defined() ? shape_str(x.shape()) : "undefined");
  const std::int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  KILN_CHECK(noise_variance.defined() && noise_variance.numel() == B &&
                 is_floating(noise_variance.dtype()),
             "KerasUNet: expected one floating noise variance per image ([B] or [B, 1, 1, 1] "
             "with B = {}), got {}",
             B, noise_variance.defined() ? shape_str(noise_variance.shape()) : "undefined");
  const Tensor variance = noise_variance.reshape({B}).to(x.dtype());

  // E29 of the noise variance, [B, 2L] -> [B, 2L, 1, 1], repeated over H×W: the nearest
  // upsampling of a 1×1 map is this broadcast.
  const Tensor emb = noise_embedding(variance, config.embedding_L, config.embedding_max_frequency)
                         .view({B, 2 * config.embedding_L, 1, 1})
                         .expand({B, 2 * config.embedding_L, H, W});
  Tensor h = cat({inc->forward(x), emb}, 1);

  std::vector<Tensor> skips;
  for (const Blocks& blocks : down_blocks_) {
    for (const auto& block : blocks) {
      h = block->forward(h);
      skips.push_back(h);
    }
    h = avg_pool2d(h, {2, 2});
  }
  for (const auto& block : mid_blocks_) h = block->forward(h);
  for (const Blocks& blocks : up_blocks_) {
    h = interpolate(h, 2.0, InterpolateMode::Bilinear);
    for (const auto& block : blocks) {
      h = block->forward(cat({h, skips.back()}, 1));
      skips.pop_back();
    }
  }
  return out->forward(h);
}

}  // namespace kiln::diffusion
