#include "nn/attention.h"

#include "autograd/ops/attention.h"
#include "autograd/ops/matmul.h"
#include "nn/init.h"

namespace kiln::nn {

MultiheadAttention::MultiheadAttention(std::int64_t embed_dim, std::int64_t num_heads, bool bias)
    : embed_dim(embed_dim),
      num_heads(num_heads),
      head_dim(num_heads > 0 ? embed_dim / num_heads : 0) {
  KILN_CHECK(embed_dim > 0 && num_heads > 0 && embed_dim % num_heads == 0,
             "MultiheadAttention: embed_dim {} must be a positive multiple of num_heads {}",
             embed_dim, num_heads);
  in_proj_weight = register_parameter("in_proj_weight", Tensor::empty({3 * embed_dim, embed_dim}));
  if (bias) in_proj_bias = register_parameter("in_proj_bias", Tensor::empty({3 * embed_dim}));
  out_proj = register_module("out_proj", std::make_shared<Linear>(embed_dim, embed_dim, bias));
  reset_parameters();
}

void MultiheadAttention::reset_parameters(Generator* gen) {
  init::xavier_uniform_(in_proj_weight, 1.0, gen);
  if (in_proj_bias.defined()) init::zeros_(in_proj_bias);
  out_proj->reset_parameters(gen);
  if (out_proj->bias.defined()) init::zeros_(out_proj->bias);
}

namespace {
// x (B, L, E) · W[rows]ᵀ + b[rows], then (B, L, E) -> (B, H, L, D).
Tensor project_heads(const Tensor& x, const Tensor& w, const Tensor& b, std::int64_t part,
                     std::int64_t E, std::int64_t H) {
  Tensor y = matmul(x, w.narrow(0, part * E, E).t());
  if (b.defined()) y = y + b.narrow(0, part * E, E);
  return y.reshape({x.size(0), x.size(1), H, E / H}).transpose(1, 2);
}
}  // namespace

Tensor MultiheadAttention::forward(const Tensor& x) { return forward(x, x, x); }

Tensor MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const Tensor& mask) {
  auto check = [&](const Tensor& t, const char* what) {
    KILN_CHECK(t.defined() && t.dim() == 3 && t.size(2) == embed_dim,
               "MultiheadAttention: {} must be (B, L, {}), got {}", what, embed_dim,
               t.defined() ? shape_str(t.shape()) : "undefined");
  };
  check(query, "query");
  check(key, "key");
  check(value, "value");
  KILN_CHECK(key.size(0) == query.size(0) && value.size(0) == query.size(0) &&
                 key.size(1) == value.size(1),
             "MultiheadAttention: query {}, key {} and value {} disagree on B or L",
             shape_str(query.shape()), shape_str(key.shape()), shape_str(value.shape()));
  const std::int64_t B = query.size(0), Lq = query.size(1), E = embed_dim, H = num_heads;
  const Tensor q = project_heads(query, in_proj_weight, in_proj_bias, 0, E, H);
  const Tensor k = project_heads(key, in_proj_weight, in_proj_bias, 1, E, H);
  const Tensor v = project_heads(value, in_proj_weight, in_proj_bias, 2, E, H);
  const Tensor o = scaled_dot_product_attention(q, k, v, mask);  // (B, H, Lq, D)
  return out_proj->forward(o.transpose(1, 2).reshape({B, Lq, E}));
}

Tensor MultiheadAttention::forward_feature_map(const Tensor& x) {
  KILN_CHECK(x.defined() && x.dim() == 4 && x.size(1) == embed_dim,
             "MultiheadAttention.forward_feature_map: expected (B, {}, H, W), got {}", embed_dim,
             x.defined() ? shape_str(x.shape()) : "undefined");
  const std::int64_t B = x.size(0), C = x.size(1), Hh = x.size(2), W = x.size(3);
  const Tensor seq = x.reshape({B, C, Hh * W}).transpose(1, 2);  // (B, H·W, C)
  const Tensor y = forward(seq);                                  // (B, H·W, C)
  return y.transpose(1, 2).reshape({B, C, Hh, W});
}

std::string MultiheadAttention::extra_repr() const {
  return fmt::format("embed_dim={}, num_heads={}, bias={}", embed_dim, num_heads,
                     in_proj_bias.defined());
}

}  // namespace kiln::nn
