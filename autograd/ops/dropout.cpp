// Inverted dropout (autograd/ops/dropout.h): the mask is drawn once, then the
// differentiable multiply x ⊙ mask records the backward g ⊙ mask.
#include "autograd/ops/dropout.h"

#include "autograd/ops/common.h"
#include "autograd/ops/elementwise.h"
#include "tensor/random.h"

namespace kiln {

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  KILN_CHECK(x.defined(), "dropout: undefined tensor argument");
  KILN_CHECK(p >= 0.0 && p <= 1.0,
             "dropout: probability p must be in [0, 1], got {} (x of shape {})", p,
             shape_str(x.shape()));
  dispatch_floating(x.dtype(), "dropout", []<class T>() {});
  if (!training || p == 0.0) return x;
  // keep = [u >= p] has probability 1 - p; the survivors carry 1 / (1 - p).
  const Tensor u = Tensor::rand(x.shape(), {.dtype = x.dtype(), .device = x.device()}, gen);
  const Tensor mask = p == 1.0 ? Tensor::zeros_like(u) : (u >= p) * (1.0 / (1.0 - p));
  return x * mask;
}

}  // namespace kiln
