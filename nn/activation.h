#pragma once
// Activation modules: thin wrappers over the element-wise ops, so they can sit in a
// Sequential. No parameters.
//   ReLU  max(x, 0)      SiLU  x·σ(x)      GELU  x·Φ(x) (exact, erf form)
//   Sigmoid  σ(x)        Tanh  tanh(x)
#include "nn/module.h"

namespace kiln::nn {

struct ReLU : Module {
  Tensor forward(const Tensor& x) override { return x.relu(); }
};
struct SiLU : Module {
  Tensor forward(const Tensor& x) override { return x.silu(); }
};
struct GELU : Module {
  Tensor forward(const Tensor& x) override { return x.gelu(); }
};
struct Sigmoid : Module {
  Tensor forward(const Tensor& x) override { return x.sigmoid(); }
};
struct Tanh : Module {
  Tensor forward(const Tensor& x) override { return x.tanh(); }
};

}  // namespace kiln::nn
