#include "autograd/ops/matmul.h"

#include "autograd/ops/common.h"
#include "cuda/gemm.h"
#include "tensor/cpu/gemm.h"

namespace kiln {

using autograd::record;
using ops::grads;

namespace {

// How one matrix of a batch is laid out for the GEMM: row-major with leading dimension
// `ld`, or the transpose of a row-major matrix (a .t() view) -- no copy either way.
struct MatrixLayout {
  bool transposed = false;
  std::int64_t ld = 0;
};

std::optional<MatrixLayout> gemm_layout(const Tensor& t) {
  const std::int64_t rows = t.shape()[t.dim() - 2], cols = t.shape()[t.dim() - 1];
  const std::int64_t rs = t.strides()[t.dim() - 2], cs = t.strides()[t.dim() - 1];
  if (cs == 1 && (rs >= std::max<std::int64_t>(cols, 1) || rows == 1)) {
    return MatrixLayout{false, std::max<std::int64_t>(rows == 1 ? cols : rs, 1)};
  }
  if (rs == 1 && (cs >= std::max<std::int64_t>(rows, 1) || cols == 1)) {
    return MatrixLayout{true, std::max<std::int64_t>(cols == 1 ? rows : cs, 1)};
  }
  return std::nullopt;
}

// a [batch..., m, k] · b [batch..., k, n] with identical batch shapes (already expanded).
Tensor matmul_forward(const Tensor& a_in, const Tensor& b_in) {
  const std::int64_t m = a_in.shape()[a_in.dim() - 2], k = a_in.shape()[a_in.dim() - 1];
  const std::int64_t n = b_in.shape()[b_in.dim() - 1];
  Shape batch(a_in.shape().begin(), a_in.shape().end() - 2);
  const std::int64_t nbatch = numel_of(batch);
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor out = Tensor::empty(out_shape, {.dtype = a_in.dtype(), .device = a_in.device()});
  if (out.numel() == 0) return out;

  // Flatten the batch dims to one (a view when the batch dims allow it) and fall back
  // to a contiguous copy only when a matrix is neither row- nor column-major.
  auto prepare = [&](const Tensor& t) {
    Tensor r = t.detach().reshape({nbatch, t.shape()[t.dim() - 2], t.shape()[t.dim() - 1]});
    if (!gemm_layout(r)) r = r.contiguous();
    return r;
  };
  const Tensor a = prepare(a_in), b = prepare(b_in);
  const MatrixLayout la = *gemm_layout(a), lb = *gemm_layout(b);
  dispatch_floating(a.dtype(), "matmul", [&]<class T>() {
    const T* pa = static_cast<const T*>(a.raw_data());
    const T* pb = static_cast<const T*>(b.raw_data());
    T* pc = static_cast<T*>(out.raw_data());
    if (out.device().is_cpu()) {
      for (std::int64_t i = 0; i < nbatch; ++i) {
        cpu::gemm<T>(la.transposed, lb.transposed, m, n, k, T(1), pa + i * a.strides()[0], la.ld,
                     pb + i * b.strides()[0], lb.ld, T(0), pc + i * m * n, n);
      }
    } else {  // the whole batch in one cuBLAS call (a batch stride may be 0: broadcast)
      cuda::gemm_strided_batched<T>(la.transposed, lb.transposed, m, n, k, T(1), pa, la.ld,
                                    a.strides()[0], pb, lb.ld, b.strides()[0], T(0), pc, n, m * n,
                                    nbatch);
    }
  });
  return out;
}

// Both operands at least 2-D; broadcasts the batch dims and records the backward.
Tensor matmul_nd(const Tensor& a, const Tensor& b) {
  const std::int64_t k = a.shape()[a.dim() - 1];
  KILN_CHECK(k == b.shape()[b.dim() - 2],
             "matmul: shapes {} and {} cannot be multiplied ({} != {})", shape_str(a.shape()),
             shape_str(b.shape()), k, b.shape()[b.dim() - 2]);
  const Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(ba, bb, "matmul");
  Shape sa = batch, sb = batch;
  sa.insert(sa.end(), a.shape().end() - 2, a.shape().end());
  sb.insert(sb.end(), b.shape().end() - 2, b.shape().end());
  const Tensor ea = a.shape() == sa ? a.detach() : a.detach().expand(sa);
  const Tensor eb = b.shape() == sb ? b.detach() : b.detach().expand(sb);
  Tensor out = matmul_forward(ea, eb);
  // d(AB)/dA = G Bᵀ, d(AB)/dB = Aᵀ G, summed over broadcast batch dims.
  return record("MatmulBackward", out, {a, b}, [a, b](const Tensor& g) {
    Tensor ga = a.requires_grad() ? ops::sum_to(matmul_nd(g, b.transpose(-1, -2)), a.shape())
                                  : Tensor();
    Tensor gb = b.requires_grad() ? ops::sum_to(matmul_nd(a.transpose(-1, -2), g), b.shape())
                                  : Tensor();
    return grads(ga, gb);
  });
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  ops::check_same("matmul", a, b);
  KILN_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both operands need at least 1 dim, got {} and {}",
             shape_str(a.shape()), shape_str(b.shape()));
  dispatch_floating(a.dtype(), "matmul", [] <class T>() {});
  if (a.dim() >= 2 && b.dim() >= 2) return matmul_nd(a, b);
  if (a.dim() == 1 && b.dim() == 1) {
    KILN_CHECK(a.shape()[0] == b.shape()[0],
               "matmul: shapes {} and {} cannot be multiplied ({} != {})", shape_str(a.shape()),
               shape_str(b.shape()), a.shape()[0], b.shape()[0]);
    return matmul_nd(a.unsqueeze(0), b.unsqueeze(1)).reshape({});
  }
  if (a.dim() == 1) return matmul_nd(a.unsqueeze(0), b).squeeze(-2);
  return matmul_nd(a, b.unsqueeze(1)).squeeze(-1);
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  ops::check_same("bmm", a, b);
  KILN_CHECK(a.dim() == 3 && b.dim() == 3, "bmm: expects 3-D tensors, got {} and {}",
             shape_str(a.shape()), shape_str(b.shape()));
  KILN_CHECK(a.shape()[0] == b.shape()[0], "bmm: batch sizes differ ({} and {})",
             shape_str(a.shape()), shape_str(b.shape()));
  return matmul(a, b);
}

Tensor Tensor::matmul(const Tensor& other) const { return kiln::matmul(*this, other); }
Tensor Tensor::bmm(const Tensor& other) const { return kiln::bmm(*this, other); }

}  // namespace kiln
