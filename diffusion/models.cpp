#include "diffusion/models.h"

#include <fmt/format.h>

#include "diffusion/keras_unet.h"
#include "diffusion/mlp.h"
#include "diffusion/unet.h"

namespace kiln::diffusion {

std::vector<std::string> model_names() {
  return {"mlp-2d", "ddpm-tiny", "ddpm-small", "ddpm-cifar10", "keras-unet64"};
}

std::shared_ptr<DiffusionModel> make_model(const std::string& name) {
  if (name == "mlp-2d") return std::make_shared<MLP2d>(MLPConfig{}, name);
  if (name == "ddpm-tiny" || name == "ddpm-small" || name == "ddpm-cifar10")
    return std::make_shared<UNet>(unet_config(name), name);
  if (name == "keras-unet64") return std::make_shared<KerasUNet>(KerasUNetConfig{}, name);
  fail("make_model: unknown model '{}' (known: {})", name, fmt::join(model_names(), ", "));
}

}  // namespace kiln::diffusion
