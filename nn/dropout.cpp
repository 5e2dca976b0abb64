#include "nn/dropout.h"

#include "autograd/ops/dropout.h"

namespace kiln::nn {

Dropout::Dropout(double p, Generator* generator) : p(p), generator(generator) {
  KILN_CHECK(p >= 0 && p <= 1, "Dropout: p must lie in [0, 1], got {}", p);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training(), generator); }

}  // namespace kiln::nn
