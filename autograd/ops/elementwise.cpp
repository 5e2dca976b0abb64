// Element-wise ops: argument checks, broadcasting, the kernel call, and the backward.
//
// Note [Broadcast gradients]
// When a [3] tensor is added to a [4, 3] one, the [3] operand was (virtually) repeated 4
// times, so its gradient is the sum of the 4 rows of the output gradient: every backward
// here ends with sum_to(grad, input.shape()).
#include "autograd/ops/elementwise.h"

#include <cmath>
#include <numbers>

#include "autograd/ops/common.h"
#include "autograd/ops/reduce.h"
#include "cuda/elementwise.h"
#include "tensor/cpu/elementwise.h"

namespace kiln {
namespace ops {

Tensor host_contiguous(const Tensor& t) {
  return t.device().is_cpu() ? t.detach().contiguous() : t.detach().to(Device::cpu());
}

void check_same(const char* op, const Tensor& a, const Tensor& b) {
  KILN_CHECK(a.defined() && b.defined(), "{}: undefined tensor argument", op);
  KILN_CHECK(a.dtype() == b.dtype(), "{}: dtypes {} and {} differ (shapes {} and {}); convert one "
             "with .to(dtype)", op, a.dtype(), b.dtype(), shape_str(a.shape()), shape_str(b.shape()));
  KILN_CHECK(a.device() == b.device(), "{}: tensors on different devices ({} and {})", op,
             a.device(), b.device());
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  const auto lead = grad.dim() - static_cast<std::int64_t>(shape.size());
  std::vector<std::int64_t> dims;
  for (std::int64_t d = 0; d < grad.dim(); ++d) {
    if (d < lead || (shape[d - lead] == 1 && grad.shape()[d] != 1)) dims.push_back(d);
  }
  Tensor summed = dims.empty() ? grad : grad.sum(dims, /*keepdim=*/true);
  return summed.reshape(shape);
}

}  // namespace ops

using autograd::record;
using ops::grads;
using ops::layout_of;
using ops::sum_to;

namespace {

// Runs the unary kernel of `op` (forward only, no autograd).
Tensor unary_forward(UnaryOp op, const Tensor& x) {
  KILN_CHECK(x.defined(), "{}: undefined tensor argument", op_name(op));
  if (is_floating_only(op) && !is_floating(x.dtype()))
    fail("{}: expects a floating dtype (float32 or float64), got {} (shape {})", op_name(op),
         x.dtype(), shape_str(x.shape()));
  Tensor out = Tensor::empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  dispatch(x.dtype(), [&]<class T>() {
    auto kernel = x.device().is_cpu() ? &cpu::unary<T> : &cuda::unary<T>;
    kernel(op, static_cast<const T*>(x.raw_data()), layout_of(x), static_cast<T*>(out.raw_data()));
  });
  return out;
}

// Runs the binary kernel of `op` on the broadcast of a and b (forward only).
Tensor binary_forward(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = op_name(op);
  ops::check_same(name, a, b);
  KILN_CHECK(!(op == BinaryOp::Div && a.dtype() == DType::Int64),
             "div: int64 division is not supported (shapes {} and {}); convert with .to(kFloat32)",
             shape_str(a.shape()), shape_str(b.shape()));
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  const Tensor ea = a.shape() == shape ? a : a.detach().expand(shape);
  const Tensor eb = b.shape() == shape ? b : b.detach().expand(shape);
  Tensor out = Tensor::empty(shape, {.dtype = a.dtype(), .device = a.device()});
  dispatch(a.dtype(), [&]<class T>() {
    auto kernel = a.device().is_cpu() ? &cpu::binary<T> : &cuda::binary<T>;
    kernel(op, static_cast<const T*>(ea.raw_data()), layout_of(ea),
           static_cast<const T*>(eb.raw_data()), layout_of(eb), static_cast<T*>(out.raw_data()));
  });
  return out;
}

Tensor scalar_like(double v, const Tensor& t) {
  return Tensor::scalar(v, {.dtype = t.dtype(), .device = t.device()});
}

}  // namespace

// ---- unary ------------------------------------------------------------------------

Tensor neg(const Tensor& x) {
  return record("NegBackward", unary_forward(UnaryOp::Neg, x), {x},
                [](const Tensor& g) { return grads(neg(g)); });
}

Tensor exp(const Tensor& x) {
  return record("ExpBackward", unary_forward(UnaryOp::Exp, x), {x},
                [x](const Tensor& g) { return grads(g * exp(x)); });
}

Tensor log(const Tensor& x) {
  return record("LogBackward", unary_forward(UnaryOp::Log, x), {x},
                [x](const Tensor& g) { return grads(g / x); });
}

Tensor log1p(const Tensor& x) {
  return record("Log1pBackward", unary_forward(UnaryOp::Log1p, x), {x},
                [x](const Tensor& g) { return grads(g / (x + 1.0)); });
}

Tensor expm1(const Tensor& x) {
  return record("Expm1Backward", unary_forward(UnaryOp::Expm1, x), {x},
                [x](const Tensor& g) { return grads(g * exp(x)); });
}

Tensor sqrt(const Tensor& x) {
  // d√x = 1 / (2√x)
  return record("SqrtBackward", unary_forward(UnaryOp::Sqrt, x), {x},
                [x](const Tensor& g) { return grads(g * 0.5 * rsqrt(x)); });
}

Tensor rsqrt(const Tensor& x) {
  // d x^{-1/2} = -1/2 x^{-3/2}
  return record("RsqrtBackward", unary_forward(UnaryOp::Rsqrt, x), {x},
                [x](const Tensor& g) { return grads(g * -0.5 * rsqrt(x) / x); });
}

Tensor abs(const Tensor& x) {
  return record("AbsBackward", unary_forward(UnaryOp::Abs, x), {x},
                [x](const Tensor& g) { return grads(g * sign(x)); });
}

Tensor sign(const Tensor& x) { return unary_forward(UnaryOp::Sign, x); }

Tensor sin(const Tensor& x) {
  return record("SinBackward", unary_forward(UnaryOp::Sin, x), {x},
                [x](const Tensor& g) { return grads(g * cos(x)); });
}

Tensor cos(const Tensor& x) {
  return record("CosBackward", unary_forward(UnaryOp::Cos, x), {x},
                [x](const Tensor& g) { return grads(-(g * sin(x))); });
}

Tensor tanh(const Tensor& x) {
  // d tanh = 1 - tanh²
  return record("TanhBackward", unary_forward(UnaryOp::Tanh, x), {x},
                [x](const Tensor& g) { return grads(g * (1.0 - square(tanh(x)))); });
}

Tensor sigmoid(const Tensor& x) {
  // dσ = σ(1 - σ)
  return record("SigmoidBackward", unary_forward(UnaryOp::Sigmoid, x), {x},
                [x](const Tensor& g) {
                  const Tensor s = sigmoid(x);
                  return grads(g * s * (1.0 - s));
                });
}

Tensor silu(const Tensor& x) {
  // d(xσ(x)) = σ + xσ(1 - σ) = σ(1 + x(1 - σ))
  return record("SiluBackward", unary_forward(UnaryOp::Silu, x), {x},
                [x](const Tensor& g) {
                  // A U-Net calls SiLU ~20 times per step: without create_graph one fused
                  // pass replaces the six passes (and five temporaries) of the formula.
                  if (!autograd::grad_enabled())
                    return grads(binary_forward(BinaryOp::SiluBackward, g, x));
                  const Tensor s = sigmoid(x);  // differentiable again, for create_graph
                  return grads(g * s * (1.0 + x * (1.0 - s)));
                });
}

Tensor gelu(const Tensor& x) {
  // d(xΦ(x)) = Φ(x) + x φ(x),  φ(x) = e^{-x²/2} / √(2π)
  return record("GeluBackward", unary_forward(UnaryOp::Gelu, x), {x},
                [x](const Tensor& g) {
                  const Tensor cdf = 0.5 * (1.0 + erf(x * (1.0 / std::numbers::sqrt2)));
                  const Tensor pdf = exp(-0.5 * square(x)) * (1.0 / std::sqrt(2.0 * std::numbers::pi));
                  return grads(g * (cdf + x * pdf));
                });
}

Tensor relu(const Tensor& x) {
  return record("ReluBackward", unary_forward(UnaryOp::Relu, x), {x},
                [x](const Tensor& g) { return grads(g * (x.detach() > 0.0)); });
}

Tensor erf(const Tensor& x) {
  // d erf = 2/√π e^{-x²}
  return record("ErfBackward", unary_forward(UnaryOp::Erf, x), {x},
                [x](const Tensor& g) {
                  return grads(g * (2.0 / std::sqrt(std::numbers::pi)) * exp(-square(x)));
                });
}

Tensor square(const Tensor& x) {
  return record("SquareBackward", unary_forward(UnaryOp::Square, x), {x},
                [x](const Tensor& g) { return grads(g * 2.0 * x); });
}

Tensor reciprocal(const Tensor& x) {
  return record("ReciprocalBackward", unary_forward(UnaryOp::Reciprocal, x), {x},
                [x](const Tensor& g) { return grads(-g / square(x)); });
}

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  KILN_CHECK(x.defined(), "clamp: undefined tensor argument");
  Tensor out = Tensor::empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  dispatch(x.dtype(), [&]<class T>() {
    auto kernel = x.device().is_cpu() ? &cpu::clamp<T> : &cuda::clamp<T>;
    kernel(static_cast<const T*>(x.raw_data()), layout_of(x), min.has_value(),
           static_cast<T>(min.value_or(0)), max.has_value(), static_cast<T>(max.value_or(0)),
           static_cast<T*>(out.raw_data()));
  });
  return record("ClampBackward", out, {x}, [x, min, max](const Tensor& g) {
    // The gradient passes where x is inside [min, max] (boundaries included, as torch).
    Tensor mask = Tensor::ones_like(x);
    if (min) mask = mask * (x.detach() >= *min);
    if (max) mask = mask * (x.detach() <= *max);
    return grads(g * mask);
  });
}

