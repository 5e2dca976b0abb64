#pragma once
// nn::Linear: y = x Wᵀ + b  (torch.nn.Linear).
//   x is (..., in_features), W is (out_features, in_features), b is (out_features),
//   y is (..., out_features).
// Initialisation as torch: W ~ kaiming_uniform_(a = √5) = U(-1/√in, 1/√in),
// b ~ U(-1/√in, 1/√in).
#include <cstdint>

#include "nn/module.h"

namespace kiln::nn {

class Linear : public Module {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features, bool bias = true);

  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  // Draws fresh initial values (the constructor calls this with the global generator).
  void reset_parameters(Generator* gen = nullptr);

  std::int64_t in_features, out_features;
  Tensor weight;  // (out_features, in_features)
  Tensor bias;    // (out_features), undefined when built with bias = false
};

}  // namespace kiln::nn
