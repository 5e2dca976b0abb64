#pragma once
// nn::MultiheadAttention, torch.nn.MultiheadAttention with batch_first = true.
//
//   query (B, Lq, E), key (B, Lk, E), value (B, Lk, E)  ->  (B, Lq, E)
//   [q | k | v] = x W_inᵀ + b_in        in_proj_weight (3E, E), in_proj_bias (3E)
//   each split into H heads of D = E / H:  (B, L, E) -> (B, H, L, D)
//   o_h = softmax(q_h k_hᵀ / √D + mask) v_h          (scaled_dot_product_attention)
//   out = concat_h(o_h) W_outᵀ + b_out                out_proj: Linear(E, E)
//
// Initialisation as torch: xavier_uniform_ for in_proj_weight, zeros for both biases,
// out_proj.weight keeps Linear's default.
//
// forward(x) is self-attention on a sequence; forward_feature_map(x) runs it on a
// feature map (B, C, H, W), treating the H·W positions as the sequence (C = E), the
// attention block of a diffusion U-Net.
#include <cstdint>

#include "nn/linear.h"
#include "nn/module.h"

namespace kiln::nn {

class MultiheadAttention : public Module {
 public:
  MultiheadAttention(std::int64_t embed_dim, std::int64_t num_heads, bool bias = true);

  // Self-attention: forward(x, x, x).
  Tensor forward(const Tensor& x) override;
  // General attention; mask is additive, broadcastable to (B, H, Lq, Lk)
  // (Note [Attention masks] in autograd/ops/attention.h).
  Tensor forward(const Tensor& query, const Tensor& key, const Tensor& value,
                 const Tensor& mask = {});
  // x (B, C, H, W) -> (B, H·W, C) -> self-attention -> (B, C, H, W).
  Tensor forward_feature_map(const Tensor& x);

  std::string extra_repr() const override;
  void reset_parameters(Generator* gen = nullptr);

  std::int64_t embed_dim, num_heads, head_dim;
  Tensor in_proj_weight;  // (3E, E): rows [0, E) make q, [E, 2E) k, [2E, 3E) v
  Tensor in_proj_bias;    // (3E), undefined when bias = false
  std::shared_ptr<Linear> out_proj;
};

}  // namespace kiln::nn
