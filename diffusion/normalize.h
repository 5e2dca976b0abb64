#pragma once
// Data normalisation (EQUATIONS.md E31): what the network sees is not the pixels.
//
// Two conventions, one per source:
//   Ho et al.      pixels p ∈ {0, ..., 255}  ->  x = p/127.5 - 1 ∈ [-1, 1]; the decoder
//                  L_0 (E20) and the sampler's optional clipping of x̂_0 (sampler.h)
//                  assume exactly this range.
//   Keras chapter  pixels scaled to [0, 1], then per channel (x - mean)/std with mean
//                  and std fitted on the training images (Keras's Normalization layer).
// Either way, a generated sample goes back through the inverse and is clipped to [0, 1]
// before it is written as an image: a sampler can overshoot the data range slightly,
// and a PNG cannot hold it.
//
// Everything is built from kiln ops in the input's dtype and on its device
// (differentiable, though nothing here needs it).
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace kiln::diffusion {

// E31  x = \frac{p}{127.5} - 1:  pixel values p ∈ [0, 255] (any dtype; int64 becomes
// float32) to [-1, 1].
Tensor pixels_to_signed(const Tensor& pixels);
// E31 inverse:  \frac{x + 1}{2}, clipped to [0, 1]:  [-1, 1] to the image range [0, 1].
Tensor signed_to_unit(const Tensor& x);

// E31 (Keras chapter, first step)  p/255:  pixel values [0, 255] to [0, 1].
Tensor pixels_to_unit(const Tensor& pixels);
// Clip to [0, 1], the last step before writing an image.
Tensor clip_unit(const Tensor& x);
// [0, 1] (clipped first) to 8-bit pixel values round(255 x), row-major, for PNG writers.
std::vector<std::uint8_t> unit_to_bytes(const Tensor& x);

// E31  x' = \frac{x - m_c}{s_c}  per channel c, with m_c and s_c the mean and standard
// deviation of channel c over every other axis of the training data (the population
// std, as Keras's Normalization layer; s_c is floored at 1e-7 for a constant channel).
// The inverse x = s_c x' + m_c; then clip_unit before writing.
struct ChannelNormalizer {
  std::vector<double> mean;  // m_c, float64
  std::vector<double> std;   // s_c, float64
  std::int64_t channel_dim = 1;  // the channel axis of the tensors it is applied to

  // Fits m_c, s_c on data [..., C, ...] (C along channel_dim; N, C, H, W by default).
  static ChannelNormalizer fit(const Tensor& data, std::int64_t channel_dim = 1);
  Tensor normalize(const Tensor& x) const;
  Tensor denormalize(const Tensor& x) const;
};

}  // namespace kiln::diffusion
