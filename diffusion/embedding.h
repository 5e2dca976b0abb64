#pragma once
// The network's inputs (EQUATIONS.md §6): how one number per sample — the timestep t of
// the DDPM U-Net, or the noise variance of the Keras chapter's U-Net — becomes a vector
// of sines and cosines at many frequencies, which a network can read far more easily than
// the raw number (nearby values get similar vectors, and both slow and fast changes are
// visible).
//
//   E28  timestep_embedding(t, d)       t [...]  ->  [..., d]     (Ho et al., Transformer)
//   E29  noise_embedding(x, L)          x [...]  ->  [..., 2L]    (Keras chapter, NeRF)
//
// Both are differentiable with respect to a floating input (gradcheck in
// tests/diffusion/network_test.cpp). An int64 input (timesteps) is converted to float32
// first, as PyTorch's `t.float()` does; a float64 input stays float64.
#include <cstdint>

#include "tensor/tensor.h"

namespace kiln::diffusion {

// The h = d/2 frequencies of E28, ω_i = exp(-ln(10000) · i / (h - 1)), i = 0 .. h-1:
// from 1 (one radian per timestep) down to 1/10000.   -> [h]
Tensor timestep_frequencies(std::int64_t dim, DType dtype = kFloat32, Device device = Device::cpu());

// E28  emb(t) = [\sin(t\omega_0), \dots, \sin(t\omega_{h-1}),
//                \cos(t\omega_0), \dots, \cos(t\omega_{h-1})],
//      \omega_i = \exp\!\big(-\ln(10000)\, i/(h-1)\big),\quad h = d/2
// t of any shape [...] (one value per sample, usually [B]) -> [..., d]; d even, d >= 4.
// Matches timestep_embedding of shared/anchors/torch_unet.py value for value.
Tensor timestep_embedding(const Tensor& t, std::int64_t dim);

// The L frequencies of E29, e^{i f} with f = ln(max_frequency) / (L - 1), i = 0 .. L-1:
// from 1 up to max_frequency (geometrically spaced).   -> [L]
Tensor noise_embedding_frequencies(std::int64_t L = 16, double max_frequency = 1000.0,
                                   DType dtype = kFloat32, Device device = Device::cpu());

// E29  \gamma(x) = [\sin(2\pi e^{0 f} x), \dots, \sin(2\pi e^{(L-1) f} x),
//                   \cos(2\pi e^{0 f} x), \dots, \cos(2\pi e^{(L-1) f} x)],
//      f = \ln(1000)/(L-1),\quad L = 16
// x (the noise variance) of any shape [...] -> [..., 2L]. The Keras chapter feeds it
// x of shape [B, 1, 1, 1] and concatenates on its channel axis; here the new axis is
// last, so x [B] gives [B, 32] (keras_unet.cpp reshapes that to [B, 32, 1, 1]).
Tensor noise_embedding(const Tensor& x, std::int64_t L = 16, double max_frequency = 1000.0);

}  // namespace kiln::diffusion
