#pragma once
// Inverted dropout, torch.nn.functional.dropout:
//
//   training:  out = x ⊙ mask,  mask = keep / (1 - p),  keep = [u >= p],  u ~ U[0, 1)
//   otherwise: out = x (the same tensor: no copy, no graph node)
//
// Each element is zeroed with probability p and the survivors are scaled by 1 / (1 - p),
// so E[out] = x and nothing needs rescaling at inference. u is one Philox uniform draw
// per element in x's dtype (Tensor::rand, Note [Philox stream layout]), taken from `gen`
// or the default generator: a generator with the same state gives the same mask. The
// backward multiplies by the same mask. p == 0 is the identity; p == 1 zeroes everything.
#include "tensor/tensor.h"

namespace kiln {

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen = nullptr);

}  // namespace kiln
