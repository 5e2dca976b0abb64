#pragma once
// nn::Dropout (torch.nn.Dropout): in training mode zeroes each element with
// probability p and scales the rest by 1 / (1 - p); in evaluation mode it is the
// identity. The mask comes from `generator` when one is set, else the global one.
#include "nn/module.h"
#include "tensor/random.h"

namespace kiln::nn {

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator* generator = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override { return fmt::format("p={}", p); }

  double p;
  Generator* generator;
};

}  // namespace kiln::nn
