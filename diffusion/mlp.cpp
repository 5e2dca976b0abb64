#include "diffusion/mlp.h"

#include "autograd/ops/index.h"
#include "diffusion/embedding.h"
#include "nn/activation.h"
#include "nn/init.h"

namespace kiln::diffusion {

MLP2d::MLP2d(MLPConfig cfg, std::string name) : config(cfg), name_(std::move(name)) {
  KILN_CHECK(config.dim > 0 && config.hidden > 0 && config.layers > 0,
             "MLP2d: dim, hidden and layers must be positive");
  KILN_CHECK(config.temb_dim >= 4 && config.temb_dim % 2 == 0,
             "MLP2d: temb_dim must be even and at least 4 (E28), got {}", config.temb_dim);
  net = register_module("net", std::make_shared<nn::Sequential>());
  std::int64_t width = config.dim + config.temb_dim;
  for (std::int64_t i = 0; i < config.layers; ++i) {
    net->push_back(std::make_shared<nn::Linear>(width, config.hidden));
    net->push_back(std::make_shared<nn::SiLU>());
    width = config.hidden;
  }
  auto head = std::make_shared<nn::Linear>(width, config.dim);
  nn::init::zeros_(head->weight);  // ε̂ = 0 before training, as the U-Nets
  nn::init::zeros_(head->bias);
  net->push_back(head);
}

Tensor MLP2d::forward(const Tensor& x, const Tensor& t) {
  KILN_CHECK(x.defined() && x.dim() == 2 && x.size(1) == config.dim,
             "MLP2d: expected x [B, {}], got {}", config.dim,
             x.defined() ? shape_str(x.shape()) : "undefined");
  KILN_CHECK(t.defined() && t.dim() == 1 && t.size(0) == x.size(0),
             "MLP2d: expected t [B] with B = {}, got {}", x.size(0),
             t.defined() ? shape_str(t.shape()) : "undefined");
  const Tensor t_float = t.dtype() == x.dtype() ? t : t.to(x.dtype());
  return net->forward(cat({x, timestep_embedding(t_float, config.temb_dim)}, 1));
}

}  // namespace kiln::diffusion
