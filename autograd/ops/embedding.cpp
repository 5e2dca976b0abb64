// Embedding (autograd/ops/embedding.h): a row gather, index_select(weight, 0, flat
// indices), whose recorded backward is the adjoint index_add into zeros of weight's shape
// (Note [Adjoint pairs] in autograd/ops/index.cpp).
#include "autograd/ops/embedding.h"

#include "autograd/ops/common.h"
#include "autograd/ops/index.h"

namespace kiln {

Tensor embedding(const Tensor& weight, const Tensor& indices) {
  KILN_CHECK(weight.defined() && indices.defined(), "embedding: undefined tensor argument");
  KILN_CHECK(weight.dim() == 2, "embedding: weight must be [num_embeddings, dim], got shape {}",
             shape_str(weight.shape()));
  dispatch_floating(weight.dtype(), "embedding", []<class T>() {});
  KILN_CHECK(indices.dtype() == DType::Int64,
             "embedding: indices must be int64, got {} (shape {}); convert with .to(kInt64)",
             indices.dtype(), shape_str(indices.shape()));
  KILN_CHECK(indices.device() == weight.device(),
             "embedding: indices are on {} but weight is on {}", indices.device(), weight.device());
  const std::int64_t V = weight.shape()[0], D = weight.shape()[1];
  const Tensor flat = indices.detach().reshape({indices.numel()}).contiguous();
  const Tensor host = ops::host_contiguous(flat);  // GPU indices are checked on the host
  const std::int64_t* p = host.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < host.numel(); ++i) {
    KILN_CHECK(p[i] >= 0 && p[i] < V,
               "embedding: index {} out of range for {} embeddings (weight {}, indices {})", p[i],
               V, shape_str(weight.shape()), shape_str(indices.shape()));
  }
  Shape out_shape = indices.shape();
  out_shape.push_back(D);
  return index_select(weight, 0, flat).reshape(out_shape);
}

}  // namespace kiln
