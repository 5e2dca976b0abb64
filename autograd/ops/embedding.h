#pragma once
// Embedding lookup, torch.nn.functional.embedding:
//
//   weight [V, D], indices int64 of any shape [...] in [0, V)  ->  out [..., D]
//   out[i..., :] = weight[indices[i...], :]
//
// The gradient goes to weight only: row r of d(weight) is the sum of the output
// gradients of every position that looked up r (index_add; rows never looked up get 0).
#include "tensor/tensor.h"

namespace kiln {

Tensor embedding(const Tensor& weight, const Tensor& indices);

}  // namespace kiln
