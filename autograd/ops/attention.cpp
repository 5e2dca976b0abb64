// Scaled dot-product attention (autograd/ops/attention.h), built from differentiable ops:
//   scores [..., Lq, Lk] = (q · scale) kᵀ (+ mask)       matmul
//   attn   [..., Lq, Lk] = softmax(scores) over keys     the fused softmax kernel
//   out    [..., Lq, Dv] = attn v                        matmul
// Each step records its own backward (matmul's GEMMs, and softmax's fused backward
// kernel gx = y ⊙ (gy - Σ gy ⊙ y)), so q, k and v get their gradients without a kernel
// of their own. Scaling q rather than the scores touches Lq·D values instead of Lq·Lk.
#include "autograd/ops/attention.h"

#include <cmath>
#include <limits>

#include "autograd/ops/common.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/matmul.h"
#include "autograd/ops/reduce.h"

namespace kiln {

namespace {
constexpr const char* kOp = "scaled_dot_product_attention";

Shape batch_of(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }
}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& mask, std::optional<double> scale) {
  KILN_CHECK(q.defined() && k.defined() && v.defined(), "{}: undefined tensor argument", kOp);
  ops::check_same(kOp, q, k);
  ops::check_same(kOp, q, v);
  dispatch_floating(q.dtype(), kOp, []<class T>() {});
  KILN_CHECK(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2,
             "{}: q, k and v need at least 2 dims ([..., L, D]), got q {}, k {}, v {}", kOp,
             shape_str(q.shape()), shape_str(k.shape()), shape_str(v.shape()));
  const std::int64_t D = q.size(-1), Lq = q.size(-2), Lk = k.size(-2);
  KILN_CHECK(k.size(-1) == D,
             "{}: q {} and k {} must have the same feature size (last dim: {} != {})", kOp,
             shape_str(q.shape()), shape_str(k.shape()), D, k.size(-1));
  KILN_CHECK(v.size(-2) == Lk,
             "{}: k {} and v {} must have the same number of keys (dim -2: {} != {})", kOp,
             shape_str(k.shape()), shape_str(v.shape()), Lk, v.size(-2));
  Shape batch = broadcast_shapes(broadcast_shapes(batch_of(q), batch_of(k), kOp), batch_of(v), kOp);
  Shape scores_shape = batch;
  scores_shape.push_back(Lq);
  scores_shape.push_back(Lk);
  if (mask.defined()) {
    KILN_CHECK(is_floating(mask.dtype()),
               "{}: the mask must be additive and floating (0 keeps, -inf masks; see Note "
               "[Attention masks]), got {} of shape {}; convert a 0/1 keep-mask with "
               "additive_attention_mask(keep, q.dtype())",
               kOp, mask.dtype(), shape_str(mask.shape()));
    ops::check_same(kOp, q, mask);
    // Aligned from the right, every mask dim must be 1 or the scores' size.
    const auto nd = static_cast<std::int64_t>(scores_shape.size());
    bool fits = mask.dim() <= nd;
    for (std::int64_t d = 0; fits && d < mask.dim(); ++d) {
      const std::int64_t m = mask.shape()[d], s = scores_shape[nd - mask.dim() + d];
      fits = m == s || m == 1;
    }
    KILN_CHECK(fits, "{}: mask of shape {} does not broadcast to the scores' shape {} (q {}, k {})",
               kOp, shape_str(mask.shape()), shape_str(scores_shape), shape_str(q.shape()),
               shape_str(k.shape()));
  }

  const double s = scale.value_or(D > 0 ? 1.0 / std::sqrt(static_cast<double>(D)) : 1.0);
  Tensor scores = matmul(q * s, k.transpose(-1, -2));
  if (mask.defined()) scores = scores + mask;
  return matmul(softmax(scores, -1), v);
}

Tensor additive_attention_mask(const Tensor& keep, DType dtype) {
  KILN_CHECK(keep.defined(), "additive_attention_mask: undefined tensor argument");
  KILN_CHECK(is_floating(dtype), "additive_attention_mask: the mask dtype must be floating, got {}",
             dtype);
  const Options o = {.dtype = dtype, .device = keep.device()};
  return where(keep.detach() != 0.0, Tensor::zeros({}, o),
               Tensor::full({}, -std::numeric_limits<double>::infinity(), o));
}

Tensor causal_attention_mask(std::int64_t Lq, std::int64_t Lk, DType dtype) {
  KILN_CHECK(Lq >= 0 && Lk >= 0, "causal_attention_mask: sizes must be >= 0, got {} and {}", Lq,
             Lk);
  const Tensor i =
      Tensor::arange(static_cast<double>(Lq), {.dtype = DType::Int64}).reshape({Lq, 1});
  const Tensor j =
      Tensor::arange(static_cast<double>(Lk), {.dtype = DType::Int64}).reshape({1, Lk});
  return additive_attention_mask(j <= i, dtype);  // [1, Lk] vs [Lq, 1] -> [Lq, Lk]
}

}  // namespace kiln