// ---- binary -----------------------------------------------------------------------

Tensor add(const Tensor& a, const Tensor& b) {
  return record("AddBackward", binary_forward(BinaryOp::Add, a, b), {a, b},
                [sa = a.shape(), sb = b.shape()](const Tensor& g) {
                  return grads(sum_to(g, sa), sum_to(g, sb));
                });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  return record("SubBackward", binary_forward(BinaryOp::Sub, a, b), {a, b},
                [sa = a.shape(), sb = b.shape()](const Tensor& g) {
                  return grads(sum_to(g, sa), sum_to(neg(g), sb));
                });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  return record("MulBackward", binary_forward(BinaryOp::Mul, a, b), {a, b},
                [a, b](const Tensor& g) {
                  Tensor ga = a.requires_grad() ? sum_to(g * b, a.shape()) : Tensor();
                  Tensor gb = b.requires_grad() ? sum_to(g * a, b.shape()) : Tensor();
                  return grads(ga, gb);
                });
}

Tensor div(const Tensor& a, const Tensor& b) {
  // d(a/b)/da = 1/b,  d(a/b)/db = -a/b²
  return record("DivBackward", binary_forward(BinaryOp::Div, a, b), {a, b},
                [a, b](const Tensor& g) {
                  Tensor ga = a.requires_grad() ? sum_to(g / b, a.shape()) : Tensor();
                  Tensor gb = b.requires_grad() ? sum_to(-g * a / square(b), b.shape()) : Tensor();
                  return grads(ga, gb);
                });
}

