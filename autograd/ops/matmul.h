#pragma once
// Matrix products through the CPU GEMM (tensor/cpu/gemm.h).
#include "tensor/tensor.h"

namespace kiln {

// torch.matmul semantics:
//   a [k] · b [k] -> []              a [m, k] · b [k, n] -> [m, n]
//   1-D operands get a unit dim prepended (a) / appended (b), removed afterwards;
//   batch dims broadcast: a [B..., m, k] · b [B'..., k, n] -> [broadcast(B, B')..., m, n].
Tensor matmul(const Tensor& a, const Tensor& b);
// a [B, m, k] · b [B, k, n] -> [B, m, n], no broadcasting.
Tensor bmm(const Tensor& a, const Tensor& b);

}  // namespace kiln
