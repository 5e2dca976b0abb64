// Normalisation ops: argument checks, the kernel calls, and the backward.
//   group_norm  x [N, C, *] -> y [N, C, *]; saves mean, rstd [N, G]
//   layer_norm  x [..., *normalized_shape] -> y of x's shape; saves mean, rstd [M]
//   batch_norm  x [N, C, *] -> y [N, C, *]; saves the mean, rstd [C] it used
// The kernels (tensor/cpu/norm.h) see x as (N, C, S) or (M, K) with S the product of the
// spatial dims and K that of normalized_shape, so no permutation is ever needed.
//
// These are heavy ops: the backward is one call to an explicit kernel that returns dx,
// dweight and dbias together, fed the contiguous input and the saved statistics (Note
// [Saved tensors] in autograd/node.h: never the output).
#include "autograd/ops/norm.h"

#include "autograd/ops/common.h"
#include "cuda/norm.h"
#include "tensor/cpu/norm.h"

namespace kiln {

using autograd::record;

namespace {

// Typed pointer to a contiguous CPU tensor's data, or nullptr for an undefined tensor
// (an absent weight / bias, or a gradient nobody asked for).
template <class T>
T* ptr(const Tensor& t) {
  return t.defined() ? static_cast<T*>(t.raw_data()) : nullptr;
}

Tensor detached_contiguous(const Tensor& t) {
  return t.defined() ? t.detach().contiguous() : Tensor();
}

// An optional parameter (weight, bias, running statistic): when given, it must match x's
// dtype and device and have shape `expected`.
void check_param(const char* op, const char* what, const Tensor& p, const Tensor& x,
                 const Shape& expected) {
  if (!p.defined()) return;
  KILN_CHECK(p.dtype() == x.dtype(), "{}: {} has dtype {} but x has dtype {} (x shape {})", op,
             what, p.dtype(), x.dtype(), shape_str(x.shape()));
  KILN_CHECK(p.device() == x.device(), "{}: {} is on {} but x is on {}", op, what, p.device(),
             x.device());
  KILN_CHECK(p.shape() == expected, "{}: {} must have shape {} for x of shape {}, got {}", op, what,
             shape_str(expected), shape_str(x.shape()), shape_str(p.shape()));
}

void check_x(const char* op, const Tensor& x) {
  KILN_CHECK(x.defined(), "{}: undefined tensor argument", op);
  dispatch_floating(x.dtype(), op, []<class T>() {});
}

// The gradient a norm's backward receives must be on the input's device.
void check_grad(const char* op, const Tensor& g, const Tensor& x) {
  KILN_CHECK(g.device() == x.device(), "{}: the gradient is on {} but x is on {}", op, g.device(),
             x.device());
}

bool wants_grad(const Tensor& t) { return t.defined() && t.requires_grad(); }

// What a norm's backward returns: one gradient per input (x, weight, bias), each
// allocated only when that input requires grad.
struct NormGrads {
  Tensor dx, dweight, dbias;
  NormGrads(const Tensor& x, const Shape& param_shape, bool need_x, bool need_w, bool need_b) {
    const Options o = {.dtype = x.dtype(), .device = x.device()};
    if (need_x) dx = Tensor::empty(x.shape(), o);
    if (need_w) dweight = Tensor::empty(param_shape, o);
    if (need_b) dbias = Tensor::empty(param_shape, o);
  }
  std::vector<Tensor> list() const { return {dx, dweight, dbias}; }
};

// Product of shape[begin, end).
std::int64_t prod(const Shape& shape, std::int64_t begin, std::int64_t end) {
  std::int64_t n = 1;
  for (std::int64_t k = begin; k < end; ++k) n *= shape[k];
  return n;
}

}  // namespace

// ---- group norm ---------------------------------------------------------------------

Tensor group_norm(const Tensor& x, std::int64_t num_groups, const Tensor& weight,
                  const Tensor& bias, double eps) {
  const char* op = "group_norm";
  check_x(op, x);
  KILN_CHECK(x.dim() >= 2, "group_norm: expects x of shape [N, C, *], got {}",
             shape_str(x.shape()));
  const std::int64_t N = x.shape()[0], C = x.shape()[1], S = prod(x.shape(), 2, x.dim());
  KILN_CHECK(num_groups > 0 && C % num_groups == 0,
             "group_norm: {} channels (x of shape {}) cannot be split into {} groups", C,
             shape_str(x.shape()), num_groups);
  check_param(op, "weight", weight, x, {C});
  check_param(op, "bias", bias, x, {C});
  const std::int64_t G = num_groups;

  const Tensor xc = x.detach().contiguous();
  const Tensor wc = detached_contiguous(weight), bc = detached_contiguous(bias);
  const Options o = {.dtype = x.dtype(), .device = x.device()};
  Tensor y = Tensor::empty(x.shape(), o);
  Tensor mean = Tensor::empty({N, G}, o), rstd = Tensor::empty({N, G}, o);
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    auto kernel = x.device().is_cpu() ? &cpu::group_norm_forward<T> : &cuda::group_norm_forward<T>;
    kernel(ptr<T>(xc), ptr<T>(wc), ptr<T>(bc), ptr<T>(y), ptr<T>(mean), ptr<T>(rstd), N, C, S, G,
           eps);
  });
  return record("GroupNormBackward", y, {x, weight, bias},
                [xc, wc, mean, rstd, N, C, S, G, need_x = wants_grad(x),
                 need_w = wants_grad(weight), need_b = wants_grad(bias)](const Tensor& g) {
                  check_grad("group_norm_backward", g, xc);
                  const Tensor gc = g.contiguous();
                  NormGrads d(xc, {C}, need_x, need_w, need_b);
                  dispatch_floating(xc.dtype(), "group_norm_backward", [&]<class T>() {
                    auto kernel = xc.device().is_cpu() ? &cpu::group_norm_backward<T>
                                                       : &cuda::group_norm_backward<T>;
                    kernel(ptr<T>(xc), ptr<T>(gc), ptr<T>(mean), ptr<T>(rstd), ptr<T>(wc),
                           ptr<T>(d.dx), ptr<T>(d.dweight), ptr<T>(d.dbias), N, C, S, G);
                  });
                  return d.list();
                });
}