Tensor pow(const Tensor& a, const Tensor& b) {
  // d(a^b)/da = b a^{b-1},  d(a^b)/db = a^b log a
  return record("PowBackward", binary_forward(BinaryOp::Pow, a, b), {a, b},
                [a, b](const Tensor& g) {
                  Tensor ga = a.requires_grad() ? sum_to(g * b * pow(a, b - 1.0), a.shape())
                                                : Tensor();
                  Tensor gb = b.requires_grad() ? sum_to(g * pow(a, b) * log(a), b.shape())
                                                : Tensor();
                  return grads(ga, gb);
                });
}

Tensor pow(const Tensor& a, double exponent) {
  const Tensor e = scalar_like(exponent, a);
  return record("PowBackward", binary_forward(BinaryOp::Pow, a, e), {a},
                [a, exponent](const Tensor& g) {
                  return grads(g * exponent * pow(a, exponent - 1.0));
                });
}

namespace {
// maximum/minimum: the gradient goes to the chosen input; on a tie it is split evenly,
// as torch.maximum does, so the function's two one-sided derivatives are averaged.
Tensor extremum(BinaryOp op, const char* name, const Tensor& a, const Tensor& b) {
  return record(name, binary_forward(op, a, b), {a, b}, [a, b, op](const Tensor& g) {
    const Tensor ad = a.detach(), bd = b.detach();
    const Tensor a_wins = (op == BinaryOp::Maximum ? ad > bd : ad < bd) + 0.5 * (ad == bd);
    Tensor ga = a.requires_grad() ? sum_to(g * a_wins, a.shape()) : Tensor();
    Tensor gb = b.requires_grad() ? sum_to(g * (1.0 - a_wins), b.shape()) : Tensor();
    return grads(ga, gb);
  });
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) {
  return extremum(BinaryOp::Maximum, "MaximumBackward", a, b);
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  return extremum(BinaryOp::Minimum, "MinimumBackward", a, b);
}

Tensor eq(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::Eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::Ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::Lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::Le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::Gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::Ge, a, b); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  ops::check_same("where", a, b);
  KILN_CHECK(cond.defined() && cond.device() == a.device(),
             "where: the condition is on {} but the values are on {}",
             cond.defined() ? cond.device().str() : std::string("(undefined)"), a.device());
  const Shape shape =
      broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  const Tensor c = (cond.dtype() == a.dtype() ? cond.detach() : cond.to(a.dtype())).expand(shape);
  const Tensor ea = a.detach().expand(shape), eb = b.detach().expand(shape);
  Tensor out = Tensor::empty(shape, {.dtype = a.dtype(), .device = a.device()});
  dispatch(a.dtype(), [&]<class T>() {
    auto kernel = a.device().is_cpu() ? &cpu::where<T> : &cuda::where<T>;
    kernel(static_cast<const T*>(c.raw_data()), layout_of(c), static_cast<const T*>(ea.raw_data()),
           layout_of(ea), static_cast<const T*>(eb.raw_data()), layout_of(eb),
           static_cast<T*>(out.raw_data()));
  });
  return record("WhereBackward", out, {a, b}, [c, sa = a.shape(), sb = b.shape()](const Tensor& g) {
    const Tensor zero = Tensor::zeros({}, {.dtype = g.dtype(), .device = g.device()});
    return grads(sum_to(where(c, g, zero), sa), sum_to(where(c, zero, g), sb));
  });
}

