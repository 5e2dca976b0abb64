#include "diffusion/embedding.h"

#include <cmath>
#include <numbers>

#include "autograd/ops/index.h"

namespace kiln::diffusion {

namespace {

// An int64 input (timesteps) becomes float32, as PyTorch's t.float(); floats stay.
Tensor as_floating(const Tensor& t, const char* op) {
  KILN_CHECK(t.defined(), "{}: undefined input", op);
  return is_floating(t.dtype()) ? t : t.to(kFloat32);
}

// [sin(angles), cos(angles)] along a new last axis:  angles [..., h] -> [..., 2h].
Tensor sin_cos(const Tensor& angles) {
  return cat({angles.sin(), angles.cos()}, angles.dim() - 1);
}

}  // namespace

Tensor timestep_frequencies(std::int64_t dim, DType dtype, Device device) {
  KILN_CHECK(dim >= 4 && dim % 2 == 0,
             "timestep_embedding: the dimension d must be even and at least 4 (h = d/2 "
             "frequencies, spaced by 1/(h-1)), got {}",
             dim);
  const std::int64_t h = dim / 2;
  // The same operations in the same order as torch_unet.py, so float32 values agree:
  //   exp(-ln(10000) * arange(h) / (h - 1))
  const Tensor i = Tensor::arange(0, static_cast<double>(h), 1, {.dtype = dtype, .device = device});
  return (i * -std::log(10000.0) / static_cast<double>(h - 1)).exp();
}

// [region timestep_embedding]
// E28  emb(t) = [sin(t ω_i), cos(t ω_i)],  ω_i = exp(-ln(10000) i/(h-1)),  h = d/2
Tensor timestep_embedding(const Tensor& t_in, std::int64_t dim) {
  const Tensor t = as_floating(t_in, "timestep_embedding");
  const Tensor omega = timestep_frequencies(dim, t.dtype(), t.device());  // [h]
  const Tensor angles = t.unsqueeze(t.dim()) * omega;                     // [..., h]
  return sin_cos(angles);                                                 // [..., d]
}
// [endregion]

Tensor noise_embedding_frequencies(std::int64_t L, double max_frequency, DType dtype,
                                   Device device) {
  KILN_CHECK(L >= 2, "noise_embedding: needs at least 2 frequencies (L >= 2), got {}", L);
  KILN_CHECK(max_frequency > 0, "noise_embedding: max_frequency must be positive, got {}",
             max_frequency);
  const double f = std::log(max_frequency) / static_cast<double>(L - 1);
  const Tensor i = Tensor::arange(0, static_cast<double>(L), 1, {.dtype = dtype, .device = device});
  return (i * f).exp();  // e^{i f}: 1, ..., max_frequency
}

// [region noise_embedding]
// E29  γ(x) = [sin(2π e^{i f} x), cos(2π e^{i f} x)],  f = ln(1000)/(L-1)
Tensor noise_embedding(const Tensor& x_in, std::int64_t L, double max_frequency) {
  const Tensor x = as_floating(x_in, "noise_embedding");
  const Tensor freqs = noise_embedding_frequencies(L, max_frequency, x.dtype(), x.device());
  const Tensor angular_speeds = 2.0 * std::numbers::pi * freqs;  // [L]
  const Tensor angles = x.unsqueeze(x.dim()) * angular_speeds;   // [..., L]
  return sin_cos(angles);                                        // [..., 2L]
}
// [endregion]

}  // namespace kiln::diffusion