// ---- layer norm ---------------------------------------------------------------------

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  const char* op = "layer_norm";
  check_x(op, x);
  const auto nd = static_cast<std::int64_t>(normalized_shape.size());
  KILN_CHECK(nd >= 1, "layer_norm: normalized_shape must have at least one dim (x of shape {})",
             shape_str(x.shape()));
  bool trailing = x.dim() >= nd;
  for (std::int64_t k = 0; trailing && k < nd; ++k)
    trailing = x.shape()[x.dim() - nd + k] == normalized_shape[k];
  KILN_CHECK(trailing,
             "layer_norm: normalized_shape {} must equal the trailing dims of x, got x of shape {}",
             shape_str(normalized_shape), shape_str(x.shape()));
  check_param(op, "weight", weight, x, normalized_shape);
  check_param(op, "bias", bias, x, normalized_shape);
  const std::int64_t M = prod(x.shape(), 0, x.dim() - nd), K = numel_of(normalized_shape);

  const Tensor xc = x.detach().contiguous();
  const Tensor wc = detached_contiguous(weight), bc = detached_contiguous(bias);
  const Options o = {.dtype = x.dtype(), .device = x.device()};
  Tensor y = Tensor::empty(x.shape(), o);
  Tensor mean = Tensor::empty({M}, o), rstd = Tensor::empty({M}, o);
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    auto kernel = x.device().is_cpu() ? &cpu::layer_norm_forward<T> : &cuda::layer_norm_forward<T>;
    kernel(ptr<T>(xc), ptr<T>(wc), ptr<T>(bc), ptr<T>(y), ptr<T>(mean), ptr<T>(rstd), M, K, eps);
  });
  return record("LayerNormBackward", y, {x, weight, bias},
                [xc, wc, mean, rstd, M, K, normalized_shape, need_x = wants_grad(x),
                 need_w = wants_grad(weight), need_b = wants_grad(bias)](const Tensor& g) {
                  check_grad("layer_norm_backward", g, xc);
                  const Tensor gc = g.contiguous();
                  NormGrads d(xc, normalized_shape, need_x, need_w, need_b);
                  dispatch_floating(xc.dtype(), "layer_norm_backward", [&]<class T>() {
                    auto kernel = xc.device().is_cpu() ? &cpu::layer_norm_backward<T>
                                                       : &cuda::layer_norm_backward<T>;
                    kernel(ptr<T>(xc), ptr<T>(gc), ptr<T>(mean), ptr<T>(rstd), ptr<T>(wc),
                           ptr<T>(d.dx), ptr<T>(d.dweight), ptr<T>(d.dbias), M, K);
                  });
                  return d.list();
                });
}

