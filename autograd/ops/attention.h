#pragma once
// Scaled dot-product attention, torch.nn.functional.scaled_dot_product_attention:
//
//   q [..., Lq, D], k [..., Lk, D], v [..., Lk, Dv]  ->  out [..., Lq, Dv]
//   out = softmax(q kᵀ · scale + mask) v,     scale = 1 / √D unless given,
//
// the softmax running over the keys (the last dim). The batch dims "..." broadcast as in
// matmul. Gradients flow to q, k and v (and to a float mask that requires grad).
//
// Note [Attention masks]
// The mask is *additive*, like a float attn_mask in PyTorch: a tensor of q's dtype,
// broadcastable to [..., Lq, Lk], added to the scores before the softmax. 0 keeps a key;
// -inf removes it (its weight becomes exactly 0, and so does every gradient through it);
// any finite value biases it (ALiBi-style). To mask with a 0/1 "keep" tensor (1 = attend,
// 0 = masked out), convert it first:
//     scaled_dot_product_attention(q, k, v, additive_attention_mask(keep, q.dtype()))
// A query whose keys are *all* masked has no distribution to take: its output is NaN,
// as with PyTorch's reference (math) implementation.
#include <optional>

#include "tensor/tensor.h"

namespace kiln {

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& mask = {},
                                    std::optional<double> scale = std::nullopt);

// 0 where keep != 0, -inf where keep == 0; keep may be int64 or floating, any shape.
// The result has dtype `dtype` and keep's shape (and no gradient).
Tensor additive_attention_mask(const Tensor& keep, DType dtype = DType::Float32);

// The causal mask [Lq, Lk] as an additive mask: query i attends to keys j <= i (the lower
// triangle, aligned at the top-left like PyTorch's is_causal).
Tensor causal_attention_mask(std::int64_t Lq, std::int64_t Lk, DType dtype = DType::Float32);

}  // namespace kiln
