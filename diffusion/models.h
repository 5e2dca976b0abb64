#pragma once
// The denoising networks by name (shared/REFERENCE_MODELS.md): every one is a
// DiffusionModel, so a training loop or a sampler is written once for all of them.
//
//   auto model = diffusion::make_model("ddpm-small");      // a std::shared_ptr
//   Tensor eps_hat = model->forward(x_t, t);               // x [B, 3, 32, 32], t int64 [B]
//   optim::Adam opt(model->parameters(), 2e-4);
//
// | name           | network                          | x               | t                        |
// |----------------|----------------------------------|-----------------|--------------------------|
// | "mlp-2d"       | MLP2d      (diffusion/mlp.h)     | [B, 2]          | timestep, int64 [B]      |
// | "ddpm-tiny"    | UNet       (diffusion/unet.h)    | [B, 3, 16, 16]  | timestep, int64 [B]      |
// | "ddpm-small"   | UNet                             | [B, 3, 32, 32]  | timestep, int64 [B]      |
// | "ddpm-cifar10" | UNet                             | [B, 3, 32, 32]  | timestep, int64 [B]      |
// | "keras-unet64" | KerasUNet  (diffusion/keras_unet.h) | [B, 3, 64, 64] | noise variance, float [B] |
//
// "ddpm-tiny" is not one of the reference models: it is the smallest U-Net with every
// part (two levels, attention, skip convs) for fast tests and gradient checks.
//
// Every model is initialised so that its untrained prediction is exactly 0 (a
// zero-initialised output layer), so L_simple starts at E[ε²] = 1 (V20).
// Parameters are drawn from the global generator: call kiln::manual_seed(s) first for
// reproducible weights.
#include <memory>
#include <string>
#include <vector>

#include "nn/module.h"

namespace kiln::diffusion {

// What the second input of forward means.
enum class TimeInput {
  Timestep,       // the step t of the DDPM chain (one-based, t = 1..T), int64 or float [B]
  NoiseVariance,  // the noise variance 1 - ᾱ (Keras chapter, continuous time), float [B]
};

class DiffusionModel : public nn::Module {
 public:
  using nn::Module::forward;     // keep Module's one-input forward visible (it throws)
  using nn::Module::operator();

  // x [B, *sample_shape()], t [B]  ->  the predicted noise ε̂, shaped like x.
  virtual Tensor forward(const Tensor& x, const Tensor& t) = 0;
  Tensor operator()(const Tensor& x, const Tensor& t) { return forward(x, t); }

  // The shape of one sample: [3, 32, 32] for the CIFAR-sized U-Nets, [2] for mlp-2d.
  virtual Shape sample_shape() const = 0;
  virtual TimeInput time_input() const = 0;
  // The name it was built from ("ddpm-small"), or "custom" for a hand-made config.
  virtual std::string config_name() const = 0;
};

// Builds the named model (the table above); throws kiln::Error listing the known names
// for an unknown one.
std::shared_ptr<DiffusionModel> make_model(const std::string& name);
// The names make_model knows, in the order of the table above.
std::vector<std::string> model_names();

}  // namespace kiln::diffusion