// ---- batch norm ---------------------------------------------------------------------

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum,
                  double eps) {
  const char* op = "batch_norm";
  check_x(op, x);
  KILN_CHECK(x.dim() >= 2, "batch_norm: expects x of shape [N, C, *], got {}",
             shape_str(x.shape()));
  const std::int64_t N = x.shape()[0], C = x.shape()[1], S = prod(x.shape(), 2, x.dim());
  check_param(op, "weight", weight, x, {C});
  check_param(op, "bias", bias, x, {C});
  check_param(op, "running_mean", running_mean, x, {C});
  check_param(op, "running_var", running_var, x, {C});
  KILN_CHECK(running_mean.defined() == running_var.defined(),
             "batch_norm: running_mean and running_var must be given together (x of shape {})",
             shape_str(x.shape()));
  KILN_CHECK(training || running_mean.defined(),
             "batch_norm: running_mean and running_var are required when training is false "
             "(x of shape {})",
             shape_str(x.shape()));
  KILN_CHECK(!training || N * S > 1,
             "batch_norm: expected more than 1 value per channel when training, got x of "
             "shape {}",
             shape_str(x.shape()));

  const Tensor xc = x.detach().contiguous();
  const Tensor wc = detached_contiguous(weight), bc = detached_contiguous(bias);
  // The running statistics are written in place when training; a non-contiguous one is
  // updated through a contiguous copy that is copied back.
  const Tensor rm = detached_contiguous(running_mean), rv = detached_contiguous(running_var);
  const Options o = {.dtype = x.dtype(), .device = x.device()};
  Tensor y = Tensor::empty(x.shape(), o);
  Tensor mean = Tensor::empty({C}, o), rstd = Tensor::empty({C}, o);
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    auto kernel = x.device().is_cpu() ? &cpu::batch_norm_forward<T> : &cuda::batch_norm_forward<T>;
    kernel(ptr<T>(xc), ptr<T>(wc), ptr<T>(bc), ptr<T>(rm), ptr<T>(rv), ptr<T>(y), ptr<T>(mean),
           ptr<T>(rstd), N, C, S, training, momentum, eps);
  });
  if (training && running_mean.defined()) {
    if (!rm.shares_storage_with(running_mean)) running_mean.detach().copy_(rm);
    if (!rv.shares_storage_with(running_var)) running_var.detach().copy_(rv);
  }
  return record("BatchNormBackward", y, {x, weight, bias},
                [xc, wc, mean, rstd, N, C, S, training, need_x = wants_grad(x),
                 need_w = wants_grad(weight), need_b = wants_grad(bias)](const Tensor& g) {
                  check_grad("batch_norm_backward", g, xc);
                  const Tensor gc = g.contiguous();
                  NormGrads d(xc, {C}, need_x, need_w, need_b);
                  dispatch_floating(xc.dtype(), "batch_norm_backward", [&]<class T>() {
                    auto kernel = xc.device().is_cpu() ? &cpu::batch_norm_backward<T>
                                                       : &cuda::batch_norm_backward<T>;
                    kernel(ptr<T>(xc), ptr<T>(gc), ptr<T>(mean), ptr<T>(rstd), ptr<T>(wc),
                           ptr<T>(d.dx), ptr<T>(d.dweight), ptr<T>(d.dbias), N, C, S, training);
                  });
                  return d.list();
                });
}

}  // namespace kiln