// ---- operators and methods --------------------------------------------------------

Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, double b) { return add(a, scalar_like(b, a)); }
Tensor operator-(const Tensor& a, double b) { return sub(a, scalar_like(b, a)); }
Tensor operator*(const Tensor& a, double b) { return mul(a, scalar_like(b, a)); }
Tensor operator/(const Tensor& a, double b) { return div(a, scalar_like(b, a)); }
Tensor operator+(double a, const Tensor& b) { return add(scalar_like(a, b), b); }
Tensor operator-(double a, const Tensor& b) { return sub(scalar_like(a, b), b); }
Tensor operator*(double a, const Tensor& b) { return mul(scalar_like(a, b), b); }
Tensor operator/(double a, const Tensor& b) { return div(scalar_like(a, b), b); }
Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator==(const Tensor& a, double b) { return eq(a, scalar_like(b, a)); }
Tensor operator!=(const Tensor& a, double b) { return ne(a, scalar_like(b, a)); }
Tensor operator<(const Tensor& a, double b) { return lt(a, scalar_like(b, a)); }
Tensor operator<=(const Tensor& a, double b) { return le(a, scalar_like(b, a)); }
Tensor operator>(const Tensor& a, double b) { return gt(a, scalar_like(b, a)); }
Tensor operator>=(const Tensor& a, double b) { return ge(a, scalar_like(b, a)); }

Tensor Tensor::neg() const { return kiln::neg(*this); }
Tensor Tensor::exp() const { return kiln::exp(*this); }
Tensor Tensor::log() const { return kiln::log(*this); }
Tensor Tensor::log1p() const { return kiln::log1p(*this); }
Tensor Tensor::expm1() const { return kiln::expm1(*this); }
Tensor Tensor::sqrt() const { return kiln::sqrt(*this); }
Tensor Tensor::rsqrt() const { return kiln::rsqrt(*this); }
Tensor Tensor::abs() const { return kiln::abs(*this); }
Tensor Tensor::sign() const { return kiln::sign(*this); }
Tensor Tensor::sin() const { return kiln::sin(*this); }
Tensor Tensor::cos() const { return kiln::cos(*this); }
Tensor Tensor::tanh() const { return kiln::tanh(*this); }
Tensor Tensor::sigmoid() const { return kiln::sigmoid(*this); }
Tensor Tensor::silu() const { return kiln::silu(*this); }
Tensor Tensor::gelu() const { return kiln::gelu(*this); }
Tensor Tensor::relu() const { return kiln::relu(*this); }
Tensor Tensor::erf() const { return kiln::erf(*this); }
Tensor Tensor::square() const { return kiln::square(*this); }
Tensor Tensor::reciprocal() const { return kiln::reciprocal(*this); }
Tensor Tensor::clamp(std::optional<double> min, std::optional<double> max) const {
  return kiln::clamp(*this, min, max);
}
Tensor Tensor::pow(double exponent) const { return kiln::pow(*this, exponent); }
Tensor Tensor::pow(const Tensor& exponent) const { return kiln::pow(*this, exponent); }

}  // namespace kiln
