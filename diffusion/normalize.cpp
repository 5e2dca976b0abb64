#include "diffusion/normalize.h"

#include <algorithm>
#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"

namespace kiln::diffusion {

namespace {

Tensor as_floating(const Tensor& x, const char* op) {
  KILN_CHECK(x.defined(), "{}: undefined tensor", op);
  return is_floating(x.dtype()) ? x : x.to(DType::Float32);
}

// Per-channel values [C] shaped to broadcast against x along channel_dim: [1, C, 1, 1].
Tensor per_channel(const std::vector<double>& values, const Tensor& x, std::int64_t channel_dim,
                   const char* op) {
  const int dim = normalize_dim(channel_dim, x.dim(), op);
  const auto C = static_cast<std::int64_t>(values.size());
  KILN_CHECK(x.size(dim) == C, "{}: x {} has {} channels along dim {}, the normalizer {}", op,
             shape_str(x.shape()), x.size(dim), dim, C);
  Shape shape(static_cast<size_t>(x.dim()), 1);
  shape[static_cast<size_t>(dim)] = C;
  return Tensor::from_vector(values, shape, {.dtype = x.dtype(), .device = x.device()});
}

}  // namespace

// E31  x = p/127.5 - 1
Tensor pixels_to_signed(const Tensor& pixels) {
  return as_floating(pixels, "pixels_to_signed") / 127.5 - 1.0;
}

// E31  (x + 1)/2, clipped to [0, 1]
Tensor signed_to_unit(const Tensor& x) {
  return clip_unit((as_floating(x, "signed_to_unit") + 1.0) / 2.0);
}

Tensor pixels_to_unit(const Tensor& pixels) { return as_floating(pixels, "pixels_to_unit") / 255.0; }

Tensor clip_unit(const Tensor& x) { return clamp(as_floating(x, "clip_unit"), 0.0, 1.0); }

std::vector<std::uint8_t> unit_to_bytes(const Tensor& x) {
  const std::vector<double> v = clip_unit(x).to(DType::Float64).to_vector<double>();
  std::vector<std::uint8_t> bytes(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    bytes[i] = static_cast<std::uint8_t>(std::lround(255.0 * v[i]));
  return bytes;
}

ChannelNormalizer ChannelNormalizer::fit(const Tensor& data_in, std::int64_t channel_dim) {
  const Tensor data = as_floating(data_in, "ChannelNormalizer::fit");
  KILN_CHECK(data.dim() >= 1 && data.numel() > 0, "ChannelNormalizer::fit: empty data {}",
             shape_str(data.shape()));
  const int dim = normalize_dim(channel_dim, data.dim(), "ChannelNormalizer::fit");
  NoGradGuard no_grad;
  // Move the channels first and flatten the rest: [C, everything else], in float64.
  std::vector<std::int64_t> order{dim};
  for (int d = 0; d < data.dim(); ++d)
    if (d != dim) order.push_back(d);
  const Tensor rows = data.permute(order).reshape({data.size(dim), -1}).to(DType::Float64);
  ChannelNormalizer n;
  n.channel_dim = channel_dim;
  n.mean = rows.mean({1}).to_vector<double>();
  n.std = rows.var({1}, /*correction=*/0).sqrt().to_vector<double>();
  for (double& s : n.std) s = std::max(s, 1e-7);
  return n;
}

// E31  x' = (x - m_c)/s_c
Tensor ChannelNormalizer::normalize(const Tensor& x_in) const {
  const Tensor x = as_floating(x_in, "ChannelNormalizer::normalize");
  return (x - per_channel(mean, x, channel_dim, "ChannelNormalizer::normalize")) /
         per_channel(std, x, channel_dim, "ChannelNormalizer::normalize");
}

// E31  x = s_c x' + m_c
Tensor ChannelNormalizer::denormalize(const Tensor& x_in) const {
  const Tensor x = as_floating(x_in, "ChannelNormalizer::denormalize");
  return x * per_channel(std, x, channel_dim, "ChannelNormalizer::denormalize") +
         per_channel(mean, x, channel_dim, "ChannelNormalizer::denormalize");
}

}  // namespace kiln::diffusion
