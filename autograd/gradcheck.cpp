#include "autograd/gradcheck.h"

#include <cmath>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "tensor/detail.h"
#include "tensor/random.h"

namespace kiln::autograd {
namespace {

// Multi-index of the row-major element `linear` of `shape`.
std::vector<std::int64_t> unravel(std::int64_t linear, const Shape& shape) {
  std::vector<std::int64_t> index(shape.size());
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    index[d] = linear % shape[d];
    linear /= shape[d];
  }
  return index;
}

// f's output as a fresh float64 copy: an f that returns a view of its input must not
// see the copy change when the input is perturbed next.
Tensor evaluate(const GradcheckFn& f, const std::vector<Tensor>& inputs) {
  NoGradGuard no_grad;
  return detail::contiguous_copy(f(inputs), DType::Float64);
}

// Reads and writes one element of x, on any device: at / set_at on the CPU, a 0-d view
// (item() copies it back, fill_ writes it) on a GPU.
struct Element {
  Tensor x;
  std::vector<std::int64_t> index;
  Tensor view;  // GPU only

  Element(const Tensor& t, std::vector<std::int64_t> idx) : x(t), index(std::move(idx)) {
    if (x.device().is_cpu()) return;
    std::int64_t off = x.offset();
    for (size_t d = 0; d < index.size(); ++d) off += index[d] * x.strides()[d];
    view = detail::make_view(x, {}, {}, off);
  }
  double get() const { return view.defined() ? view.item() : x.at(index); }
  void set(double v) {
    if (view.defined()) view.fill_(v);
    else x.set_at(index, v);
  }
};

}  // namespace

// [region gradcheck]
GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs, double eps,
                          double atol, double rtol) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    KILN_CHECK(x.defined() && x.dtype() == DType::Float64,
               "gradcheck: input {} must be a float64 tensor", i);
    KILN_CHECK(x.device() == inputs[0].device(), "gradcheck: input {} is on {} but input 0 is on {}",
               i, x.device(), inputs[0].device());
    KILN_CHECK(x.is_leaf() && x.requires_grad(),
               "gradcheck: input {} must be a leaf with requires_grad", i);
    for (std::int64_t d = 0; d < x.dim(); ++d)
      KILN_CHECK(x.strides()[d] != 0 || x.shape()[d] <= 1,
                 "gradcheck: input {} (shape {}) overlaps itself (stride 0); expand inside f", i,
                 shape_str(x.shape()));
  }

  // Analytic: one backward of v·y.
  const Tensor y = f(inputs);
  Generator gen(12345);
  const Tensor v = Tensor::randn(y.shape(), {.dtype = DType::Float64, .device = y.device()}, &gen);
  std::vector<Tensor> analytic(inputs.size());
  if (y.requires_grad()) {
    analytic = grad({sum(y.to(DType::Float64) * v)}, inputs, {}, false, false,
                    /*allow_unused=*/true);
  }

  GradcheckResult result;
  double worst = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    const std::vector<double> a =
        analytic[i].defined() ? analytic[i].to_vector<double>() : std::vector<double>(x.numel(), 0.0);
    for (std::int64_t e = 0; e < x.numel(); ++e) {
      Element xe(x, unravel(e, x.shape()));  // writes go through to the leaf's storage
      const double x0 = xe.get();
      xe.set(x0 + eps);
      const Tensor plus = evaluate(f, inputs);
      xe.set(x0 - eps);
      const Tensor minus = evaluate(f, inputs);
      xe.set(x0);
      // Difference first, then project: outputs this element does not touch cancel
      // exactly instead of drowning the change in their rounding error.
      const double numeric = sum((plus - minus) * v).item() / (2 * eps);
      const double err = std::abs(a[e] - numeric);
      const double excess = err - (atol + rtol * std::abs(numeric));
      if (err > result.max_abs_error) result.max_abs_error = err;
      if (excess > worst || std::isnan(err)) {
        worst = std::isnan(err) ? INFINITY : excess;
        result.input = static_cast<std::int64_t>(i);
        result.element = e;
        result.analytic = a[e];
        result.numeric = numeric;
      }
    }
  }
  result.ok = worst <= 0;
  if (!result.ok) {
    result.message = fmt::format(
        "gradcheck failed: input {} (shape {}) element {}: analytic {:.10g}, numeric {:.10g} "
        "(|diff| {:.3g} > atol {} + rtol {} * |numeric|)",
        result.input, shape_str(inputs[result.input].shape()), result.element, result.analytic,
        result.numeric, std::abs(result.analytic - result.numeric), atol, rtol);
  }
  return result;
}
// [endregion]

}  // namespace kiln::autograd
