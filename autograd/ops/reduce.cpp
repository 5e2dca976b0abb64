// Reductions and softmax: argument checks, the kernel calls, and the backward.
#include "autograd/ops/reduce.h"

#include <algorithm>

#include "autograd/ops/common.h"
#include "autograd/ops/elementwise.h"
#include "cuda/reduce.h"
#include "tensor/cpu/reduce.h"

namespace kiln {

using autograd::record;
using ops::grads;

namespace {

// The dims to reduce, normalised, sorted and unique; empty input means all dims.
Dims reduced_dims(const Tensor& x, const Dims& dims, const char* op) {
  Dims out;
  if (dims.empty()) {
    for (std::int64_t d = 0; d < x.dim(); ++d) out.push_back(d);
    return out;
  }
  for (auto d : dims) out.push_back(normalize_dim(d, x.dim(), op));
  std::sort(out.begin(), out.end());
  KILN_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(),
             "{}: dim listed twice in [{}]", op, fmt::join(dims, ", "));
  return out;
}

// The output shape: reduced dims removed, or kept as size 1.
Shape reduced_shape(const Tensor& x, const Dims& rdims, bool keepdim) {
  Shape out;
  for (std::int64_t d = 0; d < x.dim(); ++d) {
    const bool reduced = std::binary_search(rdims.begin(), rdims.end(), d);
    if (!reduced) out.push_back(x.shape()[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

// x with the reduced dims moved last and flattened: a contiguous [outer, inner].
Tensor rows_to_reduce(const Tensor& x, const Dims& rdims) {
  Dims order;
  for (std::int64_t d = 0; d < x.dim(); ++d)
    if (!std::binary_search(rdims.begin(), rdims.end(), d)) order.push_back(d);
  order.insert(order.end(), rdims.begin(), rdims.end());
  std::int64_t inner = 1;
  for (auto d : rdims) inner *= x.shape()[d];
  const Tensor moved = x.detach().permute(order).contiguous();
  return moved.view({inner == 0 ? 0 : x.numel() / std::max<std::int64_t>(inner, 1), inner});
}

Tensor reduce_forward(cpu::ReduceOp op, const char* name, const Tensor& x, const Dims& rdims,
                      bool keepdim) {
  const Tensor rows = rows_to_reduce(x, rdims);
  const std::int64_t outer = rows.shape()[0], inner = rows.shape()[1];
  KILN_CHECK(inner > 0 || op == cpu::ReduceOp::Sum,
             "{}: cannot reduce an empty dimension (shape {})", name, shape_str(x.shape()));
  Tensor out = Tensor::empty(reduced_shape(x, rdims, keepdim),
                             {.dtype = x.dtype(), .device = x.device()});
  if (inner == 0) return out.zero_();  // a sum over nothing
  dispatch(x.dtype(), [&]<class T>() {
    auto kernel = x.device().is_cpu() ? &cpu::reduce<T> : &cuda::reduce<T>;
    kernel(op, static_cast<const T*>(rows.raw_data()), static_cast<T*>(out.raw_data()), outer,
           inner);
  });
  return out;
}

// g (shaped like the reduction's output) broadcast back to x's shape.
Tensor expand_back(const Tensor& g, const Tensor& x, const Dims& rdims) {
  return g.reshape(reduced_shape(x, rdims, /*keepdim=*/true)).expand(x.shape());
}

std::int64_t count_of(const Tensor& x, const Dims& rdims) {
  std::int64_t n = 1;
  for (auto d : rdims) n *= x.shape()[d];
  return n;
}

}  // namespace

Tensor sum(const Tensor& x, const Dims& dims, bool keepdim) {
  KILN_CHECK(x.defined(), "sum: undefined tensor argument");
  const Dims rdims = reduced_dims(x, dims, "sum");
  Tensor out = reduce_forward(cpu::ReduceOp::Sum, "sum", x, rdims, keepdim);
  return record("SumBackward", out, {x}, [x, rdims](const Tensor& g) {
    return grads(expand_back(g, x, rdims));
  });
}

Tensor mean(const Tensor& x, const Dims& dims, bool keepdim) {
  KILN_CHECK(x.defined(), "mean: undefined tensor argument");
  dispatch_floating(x.dtype(), "mean", [] <class T>() {});
  const Dims rdims = reduced_dims(x, dims, "mean");
  return sum(x, rdims, keepdim) / static_cast<double>(count_of(x, rdims));
}

Tensor var(const Tensor& x, const Dims& dims, std::int64_t correction, bool keepdim) {
  KILN_CHECK(x.defined(), "var: undefined tensor argument");
  dispatch_floating(x.dtype(), "var", [] <class T>() {});
  const Dims rdims = reduced_dims(x, dims, "var");
  const std::int64_t n = count_of(x, rdims);
  KILN_CHECK(n - correction > 0, "var: {} elements with correction {} leave no degrees of freedom",
             n, correction);
  // Two passes (mean, then squared deviations): stable where E[x²] - E[x]² is not.
  const Tensor deviation = x - mean(x, rdims, /*keepdim=*/true);
  return sum(square(deviation), rdims, keepdim) / static_cast<double>(n - correction);
}

Tensor std(const Tensor& x, const Dims& dims, std::int64_t correction, bool keepdim) {
  return sqrt(var(x, dims, correction, keepdim));
}

namespace {
Tensor extremum(bool is_max, const Tensor& x, const Dims& dims, bool keepdim) {
  const char* name = is_max ? "max" : "min";
  KILN_CHECK(x.defined(), "{}: undefined tensor argument", name);
  const Dims rdims = reduced_dims(x, dims, name);
  Tensor out = reduce_forward(is_max ? cpu::ReduceOp::Max : cpu::ReduceOp::Min, name, x, rdims,
                              keepdim);
  return record(is_max ? "MaxBackward" : "MinBackward", out, {x},
                [x, rdims, best = out.detach()](const Tensor& g) {
                  // Every element equal to the extremum shares the gradient equally.
                  const Tensor hit = x.detach() == expand_back(best, x, rdims);
                  const Tensor share = hit / sum(hit, rdims, /*keepdim=*/true);
                  return grads(expand_back(g, x, rdims) * share);
                });
}

Tensor arg_extremum(bool is_max, const Tensor& x, std::optional<std::int64_t> dim, bool keepdim) {
  const char* name = is_max ? "argmax" : "argmin";
  KILN_CHECK(x.defined(), "{}: undefined tensor argument", name);
  const Tensor src = dim ? x : x.reshape({x.numel()});
  const Dims rdims = {dim ? normalize_dim(*dim, x.dim(), name) : 0};
  const Tensor rows = rows_to_reduce(src, rdims);
  KILN_CHECK(rows.shape()[1] > 0, "{}: cannot reduce an empty dimension (shape {})", name,
             shape_str(x.shape()));
  Tensor out = Tensor::empty(reduced_shape(src, rdims, keepdim && dim.has_value()),
                             {.dtype = DType::Int64, .device = x.device()});
  dispatch(x.dtype(), [&]<class T>() {
    auto kernel = x.device().is_cpu() ? &cpu::arg_reduce<T> : &cuda::arg_reduce<T>;
    kernel(is_max, static_cast<const T*>(rows.raw_data()),
           static_cast<std::int64_t*>(out.raw_data()), rows.shape()[0], rows.shape()[1]);
  });
  return out;
}
}  // namespace

Tensor amax(const Tensor& x, const Dims& dims, bool keepdim) {
  return extremum(true, x, dims, keepdim);
}
Tensor amin(const Tensor& x, const Dims& dims, bool keepdim) {
  return extremum(false, x, dims, keepdim);
}
Tensor argmax(const Tensor& x, std::optional<std::int64_t> dim, bool keepdim) {
  return arg_extremum(true, x, dim, keepdim);
}
Tensor argmin(const Tensor& x, std::optional<std::int64_t> dim, bool keepdim) {
  return arg_extremum(false, x, dim, keepdim);
}

Tensor logsumexp(const Tensor& x, const Dims& dims, bool keepdim) {
  KILN_CHECK(x.defined(), "logsumexp: undefined tensor argument");
  const Dims rdims = reduced_dims(x, dims, "logsumexp");
  // m is a constant shift (its gradient cancels exactly), so it is detached.
  Tensor m = amax(x.detach(), rdims, /*keepdim=*/true);
  m = where(abs(m) == INFINITY, Tensor::zeros_like(m), m);  // all -inf rows stay -inf
  Tensor out = log(sum(exp(x - m), rdims, /*keepdim=*/true)) + m;
  return keepdim ? out : out.reshape(reduced_shape(x, rdims, false));
}

namespace {
Tensor softmax_impl(const Tensor& x, std::int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  KILN_CHECK(x.defined(), "{}: undefined tensor argument", name);
  const int d = normalize_dim(dim, x.dim(), name);
  const Tensor xc = x.detach().contiguous();
  std::int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= x.shape()[i];
  for (std::int64_t i = d + 1; i < x.dim(); ++i) inner *= x.shape()[i];
  const std::int64_t n = x.dim() == 0 ? 1 : x.shape()[d];
  Tensor y = Tensor::empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  dispatch_floating(x.dtype(), name, [&]<class T>() {
    auto kernel = x.device().is_cpu() ? &cpu::softmax_forward<T> : &cuda::softmax_forward<T>;
    kernel(static_cast<const T*>(xc.raw_data()), static_cast<T*>(y.raw_data()), outer, n, inner,
           log);
  });
  // Heavy op: the backward is its own kernel, fed the detached output (Note [Saved
  // tensors]); it is differentiable once, which is all the framework needs here.
  return record(log ? "LogSoftmaxBackward" : "SoftmaxBackward", y, {x},
                [yd = y.detach(), outer, n, inner, log](const Tensor& g) {
                  const Tensor gc = g.contiguous();
                  ops::check_same("softmax_backward", yd, gc);
                  Tensor gx =
                      Tensor::empty(yd.shape(), {.dtype = yd.dtype(), .device = yd.device()});
                  dispatch_floating(yd.dtype(), "softmax_backward", [&]<class T>() {
                    auto kernel = yd.device().is_cpu() ? &cpu::softmax_backward<T>
                                                       : &cuda::softmax_backward<T>;
                    kernel(static_cast<const T*>(yd.raw_data()),
                           static_cast<const T*>(gc.raw_data()), static_cast<T*>(gx.raw_data()),
                           outer, n, inner, log);
                  });
                  return grads(gx);
                });
}
}  // namespace

Tensor softmax(const Tensor& x, std::int64_t dim) { return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, std::int64_t dim) { return softmax_impl(x, dim, true); }

// ---- methods ----------------------------------------------------------------------

Tensor Tensor::sum(const Dims& dims, bool keepdim) const { return kiln::sum(*this, dims, keepdim); }
Tensor Tensor::mean(const Dims& dims, bool keepdim) const {
  return kiln::mean(*this, dims, keepdim);
}
Tensor Tensor::var(const Dims& dims, std::int64_t correction, bool keepdim) const {
  return kiln::var(*this, dims, correction, keepdim);
}
Tensor Tensor::std(const Dims& dims, std::int64_t correction, bool keepdim) const {
  return kiln::std(*this, dims, correction, keepdim);
}
Tensor Tensor::max(const Dims& dims, bool keepdim) const { return amax(*this, dims, keepdim); }
Tensor Tensor::min(const Dims& dims, bool keepdim) const { return amin(*this, dims, keepdim); }
Tensor Tensor::argmax(std::optional<std::int64_t> dim, bool keepdim) const {
  return kiln::argmax(*this, dim, keepdim);
}
Tensor Tensor::argmin(std::optional<std::int64_t> dim, bool keepdim) const {
  return kiln::argmin(*this, dim, keepdim);
}
Tensor Tensor::logsumexp(const Dims& dims, bool keepdim) const {
  return kiln::logsumexp(*this, dims, keepdim);
}
Tensor Tensor::softmax(std::int64_t dim) const { return kiln::softmax(*this, dim); }
Tensor Tensor::log_softmax(std::int64_t dim) const { return kiln::log_softmax(*this, dim); }

}  // namespace kiln
